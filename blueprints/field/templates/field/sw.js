// The field app's service worker: the app shell from a versioned cache, so the app opens with no network.
const VERSION = {{ version|tojson }};
const CACHE = `field-shell-${VERSION}`;
const PRECACHE = {{ precache|tojson }};
// The barcode polyfill (blueprints/field/routes.py SCANNER_FILES): not in the shell; kept in its own cache when a
// page asks for it, for scanning offline. Versioned URLs: a file never changes under its URL.
const SCANNER = {{ scanner|tojson }};
const SCANNER_CACHE = "field-scanner";

async function keepScanner() {
  const cache = await caches.open(SCANNER_CACHE);
  for (const url of SCANNER) {
    if (!(await cache.match(url))) await cache.add(new Request(url, { credentials: "same-origin" }));
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) =>
    cache.addAll(PRECACHE.map((url) => new Request(url, { credentials: "same-origin", cache: "reload" })))));
});

// A new version waits until the technician chooses to reload (a draft is never reloaded away underneath them).
self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
  if (event.data === "keep-scanner") event.waitUntil(keepScanner().catch(() => {}));  // tried again next time
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("field-shell-") && key !== CACHE) await caches.delete(key);
    }
    const scanner = await caches.open(SCANNER_CACHE);  // an older version's files go
    for (const request of await scanner.keys()) {
      if (!SCANNER.includes(new URL(request.url).pathname)) await scanner.delete(request);
    }
    await self.clients.claim();
  })());
});

// Thumbnails of the photos sent earlier (the jobs feed's thumb_url), kept for offline: from this cache first (a
// photo never changes under its URL); only a real image is kept (never a sign-in redirect); the oldest go first.
const THUMBS = "field-thumbs";
const MAX_THUMBS = 300;
const isThumb = (url) => url.searchParams.get("size") === "thumb" &&
  /^\/dispatch\/requests\/[^/]+\/photos\/[^/]+$/.test(url.pathname);

async function thumbnail(request) {
  const cache = await caches.open(THUMBS);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && !response.redirected && (response.headers.get("Content-Type") || "").startsWith("image/")) {
    await cache.put(request, response.clone());
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_THUMBS))) await cache.delete(old);
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (isThumb(url)) {
    event.respondWith(thumbnail(request));
    return;
  }
  if (request.mode === "navigate" && url.pathname.startsWith("/field")) {
    // Network first: a fresh shell (and a sign-in page when the session ended); the cached shell offline.
    event.respondWith((async () => {
      try {
        const response = await fetch(request);
        if (response.ok && !response.redirected && url.pathname === "/field/") {
          (await caches.open(CACHE)).put("/field/", response.clone());
        }
        return response;
      } catch (error) {
        const cache = await caches.open(CACHE);
        return (await cache.match(url.pathname === "/field/" ? "/field/" : url.pathname)) ||
          (await cache.match("/field/")) || (await cache.match("/field/offline"));
      }
    })());
    return;
  }
  if (SCANNER.includes(url.pathname)) {  // from the cache if kept, else from the network (and kept)
    event.respondWith((async () => {
      const cache = await caches.open(SCANNER_CACHE);
      const hit = await cache.match(url.pathname);
      if (hit) return hit;
      const response = await fetch(request);
      if (response.ok && !response.redirected) await cache.put(url.pathname, response.clone());
      return response;
    })());
    return;
  }
  if (PRECACHE.includes(url.pathname)) {
    event.respondWith(caches.open(CACHE).then(async (cache) => (await cache.match(url.pathname)) || fetch(request)));
  }
});

// Background Sync: ask an open page to flush its outbox (the outbox lives in the page's IndexedDB).
self.addEventListener("sync", (event) => {
  if (event.tag !== "outbox") return;
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((clients) => {
    for (const client of clients) client.postMessage("flush");
  }));
});

// Web Push (blueprints/alerts): show the alert; a tap opens the job (or focuses an open window on it).
self.addEventListener("push", (event) => {
  const data = event.data ? event.data.json() : {};
  event.waitUntil(self.registration.showNotification(data.title || "", {
    body: data.body || "", tag: data.tag, data: { url: data.url || "/field/" }, icon: "/static/img/icon-192.png",
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || "/field/", self.location.origin);
  if (url.origin !== self.location.origin) return;
  event.waitUntil((async () => {
    for (const client of await self.clients.matchAll({ type: "window", includeUncontrolled: true })) {
      if (new URL(client.url).pathname === url.pathname && "focus" in client) {
        await client.navigate(url.href);
        return client.focus();
      }
    }
    return self.clients.openWindow(url.href);
  })());
});
