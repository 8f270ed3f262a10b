// The review queue: Enter confirms a line (or saves the corrected text) and the line leaves
// the queue; the next one gets the focus.
import { saveLine } from "./lines.js";

const section = document.querySelector(".review");
const csrf = section.dataset.csrf;
const waiting = document.getElementById("waiting");

function items() {
  return [...document.querySelectorAll("#queue .queued")];
}

async function settle(item) {
  const input = item.querySelector(".text");
  const state = item.querySelector(".state");
  const changed = input.value !== input.dataset.saved;
  state.textContent = changed ? "saving…" : "confirming…";
  const { ok, status, body } = await saveLine(
    item.dataset.url, csrf, input.value, input.dataset.saved, !changed,
  );
  if (!ok) {
    state.textContent = body.detail || `error ${status}`;
    item.classList.add("failed");
    return;
  }
  const list = items();
  const next = list[list.indexOf(item) + 1] || list[list.indexOf(item) - 1];
  item.remove();
  const left = Number.parseInt(waiting.textContent, 10) - 1;
  waiting.textContent = waiting.textContent.replace(/^\d+/, String(Math.max(0, left)));
  if (next) next.querySelector(".text").focus();
}

section.addEventListener("keydown", (event) => {
  const item = event.target.closest(".queued");
  if (!item) return;
  const list = items();
  const at = list.indexOf(item);
  if (event.key === "Enter") {
    event.preventDefault();
    settle(item);
  } else if (event.key === "ArrowDown" && at + 1 < list.length) {
    event.preventDefault();
    list[at + 1].querySelector(".text").focus();
  } else if (event.key === "ArrowUp" && at > 0) {
    event.preventDefault();
    list[at - 1].querySelector(".text").focus();
  }
});
// A crop the server no longer has (the page image was purged: 404) becomes a note instead
// of a broken image; `error` does not bubble, so it is caught on the way down.
function cropMissing(img) {
  const note = document.createElement("span");
  note.className = "crop-missing";
  note.setAttribute("role", "img");
  note.setAttribute("aria-label", img.alt);
  note.textContent = "image no longer stored";
  img.replaceWith(note);
}
section.addEventListener("error", (event) => {
  if (event.target instanceof HTMLImageElement && event.target.classList.contains("crop")) {
    cropMissing(event.target);
  }
}, true);
for (const img of section.querySelectorAll("img.crop")) {
  if (img.complete && img.naturalWidth === 0) cropMissing(img);  // failed before this ran
}
const first = items()[0];
if (first) first.querySelector(".text").focus();
