// Prints the bytes of the field app's first load: every file the service
// worker precaches, raw and gzipped (level 9), from web/app/dist.
//   node web/app/scripts/size.mjs
import { firstLoad } from "./first-load.mjs";

const { files, raw, gzip } = firstLoad();
for (const f of files) {
  console.log(`${f.file.padEnd(40)} ${String(f.raw).padStart(9)} B  gzip ${String(f.gzip).padStart(9)} B`);
}
console.log(`${"first load (all precached files)".padEnd(40)} ${String(raw).padStart(9)} B  gzip ${String(gzip).padStart(9)} B`);
