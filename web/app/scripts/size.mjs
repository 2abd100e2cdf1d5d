// Prints the bytes of the field app's first load: every file the service
// worker precaches, raw and gzipped (level 9), from web/app/dist.
//   node web/app/scripts/size.mjs
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const dist = new URL("../dist/", import.meta.url);
const sw = readFileSync(new URL("sw.js", dist), "utf8");
const urls = JSON.parse(/const PRECACHE = (\[[\s\S]*?\]);/.exec(sw)[1]);
let raw = 0;
let gz = 0;
for (const url of urls) {
  const file = url === "/app/" ? "index.html" : url.slice("/app/".length);
  const bytes = readFileSync(new URL(file, dist));
  const z = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gz += z;
  console.log(`${file.padEnd(40)} ${String(bytes.length).padStart(9)} B  gzip ${String(z).padStart(9)} B`);
}
console.log(`${"first load (all precached files)".padEnd(40)} ${String(raw).padStart(9)} B  gzip ${String(gz).padStart(9)} B`);
