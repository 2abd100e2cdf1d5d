//! The heads-batch extension as the hub speaks it: negotiation in
//! `peerMetadata`, sending a device's heads in one message, and answering
//! one. Its wire format is `crate::protocol::heads_batch`.

use std::collections::BTreeSet;

use automerge::ChangeHash;

use super::{Effects, Hub, SyncError};
use crate::ids::DocumentId;
use crate::protocol::PeerId;
use crate::protocol::PeerMetadata;
use crate::protocol::heads_batch::{self, HeadsBatch, HeadsEntry, MAX_HEADS_BATCH_ENTRIES};
use crate::repo::RepoError;
use crate::store::Store;

/// The `peerMetadata` key listing the GridSync extensions a peer speaks.
pub const EXTENSIONS_KEY: &str = "gridsyncExtensions";
/// Fast reconnect: one message carries the heads of every document a
/// device holds; the relay answers which are unchanged, so only changed
/// documents go through the per-document sync protocol.
pub const HEADS_BATCH: &str = "heads-batch";
/// Its messages, whose codec is [`heads_batch`].
pub use crate::protocol::heads_batch::{HEADS_MESSAGE, HEADS_REPLY};
/// Extension message types a GridSync peer decodes.
pub const EXTENSION_MESSAGES: &[&str] = &[HEADS_MESSAGE, HEADS_REPLY];

/// How many documents a device lists in one heads-batch message: as many
/// as the codec decodes.
pub const HEADS_BATCH_SPLIT: usize = MAX_HEADS_BATCH_ENTRIES;

/// Whether a peer's metadata offers `extension`.
pub fn offers(meta: &PeerMetadata, extension: &str) -> bool {
    match meta.extra.get(EXTENSIONS_KEY) {
        Some(ciborium::Value::Array(items)) => items.iter().any(|v| v.as_text() == Some(extension)),
        _ => false,
    }
}

/// `meta` with this build's extensions offered.
pub fn with_extensions(mut meta: PeerMetadata) -> PeerMetadata {
    meta.extra.insert(
        EXTENSIONS_KEY.to_owned(),
        ciborium::Value::Array(vec![ciborium::Value::Text(HEADS_BATCH.to_owned())]),
    );
    meta
}

impl<S: Store> Hub<S> {
    /// Whether `peer` speaks the heads-batch extension.
    pub fn speaks_heads_batch(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.heads_batch)
    }

    /// Sends the stored heads of `docs` to `peer` in one message (split
    /// every [`HEADS_BATCH_SPLIT`] documents); the answer arrives as
    /// [`HubEvent::SameHeads`]. Documents without stored heads are left
    /// out and returned, for the caller to [`Hub::want`]. A peer that did
    /// not offer the extension is sent nothing: every document is returned.
    pub fn send_heads_batch(
        &mut self,
        docs: &[DocumentId],
        peer: &PeerId,
        fx: &mut Effects,
    ) -> Result<Vec<DocumentId>, SyncError> {
        if !self.speaks_heads_batch(peer) {
            return Ok(docs.to_vec());
        }
        let mut unknown = Vec::new();
        for chunk in docs.chunks(HEADS_BATCH_SPLIT) {
            let mut entries = Vec::with_capacity(chunk.len());
            let stored = self
                .repo
                .store()
                .heads_many(chunk)
                .map_err(RepoError::from)?;
            for (doc, heads) in chunk.iter().zip(stored) {
                match heads
                    .filter(|h| !h.is_empty())
                    .and_then(|h| HeadsEntry::new(*doc, h))
                {
                    Some(entry) => entries.push(entry),
                    None => unknown.push(*doc),
                }
            }
            if entries.is_empty() {
                continue;
            }
            let sent: Vec<DocumentId> = entries.iter().map(|e| *e.doc()).collect();
            for doc in &sent {
                self.subscribe(doc, peer);
            }
            self.batches_sent.push_back(sent);
            let batch = HeadsBatch::Batch {
                sender_id: self.me.clone(),
                target_id: peer.clone(),
                entries,
            };
            fx.send.push((peer.clone(), heads_batch::encode(&batch)));
        }
        Ok(unknown)
    }

    /// Answers a heads batch: the documents whose stored heads equal the
    /// peer's, and that the peer may read, are in sync, and the peer is
    /// subscribed to them. A batch longer than the limit is refused before
    /// anything is looked up. Heads are compared in the heads table; only a
    /// document whose heads match is read, to ask the access policy (not
    /// at all under [`AllowAll`]). A document the peer may not read is
    /// left out of the answer, so the peer syncs it alone and is told
    /// `doc-unavailable`, exactly as for a document that does not exist.
    pub(super) fn on_heads_batch(
        &mut self,
        from: &PeerId,
        entries: &[HeadsEntry],
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        if entries.len() > self.limits.heads_batch_entries {
            let reason = format!(
                "a heads batch of more than {} entries; split it",
                self.limits.heads_batch_entries
            );
            self.refuse(from, &reason, fx);
            return Ok(());
        }
        let mut same = Vec::new();
        let docs: Vec<DocumentId> = entries.iter().map(|e| *e.doc()).collect();
        let stored = self
            .repo
            .store()
            .heads_many(&docs)
            .map_err(RepoError::from)?;
        for (entry, ours) in entries.iter().zip(stored) {
            let doc = *entry.doc();
            let theirs: BTreeSet<ChangeHash> = entry.heads().iter().copied().collect();
            if ours.is_none_or(|h| h.into_iter().collect::<BTreeSet<_>>() != theirs) {
                continue;
            }
            if !self.may_read_stored(from, &doc)? {
                continue;
            }
            if !self.may_subscribe(&doc, from, fx) {
                return Ok(());
            }
            // Same heads: the peer already holds every change we hold;
            // later changes are checked for read access before they are
            // forwarded.
            self.subscribe(&doc, from);
            same.push(doc);
        }
        let reply = HeadsBatch::Reply {
            sender_id: self.me.clone(),
            target_id: from.clone(),
            same,
        };
        fx.send.push((from.clone(), heads_batch::encode(&reply)));
        Ok(())
    }
}
