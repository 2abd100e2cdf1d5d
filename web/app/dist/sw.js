// The field app's service worker (built by vite.config.ts from
// sw.template.js: PRECACHE and VERSION are filled in at build time).
// It precaches the whole app shell (the page, its hashed scripts and
// styles, Automerge's wasm, the manifest and icons) at install, and serves
// every request for /app/ from that cache first, so after one online visit
// the app opens with no network, across reloads and restarts. Navigations
// get the cached page; /api and the sync WebSocket are never touched.
const VERSION = "da79252d3d5c";
const PRECACHE = [
  "/app/",
  "/app/assets/automerge-LjMxZKTS.wasm",
  "/app/assets/index-Di4cSJUh.css",
  "/app/assets/index-MKS2Nzlm.js",
  "/app/assets/live-BlyLpt4f.js",
  "/app/icon-192.png",
  "/app/icon-512.png",
  "/app/icon.svg",
  "/app/manifest.webmanifest"
];
const CACHE = `gridsync-app-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("gridsync-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/app")) return;
  if (event.request.mode === "navigate") {
    // The page is the shell for every /app route; fresh when online.
    event.respondWith(
      fetch(event.request)
        .then((r) => (r.ok ? r : caches.match("/app/")))
        .catch(() => caches.match("/app/")),
    );
    return;
  }
  event.respondWith(caches.match(event.request).then((hit) => hit ?? fetch(event.request)));
});
