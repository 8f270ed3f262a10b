// The page viewer: links each line box to its text both ways, colours lines by confidence,
// moves between lines with the keyboard, zooms, and saves a corrected line with Enter.
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
let zoom = 1;

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
  input.addEventListener("focus", () => link(index, true));
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
colour();
