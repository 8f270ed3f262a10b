// Upload: files, a folder or an archive go to /ui/upload/{job|batch} with XHR (fetch reports
// no upload progress); each upload shows its progress and the server's answer or error.
// A single file larger than data-presigned-above goes presigned: /ui/uploads gives one URL
// per part, each part is PUT there, /ui/uploads/{id}/complete joins them by their ETags,
// then /ui/upload/{job|batch} makes the job or batch from the upload's id.
const section = document.querySelector(".upload");
const csrf = section.dataset.csrf;
const presignedAbove = Number(section.dataset.presignedAbove);
const list = document.getElementById("uploads");
const ARCHIVES = /\.(zip|7z|rar|tar|tgz|tar\.(gz|bz2|xz|zst))$/i;

class Refusal extends Error {
  constructor(code, detail) {
    super(`${code}: ${detail}`);
  }
}

function row(label) {
  const item = document.createElement("li");
  item.className = "upload-row";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = label;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  const state = document.createElement("span");
  state.className = "state";
  item.append(name, bar, state);
  list.prepend(item);
  return { item, bar, state };
}

function accepted({ item, bar, state }, body) {
  bar.value = 100;
  item.classList.add("done");
  item.dataset.kind = body.kind;
  item.dataset.id = body.id;
  state.textContent = body.kind === "batch" ? `batch of ${body.items} · ${body.status}` : `job · ${body.status}`;
}

function refused({ item, state }, text) {
  item.classList.add("failed");
  state.textContent = text;
}

function parsed(text) {
  try { return JSON.parse(text); } catch { return {}; }
}

function send(kind, form, label) {
  const shown = row(label);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/ui/upload/${kind}`);
  xhr.setRequestHeader("X-CSRF-Token", csrf);
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) shown.bar.value = (100 * event.loaded) / event.total;
  });
  xhr.addEventListener("load", () => {
    const body = parsed(xhr.responseText);
    if (xhr.status >= 200 && xhr.status < 300) accepted(shown, body);
    else refused(shown, `${body.code || xhr.status}: ${body.detail || xhr.statusText}`);
  });
  xhr.addEventListener("error", () => refused(shown, "the upload was interrupted"));
  xhr.send(form);
}

async function post(path, body) {
  const answer = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const json = parsed(await answer.text());
  if (!answer.ok) throw new Refusal(json.code || answer.status, json.detail || answer.statusText);
  return json;
}

// The store's refusal of a part: the API's problem document, or S3's XML <Error>.
function storeRefusal(xhr) {
  const json = parsed(xhr.responseText);
  if (json.code) return new Refusal(json.code, json.detail);
  const xml = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
  const code = xml.querySelector("Error > Code");
  const message = xml.querySelector("Error > Message");
  return new Refusal(code ? code.textContent : xhr.status, message ? message.textContent : xhr.statusText);
}

function putPart(part, blob, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", part.url);
    for (const [name, value] of Object.entries(part.headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => progress(event.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status < 200 || xhr.status >= 300) return reject(storeRefusal(xhr));
      const etag = xhr.getResponseHeader("ETag");
      if (!etag) return reject(new Refusal("no_etag", "the store hid the part's ETag (the bucket's CORS rule must expose ETag)"));
      resolve(etag);
    });
    xhr.addEventListener("error", () => reject(new Refusal("interrupted", `part ${part.number} could not be sent (network or the bucket's CORS rule)`)));
    xhr.send(blob);
  });
}

async function sendPresigned(kind, file, label) {
  const shown = row(label);
  try {
    const upload = await post("/ui/uploads", {
      filename: label,
      size_bytes: file.size,
      content_type: file.type || "application/octet-stream",
    });
    const parts = [];
    let sent = 0;
    for (const part of upload.parts) {
      const start = (part.number - 1) * upload.part_size;
      const blob = file.slice(start, start + part.size);
      const etag = await putPart(part, blob, (loaded) => {
        shown.bar.value = (100 * (sent + loaded)) / file.size;
      });
      sent += part.size;
      parts.push({ number: part.number, etag });
    }
    await post(`/ui/uploads/${upload.id}/complete`, { parts });
    accepted(shown, await post(`/ui/upload/${kind}`, { upload_id: upload.id }));
  } catch (error) {
    refused(shown, error instanceof Refusal ? error.message : "the upload was interrupted");
  }
}

function submit(files) {
  if (files.length === 0) return;
  const path = (f) => f.webkitRelativePath || f.relativePath || f.name;
  if (files.length === 1) {
    const kind = ARCHIVES.test(files[0].name) ? "batch" : "job";
    if (files[0].size > presignedAbove) {
      sendPresigned(kind, files[0], path(files[0]));
      return;
    }
    const form = new FormData();
    form.append("file", files[0], path(files[0]));
    send(kind, form, path(files[0]));
    return;
  }
  const form = new FormData();
  for (const file of files) form.append("files", file, path(file));
  send("batch", form, `${files.length} files`);
}

async function entries(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    Object.defineProperty(file, "relativePath", { value: prefix + file.name });
    out.push(file);
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    let batch;
    do {
      batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      for (const child of batch) await entries(child, `${prefix}${entry.name}/`, out);
    } while (batch.length > 0);
  }
}

const zone = document.getElementById("dropzone");
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  const files = [];
  for (const item of [...event.dataTransfer.items]) {
    const entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
    if (entry) await entries(entry, "", files);
  }
  submit(files);
});
document.getElementById("pick-files").addEventListener("change", (e) => submit([...e.target.files]));
document.getElementById("pick-folder").addEventListener("change", (e) => submit([...e.target.files]));
