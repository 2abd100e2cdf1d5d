// The upload workload of tests/benches/relay_cost.rs: JS automerge-repo
// workers, each one Repo with one WebSocket, create documents and wait until
// the server acknowledges every one (the server's heads, as its sync
// messages report them, equal the document's own).
//
//   node upload.mjs <ws-url> <workers> <docs-per-worker> <at-once> [timeout-ms]
//
// At most <at-once> workers are connected at a time; a worker starts when
// another of its process finished. The workers are split over node
// processes of at most WORKERS_PER_PROCESS each (one node process holding
// 300 repos at once died in V8 itself, "Fatal error ... unreachable code"
// in the deoptimizer, which left no figure; and one event loop serving 60
// sockets on a loaded machine answered the server's pings too late), each
// with its share of the
// <at-once> lanes; every process makes its documents first, and all start
// uploading together. Prints one JSON line:
//   {"workers", "docs", "acked", "connect_timeouts", "connect_errors",
//    "unacked_workers", "driver_crashes", "lost_workers",
//    "secs", "client_cpu_secs", "processes"}
// A worker whose server never answers its `join` within the time-out counts
// as a connection time-out; one that connected but whose documents were not
// all acknowledged within it counts as unacknowledged: both are the
// server's doing. A driver process that dies counts as a driver crash and
// its workers as lost (no figure about the server), with its exit status
// and the end of its stderr on this process's stderr.
//
//   node upload.mjs --part <ws-url> <first-worker> <workers> <docs-per-worker> <lanes> <timeout-ms>
//
// is one such process: it prints `ready` once its documents are made,
// waits for a line on stdin, uploads, and prints its JSON line.

import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import * as Automerge from "@automerge/automerge"
import { Repo, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const WORKERS_PER_PROCESS = 30

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const sameHeads = (a, b) => a && b && a.length === b.length && a.every((h) => b.includes(h))

// A ticket as the field app writes one: its document id is its ticket id,
// one change holds the whole report (docs/domain.md's layout).
function ticket(worker, n) {
  const { documentId } = parseAutomergeUrl(generateAutomergeUrl())
  const at = new Date(1_763_900_000_000 + n * 1000)
  const doc = Automerge.from({
    doc_type: "ticket",
    schema: "1.0",
    id: documentId,
    grid: `G-${String(worker).padStart(3, "0")}`,
    source: "patrol",
    kind: "component",
    category: "0101",
    urgency: "normal",
    title: `路灯不亮 ${n}`,
    description: "3号楼前，晚上全黑，居民反映多次",
    created_by: `worker-${worker}`,
    created_at: at,
    photos: [],
    comments: [],
    events: [
      {
        id: `${documentId}-0`,
        from: null,
        to: "reported",
        actor: `worker-${worker}`,
        role: "worker",
        at_device: at,
      },
    ],
  })
  return { documentId, bytes: Automerge.save(doc) }
}

async function worker(url, docs, timeoutMs) {
  const adapter = new WebSocketClientAdapter(url)
  const repo = new Repo({ network: [adapter], sharePolicy: async () => true })
  const deadline = Date.now() + timeoutMs
  let serverStorage
  while (Date.now() < deadline) {
    const meta = Object.values(repo.peerMetadataByPeerId).find((m) => m && m.storageId)
    if (meta) {
      serverStorage = meta.storageId
      break
    }
    await sleep(5)
  }
  if (!serverStorage) {
    await repo.shutdown().catch(() => {})
    return { connected: false, acked: 0 }
  }
  // One document at a time, with a turn of the event loop between them:
  // importing all at once kept a starved process from answering the
  // server's pings for longer than its keepalive allows.
  const handles = []
  for (const t of docs) {
    handles.push(repo.import(t.bytes, { docId: t.documentId }))
    await new Promise(setImmediate)
  }
  const acked = (h) => sameHeads(h.getSyncInfo(serverStorage)?.lastHeads, h.heads())
  let done = 0
  await Promise.all(
    handles.map(
      (h) =>
        new Promise((resolve) => {
          const finish = () => {
            h.off("remote-heads", check)
            clearTimeout(timer)
            resolve()
          }
          const check = () => {
            if (acked(h)) {
              done++
              finish()
            }
          }
          const timer = setTimeout(finish, Math.max(0, deadline - Date.now()))
          h.on("remote-heads", check)
          check()
        }),
    ),
  )
  await repo.shutdown().catch(() => {})
  return { connected: true, acked: done }
}

// One driver process: workers first..first+count, `lanes` at a time.
async function part([url, firstArg, countArg, perWorkerArg, lanesArg, timeoutArg]) {
  const [first, count, perWorker, lanes, timeoutMs] = [
    firstArg,
    countArg,
    perWorkerArg,
    lanesArg,
    timeoutArg,
  ].map(Number)
  // The websocket adapter leaves a failed upgrade (the server hung up
  // before answering, or the worker gave up and shut its repo down while
  // the upgrade was under way) as an unhandled 'error' event; count it,
  // and let the adapter retry.
  let connectErrors = 0
  process.on("uncaughtException", (e) => {
    if (
      e &&
      (e.code === "ECONNRESET" ||
        e.code === "ECONNREFUSED" ||
        /hang up|closed before the connection was established/.test(e.message))
    ) {
      connectErrors++
    } else {
      console.error(e)
      process.exit(1)
    }
  })
  // A reply the repo tries to send after its socket closed (the relay's
  // last sync message crossing a worker's shutdown) is logged by
  // automerge-repo as an error; it is no failure of either side.
  const log = console.log
  console.log = () => {}
  console.error = ((error) => (...args) => {
    if (String(args[0]).startsWith("error receiving message")) return
    error(...args)
  })(console.error)
  // The documents are made before the clock starts: the workload is their
  // upload, and a client busy making them answers the server's pings late.
  const prepared = Array.from({ length: count }, (_, i) =>
    Array.from({ length: perWorker }, (_, n) => ticket(first + i, n)),
  )
  log("ready")
  await new Promise((resolve) => process.stdin.once("data", resolve))
  const cpuBefore = process.cpuUsage()
  let next = 0
  let connectTimeouts = 0
  let unacked = 0
  let acked = 0
  async function lane() {
    while (next < count) {
      const i = next++
      const r = await worker(url, prepared[i], timeoutMs)
      if (!r.connected) connectTimeouts++
      else if (r.acked < perWorker) unacked++
      acked += r.acked
    }
  }
  await Promise.all(Array.from({ length: Math.min(lanes, count) }, lane))
  const used = process.cpuUsage(cpuBefore)
  log(
    JSON.stringify({
      acked,
      connect_timeouts: connectTimeouts,
      connect_errors: connectErrors,
      unacked_workers: unacked,
      client_cpu_secs: (used.user + used.system) / 1e6,
    }),
  )
  process.exit(0)
}

// Starts one driver process; resolves with it once its documents are made
// (or it died making them).
function startPart(args) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--part", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  })
  const lines = createInterface({ input: child.stdout })
  let stderr = ""
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000)
  })
  const exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  )
  const output = []
  const ready = new Promise((resolve) => {
    lines.on("line", (line) => {
      if (line === "ready") resolve()
      else output.push(line)
    })
    exited.then(resolve)
  })
  const result = exited.then(({ code, signal }) => {
    const last = output.at(-1)
    if (code === 0 && last) {
      try {
        return { ok: true, ...JSON.parse(last) }
      } catch {}
    }
    console.error(
      `driver process for workers ${args[1]}.. died (exit ${code}, signal ${signal}):\n${stderr}`,
    )
    return { ok: false }
  })
  return { child, ready, result }
}

async function main(argv) {
  const [url, workersArg, perWorkerArg, atOnceArg, timeoutArg] = argv
  const workers = Number(workersArg)
  const perWorker = Number(perWorkerArg)
  const atOnce = Number(atOnceArg)
  const timeoutMs = Number(timeoutArg ?? 120_000)
  if (!url || !(workers > 0) || !(perWorker > 0) || !(atOnce > 0)) {
    console.error(
      "usage: node upload.mjs <ws-url> <workers> <docs-per-worker> <at-once> [timeout-ms]",
    )
    process.exit(2)
  }
  const processes = Math.ceil(workers / WORKERS_PER_PROCESS)
  const parts = []
  let first = 0
  for (let p = 0; p < processes; p++) {
    const count = Math.floor(workers / processes) + (p < workers % processes ? 1 : 0)
    const lanes = Math.max(1, Math.floor(atOnce / processes) + (p < atOnce % processes ? 1 : 0))
    parts.push({
      count,
      ...startPart([url, first, count, perWorker, lanes, timeoutMs].map(String)),
    })
    first += count
  }
  await Promise.all(parts.map((p) => p.ready))
  const start = performance.now()
  for (const p of parts) p.child.stdin.end("go\n")
  const results = await Promise.all(parts.map((p) => p.result))
  const secs = (performance.now() - start) / 1000
  const sum = (k) => results.reduce((s, r) => s + (r.ok ? r[k] : 0), 0)
  console.log(
    JSON.stringify({
      workers,
      docs: workers * perWorker,
      acked: sum("acked"),
      connect_timeouts: sum("connect_timeouts"),
      connect_errors: sum("connect_errors"),
      unacked_workers: sum("unacked_workers"),
      driver_crashes: results.filter((r) => !r.ok).length,
      lost_workers: results.reduce((s, r, i) => s + (r.ok ? 0 : parts[i].count), 0),
      secs,
      client_cpu_secs: sum("client_cpu_secs"),
      processes,
    }),
  )
}

const argv = process.argv.slice(2)
if (argv[0] === "--part") await part(argv.slice(1))
else await main(argv)
