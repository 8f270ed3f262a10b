// Cancel, retry-failed and delete (jobs page rows, the viewer, the batch page): a POST to
// /ui/{jobs|batches}/{id}/{action} with the session's CSRF token; delete asks first. The
// buttons a status allows are chosen by ui.css from the container's status class.
const csrf = document.body.dataset.csrf;
const PATHS = { job: "jobs", batch: "batches" };

function button(action, label, extra = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `act act-${action === "retry-failed" ? "retry" : action}`;
  b.dataset.action = action;
  b.textContent = label;
  Object.assign(b.dataset, extra);
  return b;
}

// The same markup as the _actions.html macro, for rows the page adds or redraws.
export function actionButtons(kind, id, name, status, hasFailed) {
  const span = document.createElement("span");
  span.dataset.kind = kind;
  span.dataset.id = id;
  const state = document.createElement("span");
  state.className = "act-state";
  state.setAttribute("aria-live", "polite");
  span.append(
    button("cancel", "Cancel"),
    button("retry-failed", "Retry failed"),
    button("delete", "Delete", {
      confirm: `Delete ${name}? Its results and stored files are removed for good.`,
    }),
    state,
  );
  setStatus(span, status, hasFailed);
  return span;
}

export function setStatus(span, status, hasFailed) {
  span.className = `actions status-${status}${hasFailed ? " has-failed" : ""}`;
}

async function run(target) {
  const span = target.closest(".actions");
  const { action } = target.dataset;
  if (target.dataset.confirm && !window.confirm(target.dataset.confirm)) return;
  const state = span.querySelector(".act-state");
  state.textContent = "…";
  const answer = await fetch(`/ui/${PATHS[span.dataset.kind]}/${span.dataset.id}/${action}`, {
    method: "POST",
    headers: { "X-CSRF-Token": csrf },
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    span.classList.add("failed");
    state.textContent = body.detail || `error ${answer.status}`;
    return;
  }
  span.classList.remove("failed");
  state.textContent = action === "retry-failed" ? "queued again" : (body.status || "deleted");
  if (body.status) setStatus(span, body.status, false);
  span.dispatchEvent(new CustomEvent("quire:acted", {
    bubbles: true, detail: { kind: span.dataset.kind, id: span.dataset.id, action, body },
  }));
  if (action === "delete") {
    if (target.dataset.after) window.location.assign(target.dataset.after);
    else span.closest("tr")?.remove();
  }
}

document.addEventListener("click", (event) => {
  const target = event.target.closest(".actions .act");
  if (target) run(target);
});
