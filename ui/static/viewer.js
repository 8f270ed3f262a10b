// The page viewer: links each line box to its text both ways, colours lines by confidence,
// moves between lines with the keyboard, zooms, saves a corrected line with Enter, shows the
// focused line's history and marks the page reviewed.
import "./actions.js";
import { saveLine } from "./lines.js";

const viewer = document.querySelector(".viewer");
const csrf = viewer.dataset.csrf;
const saveUrl = viewer.dataset.saveUrl;
const lines = [...document.querySelectorAll("#lines .line")];
const boxes = new Map([...document.querySelectorAll(".boxes .box")].map((b) => [b.dataset.line, b]));
const slider = document.getElementById("threshold");
const sliderValue = document.getElementById("threshold-value");
const lowCount = document.getElementById("low-count");
const stage = document.getElementById("stage");
const historyLine = document.getElementById("history-line");
const historyRecognized = document.getElementById("history-recognized");
const historyVersions = document.getElementById("history-versions");
let zoom = 1;
let historyTimer = null;

function link(index, on) {
  const line = lines[Number(index)];
  const box = boxes.get(String(index));
  line.classList.toggle("active", on);
  if (box) box.classList.toggle("active", on);
}

function colour() {
  const threshold = Number(slider.value);
  sliderValue.textContent = threshold.toFixed(2);
  let low = 0;
  for (const line of lines) {
    const isLow = Number(line.dataset.confidence) < threshold;
    line.classList.toggle("low", isLow);
    const box = boxes.get(line.dataset.line);
    if (box) box.classList.toggle("low", isLow);
    if (isLow) low += 1;
  }
  lowCount.textContent = `${low} low`;
}

function versionItem(v) {
  const item = document.createElement("li");
  item.className = "version";
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = `v${v.version} · ${v.author} · ${v.created_at.slice(0, 19).replace("T", " ")} UTC`;
  const what = document.createElement("span");
  what.className = "what";
  if (v.text_before === v.text_after) {
    what.textContent = `confirmed “${v.text_after}”`;
  } else {
    const before = document.createElement("del");
    before.textContent = v.text_before;
    const after = document.createElement("ins");
    after.textContent = v.text_after;
    what.append(before, " → ", after);
  }
  item.append(who, what);
  return item;
}

async function showHistory(index) {
  const answer = await fetch(`${saveUrl}${index}/history`);
  const body = await answer.json();
  historyLine.textContent = `of line ${Number(index) + 1}`;
  if (!answer.ok) {
    historyRecognized.textContent = body.detail || `error ${answer.status}`;
    historyVersions.replaceChildren();
    return;
  }
  historyRecognized.textContent = body.versions.length
    ? `Recognized as “${body.recognized_text}”.`
    : `Recognized as “${body.recognized_text}”; not corrected yet.`;
  historyVersions.replaceChildren(...body.versions.map(versionItem));
}

function followFocus(index) {
  clearTimeout(historyTimer);  // moving quickly through lines asks only for the last one
  historyTimer = setTimeout(() => showHistory(index), 150);
}

async function save(line) {
  const input = line.querySelector(".text");
  const state = line.querySelector(".state");
  if (input.value === input.dataset.saved) return;
  state.textContent = "saving…";
  const { ok, status, body } = await saveLine(
    saveUrl + line.dataset.line, csrf, input.value, input.dataset.saved,
  );
  if (ok) {
    input.dataset.saved = body.text;
    line.classList.add("corrected");
    state.textContent = "saved";
    showHistory(line.dataset.line);
  } else {
    state.textContent = body.detail || `error ${status}`;
    line.classList.add("failed");
  }
}

for (const line of lines) {
  const input = line.querySelector(".text");
  const index = line.dataset.line;
  line.addEventListener("mouseenter", () => link(index, true));
  line.addEventListener("mouseleave", () => link(index, false));
  input.addEventListener("focus", () => { link(index, true); followFocus(index); });
  input.addEventListener("blur", () => link(index, false));
  input.addEventListener("keydown", (event) => {
    const at = Number(index);
    if (event.key === "Enter") {
      event.preventDefault();
      save(line).then(() => lines[Math.min(at + 1, lines.length - 1)].querySelector(".text").focus());
    } else if (event.key === "ArrowDown" && at + 1 < lines.length) {
      event.preventDefault();
      lines[at + 1].querySelector(".text").focus();
    } else if (event.key === "ArrowUp" && at > 0) {
      event.preventDefault();
      lines[at - 1].querySelector(".text").focus();
    }
  });
}
for (const [index, box] of boxes) {
  box.addEventListener("mouseenter", () => link(index, true));
  box.addEventListener("mouseleave", () => link(index, false));
  box.addEventListener("click", () => lines[Number(index)].querySelector(".text").focus());
}

slider.addEventListener("input", colour);
document.getElementById("next-low").addEventListener("click", () => {
  const focused = lines.findIndex((l) => l.contains(document.activeElement));
  const order = [...lines.slice(focused + 1), ...lines.slice(0, focused + 1)];
  const next = order.find((l) => l.classList.contains("low"));
  if (next) next.querySelector(".text").focus();
});
function setZoom(value) {
  zoom = Math.min(4, Math.max(0.25, value));
  stage.style.setProperty("--zoom", zoom);
}
document.getElementById("zoom-in").addEventListener("click", () => setZoom(zoom * 1.25));
document.getElementById("zoom-out").addEventListener("click", () => setZoom(zoom / 1.25));

const mark = document.getElementById("review-mark");
const markButton = document.getElementById("mark-reviewed");
markButton.addEventListener("click", async () => {
  const reviewed = mark.dataset.reviewed !== "true";
  const state = document.getElementById("review-state");
  const answer = await fetch(viewer.dataset.reviewUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ reviewed }),
  });
  const body = await answer.json();
  if (!answer.ok) {
    state.textContent = body.detail || `error ${answer.status}`;
    return;
  }
  mark.dataset.reviewed = String(body.reviewed_at !== null);
  mark.classList.toggle("reviewed", body.reviewed_at !== null);
  state.textContent = body.reviewed_at
    ? `Reviewed by ${body.reviewed_by} at ${body.reviewed_at.slice(0, 16).replace("T", " ")} UTC`
    : "Not reviewed";
  markButton.textContent = body.reviewed_at ? "Unmark reviewed" : "Mark page reviewed";
});
// Cancel or retry changes the job's status shown here: read the page again.
viewer.addEventListener("quire:acted", (event) => {
  if (event.detail.action !== "delete") window.location.reload();
});
colour();
