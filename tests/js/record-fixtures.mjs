// Records real wire frames of @automerge/automerge-repo's websocket adapters
// for GridSync's protocol tests (client-core/tests/js_fixtures.rs).
//
// A JS server Repo (WebSocketServerAdapter) and two JS client Repos
// (WebSocketClientAdapter) talk through a recording proxy on 127.0.0.1.
// One frame of each message type and direction is written to
// client-core/tests/fixtures/js-frames/<type>.<direction>[.<variant>].cbor,
// with manifest.json holding what cbor-x itself decodes from each file.
//
// Run: cd tests/js && npm ci && npm run record

import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { once } from "node:events"
import { setTimeout as sleep } from "node:timers/promises"

import { Repo, cbor, generateAutomergeUrl } from "@automerge/automerge-repo"
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket"
import { WebSocket, WebSocketServer } from "ws"

const OUT = new URL("../../client-core/tests/fixtures/js-frames/", import.meta.url)

/** Just enough of StorageAdapterInterface to give a repo a storage id. */
class MemoryStorage {
  #data = new Map()
  async load(key) {
    return this.#data.get(key.join("/"))
  }
  async save(key, data) {
    this.#data.set(key.join("/"), data)
  }
  async remove(key) {
    this.#data.delete(key.join("/"))
  }
  async loadRange(prefix) {
    const p = prefix.join("/")
    return [...this.#data]
      .filter(([k]) => k.startsWith(p))
      .map(([k, data]) => ({ key: k.split("/"), data }))
  }
  async removeRange(prefix) {
    for (const { key } of await this.loadRange(prefix)) this.#data.delete(key.join("/"))
  }
}

async function listen() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  await once(wss, "listening")
  return wss
}

// --- the JS server ---------------------------------------------------------
const serverWss = await listen()
const serverRepo = new Repo({
  network: [new WebSocketServerAdapter(serverWss)],
  storage: new MemoryStorage(),
  peerId: "js-server",
  enableRemoteHeadsGossiping: true,
})

// --- a proxy recording every binary frame, each way ------------------------
const frames = [] // { from, direction, bytes }
const proxy = await listen()
proxy.on("connection", (down, request) => {
  const from = new URL(request.url, "ws://proxy").searchParams.get("name")
  const up = new WebSocket(`ws://127.0.0.1:${serverWss.address().port}`)
  const queued = []
  up.on("open", () => queued.splice(0).forEach(f => up.send(f)))
  down.on("message", (bytes, isBinary) => {
    if (isBinary && from !== "handmade") frames.push({ from, direction: "client-to-server", bytes })
    if (up.readyState === WebSocket.OPEN) up.send(bytes)
    else queued.push(bytes)
  })
  up.on("message", (bytes, isBinary) => {
    if (isBinary) frames.push({ from, direction: "server-to-client", bytes })
    down.send(bytes)
  })
  down.on("close", () => up.close())
  up.on("close", () => down.close())
})
const proxyUrl = name => `ws://127.0.0.1:${proxy.address().port}/?name=${name}`

// --- two JS clients: alice keeps no storage, bob does -----------------------
const connect = async (name, storage) => {
  const repo = new Repo({
    network: [new WebSocketClientAdapter(proxyUrl(name), 0)],
    storage,
    peerId: `js-${name}`,
    enableRemoteHeadsGossiping: true,
  })
  await once(repo.networkSubsystem, "peer")
  return repo
}
const alice = await connect("alice", undefined)
const bob = await connect("bob", new MemoryStorage())

// request (alice lacks the doc) → sync; bob opens it too.
const serverDoc = serverRepo.create({ title: "server doc", visits: [] })
const aliceHandle = await alice.find(serverDoc.url)
const bobHandle = await bob.find(serverDoc.url)

// sync from a client that created a document.
alice.create({ ticket: "T-1", status: "reported" })

// request for a document nobody has → the server asks bob, both say doc-unavailable.
await alice.find(generateAutomergeUrl()).catch(() => {})

// ephemeral both ways.
aliceHandle.broadcast({ cursor: 3 })
serverDoc.broadcast({ hello: "from server" })

// remote heads: alice follows bob's storage; bob's edit reaches alice as heads.
alice.subscribeToRemotes([await bob.storageId()])
await sleep(300)
bobHandle.change(d => {
  d.visits.push("bob was here")
})
await sleep(500)

// error: the JS server refuses a join without protocol version "1". Only the
// server's answer is recorded; the join is hand-made.
const raw = new WebSocket(proxyUrl("handmade"))
await once(raw, "open")
raw.send(
  cbor.encode({
    type: "join",
    senderId: "handmade-peer",
    peerMetadata: {},
    supportedProtocolVersions: ["999"],
  })
)
await once(raw, "close")
await sleep(200)

// --- write the first frame of each kind -------------------------------------
const toJson = value =>
  JSON.parse(
    JSON.stringify(value, (_, v) =>
      v instanceof Uint8Array || v?.type === "Buffer"
        ? { $bytes: Buffer.from(v.data ?? v).toString("hex") }
        : v
    )
  )

// Of several frames of one kind keep the richest: the sync message carrying
// the most (changes, not just heads), heads that are not empty.
const richness = m =>
  m.data?.byteLength ??
  Object.values(m.newHeads ?? {}).reduce((n, { heads }) => n + heads.length, 0)

const chosen = new Map()
for (const frame of frames) {
  const message = cbor.decode(frame.bytes)
  const variant =
    message.type === "join" && message.peerMetadata?.storageId ? ".with-storage" : ""
  const file = `${message.type}.${frame.direction}${variant}.cbor`
  if (!chosen.has(file) || richness(message) > richness(chosen.get(file).message))
    chosen.set(file, { ...frame, message })
}

const expected = [
  "join.client-to-server.cbor",
  "join.client-to-server.with-storage.cbor",
  "peer.server-to-client.cbor",
  "request.client-to-server.cbor",
  "request.server-to-client.cbor",
  "sync.client-to-server.cbor",
  "sync.server-to-client.cbor",
  "doc-unavailable.client-to-server.cbor",
  "doc-unavailable.server-to-client.cbor",
  "ephemeral.client-to-server.cbor",
  "ephemeral.server-to-client.cbor",
  "remote-subscription-change.client-to-server.cbor",
  "remote-subscription-change.server-to-client.cbor",
  "remote-heads-changed.client-to-server.cbor",
  "remote-heads-changed.server-to-client.cbor",
  "error.server-to-client.cbor",
]
const missing = expected.filter(f => !chosen.has(f))
if (missing.length > 0) {
  console.error(`not seen: ${missing.join(", ")}`)
  process.exit(1)
}

mkdirSync(OUT, { recursive: true })
for (const old of readdirSync(OUT)) rmSync(new URL(old, OUT))
const manifest = []
for (const [file, { from, direction, bytes, message }] of [...chosen].sort()) {
  writeFileSync(new URL(file, OUT), bytes)
  manifest.push({ file, from, direction, message: toJson(message) })
}
writeFileSync(new URL("manifest.json", OUT), JSON.stringify(manifest, null, 2) + "\n")
console.log(`${frames.length} frames seen, ${manifest.length} fixtures written`)

// Repo.shutdown() is skipped: in 2.5.6 it throws on the unavailable handle.
process.exit(0)
