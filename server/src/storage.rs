//! Whether the relay's store takes writes, and the probe that finds out
//! when it does again.
//!
//! When a commit fails (a full disk, an I/O error), the hub thread marks
//! the store faulty here with a reason. From then on it refuses every
//! frame that would write a change (an `error` frame, then a close the
//! client retries after), keeps answering reads from what is stored, and
//! `/healthz` answers 503 with the reason. [`probe`] sends the hub thread
//! [`Input::Probe`] on a backoff ([`Config::storage_retry`], doubling up
//! to [`MAX_BACKOFF`] times it) while the fault lasts; the hub then lets
//! the store recover itself (redb needs its database reopened after an
//! I/O error in a commit) and commits a small probe row. The first probe
//! that commits clears the fault: writes are accepted again, with no
//! restart.
//!
//! [`Config::storage_retry`]: crate::Config::storage_retry

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::relay::Input;

/// The probe's longest wait, as a multiple of `Config::storage_retry`.
pub(crate) const MAX_BACKOFF: u32 = 32;

/// The store's write health, shared by the hub thread (which sets it) and
/// the HTTP side (which reports it).
#[derive(Debug)]
pub(crate) struct StorageHealth {
    /// Why writes are refused; `None` while the store takes them.
    fault: watch::Sender<Option<String>>,
}

impl Default for StorageHealth {
    fn default() -> Self {
        Self {
            fault: watch::Sender::new(None),
        }
    }
}

impl StorageHealth {
    /// Why writes are refused now, if they are.
    pub(crate) fn fault(&self) -> Option<String> {
        self.fault.borrow().clone()
    }

    pub(crate) fn set_fault(&self, reason: String) {
        self.fault.send_replace(Some(reason));
    }

    pub(crate) fn clear(&self) {
        self.fault.send_replace(None);
    }

    fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.fault.subscribe()
    }
}

/// While the store is faulty, asks the hub thread to probe it: after
/// `retry`, then twice as long each time up to [`MAX_BACKOFF`] × `retry`,
/// until the fault clears (then waits for the next one) or the relay stops.
pub(crate) async fn probe(
    health: std::sync::Arc<StorageHealth>,
    retry: Duration,
    hub: mpsc::Sender<Input>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut fault = health.subscribe();
    loop {
        tokio::select! {
            changed = fault.wait_for(Option::is_some) => if changed.is_err() { return },
            _ = stopping.wait_for(|s| *s) => return,
        }
        let mut wait = retry;
        while fault.borrow().is_some() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            if hub.send(Input::Probe).await.is_err() {
                return;
            }
            wait = backoff(wait, retry);
        }
    }
}

/// The wait after `wait`: twice as long, at most [`MAX_BACKOFF`] × `retry`.
fn backoff(wait: Duration, retry: Duration) -> Duration {
    (wait * 2).min(retry * MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_backs_off_by_doubling_up_to_a_cap() {
        let retry = Duration::from_secs(1);
        let waits: Vec<u64> = std::iter::successors(Some(retry), |w| Some(backoff(*w, retry)))
            .take(8)
            .map(|w| w.as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 32, 32]);
    }

    #[test]
    fn health_reports_the_fault_until_cleared() {
        let health = StorageHealth::default();
        assert_eq!(health.fault(), None);
        health.set_fault("disk full".into());
        assert_eq!(health.fault().as_deref(), Some("disk full"));
        health.clear();
        assert_eq!(health.fault(), None);
    }
}
