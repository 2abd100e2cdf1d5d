//! The hub thread when the store refuses commits (a full disk): writes
//! refused with an `error` frame, reads served, audit rows kept in memory,
//! and a probe on a backoff that lifts the state once a commit succeeds.

use super::*;

/// Audit rows kept in memory while the store cannot commit; beyond this
/// they are counted and the count is audited instead.
const MAX_DEFERRED_AUDIT: usize = 10_000;

/// The meta key a storage probe writes (the probe's time, milliseconds).
const PROBE_KEY: &str = "relay_storage_probe";

/// Why and since when the store refuses commits.
#[derive(Debug)]
pub(super) struct Fault {
    pub(super) reason: String,
    since: Instant,
    /// Writes refused since.
    refused: u64,
}

impl<S: Store> Relay<S> {
    /// A commit failed: refuse writes until a probe commits (logged once
    /// per fault, not per refused frame).
    pub(super) fn enter_fault(&mut self, e: &client_core::store::StoreError) {
        if self.fault.is_some() {
            return;
        }
        let reason = if e.is_out_of_space() {
            format!("the relay's disk is full ({e})")
        } else {
            format!("the relay's storage failed ({e})")
        };
        error!(
            %reason,
            "refusing writes until the storage takes a commit again (probing on a backoff); reads are still served"
        );
        self.storage.set_fault(reason.clone());
        self.fault = Some(Fault {
            reason,
            since: Instant::now(),
            refused: 0,
        });
    }

    /// Answers a frame that would store something while the store is
    /// faulty: an `error` frame saying so, then a close the device retries
    /// after (its changes stay in its outbox).
    pub(super) fn refuse_write(&mut self, peer: &PeerId) {
        let Some(fault) = &mut self.fault else {
            return;
        };
        fault.refused += 1;
        self.metrics.refused(crate::metrics::Refused::ReadOnly);
        let message = format!(
            "{}: it cannot store changes now and will accept them again once it can; \
             your changes are kept on your device, sync again later",
            fault.reason
        );
        debug!(%peer, "refused a write: storage is faulty");
        self.deliver(
            peer,
            Message::Error {
                sender_id: Some(self.hub.me().clone()),
                target_id: Some(peer.clone()),
                message,
            },
        );
        self.close(
            peer,
            Close::new(
                CloseKind::Internal,
                "the relay cannot store changes now; retry later",
            ),
        );
    }

    /// Lets the store recover and commits a probe row with the audit rows
    /// that waited; the first success ends the fault.
    pub(super) fn probe(&mut self) {
        if self.fault.is_none() {
            return;
        }
        let mut batch = client_core::store::Batch::new();
        batch.put_meta(
            PROBE_KEY,
            chrono::Utc::now().timestamp_millis().to_be_bytes().to_vec(),
        );
        let mut carried = std::mem::take(&mut self.deferred_audit);
        carried.extend(self.overflow_row());
        if let Some(guard) = &self.guard {
            for record in &carried {
                guard.audit.append(&mut batch, record);
            }
        }
        let store = self.hub.repo().store();
        match store.recover().and_then(|()| store.write(batch)) {
            Ok(()) => {
                let fault = self.fault.take().expect("checked above");
                info!(
                    after = ?fault.since.elapsed(),
                    refused_writes = fault.refused,
                    audit_rows = carried.len(),
                    "storage takes commits again: accepting writes"
                );
                self.storage.clear();
            }
            Err(e) => {
                debug!(error = %e, "storage probe failed; still refusing writes");
                self.defer_audit(carried);
            }
        }
    }

    /// Keeps audit rows for the next commit, up to [`MAX_DEFERRED_AUDIT`].
    pub(super) fn defer_audit(&mut self, rows: impl IntoIterator<Item = AuditRecord>) {
        for row in rows {
            if self.deferred_audit.len() < MAX_DEFERRED_AUDIT {
                self.deferred_audit.push(row);
            } else {
                self.audit_overflow += 1;
            }
        }
    }

    /// A row counting the audit rows dropped while the store was faulty.
    pub(super) fn overflow_row(&mut self) -> Option<AuditRecord> {
        if self.audit_overflow == 0 {
            return None;
        }
        let mut row = AuditRecord::new(AuditAction::Refused);
        row.count = Some(std::mem::take(&mut self.audit_overflow));
        row.reason = Some("audit rows lost while the relay's storage was failing".into());
        Some(row)
    }
}
