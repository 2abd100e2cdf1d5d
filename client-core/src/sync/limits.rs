//! [`HubLimits`]: what one peer may make a hub hold.

use super::HEADS_BATCH_SPLIT;

/// What one peer may make a hub hold. Every map the hub keeps per peer and
/// keyed by what the peer sends is bounded here; a peer that goes past a
/// bound is refused (an `error` frame and a close) and everything it held
/// is freed when it disconnects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubLimits {
    /// Entries in one heads-batch message (a device splits its batches at
    /// [`HEADS_BATCH_SPLIT`]).
    pub heads_batch_entries: usize,
    /// Documents one peer may be subscribed to at once.
    pub subscriptions: usize,
    /// Documents the hub does not hold that one peer may ask for and be
    /// remembered as waiting for.
    pub unknown_requests: usize,
    /// Ephemeral sessions (`senderId`/`sessionId`) remembered per peer to
    /// drop relayed loops.
    pub ephemeral_sessions: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            heads_batch_entries: HEADS_BATCH_SPLIT,
            subscriptions: 100_000,
            unknown_requests: 10_000,
            ephemeral_sessions: 256,
        }
    }
}
