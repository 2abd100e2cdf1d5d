// Times as people in the service centre read them: Beijing time (+08:00),
// whatever the browser's zone, to the minute.

import type { Instant } from "./types";

const CHINA_OFFSET_MS = 8 * 3600 * 1000;

export function toMs(at: Instant | null | undefined): number | null {
  if (at === null || at === undefined || at === "") return null;
  if (typeof at === "number") return at;
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? null : ms;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** `2026-12-01 14:30` in +08:00. */
export function formatTime(at: Instant | null | undefined): string {
  const ms = toMs(at);
  if (ms === null) return "—";
  const d = new Date(ms + CHINA_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** `2026-12-01` in +08:00. */
export function formatDay(ms: number): string {
  const d = new Date(ms + CHINA_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** A `datetime-local` value (read as +08:00) to ISO 8601 with +08:00. */
export function localInputToIso(value: string): string {
  const withSeconds = value.length === 16 ? `${value}:00` : value;
  return `${withSeconds}+08:00`;
}

/** An instant as a `datetime-local` value in +08:00. */
export function isoToLocalInput(at: Instant | null | undefined): string {
  const ms = toMs(at);
  if (ms === null) return "";
  const d = new Date(ms + CHINA_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** Midnight (+08:00) of the Monday of the week holding `ms`. */
export function weekStart(ms: number): number {
  const local = new Date(ms + CHINA_OFFSET_MS);
  const day = (local.getUTCDay() + 6) % 7; // Monday = 0
  const midnight = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate());
  return midnight - day * 86_400_000 - CHINA_OFFSET_MS;
}

export function percent(rate: unknown): string {
  if (typeof rate !== "number" || Number.isNaN(rate)) return "—";
  return `${(rate * 100).toFixed(1)}%`;
}

export function shortId(id: string): string {
  return id.length > 10 ? id.slice(0, 8) : id;
}
