// The field app's first load: every file the service worker precaches
// (web/app/dist/sw.js lists them), with its raw and gzipped (level 9)
// size. Used by size.mjs and by the app's benchmark (tests/web/bench-app.mjs).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

export function firstLoad(dist = new URL("../dist/", import.meta.url)) {
  const sw = readFileSync(new URL("sw.js", dist), "utf8");
  const urls = JSON.parse(/const PRECACHE = (\[[\s\S]*?\]);/.exec(sw)[1]);
  const files = urls.map((url) => {
    const file = url === "/app/" ? "index.html" : url.slice("/app/".length);
    const bytes = readFileSync(new URL(file, dist));
    return { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  const total = files.reduce((t, f) => ({ raw: t.raw + f.raw, gzip: t.gzip + f.gzip }), { raw: 0, gzip: 0 });
  return { files, ...total };
}
