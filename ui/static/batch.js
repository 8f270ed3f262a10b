// The batch page, live: when the tab's jobs stream (live.js) reports a change to one of this
// batch's jobs, the page asks /ui/batches/{id}/state for the summary and its items again.
import { setStatus } from "./actions.js";
import { followJobs } from "./live.js";

const section = document.querySelector(".batch-page");
const batchId = section.dataset.batchId;
const cursor = section.dataset.cursor;
const items = document.getElementById("items");
let pending = null;

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function itemRow(item) {
  const row = document.createElement("tr");
  row.className = `item status-${item.status}`;
  row.dataset.jobId = item.job_id || "";
  const status = cell(item.status, "status");
  if (item.error) {
    const why = document.createElement("span");
    why.className = "muted";
    why.textContent = ` ${item.error.code}: ${item.error.message}`;
    status.append(why);
  }
  const open = document.createElement("td");
  if (item.job_id && item.pages_done) {
    const a = document.createElement("a");
    a.className = "open";
    a.href = `/ui/jobs/${item.job_id}/pages/0`;
    a.textContent = "open";
    open.append(a);
  }
  row.append(cell(String(item.seq + 1)), cell(item.path, "path"), status,
    cell(`${item.pages_done} / ${item.pages_total}`), open);
  return row;
}

function show(state) {
  const status = document.getElementById("batch-status");
  status.textContent = state.status;
  status.className = `status-${state.status}`;
  document.getElementById("batch-progress").value = state.progress;
  document.getElementById("batch-percent").textContent = `${state.percent} %`;
  document.getElementById("batch-pages").textContent = state.pages;
  document.getElementById("batch-eta").textContent = state.eta;
  document.getElementById("batch-items").textContent = state.items_total;
  for (const count of document.querySelectorAll("[data-count]")) {
    count.querySelector("b").textContent = state.counts[count.dataset.count];
  }
  setStatus(section.querySelector(".actions"), state.status, state.has_failed);
  items.replaceChildren(...state.items.map(itemRow));
  document.getElementById("no-items")?.remove();
}

function refresh() {
  if (pending !== null) return;  // at most one request a second, however many changes
  pending = setTimeout(() => {
    fetch(`/ui/batches/${batchId}/state${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`)
      .then((answer) => (answer.ok ? answer.json() : null))
      .then((state) => { if (state) show(state); })
      .catch(() => {})
      .finally(() => { pending = null; });
  }, 1000);
}

followJobs((jobs) => { if (jobs.some((job) => job.batch_id === batchId)) refresh(); });
section.addEventListener("quire:acted", (event) => {
  if (event.detail.action !== "delete") refresh();
});
