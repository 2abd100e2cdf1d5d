// The app's local data: an automerge-repo Repo over IndexedDB, synced with
// the relay over its WebSocket (the device token as the `token` query
// parameter). It holds the same documents client-core writes, at the same
// ids: each grid's index (read to find tickets and visit logs), the
// tickets, the worker's visit logs, the tickets' private documents the
// role may read (`contact.ts`), and the catalog.
//
// Every write goes into the document, then `repo.flush` puts it in
// IndexedDB before the app says it is saved; a failing write (quota, a
// broken database) is an error the screen shows, and the documents it left
// only in memory stay marked until a later write of theirs succeeds
// (`CheckedIndexedDB` makes every write settle and report). A document this device
// changed counts as 未同步 until the relay's heads (its sync state, per
// its storage id) include this device's heads; what the relay has
// acknowledged is remembered across reloads.

import { Repo, type DocHandle, type DocumentId, isValidDocumentId, Automerge as A } from "@automerge/automerge-repo/slim";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import {
  type Catalog, type GridIndex, type NewTicket, type Resident, type Ticket, type Visit, type VisitLogKey, addComment, addPhoto, addVisit,
  appendEvent, createTicket, createTicketPrivate, hasContact, indexPrivate, indexTicket, indexVisitLog, initGridIndex,
  initVisitLog, newEvent, readCatalog, readGridIndex, readTicket, readTicketPrivate, readVisitLog,
} from "../model/docs.js";
import { type Action, type Event, type Status, actionsFor, check, isOpen, reasonText } from "../model/lifecycle.js";
import { catalogId, gridIndexId, randomId, ticketDocumentId, ticketPrivateId, visitLogId } from "../model/ids.js";
import { mayReadContact } from "./contact.js";
import { type ListedTicket, readListing, writeListing } from "./listing.js";
import type { Session } from "./session.js";
import { PhotoError, Photos, afterPhotosMissing, afterPhotosText } from "./photos.js";
import { CheckedIndexedDB, isQuotaError, reported } from "./storage.js";

export interface TicketView {
  ticket: Ticket;
  docId: DocumentId;
  unsynced: boolean;
  /** Its last save to IndexedDB failed: it is only in memory. */
  unsaved: boolean;
  overdue: boolean;
}

export interface EventInput {
  note?: string;
  due_at?: number;
  /** After photos (hashes stored in `Store.photos`), written with the event. */
  photos?: string[];
}

/** A local write that did not reach IndexedDB, or a refused action. */
export class SaveError extends Error {
  /** The ticket a failed report made, kept in memory until `retrySave`. */
  ticket: string | null = null;
}

type Doc = Record<string, unknown>;

/** The date in +08:00 (China Standard Time), as the CLI dates visit logs. */
export function localDate(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 10);
}

/** Distance in metres between two points (haversine). */
export function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = 6_371_000;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

/** What the person reads when IndexedDB refused a write. */
export function storageErrorText(e: unknown): string {
  return isQuotaError(e)
    ? "手机存储空间已满，记录未能保存到本机：请清理手机空间后点“重试保存”，在此之前请勿关闭页面"
    : `记录未能保存到本机（${(e as Error).message}）：请勿关闭页面，稍后点“重试保存”`;
}

export class Store extends EventTarget {
  readonly repo: Repo;
  readonly storage: CheckedIndexedDB;
  /** The photos on this device and their upload (`photos.ts`). */
  readonly photos: Photos;
  private readonly adapter: WebSocketClientAdapter;
  private readonly handles = new Map<DocumentId, DocHandle<Doc>>();
  private readonly pending = new Set<DocumentId>();
  private readonly waiting = new Set<DocumentId>();
  private readonly mine: Set<string>;
  private readonly acked: Record<string, string[]>;
  private relayPeers = new Set<string>();
  /**
   * What a document read to, kept while the handle holds the same document
   * (Automerge documents are immutable: a change makes a new one). Screens
   * re-read on every change; `heads()` is no key, it base58check-encodes
   * (two SHA-256 each) on every call.
   */
  private readonly reads = new Map<DocumentId, { doc: unknown; value: unknown }>();
  /** Whether the relay holds a document's heads, kept while the document and the relay's heads stay. */
  private readonly synced = new Map<DocumentId, { doc: unknown; acked: string[] | undefined; value: boolean }>();
  /** The list `tickets()` folds, until the next change (`changed`). */
  private listed: Omit<TicketView, "overdue">[] | null = null;
  private ackedTimer: ReturnType<typeof setTimeout> | null = null;
  private notifyQueued = false;
  private notifiedAt = -Infinity;
  /** Saves in flight (`persist`): the screen is told when they end. */
  private writing = 0;
  /** The last write or storage error, shown until the next good write. */
  error: string | null = null;
  /** Documents changed here whose last save to IndexedDB failed: in memory only. */
  private readonly unsaved = new Set<DocumentId>();
  /**
   * What `navigator.storage.persist()` answered: true, the browser keeps
   * this site's data under storage pressure; false, it may evict it; null,
   * not asked yet or not supported.
   */
  persisted: boolean | null = null;
  /**
   * The catalog and the grid indexes are open: the app lists, reports and
   * logs visits. The tickets open after, in the background; until each is
   * open the list shows its kept row (`keptOnly`).
   */
  ready = false;
  /** Every document the indexes list is open (until then the list shows kept rows for the rest). */
  loaded = false;
  /** The list as the last session kept it (`listing.ts`), read once. */
  private readonly kept: ListedTicket[];

  constructor(readonly session: Session) {
    super();
    this.storage = new CheckedIndexedDB(`gridsync-${session.user}`, (e) => {
      // A background save (the repo's own, after sync) failed: say so.
      if (e) this.error = storageErrorText(e);
      this.changed();
    });
    const ws = new URL("/", location.href);
    ws.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    ws.searchParams.set("token", session.token);
    this.adapter = new WebSocketClientAdapter(ws.toString(), 3000);
    this.repo = new Repo({ storage: this.storage, network: [this.adapter], sharePolicy: async () => true });
    this.mine = new Set(JSON.parse(localStorage.getItem(this.key("mine")) ?? "[]") as string[]);
    this.acked = JSON.parse(localStorage.getItem(this.key("acked")) ?? "{}") as Record<string, string[]>;
    this.kept = readListing(session.user) ?? [];
    this.photos = new Photos(this);
    this.repo.networkSubsystem.on("peer", ({ peerId }) => {
      this.relayPeers.add(peerId);
      this.changed();
      // Documents the relay did not have a moment ago may be there now.
      void this.loadAll();
    });
    // When the phone says the network is gone, the socket is dead even if
    // the browser has not noticed: drop it at once (not after a closing
    // handshake that cannot finish), so the screen says 离线 now and sends
    // stop; the adapter's retries reconnect once the network is back.
    addEventListener("offline", this.dropSocket);
    addEventListener("online", this.reconnect);
    addEventListener("pagehide", this.saveAcked);
    addEventListener("unhandledrejection", this.shownAlready);
    this.repo.networkSubsystem.on("peer-disconnected", ({ peerId }) => {
      this.relayPeers.delete(peerId);
      this.changed();
    });
  }

  private readonly dropSocket = () => {
    const { peerId, peerMetadata } = this.adapter;
    if (!peerId || !this.adapter.socket) return;
    // `disconnect` closes the socket without waiting for its close event
    // and says the relay peer is gone; `connect` starts the retries.
    this.adapter.disconnect();
    this.adapter.connect(peerId, peerMetadata);
  };

  /** The network is back: try the relay now rather than at the next retry tick. */
  private readonly reconnect = () => {
    const { peerId, peerMetadata } = this.adapter;
    if (peerId && this.relayPeers.size === 0) this.adapter.connect(peerId, peerMetadata);
  };

  /** A background save's failure is on screen already (`storage.ts`). */
  private readonly shownAlready = (e: PromiseRejectionEvent) => {
    if (e.reason instanceof Error && reported.has(e.reason)) e.preventDefault();
  };

  private key(what: string): string {
    return `gridsync:${what}:${this.session.user}`;
  }

  get online(): boolean {
    return this.relayPeers.size > 0;
  }

  /** Opens the grid indexes and the catalog, and every ticket and log they list. */
  async start(): Promise<void> {
    if (navigator.storage?.persist) {
      // Field work must survive the browser's storage pressure.
      void navigator.storage.persist().then(
        (granted) => {
          this.persisted = granted;
          this.changed();
        },
        () => {
          this.persisted = false;
          this.changed();
        },
      );
    }
    // First what the screens stand on: the catalog and the indexes.
    await Promise.allSettled([this.open(catalogId()), ...this.session.grids.map((g) => this.open(gridIndexId(g)))]);
    this.ready = true;
    // From navigation to a usable app (the benchmark reads it).
    performance.mark("gridsync:store-ready");
    this.changed();
    await this.loadAll();
    this.loaded = true;
    // From navigation to every listed document open.
    performance.mark("gridsync:store-loaded");
    this.changed();
  }

  /**
   * The kept rows of tickets not open yet (none once every document is
   * open): what the list shows for them meanwhile, as the last session
   * folded them.
   */
  keptOnly(): ListedTicket[] {
    if (this.loaded) return [];
    const open = new Set(this.tickets().map((v) => v.ticket.id));
    return this.kept.filter((r) => !open.has(r.id));
  }

  async loadAll(): Promise<void> {
    await Promise.allSettled([
      this.open(catalogId()),
      ...this.session.grids.map(async (g) => {
        const index = await this.open(gridIndexId(g));
        if (index) await this.openListed(index);
      }),
    ]);
    this.changed();
  }

  private async openListed(index: DocHandle<Doc>): Promise<void> {
    const listed = this.index(index);
    const mineToday = (k: string) => k.startsWith(`${this.session.user}:`);
    await Promise.allSettled([
      ...listed.tickets.map(([, d]) => this.open(d as DocumentId)),
      ...listed.visit_logs.filter(([k]) => this.session.role !== "unit" && mineToday(k)).map(([, d]) => this.open(d as DocumentId)),
    ]);
    // Private documents: only those the relay lets this role read (a
    // worker's: the tickets it reported, known once the ticket is here).
    await Promise.allSettled(
      listed.private
        .filter(([t]) => mayReadContact(this.session, this.reporterOf(t)))
        .map(([, d]) => this.open(d as DocumentId)),
    );
  }

  /** Who reported ticket `t`, if this device holds it. */
  private reporterOf(t: string): string | null {
    const h = this.handles.get(ticketDocumentId(t));
    if (!h?.isReady()) return null;
    try {
      return this.read(h, (doc) => readTicket(doc, t)).created_by;
    } catch {
      return null;
    }
  }

  /**
   * The resident's contact of a ticket, when this role may see it: from
   * the ticket's private document, else what an old ticket carries itself.
   */
  contact(v: TicketView): Resident | null {
    if (!mayReadContact(this.session, v.ticket.created_by || null)) return null;
    const h = this.handles.get(ticketPrivateId(v.ticket.id));
    const legacy = v.ticket.resident;
    let found: Resident = { name: null, phone: null };
    if (h?.isReady()) {
      try {
        found = this.read(h, readTicketPrivate).resident;
      } catch {
        // Unreadable (a newer schema): the ticket's own fields, if any.
      }
    }
    const r = { name: found.name ?? legacy.name, phone: found.phone ?? legacy.phone };
    return hasContact(r) ? r : null;
  }

  /** The handle of a document held here or fetched from the relay; null when neither has it. */
  private async open(id: DocumentId): Promise<DocHandle<Doc> | null> {
    const known = this.handles.get(id);
    if (known) return known;
    if (this.pending.has(id)) return null;
    this.pending.add(id);
    try {
      const h = await this.repo.find<Doc>(id);
      this.watch(h);
      return h;
    } catch {
      // Unavailable for now (offline, or not yet on the relay, or not yet
      // dispatched to this unit): the repo keeps asking its peers, and the
      // handle becomes ready when one sends it.
      const h = this.repo.handles[id] as DocHandle<Doc> | undefined;
      if (h && !this.waiting.has(id)) {
        this.waiting.add(id);
        // The handle says `heads-changed` just before it turns ready (the
        // first changes from a peer make it so): look once the event is
        // over, and keep listening until it is.
        const arrived = () =>
          queueMicrotask(() => {
            if (!h.isReady() || !this.waiting.has(id)) return;
            h.off("heads-changed", arrived);
            this.waiting.delete(id);
            this.watch(h);
            if (this.isIndex(h)) void this.openListed(h);
            this.changed();
          });
        h.on("heads-changed", arrived);
      }
      return null;
    } finally {
      this.pending.delete(id);
    }
  }

  private watch(h: DocHandle<Doc>): void {
    if (this.handles.has(h.documentId)) return;
    this.listed = null;
    this.handles.set(h.documentId, h);
    h.on("change", () => {
      // Not inside the change: a report's own index write waits on nothing but its save.
      if (this.isIndex(h)) this.openListedSoon(h);
      this.changed();
    });
    h.on("remote-heads", ({ heads }) => {
      this.acked[h.documentId] = heads;
      this.keepAcked();
      this.changed();
    });
  }

  /**
   * Remembers what the relay acknowledged, at most every 300 ms (a
   * reconnect acknowledges every document, each a rewrite of the whole
   * record: quadratic if written each time), and when the page goes away.
   * A lost last write only shows a document 未同步 until the relay says
   * its heads again: never the other way round.
   */
  private keepAcked(): void {
    if (this.ackedTimer !== null) return;
    this.ackedTimer = setTimeout(this.saveAcked, 300);
  }

  private readonly saveAcked = () => {
    if (this.ackedTimer !== null) clearTimeout(this.ackedTimer);
    this.ackedTimer = null;
    localStorage.setItem(this.key("acked"), JSON.stringify(this.acked));
  };

  private isIndex(h: DocHandle<Doc>): boolean {
    return this.session.grids.some((g) => gridIndexId(g) === h.documentId);
  }

  private readonly indexesToOpen = new Set<DocHandle<Doc>>();

  /** Opens what a changed index lists, once after the current task however many changes it brought. */
  private openListedSoon(h: DocHandle<Doc>): void {
    if (this.indexesToOpen.size === 0) {
      setTimeout(() => {
        const due = [...this.indexesToOpen];
        this.indexesToOpen.clear();
        for (const index of due) void this.openListed(index);
      }, 0);
    }
    this.indexesToOpen.add(h);
  }

  /**
   * Coalesces change notifications. Once loaded, one per task (what the
   * screen shows, the relay's acknowledgements among them, is never
   * behind the store by more than a task; a render costs little, the
   * fold being kept and the rows memoised). While the first load opens
   * hundreds of documents, the first of a quiet spell at once and then
   * one per 200 ms (each would otherwise re-render the whole list).
   */
  private changed(): void {
    this.listed = null;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    const notify = () => {
      this.notifyQueued = false;
      // A save in flight: its end notifies (a render would only delay it).
      if (this.writing > 0) return;
      this.notifiedAt = performance.now();
      this.dispatchEvent(new Event("change"));
      this.keepListing();
    };
    const wait = this.loaded ? 0 : this.notifiedAt + 200 - performance.now();
    if (wait <= 0) queueMicrotask(notify);
    else setTimeout(notify, wait);
  }

  private listingTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * Keeps a copy of the list for the next cold start (`listing.ts`): at
   * most once a second, and at the latest a second after a change (a
   * throttle, not a debounce, so a long sync cannot starve it).
   */
  private keepListing(): void {
    // Not from a half-open store: the copy would lack what is not open yet.
    if (this.listingTimer !== null || !this.loaded) return;
    this.listingTimer = setTimeout(() => {
      this.listingTimer = null;
      const names = this.catalog()?.categories;
      writeListing(this.session.user, this.tickets().map((v) => ({
        id: v.ticket.id,
        title: v.ticket.title,
        status: v.ticket.state.status ?? "reported",
        category: names?.[v.ticket.category]?.name_zh ?? v.ticket.category,
        created_at: v.ticket.created_at,
        urgent: v.ticket.urgency === "urgent",
        unsynced: v.unsynced,
        unsaved: v.unsaved,
        overdue: v.overdue,
        conflicts: v.ticket.state.conflicts.length,
      })));
    }, 1000);
  }

  private isUnsynced(id: DocumentId): boolean {
    if (!this.mine.has(id)) return false;
    const h = this.handles.get(id);
    if (!h || !h.isReady()) return true;
    const doc = h.doc();
    const acked = this.acked[id];
    const known = this.synced.get(id);
    if (known && known.doc === doc && known.acked === acked) return !known.value;
    const has = new Set(acked ?? []);
    const value = h.heads().every((x) => has.has(x));
    this.synced.set(id, { doc, acked, value });
    return !value;
  }

  /** How many documents this device changed that the relay has not acknowledged. */
  unsyncedCount(): number {
    let n = 0;
    for (const id of this.mine) if (this.isUnsynced(id as DocumentId)) n++;
    return n;
  }

  private read<T>(h: DocHandle<Doc>, how: (doc: never) => T): T {
    const doc = h.doc();
    const known = this.reads.get(h.documentId);
    if (known && known.doc === doc) return known.value as T;
    const value = how(doc as never);
    this.reads.set(h.documentId, { doc, value });
    return value;
  }

  /** A grid index as read (kept while the document stays). */
  private index(h: DocHandle<Doc>): GridIndex {
    return this.read(h, (doc) => readGridIndex(doc, this.isDocumentId));
  }

  /** Document ids already checked: an index lists hundreds, each a bs58check (two SHA-256) to check. */
  private readonly checkedIds = new Map<string, boolean>();

  private readonly isDocumentId = (s: string): boolean => {
    let ok = this.checkedIds.get(s);
    if (ok === undefined) {
      ok = isValidDocumentId(s);
      this.checkedIds.set(s, ok);
    }
    return ok;
  };

  catalog(): Catalog | null {
    const h = this.handles.get(catalogId());
    if (!h?.isReady()) return null;
    try {
      return this.read(h, readCatalog);
    } catch {
      return null;
    }
  }

  /** The grids' tickets, newest first, folded; one fold per change however often a render asks. */
  tickets(now = Date.now()): TicketView[] {
    this.listed ??= this.fold();
    return this.listed.map((v) => {
      const status = v.ticket.state.status ?? "reported";
      const due = v.ticket.state.due_at;
      return { ...v, overdue: isOpen(status) && due !== null && due < now && status !== "handled" && status !== "verified" };
    });
  }

  private fold(): Omit<TicketView, "overdue">[] {
    const out: Omit<TicketView, "overdue">[] = [];
    for (const g of this.session.grids) {
      const index = this.handles.get(gridIndexId(g));
      if (!index?.isReady()) continue;
      for (const [t, d] of this.index(index).tickets) {
        const h = this.handles.get(d as DocumentId);
        if (!h?.isReady()) continue;
        let ticket: Ticket;
        try {
          ticket = this.read(h, (doc) => readTicket(doc, t));
        } catch {
          continue;
        }
        out.push({
          ticket,
          docId: d as DocumentId,
          unsynced: this.isUnsynced(d as DocumentId),
          unsaved: this.unsaved.has(d as DocumentId),
        });
      }
    }
    out.sort((a, b) => (b.ticket.created_at ?? 0) - (a.ticket.created_at ?? 0));
    return out;
  }

  ticket(id: string): TicketView | null {
    return this.tickets().find((t) => t.ticket.id === id) ?? null;
  }

  /** Open tickets of `category` within `radius` metres: possible duplicates. */
  duplicates(category: string, at: { lat: number; lon: number }, radius = 50): { view: TicketView; metres: number }[] {
    return this.tickets()
      .filter((v) => v.ticket.category === category && v.ticket.location && isOpen(v.ticket.state.status ?? "reported"))
      .map((view) => ({ view, metres: metres(at, view.ticket.location!) }))
      .filter((d) => d.metres <= radius)
      .sort((a, b) => a.metres - b.metres);
  }

  visitsOn(date: string): Visit[] {
    const out: Visit[] = [];
    for (const g of this.session.grids) {
      const h = this.handles.get(visitLogId(g, this.session.user, date));
      if (!h?.isReady()) continue;
      out.push(...readVisitLog(h.doc() as never).visits);
    }
    return out.sort((a, b) => a.started_at - b.started_at);
  }

  private remember(ids: DocumentId[]): void {
    this.listed = null;
    for (const id of ids) this.mine.add(id);
    localStorage.setItem(this.key("mine"), JSON.stringify([...this.mine]));
  }

  /** Makes the write durable in IndexedDB, or says why not. */
  private async persist(ids: DocumentId[]): Promise<void> {
    this.listed = null;
    for (const id of ids) this.unsaved.add(id);
    this.writing++;
    try {
      await this.repo.flush(ids);
    } catch (e) {
      this.writing--;
      this.error = storageErrorText(e);
      this.changed();
      throw new SaveError(this.error);
    }
    this.writing--;
    this.listed = null;
    for (const id of ids) this.unsaved.delete(id);
    if (this.unsaved.size === 0) this.error = null;
    this.changed();
  }

  /** How many changed documents are in memory only (their save failed). */
  unsavedCount(): number {
    return this.unsaved.size;
  }

  /** Tries again to save what a failed write left in memory. */
  async retrySave(): Promise<void> {
    await this.persist([...this.unsaved]);
  }

  /** A document to write: held here, else a new one at its (derived) id. */
  private async writable(id: DocumentId, init: (d: Doc) => void): Promise<DocHandle<Doc>> {
    const known = this.handles.get(id) ?? (await this.localHandle(id));
    if (known) return known;
    // Nobody here has it: start it, as client-core does; the relay merges
    // it with any other device's copy.
    const h = this.repo.import<Doc>(A.save(A.change(A.init<Doc>(), init)), { docId: id });
    this.watch(h);
    return h;
  }

  private async localHandle(id: DocumentId): Promise<DocHandle<Doc> | null> {
    const chunks = await this.storage.loadRange([id]);
    return chunks.length > 0 || this.online ? this.open(id) : null;
  }

  /**
   * Reports a ticket: its document, the resident's contact in the ticket's
   * private document (as client-core's `Device::report` writes it), and
   * the grid index entries, saved here. A failed save throws `SaveError`
   * with the ticket kept in memory (`unsaved`); `retrySave` saves it.
   */
  async report(t: Omit<NewTicket, "id"> & { photos?: string[] }, now = Date.now()): Promise<string> {
    const started = performance.now();
    const id = randomId();
    const docId = ticketDocumentId(id);
    const { photos = [], ...fields } = t;
    const full: NewTicket = { ...fields, id };
    await this.photosStored(photos);
    const doc = A.change(A.init<Doc>(), (d) => {
      createTicket(d, full, this.session.user, this.session.role, now, randomId());
      for (const p of this.photos.entries(photos, "before", now)) addPhoto(d, p);
    });
    const h = this.repo.import<Doc>(A.save(doc), { docId });
    this.watch(h);
    const written = [docId];
    const resident = hasContact(t.resident) ? t.resident : null;
    if (resident) {
      const privateId = ticketPrivateId(id);
      const p = A.change(A.init<Doc>(), (d) => createTicketPrivate(d, id, t.grid, this.session.user, resident));
      this.watch(this.repo.import<Doc>(A.save(p), { docId: privateId }));
      written.push(privateId);
    }
    const index = await this.writable(gridIndexId(t.grid), (d) => initGridIndex(d, t.grid));
    index.change((d) => {
      initGridIndex(d, t.grid);
      indexTicket(d, id);
      if (resident) indexPrivate(d, id);
    });
    written.push(index.documentId);
    this.remember(written);
    try {
      await this.persist(written);
    } catch (e) {
      if (e instanceof SaveError) e.ticket = id;
      throw e;
    }
    // From the tap to the ticket in IndexedDB (the browser tests print it).
    performance.measure("gridsync:report-durable", { start: started });
    return id;
  }

  /** What this app lets the role do to a ticket now (the console does the rest). */
  actions(v: TicketView): Action[] {
    return this.actionsAt(v.ticket.state.status);
  }

  /** What this app lets the role do to a ticket in `status`. */
  actionsAt(status: Status | null): Action[] {
    const offered: Action[] =
      this.session.role === "unit"
        ? ["acknowledged", "returned", "in_progress", "handled", "extension_requested"]
        : this.session.role === "worker"
          ? ["handled", "verified", "rework"]
          : [];
    return actionsFor(status, this.session.role).filter((a) => offered.includes(a));
  }

  async act(ticket: string, action: Action, input: EventInput, now = Date.now()): Promise<void> {
    // Before the state is read: nothing awaits between the check and the write.
    await this.photosStored(input.photos ?? []);
    const v = this.ticket(ticket);
    if (!v) throw new SaveError("本机没有这张工单");
    const ev: Event = newEvent(randomId(), v.ticket.state.status, action, this.session.user, this.session.role, now);
    ev.note = input.note?.trim() ? input.note.trim() : null;
    if (action === "extension_requested") ev.due_at = input.due_at ?? null;
    const refused = check(v.ticket.state, ev);
    if (refused) throw new SaveError(`不能执行：${reasonText(refused)}`);
    const photos = input.photos ?? [];
    if (action === "handled" && afterPhotosMissing(this.catalog(), v.ticket, photos)) {
      throw new SaveError(afterPhotosText(this.catalog(), v.ticket));
    }
    const h = this.handles.get(v.docId)!;
    h.change((d) => {
      for (const p of this.photos.entries(photos, "after", now)) addPhoto(d, p);
      appendEvent(d, ev);
    });
    this.remember([v.docId]);
    await this.persist([v.docId]);
  }

  /** A ticket names only photos this device stored. */
  private async photosStored(hashes: string[]): Promise<void> {
    try {
      await this.photos.require(hashes);
    } catch (e) {
      throw new SaveError(e instanceof PhotoError ? e.message : String(e));
    }
  }

  async comment(ticket: string, text: string, now = Date.now()): Promise<void> {
    const v = this.ticket(ticket);
    if (!v) throw new SaveError("本机没有这张工单");
    if (!text.trim()) throw new SaveError("请填写留言内容");
    const h = this.handles.get(v.docId)!;
    h.change((d) => addComment(d, { id: randomId(), author: this.session.user, at: now, text: text.trim() }));
    this.remember([v.docId]);
    await this.persist([v.docId]);
  }

  /** Adds a visit to today's (grid, worker, date) log and lists the log in the grid index. */
  async addVisit(v: Omit<Visit, "id" | "worker">): Promise<string> {
    const visit: Visit = { ...v, id: randomId(), worker: this.session.user };
    const key: VisitLogKey = { grid: v.grid, worker: this.session.user, date: localDate(v.started_at) };
    const logId = visitLogId(key.grid, key.worker, key.date);
    const log = await this.writable(logId, (d) => initVisitLog(d, key));
    log.change((d) => {
      initVisitLog(d, key);
      addVisit(d, visit);
    });
    const index = await this.writable(gridIndexId(v.grid), (d) => initGridIndex(d, v.grid));
    index.change((d) => {
      initGridIndex(d, v.grid);
      indexVisitLog(d, key, logId);
    });
    this.remember([logId, index.documentId]);
    await this.persist([logId, index.documentId]);
    return visit.id;
  }

  async close(): Promise<void> {
    if (this.listingTimer !== null) clearTimeout(this.listingTimer);
    this.saveAcked();
    removeEventListener("pagehide", this.saveAcked);
    removeEventListener("offline", this.dropSocket);
    removeEventListener("online", this.reconnect);
    this.photos.close();
    removeEventListener("unhandledrejection", this.shownAlready);
    // Not `repo.shutdown()`: it disconnects every adapter again, and the
    // WebSocket adapter's `disconnect` throws when it has no socket (after
    // a first disconnect, or while offline), which left logout hanging.
    try {
      this.adapter.disconnect();
    } catch {
      // No socket open: nothing to close.
    }
    await this.repo.flush().catch(() => {});
    await this.storage.close();
  }
}
