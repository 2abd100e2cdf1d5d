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
//
// With a token, it is sent as the `token` query parameter (browsers cannot
// set an Authorization header on a WebSocket).
//
// Exits non-zero with a message on stderr when the relay misbehaves.

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [mode, base, ...rest] = process.argv.slice(2)
const url = mode === "read" ? rest[0] : undefined
const token = mode === "read" ? rest[1] : rest[0]
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
} else if (mode === "read") {
  const { doc } = await fetchThroughRelay(url)
  console.log(JSON.stringify(doc))
  process.exit(0)
} else {
  fail(`unknown mode ${mode}`)
}
