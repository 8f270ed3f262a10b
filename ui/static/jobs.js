// Live jobs page: rows follow the server's changes over the tab's jobs stream (live.js);
// each row carries its cancel / retry-failed / delete buttons (actions.js).
import { actionButtons } from "./actions.js";
import { followJobs } from "./live.js";

const table = document.querySelector("table.jobs tbody");
const section = document.querySelector(".jobs-page");
const RETRYABLE = new Set(["failed", "partial"]);

function cell(content, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (typeof content === "string") td.textContent = content;
  else td.append(content);
  return td;
}

function pagesText(job) {
  const failed = job.pages_failed ? ` (${job.pages_failed} failed)` : "";
  return `${job.pages_done} / ${job.pages_total}${failed}`;
}

function nameCell(job) {
  if (job.pages_done === 0) return cell(job.filename);
  const a = document.createElement("a");
  a.className = "open";
  a.href = `/ui/jobs/${job.id}/pages/0`;
  a.textContent = job.filename;
  return cell(a);
}

function apply(job) {
  let row = table.querySelector(`tr[data-job-id="${job.id}"]`);
  if (!row) {
    if (section.dataset.filtered === "true") return;  // a filtered list gains no new rows
    row = document.createElement("tr");
    row.dataset.jobId = job.id;
    table.prepend(row);
    section.querySelector(".empty")?.remove();  // "No jobs yet." is no longer true
  }
  row.className = `job status-${job.status}`;
  const name = job.filename || job.id;
  row.replaceChildren(
    nameCell(job), cell(job.status, "status"), cell(pagesText(job)),
    cell(job.created_at), cell(job.id, "id"),
    cell(actionButtons("job", job.id, name, job.status, RETRYABLE.has(job.status))),
  );
}

if (table) followJobs((jobs) => jobs.forEach(apply));
