// GridSync's document ids in plain JS, for tests that look inside a
// browser's IndexedDB (client-core's `ids.rs`; the field app's
// `model/ids.ts`): a ticket's document id is its UUID's 16 bytes, derived
// ids are UUID v5 of a name in GridSync's namespace, and the text of an id
// is bs58check. `app-durable.test.mjs` checks these against
// client-core/conformance/lifecycle.json before using them.

import { createHash } from "node:crypto";

export const NAMESPACE = "6b1f3c52-0d8e-4a51-9a2b-77412e90c315";
const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

const uuidBytes = (u) => Buffer.from(u.replace(/-/g, ""), "hex");

function base58(bytes) {
  let n = BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/** bs58check text of 16 id bytes (automerge-repo's document id). */
export function documentIdFromBytes(bytes) {
  const sum = createHash("sha256").update(createHash("sha256").update(bytes).digest()).digest();
  return base58(Buffer.concat([Buffer.from(bytes), sum.subarray(0, 4)]));
}

/** UUID v5 of `name` in GridSync's namespace, as 16 bytes. */
function v5(name) {
  const h = createHash("sha1").update(uuidBytes(NAMESPACE)).update(Buffer.from(name, "utf8")).digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  return h;
}

export const derived = (name) => documentIdFromBytes(v5(name));
export const ticketDocumentId = (ticket) => documentIdFromBytes(uuidBytes(ticket));
export const ticketPrivateId = (ticket) => derived(`gridsync:ticket-private:${ticket}`);
export const gridIndexId = (grid) => derived(`gridsync:grid-index:${grid}`);
export const visitLogId = (grid, worker, date) => derived(`gridsync:visit-log:${grid}:${worker}:${date}`);
