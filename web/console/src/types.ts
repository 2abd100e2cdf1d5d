// The shapes the records API answers with (API-CONTRACT.md, served as
// /api/openapi.json). Fields the console does not read are left out.

export type Role = "worker" | "supervisor" | "unit" | "reviewer" | "admin";

export type Status =
  | "reported"
  | "accepted"
  | "invalid"
  | "dispatched"
  | "acknowledged"
  | "returned"
  | "in_progress"
  | "handled"
  | "verified"
  | "closed"
  | "suspended";

/** An instant: ISO 8601 text with an offset, or ms since the epoch. */
export type Instant = string | number;

export interface Me {
  user: string;
  role: Role;
  scope: unknown;
  grids: string[];
  csrf?: string;
}

export interface Summary {
  id: string;
  grid: string;
  status: Status;
  category: string;
  title: string;
  urgency: string | null;
  unit: string | null;
  due_at: Instant | null;
  reported_at: Instant | null;
  updated_at: Instant | null;
  rework_count: number;
  conflicts: number;
  overdue: boolean;
  created_by: string;
  /** The photos it lists (hex SHA-256); absent from an older relay. */
  photos?: string[];
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Queues {
  to_accept: number;
  to_dispatch: number;
  to_verify: number;
  due_soon: number;
  overdue: number;
  conflicts: number;
}

export interface Location {
  lat: number;
  lon: number;
  accuracy?: number | null;
  address?: string | null;
}

export interface TicketEvent {
  /** Null only for a stored entry that could not be read. */
  id: string | null;
  action: string | null;
  from?: string | null;
  actor: string | null;
  role?: string | null;
  at: Instant | null;
  note?: string | null;
  unit?: string | null;
  due_at?: Instant | null;
  rating?: string | null;
  close_reason?: unknown;
  applied: boolean;
  /** Why a stored entry could not be read. */
  unreadable?: string;
}

export interface Comment {
  id: string;
  author: string;
  at: Instant;
  text: string;
}

export interface ConflictInfo {
  event_id: string | null;
  action: string | null;
  actor: string | null;
  role?: string | null;
  /** Why it was not applied, as an English sentence. */
  reason: string;
  /** The same as data (`{kind: "concurrent", expected, actual}`), which the console words. */
  detail?: unknown;
}

export interface AllowedAction {
  action: string;
  /** Fields the action cannot be taken without. */
  needs: string[];
  /** Fields it also takes (a dispatch's `due_at` defaults from the working calendar). */
  optional?: string[];
  /** A default the relay proposes for a field, when it sends one. */
  defaults?: Record<string, unknown>;
}

/** A photo a ticket lists, and where the relay serves it. */
export interface Photo {
  hash: string;
  phase: "before" | "after" | string;
  added_by: string;
  at: Instant | null;
  /** Whether the relay holds it whole: false until the device that took it uploads it. */
  uploaded: boolean;
  url: string;
  thumb_url: string;
}

export interface Detail {
  /** Null for a ticket whose first change has not arrived (no grid yet). */
  summary: Summary | null;
  ticket: Record<string, unknown> & {
    kind?: string;
    source?: string;
    description?: string;
    location?: Location | null;
    resident?: { name?: string | null; phone?: string | null } | null;
    status?: string;
    photos?: Photo[];
    created_at?: Instant;
  };
  events: TicketEvent[];
  comments: Comment[];
  conflicts: ConflictInfo[];
  actions: AllowedAction[];
}

/** One row of a figures table, keyed like the export's JSON columns. */
export type FigureRow = Record<string, string | number | boolean | null>;

export interface Figures {
  metadata?: Record<string, unknown>;
  summary_by_grid?: FigureRow[];
  summary_by_community?: FigureRow[];
  summary_by_street?: FigureRow[];
  /** Per handling unit (then 未派遣 and the total): urgings and extensions count for the unit. */
  summary_by_unit?: FigureRow[];
  [key: string]: unknown;
}

/** What the relay tells the console about itself (`/console/config.json`). */
export interface ConsoleConfig {
  tiles: { url: string; crs: "wgs84" | "gcj02"; attribution?: string; max_zoom?: number } | null;
}
