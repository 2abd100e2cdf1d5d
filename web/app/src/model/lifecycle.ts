// The ticket lifecycle, as client-core's `model::lifecycle` has it: the
// rules table and the fold of a ticket's events. Status is never stored;
// it is folded from the events on every read, in list order. An event
// applies only when it was made from the state the fold is in and its
// role may make it; anything else is kept as a conflict, never dropped.
//
// The shapes (`Folded`, `Conflict`, reasons) are client-core's serde
// shapes, so `test/conformance.test.ts` compares them with the fold
// cases of client-core/conformance/lifecycle.json as they are.

export type Role = "worker" | "supervisor" | "unit" | "reviewer" | "admin";
export const ROLES: Role[] = ["worker", "supervisor", "unit", "reviewer", "admin"];

export type Status =
  | "reported" | "accepted" | "invalid" | "dispatched" | "acknowledged" | "returned"
  | "in_progress" | "handled" | "verified" | "closed" | "suspended";
export const STATUSES: Status[] = [
  "reported", "accepted", "invalid", "dispatched", "acknowledged", "returned",
  "in_progress", "handled", "verified", "closed", "suspended",
];

export type Action =
  | "reported" | "accepted" | "invalid" | "dispatched" | "acknowledged" | "returned"
  | "in_progress" | "handled" | "verified" | "rework" | "closed" | "reopened"
  | "suspended" | "resumed" | "rated" | "extension_requested" | "extension_approved"
  | "extension_refused" | "urged";
export const ACTIONS: Action[] = [
  "reported", "accepted", "invalid", "dispatched", "acknowledged", "returned",
  "in_progress", "handled", "verified", "rework", "closed", "reopened",
  "suspended", "resumed", "rated", "extension_requested", "extension_approved",
  "extension_refused", "urged",
];

export type Rating = "satisfied" | "basic" | "dissatisfied";
export const RATINGS: Rating[] = ["satisfied", "basic", "dissatisfied"];

export type CloseReason = { kind: "resolved" } | { kind: "duplicate"; of: string } | { kind: "cancelled" };

export const STATUS_ZH: Record<Status, string> = {
  reported: "已上报", accepted: "已立案", invalid: "已注销", dispatched: "已派遣",
  acknowledged: "已签收", returned: "已退单", in_progress: "处置中", handled: "已处置",
  verified: "已核查", closed: "已结案", suspended: "已挂账",
};

export function isOpen(s: Status): boolean {
  return s !== "closed" && s !== "invalid";
}

/** One lifecycle event as stored in a ticket's `events` list. */
export interface Event {
  id: string;
  from: Status | null;
  to: Action;
  actor: string;
  role: Role;
  /** Device time, ms since the epoch. */
  at_device: number;
  note: string | null;
  unit: string | null;
  due_at: number | null;
  close_reason: CloseReason | null;
  rating: Rating | null;
  request: string | null;
  catalog_version: number | null;
  time_limit: string | null;
}

/** An event, or why the stored entry could not be read. */
export type EventEntry = { ok: Event } | { err: string };

export interface Rule {
  action: Action;
  from: (Status | null)[];
  roles: Role[];
}

const OPEN_STATES: (Status | null)[] = [
  "reported", "accepted", "dispatched", "acknowledged", "returned", "in_progress",
  "handled", "verified", "suspended",
];
const OPEN_NOT_SUSPENDED: (Status | null)[] = OPEN_STATES.filter((s) => s !== "suspended");
const EXTENDABLE: (Status | null)[] = ["acknowledged", "in_progress"];

export const RULES: Rule[] = [
  { action: "reported", from: [null], roles: ["worker", "supervisor"] },
  { action: "accepted", from: ["reported"], roles: ["supervisor"] },
  { action: "invalid", from: ["reported"], roles: ["supervisor"] },
  { action: "dispatched", from: ["accepted", "returned"], roles: ["supervisor"] },
  { action: "acknowledged", from: ["dispatched"], roles: ["unit"] },
  { action: "returned", from: ["dispatched", "acknowledged"], roles: ["unit"] },
  { action: "in_progress", from: ["acknowledged"], roles: ["unit"] },
  { action: "handled", from: ["in_progress"], roles: ["unit", "worker"] },
  { action: "verified", from: ["handled"], roles: ["worker", "supervisor"] },
  { action: "rework", from: ["handled"], roles: ["worker", "supervisor"] },
  { action: "closed", from: OPEN_STATES, roles: ["supervisor"] },
  { action: "reopened", from: ["closed"], roles: ["supervisor"] },
  { action: "suspended", from: OPEN_NOT_SUSPENDED, roles: ["supervisor"] },
  { action: "resumed", from: ["suspended"], roles: ["supervisor"] },
  { action: "rated", from: ["closed"], roles: ["supervisor"] },
  { action: "extension_requested", from: EXTENDABLE, roles: ["unit"] },
  { action: "extension_approved", from: EXTENDABLE, roles: ["supervisor"] },
  { action: "extension_refused", from: EXTENDABLE, roles: ["supervisor"] },
  { action: "urged", from: OPEN_STATES, roles: ["supervisor"] },
];

/** Extensions and urging leave the status as it is. */
export function keepsStatus(a: Action): boolean {
  return a === "extension_requested" || a === "extension_approved" || a === "extension_refused" || a === "urged";
}

export function rule(a: Action): Rule {
  const r = RULES.find((r) => r.action === a);
  if (!r) throw new Error(`no rule for ${a}`);
  return r;
}

/** What `role` may do to a ticket in `status`. */
export function actionsFor(status: Status | null, role: Role): Action[] {
  return RULES.filter((r) => r.from.includes(status) && r.roles.includes(role)).map((r) => r.action);
}

export type ConflictReason =
  | { kind: "concurrent"; expected: Status | null; actual: Status | null }
  | { kind: "wrong_state"; actual: Status | null }
  | { kind: "forbidden_role"; role: Role }
  | { kind: "handler_verifies"; actor: string }
  | { kind: "missing_field"; field: string }
  | { kind: "unreadable"; detail: string }
  | { kind: "extension_pending"; request: string }
  | { kind: "no_pending_extension"; request: string | null };

export interface Conflict {
  index: number;
  event_id: string | null;
  action: Action | null;
  actor: string | null;
  reason: ConflictReason;
}

export interface PendingExtension {
  request: string;
  by: string;
  at: number;
  reason: string | null;
  proposed_due_at: number | null;
}

export interface Folded {
  status: Status | null;
  rework_count: number;
  returned_count: number;
  unit: string | null;
  due_at: number | null;
  reported_at: number | null;
  accepted_at: number | null;
  dispatched_at: number | null;
  handled_at: number | null;
  handled_by: string | null;
  closed_at: number | null;
  close_reason: CloseReason | null;
  rating: Rating | null;
  suspensions: [number, number | null][];
  extension: PendingExtension | null;
  extensions_requested: number;
  extensions_approved: number;
  extensions_refused: number;
  urge_count: number;
  urged_at: number | null;
  urge_note: string | null;
  catalog_version: number | null;
  applied: number[];
  conflicts: Conflict[];
}

function empty(): Folded {
  return {
    status: null, rework_count: 0, returned_count: 0, unit: null, due_at: null,
    reported_at: null, accepted_at: null, dispatched_at: null, handled_at: null,
    handled_by: null, closed_at: null, close_reason: null, rating: null, suspensions: [],
    extension: null, extensions_requested: 0, extensions_approved: 0, extensions_refused: 0,
    urge_count: 0, urged_at: null, urge_note: null, catalog_version: null, applied: [], conflicts: [],
  };
}

/** Folds events over the lifecycle table; never fails. */
export function fold(events: EventEntry[]): Folded {
  const st = empty();
  let beforeSuspension: Status | null = null;
  const seen = new Set<string>();
  events.forEach((entry, index) => {
    if ("err" in entry) {
      st.conflicts.push({ index, event_id: null, action: null, actor: null, reason: { kind: "unreadable", detail: entry.err } });
      return;
    }
    const ev = entry.ok;
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    const reason = check(st, ev);
    if (reason) {
      st.conflicts.push({ index, event_id: ev.id, action: ev.to, actor: ev.actor, reason });
    } else {
      beforeSuspension = apply(st, beforeSuspension, ev);
      st.applied.push(index);
    }
  });
  return st;
}

const blank = (s: string | null) => s === null || s.trim() === "";

/** Why `ev` may not apply to `st`, or null when it may. */
export function check(st: Folded, ev: Event): ConflictReason | null {
  const r = rule(ev.to);
  if (!r.roles.includes(ev.role)) return { kind: "forbidden_role", role: ev.role };
  if (ev.from !== st.status && !keepsStatus(ev.to)) return { kind: "concurrent", expected: ev.from, actual: st.status };
  if (!r.from.includes(st.status)) return { kind: "wrong_state", actual: st.status };
  const needsNote = ["invalid", "returned", "rework", "extension_requested", "urged"].includes(ev.to);
  if (needsNote && blank(ev.note)) return { kind: "missing_field", field: "note" };
  switch (ev.to) {
    case "dispatched":
      if (ev.unit === null || ev.unit === "") return { kind: "missing_field", field: "unit" };
      return null;
    case "rated":
      return ev.rating === null ? { kind: "missing_field", field: "rating" } : null;
    case "extension_requested":
      if (st.extension) return { kind: "extension_pending", request: st.extension.request };
      if (ev.due_at === null) return { kind: "missing_field", field: "due_at" };
      return null;
    case "extension_approved":
    case "extension_refused":
      if (st.extension && ev.request === st.extension.request) return null;
      return { kind: "no_pending_extension", request: ev.request };
    case "verified":
    case "rework":
      if (st.handled_by === ev.actor) return { kind: "handler_verifies", actor: ev.actor };
      return null;
    default:
      return null;
  }
}

function apply(st: Folded, beforeSuspension: Status | null, ev: Event): Status | null {
  const at = ev.at_device;
  let next: Status;
  switch (ev.to) {
    case "reported": st.reported_at = at; next = "reported"; break;
    case "accepted": st.accepted_at ??= at; next = "accepted"; break;
    case "invalid": st.closed_at = at; next = "invalid"; break;
    case "dispatched":
      st.dispatched_at ??= at;
      st.unit = ev.unit;
      if (ev.due_at !== null) {
        st.due_at = ev.due_at;
        st.catalog_version = ev.catalog_version;
      }
      next = "dispatched";
      break;
    case "acknowledged": next = "acknowledged"; break;
    case "returned": st.returned_count += 1; next = "returned"; break;
    case "in_progress": next = "in_progress"; break;
    case "handled": st.handled_at = at; st.handled_by = ev.actor; next = "handled"; break;
    case "verified": next = "verified"; break;
    case "rework": st.rework_count += 1; st.handled_by = null; next = "dispatched"; break;
    case "closed": st.closed_at = at; st.close_reason = ev.close_reason ?? { kind: "resolved" }; next = "closed"; break;
    case "reopened": st.closed_at = null; st.close_reason = null; st.rating = null; next = "accepted"; break;
    case "suspended": beforeSuspension = st.status; st.suspensions.push([at, null]); next = "suspended"; break;
    case "resumed": {
      const last = st.suspensions[st.suspensions.length - 1];
      if (last) last[1] = at;
      next = beforeSuspension ?? "accepted";
      beforeSuspension = null;
      break;
    }
    case "rated": st.rating = ev.rating; next = "closed"; break;
    case "extension_requested":
      st.extensions_requested += 1;
      st.extension = { request: ev.id, by: ev.actor, at, reason: ev.note, proposed_due_at: ev.due_at };
      return beforeSuspension;
    case "extension_approved": {
      const pending = st.extension;
      st.extension = null;
      st.extensions_approved += 1;
      const due = ev.due_at ?? pending?.proposed_due_at ?? null;
      if (due !== null) st.due_at = due;
      return beforeSuspension;
    }
    case "extension_refused": st.extension = null; st.extensions_refused += 1; return beforeSuspension;
    case "urged": st.urge_count += 1; st.urged_at = at; st.urge_note = ev.note; return beforeSuspension;
  }
  if (!EXTENDABLE.includes(next)) st.extension = null;
  st.status = next;
  return beforeSuspension;
}

/** How the CLI words a conflict's reason (client-core's Display). */
export function reasonText(r: ConflictReason): string {
  const show = (s: Status | null) => s ?? "new";
  switch (r.kind) {
    case "concurrent": return `made from \`${show(r.expected)}\` but the ticket was already \`${show(r.actual)}\` (concurrent change)`;
    case "wrong_state": return `not allowed while the ticket is \`${show(r.actual)}\``;
    case "forbidden_role": return `role \`${r.role}\` may not do this`;
    case "handler_verifies": return `\`${r.actor}\` handled the ticket and may not also verify it`;
    case "missing_field": return `missing \`${r.field}\``;
    case "unreadable": return `unreadable event: ${r.detail}`;
    case "extension_pending": return `extension request ${r.request} is still pending; wait for the supervisor's decision`;
    case "no_pending_extension":
      return r.request ? `extension request ${r.request} is not pending (already decided, or replaced)` : "no extension request is pending";
  }
}
