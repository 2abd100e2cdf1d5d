// One photo's upload to the relay over tus 1.0 (core and creation), as the
// relay's `blobs/http.rs` speaks it and the CLI's `photos.rs` drives it:
// `HEAD /api/blobs/<hex>` says what the relay holds, `POST /api/blobs`
// starts an upload it does not know, `PATCH` appends from the relay's
// offset. It does no I/O of its own: requests go through the `Http`
// function it is given (the browser's fetch, or a test's relay), so a cut
// connection, a relay that lost its last bytes or a damaged copy can be
// played without a network.
//
// What it keeps true: bytes the relay confirmed are never sent again (after
// any failure the next step asks HEAD); a photo is `done` only when HEAD
// answers Upload-Offset == Upload-Length; a 460 (the bytes did not hash to
// the name) starts the photo again from byte 0.

/** One HTTP request: a status and the answer's headers, or a thrown error when the connection failed. */
export type Http = (
  method: "HEAD" | "POST" | "PATCH",
  url: string,
  headers: Record<string, string>,
  body?: Uint8Array,
) => Promise<{ status: number; header: (name: string) => string | null }>;

/** Bytes per PATCH: what one cut may cost at most, and the relay's fsync step. */
export const CHUNK_BYTES = 256 * 1024;

/** Damaged copies in a row before the photo waits for a later attempt. */
const MAX_DAMAGED = 3;
/** 409s in a row (another request of ours still appending) before backing off. */
const MAX_CONFLICTS = 3;

export type Outcome =
  /** HEAD confirmed the relay holds every byte: the local copy may go. */
  | { kind: "done"; sent: number }
  /** The relay lists no ticket with this photo yet: try again after the ticket syncs. */
  | { kind: "not_listed"; sent: number }
  /** The connection broke or the relay is busy: resume later (backing off). */
  | { kind: "retry"; sent: number; why: string }
  /** The relay refused the photo (too large, today's quota, …): its words. */
  | { kind: "refused"; sent: number; status: number; why: string };

export interface Target {
  /** The relay's origin, e.g. `https://relay.example`. */
  base: string;
  /** The device token (`Authorization: Bearer`), or null on an open relay. */
  token: string | null;
  /** Lowercase hex SHA-256 of `bytes`. */
  hash: string;
  bytes: Uint8Array;
}

/** The tus metadata value naming a photo: `sha256 <base64 of its hex>`. */
export function metadata(hash: string): string {
  return `sha256 ${btoa(hash)}`;
}

function offsetOf(r: { header: (n: string) => string | null }): number | null {
  const v = r.header("upload-offset");
  if (v === null || !/^[0-9]+$/.test(v.trim())) return null;
  return Number(v.trim());
}

/**
 * Sends the photo from wherever the relay holds it to its end, and returns
 * how that went and how many body bytes this call handed to the network.
 */
export async function upload(http: Http, t: Target, chunk = CHUNK_BYTES): Promise<Outcome> {
  const url = `${t.base}/api/blobs/${t.hash}`;
  const length = t.bytes.length;
  const auth: Record<string, string> = t.token ? { Authorization: `Bearer ${t.token}` } : {};
  const tus = { ...auth, "Tus-Resumable": "1.0.0" };
  let sent = 0;
  let damaged = 0;
  let conflicts = 0;
  /** The offset the last 204 confirmed; HEAD is asked when there is none (or at the end). */
  let confirmed: number | null = null;
  const fail = (e: unknown): Outcome => ({ kind: "retry", sent, why: e instanceof Error ? e.message : String(e) });
  const answer = (status: number): Outcome | null => {
    if (status === 404) return { kind: "not_listed", sent };
    if (status >= 500 || status === 408 || status === 423) return { kind: "retry", sent, why: `HTTP ${status}` };
    return null;
  };
  /** Where the relay stands (HEAD; POST when it knows no upload): an offset, an outcome, or null to ask again. */
  const locate = async (): Promise<number | Outcome | null> => {
    const head = await http("HEAD", url, tus);
    if (head.status === 200) {
      const o = offsetOf(head);
      if (o === null) return { kind: "retry", sent, why: "HEAD without Upload-Offset" };
      const declared = Number(head.header("upload-length") ?? NaN);
      if (declared !== length) {
        return { kind: "refused", sent, status: 409, why: `the relay holds an upload of ${declared} bytes under this photo's name` };
      }
      return o >= length ? { kind: "done", sent } : o;
    }
    if (head.status !== 404) {
      return answer(head.status) ?? { kind: "refused", sent, status: head.status, why: `HTTP ${head.status}` };
    }
    const post = await http("POST", `${t.base}/api/blobs`, {
      ...tus,
      "Upload-Length": String(length),
      "Upload-Metadata": metadata(t.hash),
    });
    if (post.status === 201) return offsetOf(post) ?? 0;
    if (post.status === 409 && ++conflicts <= MAX_CONFLICTS) return null;
    return answer(post.status) ?? { kind: "refused", sent, status: post.status, why: `HTTP ${post.status}` };
  };
  for (;;) {
    let offset: number;
    if (confirmed !== null && confirmed < length) {
      offset = confirmed;
    } else {
      let at: number | Outcome | null;
      try {
        at = await locate();
      } catch (e) {
        return fail(e);
      }
      if (at === null) continue;
      if (typeof at !== "number") return at;
      offset = at;
    }
    if (offset >= length) continue; // finished by this request: HEAD confirms it
    // Append from the relay's offset, a chunk at a time.
    let body: Uint8Array;
    let r: Awaited<ReturnType<Http>>;
    try {
      body = t.bytes.subarray(offset, Math.min(length, offset + chunk));
      sent += body.length;
      r = await http("PATCH", url, {
        ...tus,
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
      }, body);
    } catch (e) {
      return fail(e);
    }
    confirmed = null;
    if (r.status === 204) {
      conflicts = 0;
      confirmed = offsetOf(r);
      continue;
    }
    if (r.status === 409) {
      // Another offset on the relay (or our own earlier request still
      // appending): HEAD again and send from there.
      if (++conflicts > MAX_CONFLICTS) return { kind: "retry", sent, why: "the relay is still taking an earlier request" };
      continue;
    }
    if (r.status === 460) {
      // The relay dropped the damaged upload: from byte 0 again.
      if (++damaged >= MAX_DAMAGED) return { kind: "retry", sent, why: `the relay refused ${damaged} damaged copies in a row` };
      continue;
    }
    return answer(r.status) ?? { kind: "refused", sent, status: r.status, why: `HTTP ${r.status}` };
  }
}

/** The wait before attempt `n` (1, 2, …) after a failure: 1 s doubling to 60 s. */
export function backoff(n: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, n - 1));
}
