// Upload: files, a folder or an archive go to /ui/upload/{job|batch} with XHR (fetch reports
// no upload progress); each upload shows its progress and the server's answer or error.
const section = document.querySelector(".upload");
const csrf = section.dataset.csrf;
const list = document.getElementById("uploads");
const ARCHIVES = /\.(zip|7z|rar|tar|tgz|tar\.(gz|bz2|xz|zst))$/i;

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

function send(kind, form, label) {
  const { item, bar, state } = row(label);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/ui/upload/${kind}`);
  xhr.setRequestHeader("X-CSRF-Token", csrf);
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) bar.value = (100 * event.loaded) / event.total;
  });
  xhr.addEventListener("load", () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { body = {}; }
    if (xhr.status >= 200 && xhr.status < 300) {
      bar.value = 100;
      item.classList.add("done");
      item.dataset.kind = body.kind;
      item.dataset.id = body.id;
      state.textContent = body.kind === "batch" ? `batch of ${body.items} · ${body.status}` : `job · ${body.status}`;
    } else {
      item.classList.add("failed");
      state.textContent = `${body.code || xhr.status}: ${body.detail || xhr.statusText}`;
    }
  });
  xhr.addEventListener("error", () => {
    item.classList.add("failed");
    state.textContent = "the upload was interrupted";
  });
  xhr.send(form);
}

function submit(files) {
  if (files.length === 0) return;
  const path = (f) => f.webkitRelativePath || f.relativePath || f.name;
  if (files.length === 1) {
    const form = new FormData();
    form.append("file", files[0], path(files[0]));
    send(ARCHIVES.test(files[0].name) ? "batch" : "job", form, path(files[0]));
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
