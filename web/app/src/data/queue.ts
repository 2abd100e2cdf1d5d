// Which photo the uploader sends next, and when it looks again: a state
// machine with no I/O and no clock of its own (the time is a parameter),
// so its rules are tested without a relay or a timer.
//
// Every photo has its own backoff. A photo the relay keeps answering 404
// for (its ticket not held there, or reassigned away from this unit), or
// keeps refusing (413, 422, today's quota), waits on its own while the
// others are sent: one photo never holds back the queue. A refusal waits
// REFUSED_WAIT and is named by `stuck()` until that photo goes through; a
// cut, a busy relay or a 404 backs off from 1 s to 60 s.

import { type Outcome, backoff } from "./tus.js";

/** How long a photo the relay refused waits before it is offered again. */
export const REFUSED_WAIT = 300_000;

interface Waiting {
  /** Failures of this photo in a row. */
  failures: number;
  /** Not offered before this time (ms). */
  until: number;
  /** The relay's refusal, while it is the last word on this photo. */
  refused: string | null;
}

export class UploadQueue {
  private readonly waiting = new Map<string, Waiting>();

  /** The first of `ready` (in order) not backing off at `now`, or null. */
  next(ready: readonly string[], now: number): string | null {
    for (const h of ready) {
      const w = this.waiting.get(h);
      if (!w || w.until <= now) return h;
    }
    return null;
  }

  /** Records how an upload of `hash` ended at `now`. */
  settle(hash: string, out: Outcome, now: number): void {
    if (out.kind === "done") {
      this.waiting.delete(hash);
      return;
    }
    const w = this.waiting.get(hash) ?? { failures: 0, until: 0, refused: null };
    w.failures++;
    if (out.kind === "refused") {
      w.refused = out.why;
      w.until = now + REFUSED_WAIT;
    } else {
      w.refused = null;
      w.until = now + backoff(w.failures);
    }
    this.waiting.set(hash, w);
  }

  /** Milliseconds from `now` until one of `ready` may be offered again, or null when none waits. */
  wake(ready: readonly string[], now: number): number | null {
    let soonest: number | null = null;
    for (const h of ready) {
      const w = this.waiting.get(h);
      if (!w) return 0;
      const d = Math.max(0, w.until - now);
      if (soonest === null || d < soonest) soonest = d;
    }
    return soonest;
  }

  /** Signal is back: photos that failed on the link are offered again at once (refusals keep their wait). */
  retryNow(): void {
    for (const w of this.waiting.values()) {
      if (w.refused === null) {
        w.failures = 0;
        w.until = 0;
      }
    }
  }

  /** Photos the relay refused, with its words, while no later attempt went through. */
  stuck(): { hash: string; why: string }[] {
    const out: { hash: string; why: string }[] = [];
    for (const [hash, w] of this.waiting) if (w.refused !== null) out.push({ hash, why: w.refused });
    return out;
  }

  /** Drops what is known about photos no longer in `keep` (sent, or their ticket gone). */
  forgetAllBut(keep: ReadonlySet<string>): void {
    for (const h of [...this.waiting.keys()]) if (!keep.has(h)) this.waiting.delete(h);
  }
}
