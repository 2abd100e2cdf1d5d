// The device's photos: taken with the phone's camera, made smaller here,
// kept in IndexedDB until the relay holds them, and sent in the background.
//
// A photo is decoded (createImageBitmap, EXIF orientation applied), scaled
// so its long side is at most MAX_SIDE px, and encoded as JPEG at QUALITY;
// its name is the SHA-256 of those bytes (what the ticket lists and the
// relay checks). The bytes go into a database of their own
// (`gridsync-photos-<user>`, object store `photos`, keyed by hash), apart
// from automerge-repo's: the documents never hold photo bytes. The put's
// transaction must complete before a ticket may list the photo, so a
// ticket never names a photo this device did not store; a quota or write
// error is a `PhotoError` the screen shows.
//
// The uploader (`Photos.run`) sends, one at a time, every stored photo that
// a ticket on this device lists once that ticket's document is acknowledged
// by the relay (the relay accepts an upload only for a ticket it holds that
// lists the hash). It speaks tus through `tus.ts`, resuming from the
// relay's offset; `queue.ts` picks the next photo and backs each off on its
// own after a failure, so one the relay keeps refusing (named in `error`)
// never holds back the others. It deletes the local copy only after HEAD
// shows the relay has every byte. A photo no ticket lists
// (taken on a form not yet saved) is a draft: kept, never sent.

import type { Catalog, Photo, Ticket } from "../model/docs.js";
import type { Store } from "./store.js";
import { UploadQueue } from "./queue.js";
import { type Http, type Outcome, backoff, upload } from "./tus.js";

/** The long side of a stored photo, in px: a sign or a manhole cover stays readable on a phone and in the console. */
export const MAX_SIDE = 1600;
/** JPEG quality of a stored photo (0..1). */
export const QUALITY = 0.8;

/** The reason code client-core and the relay give when `handled` lacks an after photo. */
export const AFTER_PHOTOS_REQUIRED = "after_photos_required";

/** A photo that could not be taken in or stored; its message says what to do. */
export class PhotoError extends Error {}

export interface Prepared {
  hash: string;
  bytes: Uint8Array;
  width: number;
  height: number;
  /** Bytes of the file the camera gave. */
  original: number;
}

interface Stored {
  hash: string;
  bytes: ArrayBuffer;
  width: number;
  height: number;
  original: number;
  taken_at: number;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Decodes, downscales and re-encodes a camera file; names it by its SHA-256. */
export async function prepare(file: Blob): Promise<Prepared> {
  if (!globalThis.crypto?.subtle) {
    throw new PhotoError("此页面不是安全连接（HTTPS），无法处理照片：请通过 https 地址打开应用");
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    throw new PhotoError("无法读取这张照片（格式不支持或文件已损坏）：请重新拍摄");
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  let blob: Blob | null;
  try {
    if (typeof OffscreenCanvas !== "undefined") {
      const canvas = new OffscreenCanvas(width, height);
      canvas.getContext("2d")!.drawImage(bitmap, 0, 0, width, height);
      blob = await canvas.convertToBlob({ type: "image/jpeg", quality: QUALITY });
    } else {
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      canvas.getContext("2d")!.drawImage(bitmap, 0, 0, width, height);
      blob = await new Promise<Blob | null>((ok) => canvas.toBlob(ok, "image/jpeg", QUALITY));
    }
  } finally {
    bitmap.close();
  }
  if (!blob) throw new PhotoError("照片压缩失败：手机内存可能不足，请关闭其他应用后重拍");
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const hash = hex(await crypto.subtle.digest("SHA-256", bytes));
  return { hash, bytes, width, height, original: file.size };
}

function storageError(e: unknown): PhotoError {
  const name = e instanceof DOMException ? e.name : "";
  if (name === "QuotaExceededError") {
    return new PhotoError("手机存储空间已满，照片未能保存：请清理空间后重拍");
  }
  return new PhotoError(`照片未能保存到本机（${(e as Error)?.message ?? String(e)}）：请重拍，或重启浏览器后再试`);
}

const dbName = (user: string) => `gridsync-photos-${user}`;

/** The photo database, one object store keyed by hash. */
class PhotoDb {
  private readonly db: Promise<IDBDatabase>;

  constructor(name: string) {
    this.db = new Promise((ok, fail) => {
      const r = indexedDB.open(name, 1);
      r.onupgradeneeded = () => r.result.createObjectStore("photos", { keyPath: "hash" });
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
      r.onblocked = () => fail(new Error("the photo database is held open by another tab"));
    });
  }

  private async tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.db;
    return new Promise((ok, fail) => {
      const t = db.transaction("photos", mode, { durability: "strict" });
      let value: T;
      const req = f(t.objectStore("photos"));
      req.onsuccess = () => {
        value = req.result;
      };
      // Done only when the transaction commits: a quota error aborts it.
      t.oncomplete = () => ok(value);
      t.onabort = t.onerror = () => fail(t.error ?? req.error ?? new Error("transaction aborted"));
    });
  }

  put(p: Stored): Promise<IDBValidKey> {
    return this.tx("readwrite", (s) => s.put(p));
  }

  get(hash: string): Promise<Stored | undefined> {
    return this.tx("readonly", (s) => s.get(hash) as IDBRequest<Stored | undefined>);
  }

  holds(hash: string): Promise<boolean> {
    return this.tx("readonly", (s) => s.getKey(hash)).then((k) => k !== undefined);
  }

  delete(hash: string): Promise<undefined> {
    return this.tx("readwrite", (s) => s.delete(hash));
  }

  hashes(): Promise<string[]> {
    return this.tx("readonly", (s) => s.getAllKeys() as IDBRequest<string[]>);
  }

  async close(): Promise<void> {
    (await this.db.catch(() => null))?.close();
  }
}

/** Deletes this user's photo database (at logout). */
export function deletePhotoDb(user: string): Promise<void> {
  return new Promise((ok) => {
    const r = indexedDB.deleteDatabase(dbName(user));
    r.onsuccess = r.onerror = r.onblocked = () => ok();
  });
}

/** The browser's fetch as tus.ts asks for it (timeouts: a stalled link is a failure, not a hang). */
const fetchHttp: Http = async (method, url, headers, body) => {
  const r = await fetch(url, {
    method,
    headers,
    body: body as BodyInit | undefined,
    cache: "no-store",
    signal: AbortSignal.timeout(method === "PATCH" ? 180_000 : 30_000),
  });
  return { status: r.status, header: (n) => r.headers.get(n) };
};

/** Whether `handled` must wait for an after photo (`after_photos_required`), with what is listed and what is being added. */
export function afterPhotosMissing(catalog: Catalog | null, t: Ticket, adding: string[]): boolean {
  const c = catalog?.categories[t.category];
  if (!c?.after_photos_required) return false;
  return adding.length === 0 && !t.photos.some((p) => p.phase === "after");
}

export function afterPhotosText(catalog: Catalog | null, t: Ticket): string {
  const name = catalog?.categories[t.category]?.name_zh ?? t.category;
  return `不能处置完成：「${name}」类问题须有处置后照片，请先拍摄至少一张处置后照片（${AFTER_PHOTOS_REQUIRED}）`;
}

export class Photos {
  private readonly db: PhotoDb;
  /** Hashes held in the database. */
  private readonly local = new Set<string>();
  private readonly urls = new Map<string, Promise<string | null>>();
  private readonly http: Http;
  private running = false;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** A look at the queue is due (store changes come in bursts while syncing). */
  private kickQueued = false;
  /** Storage failures in a row (reading a photo back). */
  private failures = 0;
  /** Which photo goes next; each backs off on its own. */
  private readonly queue = new UploadQueue();
  private wasOnline = false;
  /** Why the last upload stopped, shown until one succeeds. */
  error: string | null = null;
  /** A storage error reading the database at start. */
  loadError: string | null = null;
  /** Body bytes handed to the network by uploads (the browser tests print it). */
  sentBytes = 0;
  /** The upload under way. */
  uploading: string | null = null;
  readonly loaded: Promise<void>;

  constructor(private readonly store: Store, http: Http = fetchHttp) {
    this.http = http;
    this.db = new PhotoDb(dbName(store.session.user));
    this.loaded = this.db.hashes().then(
      (hs) => {
        for (const h of hs) this.local.add(h);
        this.notify();
      },
      (e) => {
        this.loadError = `无法读取本机照片（${(e as Error)?.message ?? e}）：请重启浏览器`;
        this.notify();
      },
    );
    store.addEventListener("change", this.kick);
  }

  private notify(): void {
    this.store.dispatchEvent(new Event("change"));
  }

  /** Takes a camera file in: made smaller, named, and stored before it returns. */
  async add(file: Blob, now = Date.now()): Promise<Prepared> {
    const p = await prepare(file);
    try {
      const bytes = p.bytes.buffer.slice(p.bytes.byteOffset, p.bytes.byteOffset + p.bytes.byteLength) as ArrayBuffer;
      await this.db.put({ hash: p.hash, bytes, width: p.width, height: p.height, original: p.original, taken_at: now });
    } catch (e) {
      throw storageError(e);
    }
    this.local.add(p.hash);
    this.notify();
    return p;
  }

  /** Throws unless every photo is stored here (what a ticket may list). */
  async require(hashes: string[]): Promise<void> {
    for (const h of hashes) {
      let got: boolean;
      try {
        got = await this.db.holds(h);
      } catch (e) {
        throw storageError(e);
      }
      if (!got) throw new PhotoError("有照片未能保存在本机：请删除该照片后重拍");
    }
  }

  /** Drops a draft photo taken on a form (kept if a ticket lists it). */
  async discard(hash: string): Promise<void> {
    if (this.listing().has(hash)) return;
    await this.db.delete(hash).catch(() => {});
    this.local.delete(hash);
    this.forgetUrl(hash);
    this.notify();
  }

  /** Whether this device still holds the photo (not yet confirmed by the relay). */
  has(hash: string): boolean {
    return this.local.has(hash);
  }

  /** Stored photos some ticket here lists → whether one such ticket is acknowledged by the relay. */
  private listing(): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const v of this.store.tickets()) {
      for (const p of v.ticket.photos) {
        if (this.local.has(p.hash)) out.set(p.hash, (out.get(p.hash) ?? false) || !v.unsynced);
      }
    }
    return out;
  }

  /** Photos tickets list that the relay does not hold yet. */
  pendingCount(): number {
    return this.listing().size;
  }

  /** An object URL of the local copy, or null when this device no longer has it. */
  url(hash: string): Promise<string | null> {
    let u = this.urls.get(hash);
    if (!u) {
      u = this.db.get(hash).then(
        (p) => (p ? URL.createObjectURL(new Blob([p.bytes], { type: "image/jpeg" })) : null),
        () => null,
      );
      this.urls.set(hash, u);
    }
    return u;
  }

  private forgetUrl(hash: string): void {
    const u = this.urls.get(hash);
    this.urls.delete(hash);
    void u?.then((x) => x && URL.revokeObjectURL(x));
  }

  /** The relay's thumbnail (the token in the query: an <img> sets no header). */
  relayThumb(hash: string): string {
    return `/api/blobs/${hash}?size=thumb&token=${encodeURIComponent(this.store.session.token)}`;
  }

  /** Photo entries for a ticket, as client-core's `add_photo` writes them. */
  entries(hashes: string[], phase: "before" | "after", at: number): Photo[] {
    return hashes.map((hash) => ({ hash, phase, added_by: this.store.session.user, at }));
  }

  private readonly kick = () => {
    if (this.kickQueued) return;
    this.kickQueued = true;
    setTimeout(() => {
      this.kickQueued = false;
      this.look();
    }, 200);
  };

  private look(): void {
    const online = this.store.online;
    if (online && !this.wasOnline && this.timer !== null) {
      // Signal is back: no reason to sit out the rest of a backoff.
      clearTimeout(this.timer);
      this.timer = null;
      this.failures = 0;
      this.queue.retryNow();
    }
    this.wasOnline = online;
    if (!this.running && this.timer === null && online && !this.closed) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    let wait: number | null = null;
    let changed = false;
    try {
      await this.loaded;
      while (this.store.online && !this.closed) {
        const listing = this.listing();
        this.queue.forgetAllBut(new Set(listing.keys()));
        const ready = [...listing].filter(([, synced]) => synced).map(([h]) => h);
        // Each photo in turn; one that keeps failing waits on its own.
        const next = this.queue.next(ready, Date.now());
        if (!next) {
          wait = this.queue.wake(ready, Date.now());
          break;
        }
        let stored: Stored | undefined;
        try {
          stored = await this.db.get(next);
        } catch (e) {
          this.error = storageError(e).message;
          wait = backoff(++this.failures);
          changed = true;
          break;
        }
        if (!stored) {
          this.local.delete(next);
          continue;
        }
        this.uploading = next;
        changed = true;
        this.notify();
        const out: Outcome = await upload(this.http, {
          base: location.origin,
          token: this.store.session.token,
          hash: next,
          bytes: new Uint8Array(stored.bytes),
        });
        this.sentBytes += out.sent;
        this.queue.settle(next, out, Date.now());
        let trouble: string | null = null;
        if (out.kind === "done") {
          this.failures = 0;
          try {
            await this.db.delete(next);
          } catch (e) {
            trouble = storageError(e).message;
          }
          this.local.delete(next);
          this.forgetUrl(next);
        }
        // A cut or a busy relay is not news; a refusal is, until it clears.
        this.error = this.stuckText() ?? trouble;
        this.notify();
      }
    } finally {
      this.running = false;
      this.uploading = null;
      if (wait !== null && !this.closed) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.look();
        }, wait);
      }
      // Only after work: a change notice re-runs the uploader.
      if (changed) this.notify();
    }
  }

  /** Photos the relay refused (named by ticket and hash), or null. */
  stuck(): { hash: string; title: string; why: string }[] {
    const titles = new Map<string, string>();
    for (const v of this.store.tickets()) for (const p of v.ticket.photos) titles.set(p.hash, v.ticket.title);
    return this.queue
      .stuck()
      .filter((s) => this.local.has(s.hash))
      .map((s) => ({ ...s, title: titles.get(s.hash) ?? "" }));
  }

  private stuckText(): string | null {
    const stuck = this.stuck();
    if (stuck.length === 0) return null;
    const which = stuck.map((s) => `「${s.title}」的照片 ${s.hash.slice(0, 8)}（${s.why}）`).join("；");
    return `${stuck.length} 张照片上传被服务器拒绝：${which}。照片保留在本机，稍后自动重试；其余照片照常上传`;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.store.removeEventListener("change", this.kick);
    for (const h of [...this.urls.keys()]) this.forgetUrl(h);
    void this.db.close();
  }
}
