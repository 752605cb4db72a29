// The jobs feed asked for as soon as the page is read, before the app's modules have all arrived: on a slow line
// they take seconds, and the technician opening the app is waiting for the list. sync.js's first flush uses this
// answer when the phone had nothing to send first; the times kept are the ones the clock correction needs.
// No imports: this module runs as soon as it has arrived.
const sentAt = Date.now();
globalThis.fieldEarlyJobs = fetch("/api/v1/me/jobs", { credentials: "same-origin" }).then((response) => {
  response.sentAt = sentAt;
  response.receivedAt = Date.now();
  return response;
}, () => null);  // offline: the first flush asks again (and fails as it does)
