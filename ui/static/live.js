// Live progress for any page: one SSE stream per tab carries the tenant's changed jobs; when
// the stream fails three times in a row, the page polls /ui/jobs.json instead.
export function followJobs(onJobs) {
  let failures = 0;
  let polling = null;
  const poll = () => {
    fetch("/ui/jobs.json?seconds=10")
      .then((answer) => (answer.ok ? answer.json() : []))
      .then(onJobs)
      .catch(() => {});
  };
  const source = new EventSource("/ui/events");
  source.addEventListener("jobs", (event) => {
    failures = 0;
    onJobs(JSON.parse(event.data));
  });
  source.addEventListener("error", () => {
    failures += 1;
    if (failures >= 3 && polling === null) {
      source.close();
      polling = setInterval(poll, 3000);
    }
  });
}
