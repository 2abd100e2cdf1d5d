// A document as a typed tree, the form client-core's `conformance::typed`
// writes: the value types are part of the contract (a scalar string is
// `{"str": ..}`, collaborative text `{"text": ..}`).

import { getBackend } from "@automerge/automerge/slim";
import type { Doc } from "@automerge/automerge/slim";

export type Typed = Record<string, unknown>;

export function typedDoc(doc: Doc<unknown>): Typed {
  const b = getBackend(doc);
  const walk = (obj: string, type: string): Typed => {
    if (type === "text") return { text: b.text(obj) };
    if (type === "list") {
      const items: Typed[] = [];
      for (let i = 0; i < b.length(obj); i++) {
        const v = b.getWithType(obj, i);
        if (v) items.push(value(v));
      }
      return { list: items };
    }
    const m: Record<string, Typed> = {};
    for (const k of b.keys(obj)) {
      const v = b.getWithType(obj, k);
      if (v) m[k] = value(v);
    }
    return { map: m };
  };
  const value = (v: [string, unknown]): Typed => {
    const [t, x] = v;
    switch (t) {
      case "map": case "list": case "text": case "table": return walk(x as string, t === "table" ? "map" : t);
      case "boolean": return { bool: x };
      case "null": return { null: true };
      case "timestamp": return { timestamp: (x as Date).getTime() };
      case "bytes": return { bytes: Array.from(x as Uint8Array) };
      default: return { [t]: x };
    }
  };
  return walk("_root", "map");
}
