// The bell's unread count (every page and the phone) and turning Web Push on for this browser.
// Plain module, no framework; the server renders the first count, this keeps it fresh.
const REFRESH_MS = 60_000;

async function refreshCount() {
  const badges = document.querySelectorAll("[data-unread-count]");
  if (!badges.length || !navigator.onLine) return;
  try {
    const response = await fetch("/api/v1/notifications", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { unread } = await response.json();
    for (const badge of badges) {
      badge.textContent = String(unread);
      badge.hidden = unread === 0;
    }
  } catch (error) {
    // offline or the server is away: keep the last count
  }
}

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function csrfToken() {
  const response = await fetch("/api/v1/session", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`session ${response.status}`);
  return (await response.json()).csrf_token;
}

// Subscribe through the service worker that controls /field/ (registered by the field app). A phone that cannot
// reach a push service (Chrome's goes through Google's, which phones in mainland China cannot reach; Huawei and
// Honor phones have no Google services) fails the subscription or never answers it: bounded by SUBSCRIBE_MS.
const SUBSCRIBE_MS = 15_000;

class PushUnreachable extends Error {}

function withinTime(promise, ms) {
  let timer;
  const late = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new PushUnreachable("timeout")), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// The worker active. (navigator.serviceWorker.ready never resolves on a page outside /field/, such as the alert
// settings: it waits for a worker of the page's own scope.)
function activated(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  return new Promise((resolve, reject) => {
    if (!worker) { reject(new Error("no service worker")); return; }
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(registration);
      if (worker.state === "redundant") reject(new Error("service worker redundant"));
    });
  });
}

async function subscribe() {
  const registration = await withinTime(navigator.serviceWorker.register("/sw.js", { scope: "/field/" })
    .then(activated), SUBSCRIBE_MS).catch((error) => { throw error instanceof PushUnreachable ? new Error("sw") : error; });
  const keyResponse = await fetch("/api/v1/push/key", { credentials: "same-origin" });
  const { public_key: key } = await keyResponse.json();
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription) {
    try {
      subscription = await withinTime(registration.pushManager.subscribe({ userVisibleOnly: true,
        applicationServerKey: keyBytes(key) }), SUBSCRIBE_MS);
    } catch (error) {
      // AbortError "Registration failed - push service not available/error", NotSupportedError, or no answer.
      if (error instanceof PushUnreachable || ["AbortError", "NotSupportedError", "InvalidStateError"]
        .includes(error?.name)) throw new PushUnreachable(error?.message || "push service");
      throw error;
    }
  }
  const response = await fetch("/api/v1/push/subscriptions", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": await csrfToken() },
    body: JSON.stringify(subscription.toJSON()),
  });
  return response.status === 201;
}

function wirePushButton() {
  const button = document.getElementById("alerts-enable");
  const status = document.getElementById("alerts-push-status");
  if (!button) return;
  const show = (key) => { if (status) { status.textContent = status.dataset[key] || ""; status.hidden = false; } };
  // Said plainly instead of a button that cannot work: the alerts still reach the inbox, SMS and the robots.
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    show("unsupported");
    return;
  }
  const failed = (error) => show(error instanceof PushUnreachable ? "unreachable" : "failed");
  if (Notification.permission === "denied") { show("denied"); return; }
  if (Notification.permission === "granted") {
    // Already allowed: keep the server's copy of this browser's subscription current, and say when it cannot be.
    subscribe().then((ok) => ok && show("on")).catch(failed);
    return;
  }
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") { show("denied"); return; }
      if (await subscribe()) { button.hidden = true; show("on"); }
    } catch (error) {
      failed(error);
      if (error instanceof PushUnreachable) button.hidden = true;
    } finally {
      button.disabled = false;
    }
  });
}

refreshCount();
setInterval(refreshCount, REFRESH_MS);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refreshCount(); });
window.addEventListener("online", refreshCount);
wirePushButton();
