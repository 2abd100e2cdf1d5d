//! The [`Access`] trait, the relay's policy hook, and [`AllowAll`].

use automerge::Automerge;

use crate::ids::DocumentId;
use crate::protocol::PeerId;

/// Who may see and change what: the relay's access policy, consulted by
/// the hub before it sends anything about a document to a peer and before
/// it stores a peer's changes.
pub trait Access: Send {
    /// Whether `peer` may see `doc` (`content` is the document as held).
    /// A peer that may not is answered `doc-unavailable`, exactly as if the
    /// document did not exist.
    fn may_read(&self, peer: &PeerId, doc: &DocumentId, content: &Automerge) -> bool;

    /// Whether [`Access::may_read`] can ever say no. `false` lets the hub
    /// skip loading a document only to ask (a heads batch, an ephemeral
    /// message).
    fn checks_reads(&self) -> bool {
        true
    }

    /// Whether the hub must call [`Access::check_write`] (forking the
    /// document to apply the changes first). `false` lets every change in.
    fn checks_writes(&self) -> bool {
        true
    }

    /// Checks changes `peer` sent before they are stored: `before` is the
    /// document as held (`None` if new), `after` has them applied, and
    /// `changes` are the new changes. `Err` refuses them all, with a reason
    /// for the peer.
    fn check_write(
        &self,
        peer: &PeerId,
        doc: &DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
        changes: &[automerge::Change],
    ) -> Result<(), Refusal>;
}

/// Why an [`Access`] policy refused a peer's changes: the policy's own
/// error type, kept whole (its message is what the peer is told).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Refusal(Box<dyn std::error::Error + Send + Sync>);

impl Refusal {
    pub fn new(why: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(why))
    }

    /// The policy's error, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

/// Lets every peer read and write everything (devices, tests, and a relay
/// without access control).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Access for AllowAll {
    fn may_read(&self, _: &PeerId, _: &DocumentId, _: &Automerge) -> bool {
        true
    }

    fn checks_reads(&self) -> bool {
        false
    }

    fn checks_writes(&self) -> bool {
        false
    }

    fn check_write(
        &self,
        _: &PeerId,
        _: &DocumentId,
        _: Option<&Automerge>,
        _: &Automerge,
        _: &[automerge::Change],
    ) -> Result<(), Refusal> {
        Ok(())
    }
}

impl std::fmt::Debug for dyn Access + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Access")
    }
}
