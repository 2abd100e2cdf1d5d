// Boot: the service worker (so the next visit opens offline), the list as
// it last was (`data/listing.ts`, from localStorage: no Automerge, no
// IndexedDB), then the live app (`live.tsx`, a chunk of its own with
// Automerge and its wasm). This module stays small so that a cold start on
// a slow phone paints the grid's tickets before the rest is even parsed.

import { render } from "preact";
import { storedSession } from "./data/session.js";
import { readListing } from "./data/listing.js";
import { CachedList } from "./ui/cached.js";
import "./style.css";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch((e) => console.warn("no service worker:", e));
}

const root = document.getElementById("app")!;
const known = storedSession();
const listed = known ? readListing(known.user) : null;
if (known && listed) {
  render(<CachedList session={known} rows={listed} />, root);
  performance.mark("gridsync:kept-list");
}
import("./live.js").then(
  (live) => live.start(root),
  (e) => {
    root.textContent = `应用无法启动（${(e as Error).message}）：请联网后刷新页面`;
  },
);
