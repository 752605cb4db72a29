// The technician's offline app: my jobs, and each job as a guided stepper for the whole day. Every act becomes an
// op in the outbox (IndexedDB) and shows at once; sync.js sends the outbox whenever there is a network. The server's
// declarations (rules.js, and the flow in flow.js) decide what each act does and whether it may be done now.
// This module routes between the screens (lists.js, job.js with steps.js and photos.js, customer.js) and keeps the
// app itself fresh (the status line, new data, a new version).
import * as store from "./store.js";
import * as sync from "./sync.js";
import { customerHold, customerMode, loadSignature, signScreen } from "./customer.js";
import { keepScanner } from "./devices.js";
import { jobScreen } from "./job.js";
import { jobsScreen, rejectedScreen } from "./lists.js";
import { announce, beginRender, main, renderStatus, runTeardown, setRouter } from "./ui.js";

let shownHash = null;
let bounced = false;

async function route(options = {}) {
  const hash = location.hash || "#/";
  const held = customerHold();
  if (held && hash !== held) {  // the customer's Back gesture: they stay on their screen, as it is
    bounced = true;
    location.replace(held);
    return;
  }
  if (bounced && hash === shownHash) { bounced = false; return; }  // back where they were: nothing to redraw
  bounced = false;
  const id = beginRender();
  const sameScreen = hash === shownHash;
  if (!sameScreen || !options.passive) runTeardown();
  if (!sameScreen) { main.replaceChildren(); announce(); }
  shownHash = hash;
  let match;
  if ((match = hash.match(/^#\/job\/([^/]+)\/sign$/))) {
    if (sameScreen && options.passive) return;  // never redraw under the customer's pen
    await signScreen(decodeURIComponent(match[1]), id);
    return;
  }
  customerMode(false);
  if ((match = hash.match(/^#\/job\/([^/]+)$/))) await jobScreen(decodeURIComponent(match[1]), id, options);
  else if (hash === "#/rejected") await rejectedScreen(id);
  else await jobsScreen(id, options);
}
setRouter(route);

// --- service worker: offline shell and "update available" -----------------------------------------------

let updating = false;

function offerUpdate(worker) {
  const banner = document.getElementById("update-ready");
  banner.hidden = false;
  banner.querySelector("button").onclick = () => { updating = true; worker.postMessage("skip-waiting"); };
}

function watchForUpdates() {
  if (!navigator.serviceWorker) return;
  // Scope /field/: only the offline app is controlled; the other pages never see a cached stylesheet.
  navigator.serviceWorker.register("/sw.js", { scope: "/field/" }).then((registration) => {
    if (registration.waiting && navigator.serviceWorker.controller) offerUpdate(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      worker.addEventListener("statechange", () => {
        if (worker.state === "installed" && navigator.serviceWorker.controller) offerUpdate(worker);
      });
    });
    setInterval(() => registration.update().catch(() => {}), 60 * 60 * 1000);
  }).catch(() => {});  // a browser that refuses service workers (a private window): the app runs online only
  navigator.serviceWorker.ready.then((registration) => keepScanner(registration.active)).catch(() => {});
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Only when the technician asked for the new version (the first install also changes the controller).
    // Drafts live in IndexedDB, so reloading loses nothing that was typed.
    if (updating) { updating = false; location.reload(); }
  });
}

let shownJobsVersion = null;

function refreshOnNewData() {
  // Redraw only when new data came from the server (or the list came, unchanged, while a job missing from it is
  // shown: it is then known to be gone); a part being touched or typed in is kept (ui.js show()).
  const missing = sync.state.jobsFetched && main.querySelector('[data-key="missing"]');
  if (sync.state.jobsVersion === shownJobsVersion && !missing) return;
  shownJobsVersion = sync.state.jobsVersion;
  route({ passive: true });
}

async function startApp() {
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  sync.onChange(() => { renderStatus(); if (!sync.state.syncing) refreshOnNewData(); });
  window.addEventListener("hashchange", () => route());
  await Promise.all([route(), renderStatus(), store.loadClockOffset()]);
  // The jobs first: the service worker's install (the whole shell fetched again for its cache) and the signature
  // pad would otherwise share a basement's slow line with the feed the technician is waiting for. They follow
  // once the first sync is done, or after a few seconds on a line too poor to finish it.
  const firstSync = sync.start();  // when it has fetched the jobs, onChange refreshes the list or the job shown
  await Promise.race([firstSync.catch(() => {}), new Promise((resolve) => { setTimeout(resolve, 5000); })]);
  watchForUpdates();
  setTimeout(() => loadSignature().catch(() => {}), 0);  // only ahead of time: the customer's screen loads it
  await firstSync;
}

startApp();
