// Drives the real JS automerge-repo client against a GridSync relay, for
// tests/tests/interop.rs.
//
//   node interop.mjs create <ws-url> [token]
//                                           creates a document (in grid GL-01),
//                                           waits until a second JS repo can
//                                           fetch it through the relay, prints
//                                           {"url": ...}
//   node interop.mjs read <ws-url> <automerge-url> [token]
//                                           fetches a document through the
//                                           relay and prints it as JSON
//   node interop.mjs hold <ws-url> <automerge-url> <saved-doc-file> [token]
//                                           holds the saved document at that
//                                           id (a copy from before the relay
//                                           rewrote it), syncs until the relay
//                                           closes the connection, and prints
//                                           {"error": <the relay's error
//                                           message>, "closed": true}
//
// With a token, it is sent as the `token` query parameter (browsers cannot
// set an Authorization header on a WebSocket).
//
// Exits non-zero with a message on stderr when the relay misbehaves.

import { readFileSync } from "node:fs"
import { Repo, cbor, parseAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [mode, base, ...rest] = process.argv.slice(2)
const url = mode === "read" || mode === "hold" ? rest[0] : undefined
const token = mode === "read" ? rest[1] : mode === "hold" ? rest[2] : rest[0]
const relay = token ? `${base}${base.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : base

const fail = (message) => {
  console.error(`interop: ${message}`)
  process.exit(1)
}
setTimeout(() => fail("timed out"), 30_000).unref()

function connect() {
  const adapter = new WebSocketClientAdapter(relay)
  const repo = new Repo({ network: [adapter] })
  return repo
}

async function fetchThroughRelay(docUrl) {
  const repo = connect()
  const handle = await repo.find(docUrl)
  return { repo, doc: handle.doc() }
}

if (mode === "create") {
  const repo = connect()
  const handle = repo.create({ title: "from the JS client", grid: "GL-01", items: ["一", "二"], count: 2 })
  handle.change((d) => {
    d.items.push("三")
  })
  // A second, independent repo proves the relay stored and serves it.
  let seen
  for (let attempt = 0; attempt < 50 && !seen; attempt++) {
    try {
      const { doc } = await fetchThroughRelay(handle.url)
      if (doc && doc.items && doc.items.length === 3) seen = doc
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  if (!seen) fail("a second repo could not fetch the document through the relay")
  console.log(JSON.stringify({ url: handle.url, documentId: handle.documentId }))
  process.exit(0)
} else if (mode === "hold") {
  const adapter = new WebSocketClientAdapter(relay)
  const repo = new Repo({ network: [adapter] })
  const { documentId } = parseAutomergeUrl(url)
  // Watch the socket for the relay's `error` frame and its close.
  const outcome = await new Promise((resolve) => {
    let error = null
    const watch = () => {
      const socket = adapter.socket
      if (!socket) return setTimeout(watch, 10)
      socket.addEventListener("message", (event) => {
        const message = cbor.decode(new Uint8Array(event.data))
        if (message.type === "error") error = message.message
      })
      socket.addEventListener("close", () => resolve({ error, closed: true }))
    }
    watch()
    repo.import(new Uint8Array(readFileSync(rest[1])), { docId: documentId })
  })
  console.log(JSON.stringify(outcome))
  process.exit(0)
} else if (mode === "read") {
  const { doc } = await fetchThroughRelay(url)
  console.log(JSON.stringify(doc))
  process.exit(0)
} else {
  fail(`unknown mode ${mode}`)
}
