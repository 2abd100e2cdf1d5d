// automerge-repo's IndexedDB adapter with writes that always end. Its
// `save` settles on the transaction's `complete` or `error` events only,
// but a write past the origin's quota aborts the transaction with a
// QuotaExceededError and fires `abort` alone, so the promise (and the
// repo's `flush`, and the app's "saved") would wait forever. Reads go to
// the package's adapter; writes go through a connection of our own to the
// same database, in transactions that resolve on `complete` and reject on
// `error` or `abort` (or a request that throws), and tell `onWrite` how
// they went, so the repo's own background saves (incoming sync) cannot
// fail unseen either.

import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo/slim";
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb";

/** Called after every write: `null` when it reached IndexedDB, else its error. */
export type WriteListener = (error: Error | null) => void;

/**
 * Write errors already given to a `WriteListener`. The repo's background
 * saves drop their promise, so their rejections go unhandled; the page's
 * `unhandledrejection` handler (`Store`) silences these, since the screen
 * already shows them.
 */
export const reported = new WeakSet<Error>();

/** The object store automerge-repo's adapter keeps documents in. */
const STORE = "documents";

export class CheckedIndexedDB implements StorageAdapterInterface {
  private readonly reads: IndexedDBStorageAdapter;
  private readonly db: Promise<IDBDatabase>;

  constructor(database: string, private readonly onWrite: WriteListener) {
    this.reads = new IndexedDBStorageAdapter(database, STORE);
    this.db = new Promise((ok, fail) => {
      const r = indexedDB.open(database, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
  }

  load(keyArray: StorageKey): Promise<Uint8Array | undefined> {
    return this.reads.load(keyArray);
  }

  /**
   * A document's chunks. A cold start asks for hundreds of documents at
   * once, two ranges each: the package's adapter gives each its own
   * transaction and a cursor step (a task) per chunk; these are gathered
   * for a task and read in one transaction, a `getAll` each.
   */
  loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    return new Promise((ok, fail) => {
      this.ranges.push({ prefix: keyPrefix, ok, fail });
      if (this.ranges.length === 1) setTimeout(() => void this.readRanges(), 0);
    });
  }

  private ranges: { prefix: StorageKey; ok: (chunks: Chunk[]) => void; fail: (e: unknown) => void }[] = [];

  private async readRanges(): Promise<void> {
    const batch = this.ranges.splice(0);
    try {
      const db = await this.db;
      const tx = db.transaction(STORE, "readonly");
      const failed = () => {
        for (const r of batch) r.fail(tx.error ?? new DOMException("the read was aborted", "AbortError"));
      };
      tx.onerror = failed;
      tx.onabort = failed;
      const store = tx.objectStore(STORE);
      for (const r of batch) {
        const got = store.getAll(IDBKeyRange.bound(r.prefix, [...r.prefix, "\uffff"]));
        got.onsuccess = () => r.ok((got.result as { key: StorageKey; binary: Uint8Array }[]).map((v) => ({ key: v.key, data: v.binary })));
      }
    } catch (e) {
      for (const r of batch) r.fail(e);
    }
  }

  private closed = false;

  /** Closes this adapter's own connection (the database can then be deleted). */
  async close(): Promise<void> {
    this.closed = true;
    (await this.db.catch(() => null))?.close();
  }

  /** Runs `write` in one readwrite transaction; settles when it commits or fails. */
  private async write(write: (store: IDBObjectStore) => void): Promise<void> {
    try {
      const db = await this.db;
      const tx = db.transaction(STORE, "readwrite");
      await new Promise<void>((ok, fail) => {
        const failed = () => fail(tx.error ?? new DOMException("the write was aborted", "AbortError"));
        tx.oncomplete = () => ok();
        tx.onerror = failed;
        tx.onabort = failed;
        try {
          write(tx.objectStore(STORE));
        } catch (e) {
          try {
            tx.abort();
          } catch {
            // Already finished: the thrown error is the one to report.
          }
          fail(e);
        }
      });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      reported.add(error);
      this.onWrite(error);
      throw error;
    }
    this.onWrite(null);
  }

  save(keyArray: StorageKey, binary: Uint8Array): Promise<void> {
    // After a logout or a re-login has closed this store, the repo may still
    // save what it last knew of a peer's sync state: only an optimisation
    // (it is rebuilt on the next connection), so it is dropped, not an
    // error. Documents were flushed before the close.
    if (this.closed && keyArray[1] === "sync-state") return Promise.resolve();
    return this.write((s) => s.put({ key: keyArray, binary }, keyArray));
  }

  remove(keyArray: StorageKey): Promise<void> {
    return this.write((s) => s.delete(keyArray));
  }

  removeRange(keyPrefix: StorageKey): Promise<void> {
    return this.write((s) => s.delete(IDBKeyRange.bound(keyPrefix, [...keyPrefix, "\uffff"])));
  }
}


/** Whether `e` says the device's storage is full. */
export function isQuotaError(e: unknown): boolean {
  return e instanceof DOMException && e.name === "QuotaExceededError";
}
