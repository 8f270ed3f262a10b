// Saving a line from the UI: the viewer and the review queue send the same request.
export async function saveLine(url, csrf, text, expectedText, confirm = false) {
  const answer = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ text, expected_text: expectedText, confirm }),
  });
  const body = await answer.json();
  return { ok: answer.ok, status: answer.status, body };
}
