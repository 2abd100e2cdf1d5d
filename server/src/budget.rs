//! Bytes waiting for the hub thread: a budget shared by all connections,
//! with a share per connection.
//!
//! The hub's input queue is bounded in inputs (`Config::hub_queue`), but an
//! input may be a 16 MiB frame. Before a connection hands a frame to the
//! hub it takes the frame's size from its own share
//! (`Config::hub_queue_bytes_per_connection`) and from the relay's total
//! (`Config::hub_queue_bytes`); the hub thread gives it back when it has
//! handled the frame (dropping the [`Held`] with the input). A connection
//! waiting for bytes does not read its socket, so a flooding client is
//! slowed through TCP, and because its share is smaller than the total,
//! other connections still get frames through.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The relay's total.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    total: Arc<Semaphore>,
    /// What `total` started with.
    capacity: usize,
    share: u32,
}

/// One connection's share of a [`Budget`].
#[derive(Debug)]
pub(crate) struct Share {
    total: Arc<Semaphore>,
    own: Arc<Semaphore>,
    max: u32,
}

/// Bytes a queued input holds; given back when dropped.
#[derive(Debug, Default)]
pub(crate) struct Held {
    _permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
}

impl Budget {
    /// `total` bytes for all, `share` for each connection (`share <=
    /// total`, both below 4 GiB; `Config::validate` checks).
    pub(crate) fn new(total: usize, share: usize) -> Self {
        let share = u32::try_from(share.min(total)).unwrap_or(u32::MAX);
        Self {
            total: Arc::new(Semaphore::new(total)),
            capacity: total,
            share,
        }
    }

    /// Bytes of frames waiting for the hub thread now (for `/metrics`).
    pub(crate) fn queued(&self) -> usize {
        self.capacity.saturating_sub(self.total.available_permits())
    }

    pub(crate) fn share(&self) -> Share {
        Share {
            total: self.total.clone(),
            own: Arc::new(Semaphore::new(self.share as usize)),
            max: self.share,
        }
    }
}

impl Share {
    /// Waits until `bytes` (at most the share: a bigger frame takes the
    /// whole share) are free in this connection's share and in the total.
    /// The share is taken first, so a connection never holds part of the
    /// total while it waits for itself.
    pub(crate) async fn take(&self, bytes: usize) -> Held {
        let n = u32::try_from(bytes).unwrap_or(u32::MAX).clamp(1, self.max);
        let (Ok(own), Ok(total)) = (
            self.own.clone().acquire_many_owned(n).await,
            self.total.clone().acquire_many_owned(n).await,
        ) else {
            unreachable!("the budget's semaphores are never closed")
        };
        Held {
            _permits: Some((own, total)),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    #[tokio::test]
    async fn one_connection_cannot_take_more_than_its_share_while_others_still_get_through() {
        let budget = Budget::new(100, 40);
        let flood = budget.share();
        let quiet = budget.share();
        let first = flood.take(30).await;
        // Its own share is nearly spent: the next frame waits...
        assert!(flood.take(20).now_or_never().is_none());
        // ...while another connection's frame goes through.
        let other = quiet.take(20).now_or_never().expect("room in the total");
        assert_eq!(budget.queued(), 50);
        drop(first);
        let again = flood.take(20).now_or_never().expect("its share is back");
        drop((other, again));
    }

    #[tokio::test]
    async fn the_total_bounds_all_connections_together() {
        let budget = Budget::new(100, 40);
        let shares: Vec<Share> = (0..3).map(|_| budget.share()).collect();
        let a = shares[0].take(40).await;
        let b = shares[1].take(40).await;
        // 80 of 100 taken: a third connection's 40 waits for the total.
        assert!(shares[2].take(40).now_or_never().is_none());
        assert!(shares[2].take(20).now_or_never().is_some());
        drop(a);
        assert!(shares[2].take(40).now_or_never().is_some());
        drop(b);
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_share_takes_the_whole_share() {
        let budget = Budget::new(100, 40);
        let share = budget.share();
        let big = share.take(1_000).await;
        assert!(share.take(1).now_or_never().is_none());
        drop(big);
        assert!(share.take(1).now_or_never().is_some());
    }
}
