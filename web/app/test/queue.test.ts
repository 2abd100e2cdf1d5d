// The uploader's queue (src/data/queue.ts): which photo goes next when
// some fail. The uploader used to take the first ready photo every time
// and stop the pass on any failure, so one photo the relay kept refusing
// (413, 422) or answering 404 for held back every photo behind it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { REFUSED_WAIT, UploadQueue } from "../src/data/queue.js";
import type { Outcome } from "../src/data/tus.js";

const done: Outcome = { kind: "done", sent: 1 };
const tooLarge: Outcome = { kind: "refused", sent: 0, status: 413, why: "HTTP 413" };
const notListed: Outcome = { kind: "not_listed", sent: 0 };
const cut: Outcome = { kind: "retry", sent: 10, why: "Failed to fetch" };

/** Sends what the queue offers at `now` until it offers nothing; returns the order. */
function pass(q: UploadQueue, ready: string[], answer: (h: string) => Outcome, now: number): string[] {
  const tried: string[] = [];
  let left = [...ready];
  for (let h = q.next(left, now); h !== null; h = q.next(left, now)) {
    tried.push(h);
    const out = answer(h);
    q.settle(h, out, now);
    if (out.kind === "done") left = left.filter((x) => x !== h);
    assert.ok(tried.length <= 10, `the queue offered ${tried.join(", ")} and went on`);
  }
  return tried;
}

test("a photo the relay keeps refusing waits on its own while the others go, and is named as stuck", () => {
  const q = new UploadQueue();
  const ready = ["a", "b", "c"];
  const relay = (h: string) => (h === "a" ? tooLarge : done);
  assert.deepEqual(pass(q, ready, relay, 0), ["a", "b", "c"]);
  assert.deepEqual(q.stuck(), [{ hash: "a", why: "HTTP 413" }]);
  // Nothing more until the refusal's wait is over, then only `a` again.
  assert.equal(q.next(["a"], REFUSED_WAIT - 1), null);
  assert.equal(q.wake(["a"], 1000), REFUSED_WAIT - 1000);
  assert.equal(q.next(["a"], REFUSED_WAIT), "a");
  // It goes through: no longer stuck, nothing waits.
  q.settle("a", done, REFUSED_WAIT);
  assert.deepEqual(q.stuck(), []);
  assert.equal(q.wake(["a"], REFUSED_WAIT), 0);
});

test("a photo answered 404 backs off, doubling, without stopping the photos after it", () => {
  const q = new UploadQueue();
  const relay = (h: string) => (h === "x" ? notListed : done);
  assert.deepEqual(pass(q, ["x", "y"], relay, 0), ["x", "y"]);
  assert.deepEqual(q.stuck(), [], "a 404 is not a refusal: the ticket may not be on the relay yet");
  assert.equal(q.wake(["x"], 0), 1000);
  assert.deepEqual(pass(q, ["x"], relay, 1000), ["x"]);
  assert.equal(q.wake(["x"], 1000), 2000);
  // A photo added meanwhile goes first; `x` waits its turn.
  assert.deepEqual(pass(q, ["x", "z"], relay, 1500), ["z"]);
});

test("signal back: photos cut on the link go again at once; a refusal keeps its wait", () => {
  const q = new UploadQueue();
  q.settle("cut", cut, 0);
  q.settle("cut", cut, 1);
  q.settle("refused", tooLarge, 0);
  assert.equal(q.next(["cut", "refused"], 10), null);
  q.retryNow();
  assert.equal(q.next(["refused", "cut"], 10), "cut");
  q.forgetAllBut(new Set(["cut"]));
  assert.deepEqual(q.stuck(), [], "a photo no ticket lists any more is forgotten");
});
