// The uploader's resume logic (src/data/tus.ts) against a relay in memory
// that follows the rules of server/src/blobs/http.rs: HEAD tells the
// offset, POST starts an upload only for a photo some ticket lists, PATCH
// appends only at the relay's offset and keeps what arrived when the
// connection breaks, and a finished upload that does not hash to its name
// is dropped with 460. Cuts and damage are played by the test.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { type Http, CHUNK_BYTES, backoff, metadata, upload } from "../src/data/tus.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

class FakeRelay {
  /** Hashes a synced ticket lists (others get 404, as on the relay). */
  listed = new Set<string>();
  uploads = new Map<string, { length: number; data: number[] }>();
  blobs = new Map<string, Uint8Array>();
  /** Body bytes that reached the relay, over every PATCH. */
  received = 0;
  /** Body bytes the uploader handed to the network. */
  offered = 0;
  patches = 0;
  /** The next PATCH: keep this many bytes, then the connection breaks. */
  cutAfter: number | null = null;
  /** The next PATCH: flip a byte in transit. */
  damage = false;
  /** The connection is down: every request fails. */
  down = false;
  /** The next HEAD answers with this offset once (a relay that lost unsynced bytes). */
  log: string[] = [];

  http: Http = async (method, url, headers, body) => {
    this.log.push(`${method} ${headers["Upload-Offset"] ?? ""}`.trim());
    if (this.down) throw new TypeError("Failed to fetch");
    assert.equal(headers["Tus-Resumable"], "1.0.0");
    assert.equal(headers.Authorization, "Bearer tok");
    const answer = (status: number, h: Record<string, string | number> = {}) => ({
      status,
      header: (n: string) => {
        const k = Object.keys(h).find((x) => x.toLowerCase() === n.toLowerCase());
        return k === undefined ? null : String(h[k]);
      },
    });
    if (method === "POST") {
      const hash = Buffer.from(headers["Upload-Metadata"].split(" ")[1], "base64").toString();
      if (!this.listed.has(hash)) return answer(404);
      const length = Number(headers["Upload-Length"]);
      const done = this.blobs.get(hash);
      if (done) return answer(201, { "Upload-Offset": done.length, "Upload-Length": done.length });
      const u = this.uploads.get(hash) ?? { length, data: [] };
      this.uploads.set(hash, u);
      return answer(201, { "Upload-Offset": u.data.length, "Upload-Length": u.length });
    }
    const hash = url.split("/").pop()!;
    if (!this.listed.has(hash)) return answer(404);
    if (method === "HEAD") {
      const done = this.blobs.get(hash);
      if (done) return answer(200, { "Upload-Offset": done.length, "Upload-Length": done.length });
      const u = this.uploads.get(hash);
      return u ? answer(200, { "Upload-Offset": u.data.length, "Upload-Length": u.length }) : answer(404);
    }
    // PATCH
    this.patches++;
    assert.equal(headers["Content-Type"], "application/offset+octet-stream");
    const u = this.uploads.get(hash);
    if (!u) return answer(404);
    const offset = Number(headers["Upload-Offset"]);
    if (offset !== u.data.length) return answer(409, { "Upload-Offset": u.data.length, "Upload-Length": u.length });
    const bytes = Uint8Array.from(body!);
    this.offered += bytes.length;
    if (this.damage) {
      bytes[0] ^= 0xff;
      this.damage = false;
    }
    const cut = this.cutAfter;
    const keep = cut === null ? bytes : bytes.subarray(0, cut);
    this.received += keep.length;
    for (const b of keep) u.data.push(b);
    if (cut !== null) {
      this.cutAfter = null;
      throw new TypeError("network connection was lost");
    }
    if (u.data.length === u.length) {
      const whole = Uint8Array.from(u.data);
      this.uploads.delete(hash);
      if (sha(whole) !== hash) return answer(460);
      this.blobs.set(hash, whole);
    }
    return answer(204, { "Upload-Offset": u.data.length });
  };
}

function photo(n: number): { hash: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(n));
  return { hash: sha(bytes), bytes };
}

const target = (p: { hash: string; bytes: Uint8Array }) => ({ base: "http://relay", token: "tok", ...p });

test("the metadata names the photo by the base64 of its hex", () => {
  const hash = "ab".repeat(32);
  assert.equal(metadata(hash), `sha256 ${Buffer.from(hash).toString("base64")}`);
});

test("a photo goes up in chunks, and is done only when HEAD shows every byte", async () => {
  const relay = new FakeRelay();
  const p = photo(CHUNK_BYTES * 2 + 1000);
  relay.listed.add(p.hash);
  const out = await upload(relay.http, target(p));
  assert.equal(out.kind, "done");
  assert.equal(out.sent, p.bytes.length);
  assert.equal(relay.received, p.bytes.length);
  assert.equal(sha(relay.blobs.get(p.hash)!), p.hash);
  assert.deepEqual(relay.log, ["HEAD", "POST", "PATCH 0", `PATCH ${CHUNK_BYTES}`, `PATCH ${CHUNK_BYTES * 2}`, "HEAD"]);
});

test("before the ticket is on the relay, nothing is sent and the answer is: after sync", async () => {
  const relay = new FakeRelay();
  const p = photo(5000);
  const out = await upload(relay.http, target(p));
  assert.deepEqual(out, { kind: "not_listed", sent: 0 });
  assert.equal(relay.patches, 0);
});

test("a connection cut midway resumes from the relay's offset and never resends what arrived", async () => {
  const relay = new FakeRelay();
  const p = photo(CHUNK_BYTES * 3);
  relay.listed.add(p.hash);
  relay.cutAfter = 100_000;
  const first = await upload(relay.http, target(p));
  assert.equal(first.kind, "retry");
  assert.equal(relay.uploads.get(p.hash)!.data.length, 100_000);
  const second = await upload(relay.http, target(p));
  assert.equal(second.kind, "done");
  // What reached the relay is the photo once; the next request began at the cut.
  assert.equal(relay.received, p.bytes.length);
  assert.ok(relay.log.includes("PATCH 100000"), relay.log.join(", "));
  assert.equal(sha(relay.blobs.get(p.hash)!), p.hash);
  // Offered: the photo plus at most the rest of the chunk the cut broke.
  assert.ok(first.sent + second.sent <= p.bytes.length + CHUNK_BYTES);
});

test("a cut in the last chunk, with the network down for a while, still resumes from the offset", async () => {
  const relay = new FakeRelay();
  const p = photo(CHUNK_BYTES + 7777);
  relay.listed.add(p.hash);
  relay.cutAfter = CHUNK_BYTES - 1;
  assert.equal((await upload(relay.http, target(p))).kind, "retry");
  relay.down = true;
  for (let i = 0; i < 3; i++) assert.equal((await upload(relay.http, target(p))).kind, "retry");
  relay.down = false;
  assert.equal((await upload(relay.http, target(p))).kind, "done");
  assert.equal(relay.received, p.bytes.length);
});

test("a 409 (another offset on the relay) is followed by HEAD and sending from the relay's offset", async () => {
  const relay = new FakeRelay();
  const p = photo(3000);
  relay.listed.add(p.hash);
  // The relay already holds 1000 bytes from an earlier attempt whose answer was lost.
  relay.uploads.set(p.hash, { length: 3000, data: [...p.bytes.subarray(0, 1000)] });
  const stale: Http = (m, u, h, b) => relay.http(m, u, m === "PATCH" && relay.patches === 0 ? { ...h, "Upload-Offset": "0" } : h, b);
  const out = await upload(stale, target(p));
  assert.equal(out.kind, "done");
  assert.equal(relay.received, 2000);
  assert.equal(sha(relay.blobs.get(p.hash)!), p.hash);
});

test("damaged bytes (460) start the photo again from byte 0", async () => {
  const relay = new FakeRelay();
  const p = photo(10_000);
  relay.listed.add(p.hash);
  relay.damage = true;
  const out = await upload(relay.http, target(p));
  assert.equal(out.kind, "done");
  assert.equal(relay.received, 20_000);
  assert.deepEqual(relay.log, ["HEAD", "POST", "PATCH 0", "HEAD", "POST", "PATCH 0", "HEAD"]);
  assert.equal(sha(relay.blobs.get(p.hash)!), p.hash);
});

test("a photo the relay already holds is done without a byte sent", async () => {
  const relay = new FakeRelay();
  const p = photo(4000);
  relay.listed.add(p.hash);
  relay.blobs.set(p.hash, p.bytes);
  assert.deepEqual(await upload(relay.http, target(p)), { kind: "done", sent: 0 });
});

test("a 204 for the last byte is not enough: if HEAD shows less, the rest is sent again from HEAD's offset", async () => {
  const relay = new FakeRelay();
  const p = photo(6000);
  relay.listed.add(p.hash);
  // A relay that answered 204 for bytes it then lost (crashed before its fsync).
  let lied = false;
  const lossy: Http = async (m, u, h, b) => {
    const r = await relay.http(m, u, h, b);
    if (m === "PATCH" && !lied) {
      lied = true;
      relay.blobs.delete(p.hash);
      relay.uploads.set(p.hash, { length: 6000, data: [...p.bytes.subarray(0, 4000)] });
    }
    return r;
  };
  const out = await upload(lossy, target(p));
  assert.equal(out.kind, "done");
  assert.deepEqual(relay.log, ["HEAD", "POST", "PATCH 0", "HEAD", "PATCH 4000", "HEAD"]);
  assert.equal(sha(relay.blobs.get(p.hash)!), p.hash);
});

test("refusals are passed on with their status", async () => {
  const relay = new FakeRelay();
  const p = photo(100);
  relay.listed.add(p.hash);
  const quota: Http = async (m, u, h, b) => (m === "POST" ? { status: 429, header: () => null } : relay.http(m, u, h, b));
  const out = await upload(quota, target(p));
  assert.equal(out.kind, "refused");
  assert.equal(out.kind === "refused" && out.status, 429);
});

test("the backoff doubles from 1 s to a minute", () => {
  assert.deepEqual([1, 2, 3, 4, 7, 8, 20].map(backoff), [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
});
