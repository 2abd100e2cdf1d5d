// The relay's event stream (`GET /api/events`): one `ticket` event with the
// ticket's summary each time a ticket in the caller's scope changes, from a
// device's sync or an action in this console. EventSource reconnects by
// itself; listeners learn of both the events and the connection's state.

import { useEffect, useState } from "preact/hooks";
import type { Summary } from "./types";

type Listener = (summary: Summary) => void;

const listeners = new Set<Listener>();
const stateListeners = new Set<(open: boolean) => void>();
let source: EventSource | null = null;
let retry: ReturnType<typeof setTimeout> | null = null;
let open = false;
/** How long to wait before opening the stream again after the relay refused it. */
const RETRY_MS = 5_000;

function setOpen(next: boolean) {
  open = next;
  stateListeners.forEach((f) => f(next));
}

export function startLive(): void {
  if (source) return;
  const es = new EventSource("/api/events", { withCredentials: true });
  source = es;
  es.onopen = () => setOpen(true);
  es.onerror = () => {
    setOpen(false);
    // EventSource retries a dropped stream itself, but gives up for good
    // on an HTTP error (a relay restarting, a 503): try again later.
    if (es.readyState === EventSource.CLOSED && source === es) {
      source = null;
      retry = setTimeout(() => {
        retry = null;
        startLive();
      }, RETRY_MS);
    }
  };
  es.addEventListener("ticket", (event) => {
    let summary: Summary;
    try {
      summary = JSON.parse((event as MessageEvent<string>).data) as Summary;
    } catch {
      return;
    }
    listeners.forEach((f) => f(summary));
  });
}

export function stopLive(): void {
  if (retry) clearTimeout(retry);
  retry = null;
  source?.close();
  source = null;
  setOpen(false);
}

/** Calls `f` for each changed ticket while the component is mounted. */
export function useTicketEvents(f: Listener, deps: unknown[] = []): void {
  useEffect(() => {
    listeners.add(f);
    return () => {
      listeners.delete(f);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

export function useLiveState(): boolean {
  const [state, setState] = useState(open);
  useEffect(() => {
    stateListeners.add(setState);
    return () => {
      stateListeners.delete(setState);
    };
  }, []);
  return state;
}
