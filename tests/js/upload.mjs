// The upload workload of tests/benches/relay_cost.rs: JS automerge-repo
// workers, each one Repo with one WebSocket, create documents and wait until
// the server acknowledges every one (the server's heads, as its sync
// messages report them, equal the document's own).
//
//   node upload.mjs <ws-url> <workers> <docs-per-worker> <at-once> [timeout-ms]
//
// At most <at-once> workers are connected at a time; a worker starts when
// another finished. Prints one JSON line:
//   {"workers", "docs", "acked", "connect_timeouts", "connect_errors",
//    "unacked_workers",
//    "secs", "client_cpu_secs"}
// A worker whose server never answers its `join` within the time-out counts
// as a connection time-out; one that connected but whose documents were not
// all acknowledged within it counts as unacknowledged.

import * as Automerge from "@automerge/automerge"
import { Repo, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [url, workersArg, perWorkerArg, atOnceArg, timeoutArg] = process.argv.slice(2)
const workers = Number(workersArg)
const perWorker = Number(perWorkerArg)
const atOnce = Number(atOnceArg)
const timeoutMs = Number(timeoutArg ?? 120_000)
if (!url || !(workers > 0) || !(perWorker > 0) || !(atOnce > 0)) {
  console.error("usage: node upload.mjs <ws-url> <workers> <docs-per-worker> <at-once> [timeout-ms]")
  process.exit(2)
}

// The websocket adapter leaves a failed upgrade (the server hung up
// before answering) as an unhandled 'error' event; count it, and let the
// adapter retry.
let connectErrors = 0
process.on("uncaughtException", (e) => {
  if (e && (e.code === "ECONNRESET" || e.code === "ECONNREFUSED" || /hang up/.test(e.message))) {
    connectErrors++
  } else {
    console.error(e)
    process.exit(1)
  }
})

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

async function worker(i) {
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
  const handles = prepared[i].map((t) => repo.import(t.bytes, { docId: t.documentId }))
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

// The documents are made before the clock starts: the workload is their
// upload, and a client busy making them answers the server's pings late.
const prepared = Array.from({ length: workers }, (_, i) =>
  Array.from({ length: perWorker }, (_, n) => ticket(i, n)),
)
const cpuBefore = process.cpuUsage()
const start = performance.now()
let next = 0
let connectTimeouts = 0
let unacked = 0
let acked = 0
async function lane() {
  while (next < workers) {
    const i = next++
    const r = await worker(i)
    if (!r.connected) connectTimeouts++
    else if (r.acked < perWorker) unacked++
    acked += r.acked
  }
}
await Promise.all(Array.from({ length: Math.min(atOnce, workers) }, lane))
const secs = (performance.now() - start) / 1000
console.log(
  JSON.stringify({
    workers,
    docs: workers * perWorker,
    acked,
    connect_timeouts: connectTimeouts,
    connect_errors: connectErrors,
    unacked_workers: unacked,
    secs,
    client_cpu_secs: (() => {
      const used = process.cpuUsage(cpuBefore)
      return (used.user + used.system) / 1e6
    })(),
  }),
)
process.exit(0)
