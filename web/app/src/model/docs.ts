// The documents client-core writes (`model/ticket.rs`, `visit.rs`,
// `grid_index.rs`, `catalog.rs`), read and written the same way: the same
// keys, scalar strings (ImmutableString, never collaborative text),
// timestamps as Automerge timestamps (Date), coordinates as f64. Readers
// never fail on a missing or mistyped field, as client-core's do not: a
// field of the wrong type reads as absent.

import { Float64, ImmutableString, Int, isImmutableString } from "@automerge/automerge/slim";
import type { Doc } from "@automerge/automerge/slim";
import {
  ACTIONS, type Action, type CloseReason, type Event, type EventEntry, type Folded, RATINGS,
  type Rating, type Role, ROLES, STATUSES, type Status, fold,
} from "./lifecycle.js";
import { isGridCode, normalizeUuid, ticketDocumentId, ticketPrivateId } from "./ids.js";

export const SCHEMA_VERSION = "1.0";
export const SCHEMA_MAJOR = 1;

export type Source = "patrol" | "resident" | "hotline" | "assigned";
export const SOURCES: Source[] = ["patrol", "resident", "hotline", "assigned"];
export type Kind = "component" | "event" | "livelihood" | "dispute";
export const KINDS: Kind[] = ["component", "event", "livelihood", "dispute"];
export type Urgency = "normal" | "urgent";
export const URGENCIES: Urgency[] = ["normal", "urgent"];
export type VisitType = "household" | "patrol" | "vulnerable" | "callback";
export const VISIT_TYPES: VisitType[] = ["household", "patrol", "vulnerable", "callback"];
export type Outcome = "met" | "not_home" | "refused";
export const OUTCOMES: Outcome[] = ["met", "not_home", "refused"];

export const KIND_ZH: Record<Kind, string> = { component: "部件", event: "事件", livelihood: "民生诉求", dispute: "矛盾纠纷" };
export const SOURCE_ZH: Record<Source, string> = { patrol: "巡查上报", resident: "居民诉求", hotline: "12345转办", assigned: "上级交办" };
export const VISIT_ZH: Record<VisitType, string> = { household: "入户走访", patrol: "巡查打卡", vulnerable: "重点人群走访", callback: "回访" };
export const OUTCOME_ZH: Record<Outcome, string> = { met: "见面", not_home: "不在家", refused: "拒访" };

// The draft a change callback gets: any map.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Draft = any;
type Node = unknown;

const str = (s: string) => new ImmutableString(s);

// ---------------------------------------------------------------- reads

/** A scalar string, as client-core's `read_str` (not text). */
export function hStr(v: Node): string | null {
  return isImmutableString(v) ? v.toString() : null;
}

/** An integer: Int, Uint, Timestamp, or an f64 without a fraction. */
export function hI64(v: Node): number | null {
  if (v instanceof Date) return v.getTime();
  if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 9e15) return v;
  return null;
}

export function hF64(v: Node): number | null {
  return typeof v === "number" ? v : null;
}

function isMap(v: Node): v is Record<string, Node> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date) && !isImmutableString(v);
}

function unknownName(what: string, name: string, expected: readonly string[]): string {
  return `unknown ${what} \`${name}\`: expected one of ${expected.join(", ")}`;
}

function parseName<T extends string>(what: string, all: readonly T[], s: string): T {
  if ((all as readonly string[]).includes(s)) return s as T;
  throw new Error(unknownName(what, s, all));
}

/** Reads one stored event, or says why not, with client-core's words. */
export function readEvent(m: Node): EventEntry {
  if (!isMap(m)) return { err: "an event that is not a map" };
  const s = (k: string) => hStr(m[k]);
  const need = (k: string) => {
    const v = s(k);
    if (v === null) throw new Error(`missing \`${k}\``);
    return v;
  };
  try {
    const rawId = need("id");
    const id = normalizeUuid(rawId);
    if (id === null) throw new Error(`\`${rawId}\` is not a UUID`);
    const f = s("from");
    const from = f === null ? null : parseName<Status>("Status", STATUSES, f);
    const to = parseName<Action>("Action", ACTIONS, need("to"));
    const role = parseName<Role>("Role", ROLES, need("role"));
    let close_reason: CloseReason | null = null;
    const cr = s("close_reason");
    if (cr === "duplicate") close_reason = { kind: "duplicate", of: s("duplicate_of") ?? "" };
    else if (cr === "cancelled") close_reason = { kind: "cancelled" };
    else if (cr !== null) close_reason = { kind: "resolved" };
    const actor = need("actor");
    const at_device = hI64(m.at_device);
    if (at_device === null) throw new Error("missing `at_device`");
    const rating = s("rating");
    const request = s("request");
    const cv = hI64(m.catalog_version);
    return {
      ok: {
        id, from, to, actor, role, at_device,
        note: s("note"),
        unit: s("unit"),
        due_at: hI64(m.due_at),
        close_reason,
        rating: rating !== null && (RATINGS as string[]).includes(rating) ? (rating as Rating) : null,
        request: request === null ? null : normalizeUuid(request),
        catalog_version: cv !== null && cv >= 0 ? cv : null,
        time_limit: s("time_limit"),
      },
    };
  } catch (e) {
    return { err: (e as Error).message };
  }
}

export function readEvents(list: Node): EventEntry[] {
  return Array.isArray(list) ? list.map(readEvent) : [];
}

/** The schema check every reader does first (client-core's `expect_type`). */
export function docType(doc: Record<string, Node>): string | null {
  const version = hStr(doc.schema);
  if (version !== null) {
    const major = Number(version.split(".")[0]);
    if (!Number.isInteger(major) || major > SCHEMA_MAJOR) {
      throw new Error(`this document was written with schema ${version}, newer than this app understands; update the app`);
    }
  }
  return hStr(doc.doc_type);
}

function expectType(doc: Record<string, Node>, expected: string): void {
  const t = docType(doc);
  if (t !== null && t !== expected) throw new Error(`expected a ${expected} document, found ${t}`);
}

export interface Location { lat: number; lon: number; accuracy_m: number | null; address: string | null }
export interface Comment { id: string; author: string; at: number; text: string }
export interface Photo { hash: string; phase: string; added_by: string; at: number }

export interface Ticket {
  id: string;
  grid: string | null;
  source: Source | null;
  kind: Kind | null;
  category: string;
  urgency: Urgency | null;
  title: string;
  description: string;
  location: Location | null;
  resident: { name: string | null; phone: string | null };
  created_by: string;
  created_at: number | null;
  photos: Photo[];
  events: EventEntry[];
  comments: Comment[];
  state: Folded;
}

const oneOf = <T extends string>(all: readonly T[], v: string | null): T | null =>
  v !== null && (all as readonly string[]).includes(v) ? (v as T) : null;

export function readTicket(docIn: Doc<unknown>, id: string): Ticket {
  const doc = docIn as Record<string, Node>;
  expectType(doc, "ticket");
  const s = (k: string) => hStr(doc[k]);
  const lat = hF64(doc.lat);
  const lon = hF64(doc.lon);
  const maps = (k: string) => (Array.isArray(doc[k]) ? (doc[k] as Node[]).filter(isMap) : []);
  const events = readEvents(doc.events);
  const comments: Comment[] = [];
  for (const m of maps("comments")) {
    const cid = hStr(m.id);
    const n = cid === null ? null : normalizeUuid(cid);
    if (n === null) continue;
    comments.push({ id: n, author: hStr(m.author) ?? "", at: hI64(m.at) ?? 0, text: hStr(m.text) ?? "" });
  }
  const photos: Photo[] = [];
  for (const m of maps("photos")) {
    const hash = hStr(m.hash);
    if (hash === null) continue;
    photos.push({ hash, phase: hStr(m.phase) ?? "", added_by: hStr(m.added_by) ?? "", at: hI64(m.at) ?? 0 });
  }
  const grid = s("grid");
  return {
    id,
    grid: grid !== null && isGridCode(grid) ? grid : null,
    source: oneOf(SOURCES, s("source")),
    kind: oneOf(KINDS, s("kind")),
    category: s("category") ?? "",
    urgency: oneOf(URGENCIES, s("urgency")),
    title: s("title") ?? "",
    description: s("description") ?? "",
    location: lat !== null && lon !== null ? { lat, lon, accuracy_m: hF64(doc.accuracy_m), address: s("address") } : null,
    resident: { name: s("resident_name"), phone: s("resident_phone") },
    created_by: s("created_by") ?? "",
    created_at: hI64(doc.created_at),
    photos,
    events,
    comments,
    state: fold(events),
  };
}

export interface Visit {
  id: string;
  type: VisitType;
  grid: string;
  household: string | null;
  worker: string;
  started_at: number;
  ended_at: number | null;
  lat: number | null;
  lon: number | null;
  outcome: Outcome;
  notes: string;
  tickets: string[];
  amends: string | null;
}

export interface VisitLogKey { grid: string; worker: string; date: string }

/** The visits of a log in time order, and how many entries could not be read. */
export function readVisitLog(docIn: Doc<unknown>): { visits: Visit[]; unreadable: number } {
  const doc = docIn as Record<string, Node>;
  expectType(doc, "visit_log");
  const visits: Visit[] = [];
  let unreadable = 0;
  for (const key of Object.keys(doc).sort()) {
    if (!key.startsWith("visit:")) continue;
    const m = doc[key];
    if (!isMap(m)) { unreadable++; continue; }
    const s = (k: string) => hStr(m[k]);
    const id = s("id") === null ? null : normalizeUuid(s("id")!);
    const type = oneOf(VISIT_TYPES, s("type"));
    const grid = s("grid");
    const worker = s("worker");
    const started = hI64(m.started_at);
    const outcome = oneOf(OUTCOMES, s("outcome"));
    if (id === null || type === null || grid === null || !isGridCode(grid) || worker === null || started === null || outcome === null) {
      unreadable++;
      continue;
    }
    const amends = s("amends");
    visits.push({
      id, type, grid, worker, outcome,
      household: s("household"),
      started_at: started,
      ended_at: hI64(m.ended_at),
      lat: hF64(m.lat),
      lon: hF64(m.lon),
      notes: s("notes") ?? "",
      tickets: Array.isArray(m.tickets) ? (m.tickets as Node[]).map(hStr).map((t) => (t === null ? null : normalizeUuid(t))).filter((t): t is string => t !== null) : [],
      amends: amends === null ? null : normalizeUuid(amends),
    });
  }
  visits.sort((a, b) => a.started_at - b.started_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { visits, unreadable };
}

/** What a grid index lists; `private` names tickets' private documents (only some roles ask for them). */
export interface GridIndex { grid: string | null; tickets: [string, string][]; visit_logs: [string, string][]; private: [string, string][] }

export function readGridIndex(docIn: Doc<unknown>, isDocumentId: (s: string) => boolean): GridIndex {
  const doc = docIn as Record<string, Node>;
  expectType(doc, "grid_index");
  const grid = hStr(doc.grid);
  const out: GridIndex = { grid: grid !== null && isGridCode(grid) ? grid : null, tickets: [], visit_logs: [], private: [] };
  for (const key of Object.keys(doc)) {
    const v = hStr(doc[key]);
    if (v === null || !isDocumentId(v)) continue;
    if (key.startsWith("ticket:")) {
      const t = normalizeUuid(key.slice(7));
      if (t !== null) out.tickets.push([t, v]);
    } else if (key.startsWith("visits:")) {
      out.visit_logs.push([key.slice(7), v]);
    } else if (key.startsWith("private:")) {
      const t = normalizeUuid(key.slice(8));
      if (t !== null) out.private.push([t, v]);
    }
  }
  return out;
}

/** A resident's contact, as a ticket's private document holds it. */
export interface Resident { name: string | null; phone: string | null }

/** client-core's `ticket_private::TicketPrivate`. */
export interface TicketPrivate { ticket: string | null; grid: string | null; created_by: string; resident: Resident }

/**
 * client-core's `ticket_private::read`: the root's scalar strings (or
 * texts, as a JS writer might make them); nothing below the root.
 */
export function readTicketPrivate(docIn: Doc<unknown>): TicketPrivate {
  const doc = docIn as Record<string, Node>;
  expectType(doc, "ticket_private");
  const s = (k: string) => {
    const v = doc[k];
    return typeof v === "string" ? v : hStr(v);
  };
  const ticket = s("ticket");
  const grid = s("grid");
  return {
    ticket: ticket === null ? null : normalizeUuid(ticket),
    grid: grid !== null && isGridCode(grid) ? grid : null,
    created_by: s("created_by") ?? "",
    resident: { name: s("resident_name"), phone: s("resident_phone") },
  };
}

export interface Category {
  code: string; name_zh: string; name_en: string; kind: Kind;
  time_limit: string | null; urgent_time_limit: string | null;
  filing: string; closing: string; after_photos_required: boolean;
}
export interface Catalog { version: number; categories: Record<string, Category> }

/** The catalog, or null while the document is empty (not received yet). */
export function readCatalog(docIn: Doc<unknown>): Catalog | null {
  const doc = docIn as Record<string, Node>;
  expectType(doc, "catalog");
  if (docType(doc) === null) return null;
  const v = doc.version;
  const version = typeof v === "number" && v >= 0 ? Math.trunc(v) : 0;
  const categories: Record<string, Category> = {};
  const all = doc.categories;
  if (isMap(all)) {
    for (const code of Object.keys(all).sort()) {
      const m = all[code];
      if (!isMap(m) || !/^[0-9]{4,8}$/.test(code)) continue;
      const s = (k: string) => (typeof m[k] === "string" ? (m[k] as string) : hStr(m[k]));
      const kind = oneOf(KINDS, s("kind"));
      if (kind === null) continue;
      const limit = (k: string) => { const t = s(k); return t === null ? null : timeLimit(t); };
      categories[code] = {
        code, kind,
        name_zh: s("name_zh") ?? "", name_en: s("name_en") ?? "",
        time_limit: limit("time_limit"), urgent_time_limit: limit("urgent_time_limit"),
        filing: s("filing") ?? "", closing: s("closing") ?? "",
        after_photos_required: m.after_photos_required === true,
      };
    }
  }
  return { version, categories };
}

/** client-core's `TimeLimit::from_str` and `Display`: `4h`, `3d`, or null. */
export function timeLimit(text: string): string | null {
  const t = text.trim();
  const unit = t.slice(-1);
  const number = t.slice(0, -1).trim();
  if (!/^\+?[0-9]+$/.test(number)) return null;
  const n = Number(number);
  if (n < 1 || n > 9999) return null;
  if (unit === "h" || unit === "H") return `${n}h`;
  if (unit === "d" || unit === "D") return `${n}d`;
  return null;
}

// ---------------------------------------------------------------- writes

function header(d: Draft, type: string): void {
  d.doc_type = str(type);
  d.schema = str(SCHEMA_VERSION);
}

export interface NewTicket {
  id: string; grid: string; source: Source; kind: Kind; category: string; urgency: Urgency;
  title: string; description: string; location: Location | null;
  resident: { name: string | null; phone: string | null } | null;
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && Object.prototype.toString.call(v) === "[object Object]" &&
  !isImmutableString(v) && !(v instanceof Int) && !(v instanceof Float64);

/**
 * Assigns `value` under `key` of a draft object, one field at a time: a
 * nested object literal is hydrated by Automerge's wasm side, which turns an
 * `Int` or `Float64` inside it into a map, so maps and lists are made empty
 * and filled through the proxy, where every scalar keeps its type.
 */
export function put(parent: Draft, key: string | number, value: unknown): void {
  if (Array.isArray(value)) {
    parent[key] = [];
    const list = parent[key];
    value.forEach((item, i) => put(list, i, item));
  } else if (isPlain(value)) {
    parent[key] = {};
    const m = parent[key];
    for (const [k, v] of Object.entries(value)) put(m, k, v);
  } else {
    parent[key] = value;
  }
}

/** Appends `value` to a draft list, as `put` assigns. */
export function pushTo(list: Draft, value: unknown): void {
  put(list, list.length, value);
}

function putOpt(m: Draft, key: string, v: unknown): void {
  if (v !== null && v !== undefined) m[key] = v;
}

/** client-core's `ticket::create`: the fields and the `reported` event. */
export function createTicket(d: Draft, t: NewTicket, actor: string, role: Role, at: number, eventId: string): Event {
  header(d, "ticket");
  d.id = str(t.id);
  d.grid = str(t.grid);
  d.source = str(t.source);
  d.kind = str(t.kind);
  d.category = str(t.category);
  d.urgency = str(t.urgency);
  d.title = str(t.title);
  d.description = str(t.description);
  if (t.location) {
    d.lat = new Float64(t.location.lat);
    d.lon = new Float64(t.location.lon);
    putOpt(d, "accuracy_m", t.location.accuracy_m === null ? null : new Float64(t.location.accuracy_m));
    putOpt(d, "address", t.location.address === null ? null : str(t.location.address));
  }
  // A resident's contact never goes in the ticket: it goes in the ticket's
  // private document (`createTicketPrivate`), as client-core writes it; old
  // tickets that hold `resident_name`/`resident_phone` still read.
  d.created_by = str(actor);
  d.created_at = new Date(at);
  if (!Array.isArray(d.photos)) d.photos = [];
  if (!Array.isArray(d.comments)) d.comments = [];
  const ev = newEvent(eventId, null, "reported", actor, role, at);
  appendEvent(d, ev);
  return ev;
}

/** Whether there is any contact to keep (client-core's `Resident::is_empty`). */
export function hasContact(r: Resident | null): r is Resident {
  return r !== null && (r.name !== null || r.phone !== null);
}

/**
 * client-core's `ticket_private::create`: header, ticket, grid, reporter,
 * and the contact fields the resident gave (an absent one is not written).
 */
export function createTicketPrivate(d: Draft, ticket: string, grid: string, createdBy: string, resident: Resident): void {
  header(d, "ticket_private");
  d.ticket = str(ticket);
  d.grid = str(grid);
  d.created_by = str(createdBy);
  putOpt(d, "resident_name", resident.name === null ? null : str(resident.name));
  putOpt(d, "resident_phone", resident.phone === null ? null : str(resident.phone));
}

export function newEvent(id: string, from: Status | null, to: Action, actor: string, role: Role, at: number): Event {
  return {
    id, from, to, actor, role, at_device: at, note: null, unit: null, due_at: null,
    close_reason: null, rating: null, request: null, catalog_version: null, time_limit: null,
  };
}

/** client-core's `ticket::append_event`. */
export function appendEvent(d: Draft, ev: Event): void {
  if (!Array.isArray(d.events)) d.events = [];
  const m: Record<string, unknown> = {
    id: str(ev.id),
    from: ev.from === null ? null : str(ev.from),
    to: str(ev.to),
    actor: str(ev.actor),
    role: str(ev.role),
    at_device: new Date(ev.at_device),
  };
  putOpt(m, "note", ev.note === null ? null : str(ev.note));
  putOpt(m, "unit", ev.unit === null ? null : str(ev.unit));
  putOpt(m, "due_at", ev.due_at === null ? null : new Date(ev.due_at));
  if (ev.close_reason) {
    m.close_reason = str(ev.close_reason.kind);
    if (ev.close_reason.kind === "duplicate") m.duplicate_of = str(ev.close_reason.of);
  }
  putOpt(m, "rating", ev.rating === null ? null : str(ev.rating));
  putOpt(m, "request", ev.request === null ? null : str(ev.request));
  putOpt(m, "catalog_version", ev.catalog_version === null ? null : new Int(ev.catalog_version));
  putOpt(m, "time_limit", ev.time_limit === null ? null : str(ev.time_limit));
  pushTo(d.events, m);
}

export function addComment(d: Draft, c: Comment): void {
  if (!Array.isArray(d.comments)) d.comments = [];
  pushTo(d.comments, { id: str(c.id), author: str(c.author), at: new Date(c.at), text: str(c.text) });
}

export function initVisitLog(d: Draft, key: VisitLogKey): void {
  header(d, "visit_log");
  d.grid = str(key.grid);
  d.worker = str(key.worker);
  d.date = str(key.date);
}

/** client-core's `visit::add`: one `visit:<id>` map. */
export function addVisit(d: Draft, v: Visit): void {
  const m: Record<string, unknown> = {
    id: str(v.id),
    type: str(v.type),
    grid: str(v.grid),
    worker: str(v.worker),
    started_at: new Date(v.started_at),
    outcome: str(v.outcome),
    notes: str(v.notes),
    tickets: v.tickets.map(str),
  };
  putOpt(m, "household", v.household === null ? null : str(v.household));
  putOpt(m, "ended_at", v.ended_at === null ? null : new Date(v.ended_at));
  putOpt(m, "lat", v.lat === null ? null : new Float64(v.lat));
  putOpt(m, "lon", v.lon === null ? null : new Float64(v.lon));
  putOpt(m, "amends", v.amends === null ? null : str(v.amends));
  put(d, `visit:${v.id}`, m);
}

export function initGridIndex(d: Draft, grid: string): void {
  header(d, "grid_index");
  d.grid = str(grid);
}

export function indexTicket(d: Draft, ticket: string): void {
  d[`ticket:${ticket}`] = str(ticketDocumentId(ticket));
}

/** client-core's `grid_index::add_private`. */
export function indexPrivate(d: Draft, ticket: string): void {
  d[`private:${ticket}`] = str(ticketPrivateId(ticket));
}

export function indexVisitLog(d: Draft, key: VisitLogKey, logId: string): void {
  d[`visits:${key.worker}:${key.date}`] = str(logId);
}

/** client-core's `ticket::add_photo`: `{hash, phase, added_by, at}`, scalar strings and a timestamp. */
export function addPhoto(d: Draft, p: Photo): void {
  if (!Array.isArray(d.photos)) d.photos = [];
  pushTo(d.photos, { hash: str(p.hash), phase: str(p.phase), added_by: str(p.added_by), at: new Date(p.at) });
}
