// Live jobs page: rows follow the server's changes over one SSE stream; when the stream
// fails three times in a row, the page polls instead.
const table = document.querySelector("table.jobs tbody");
const section = document.querySelector(".jobs-page");
let failures = 0;
let polling = null;

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function pagesText(job) {
  const failed = job.pages_failed ? ` (${job.pages_failed} failed)` : "";
  return `${job.pages_done} / ${job.pages_total}${failed}`;
}

function nameCell(job) {
  const td = document.createElement("td");
  if (job.pages_done > 0) {
    const a = document.createElement("a");
    a.className = "open";
    a.href = `/ui/jobs/${job.id}/pages/0`;
    a.textContent = job.filename;
    td.append(a);
  } else {
    td.textContent = job.filename;
  }
  return td;
}

function apply(job) {
  if (!table) return;
  let row = table.querySelector(`tr[data-job-id="${job.id}"]`);
  const fresh = !row;
  if (fresh) {
    if (section.dataset.filtered === "true") return;  // a filtered list gains no new rows
    row = document.createElement("tr");
    row.dataset.jobId = job.id;
    table.prepend(row);
  }
  row.className = `job status-${job.status}`;
  row.replaceChildren(
    nameCell(job), cell(job.status, "status"), cell(pagesText(job)),
    cell(job.created_at), cell(job.id, "id"),
  );
}

function poll() {
  fetch("/ui/jobs.json?seconds=10")
    .then((answer) => (answer.ok ? answer.json() : []))
    .then((jobs) => jobs.forEach(apply))
    .catch(() => {});
}

if (table) {
  const source = new EventSource("/ui/events");
  source.addEventListener("jobs", (event) => {
    failures = 0;
    JSON.parse(event.data).forEach(apply);
  });
  source.addEventListener("error", () => {
    failures += 1;
    if (failures >= 3 && polling === null) {
      source.close();
      polling = setInterval(poll, 3000);
    }
  });
}
