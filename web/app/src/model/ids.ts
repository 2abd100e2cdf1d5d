// Document ids as client-core derives them (`ids.rs`): a ticket's document
// id is its UUID's 16 bytes; a grid index, a visit log, a ticket's private
// document and the catalog live
// at UUID v5 ids of a name in GridSync's namespace; the text of a document
// id is bs58check (automerge-repo's own encoding).

import { documentIdToBinary, stringifyAutomergeUrl } from "@automerge/automerge-repo/slim";
import type { DocumentId } from "@automerge/automerge-repo/slim";
import { parse as parseUuid, stringify as stringifyUuid, v4, v5 } from "uuid";

/** The namespace of client-core's `DocumentId::derived`. */
export const NAMESPACE = "6b1f3c52-0d8e-4a51-9a2b-77412e90c315";

export function documentIdFromBytes(bytes: Uint8Array): DocumentId {
  return stringifyAutomergeUrl(bytes as never).slice("automerge:".length) as DocumentId;
}

/**
 * Ids already derived: a derivation hashes (SHA-1, then bs58check's two
 * SHA-256), and the screens ask for the same few ids on every render.
 */
const known = new Map<string, DocumentId>();

function remembered(key: string, make: () => DocumentId): DocumentId {
  let id = known.get(key);
  if (id === undefined) {
    id = make();
    known.set(key, id);
  }
  return id;
}

export function derived(name: string): DocumentId {
  return remembered(name, () => documentIdFromBytes(v5(name, NAMESPACE, new Uint8Array(16))));
}

export function gridIndexId(grid: string): DocumentId {
  return derived(`gridsync:grid-index:${grid}`);
}

export function visitLogId(grid: string, worker: string, date: string): DocumentId {
  return derived(`gridsync:visit-log:${grid}:${worker}:${date}`);
}

export const CATALOG_ID_NAME = "gridsync:catalog";
export function catalogId(): DocumentId {
  return derived(CATALOG_ID_NAME);
}

/** client-core's `TicketId::private_document_id`: the resident's contact lives there. */
export function ticketPrivateId(ticket: string): DocumentId {
  return derived(`gridsync:ticket-private:${ticket}`);
}

/** A ticket's document: the 16 bytes of its UUID. */
export function ticketDocumentId(ticket: string): DocumentId {
  return remembered(`ticket:${ticket}`, () => documentIdFromBytes(parseUuid(ticket)));
}

export function ticketIdOf(doc: DocumentId): string {
  const bytes = documentIdToBinary(doc);
  if (!bytes) throw new Error(`${doc} is not a document id`);
  return stringifyUuid(bytes);
}

/** A fresh random id (tickets, visits, events, comments), lowercase. */
export function randomId(): string {
  return v4();
}

/** Grid codes as client-core accepts them. */
export function isGridCode(code: string): boolean {
  return code.length >= 1 && code.length <= 64 && /^[A-Za-z0-9_-]+$/.test(code);
}

/** A UUID as Rust's `uuid` parses it (hyphenated or simple), lowercase hyphenated; null if not one. */
export function normalizeUuid(s: string): string | null {
  let hex = s;
  if (/^urn:uuid:/i.test(hex)) hex = hex.slice(9);
  if (hex.startsWith("{") && hex.endsWith("}")) hex = hex.slice(1, -1);
  if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(hex)) return hex.toLowerCase();
  if (/^[0-9a-fA-F]{32}$/.test(hex)) {
    const h = hex.toLowerCase();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  return null;
}
