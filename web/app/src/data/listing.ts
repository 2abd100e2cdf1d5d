// The ticket list as it last showed, kept in localStorage so that a cold
// start shows the grid before Automerge's wasm is compiled and the
// documents are loaded (at 4× CPU the wasm alone takes seconds on a phone).
// It is a copy of what the store's fold said, written after the screen
// changed, never a status of its own: the live list replaces it as soon as
// the store is open.

import type { Status } from "../model/lifecycle.js";

export interface ListedTicket {
  id: string;
  title: string;
  status: Status;
  /** The category's name (or code) as the list showed it. */
  category: string;
  created_at: number | null;
  urgent: boolean;
  unsynced: boolean;
  unsaved: boolean;
  overdue: boolean;
  conflicts: number;
}

const key = (user: string) => `gridsync:listing:${user}`;

export function readListing(user: string): ListedTicket[] | null {
  try {
    const raw = localStorage.getItem(key(user));
    return raw ? (JSON.parse(raw) as ListedTicket[]) : null;
  } catch {
    return null;
  }
}

export function writeListing(user: string, rows: ListedTicket[]): void {
  try {
    localStorage.setItem(key(user), JSON.stringify(rows));
  } catch {
    // Full: the next cold start shows the live list a little later.
  }
}

export function forgetListing(user: string): void {
  localStorage.removeItem(key(user));
}
