//! The hub thread's access bookkeeping: admitting a connection as its
//! user, re-checking open connections when the registry changes, and the
//! audit rows a round's hub events become.

use super::*;

impl<S: Store> Relay<S> {
    /// Decides whether a new connection of `peer` may join: on a relay
    /// that requires tokens it must have authenticated, its token must
    /// still be valid if the registry changed since, and a peer id bound
    /// to another user's open connection is not taken over.
    pub(super) fn admit(
        &mut self,
        peer: &PeerId,
        principal: Option<Arc<Principal>>,
        round: &mut Round,
    ) -> Result<Option<Arc<Principal>>, Close> {
        let Some(guard) = &self.guard else {
            return Ok(principal);
        };
        let Some(p) = principal else {
            return if guard.policy.is_open() {
                Ok(None)
            } else {
                Err(Close::new(
                    CloseKind::Policy,
                    "this relay requires a token: run `gridsync login`",
                ))
            };
        };
        let p = if p.generation < guard.generation {
            // Checked before a revocation this thread has already seen.
            match p.refresh(&Registry::reader(&guard.store.database())) {
                Ok(Some(fresh)) => Arc::new(fresh),
                Ok(None) => {
                    let mut record = AuditRecord::new(AuditAction::Revoked);
                    record.user = Some(p.user.clone());
                    record.peer = Some(peer.to_string());
                    record.reason = Some("token revoked before the connection joined".into());
                    round.audit.push(record);
                    return Err(Close::new(CloseKind::Policy, "the token was revoked"));
                }
                Err(e) => {
                    error!(error = %e, "could not re-check a token; refusing the connection");
                    return Err(Close::new(
                        CloseKind::Internal,
                        "could not check the token; retry",
                    ));
                }
            }
        } else {
            p
        };
        if let Some(bound) = guard.policy.principal(peer)
            && bound.user != p.user
        {
            let reason = format!(
                "peer id `{peer}` is in use by another user's connection; each device joins with its own peer id"
            );
            let mut record = AuditRecord::new(AuditAction::Refused);
            record.user = Some(p.user.clone());
            record.peer = Some(peer.to_string());
            record.reason = Some(reason.clone());
            round.audit.push(record);
            return Err(Close::new(CloseKind::Policy, reason));
        }
        Ok(Some(p))
    }

    /// Re-checks every open connection against the registry at
    /// `generation`: revoked tokens are closed (and audited), others get
    /// their grids refreshed; anonymous connections are closed once tokens
    /// are required.
    pub(super) fn recheck(&mut self, generation: u64, round: &mut Round) {
        let Some(guard) = &mut self.guard else {
            return;
        };
        guard.generation = generation;
        let mut published = Effects::default();
        self.publish_catalog(&mut published);
        round.absorb(published);
        let Some(guard) = &mut self.guard else {
            return;
        };
        let db = guard.store.database();
        let registry = Registry::reader(&db);
        if guard.mode == AuthMode::FromRegistry && guard.policy.is_open() {
            match registry.has_users() {
                Ok(true) => {
                    guard.policy.require_tokens();
                    warn!(
                        "the registry has users now: tokens are required from here on; closing anonymous connections"
                    );
                }
                Ok(false) => {}
                Err(e) => error!(error = %e, "could not read the registry's users"),
            }
        }
        let open = guard.policy.is_open();
        let mut ends = Vec::new();
        for peer in self.links.keys() {
            match guard.policy.principal(peer) {
                None if !open => ends.push((
                    peer.clone(),
                    None,
                    "this relay now requires a token: run `gridsync login`",
                    CloseKind::Policy,
                )),
                None => {}
                Some(p) => match p.refresh(&registry) {
                    Ok(Some(fresh)) => guard.policy.bind(peer.clone(), Arc::new(fresh)),
                    Ok(None) => ends.push((
                        peer.clone(),
                        Some(p),
                        "the token of this connection was revoked",
                        CloseKind::Policy,
                    )),
                    Err(e) => {
                        error!(error = %e, %peer, "could not re-check a token after a registry change; closing its connection so it reconnects and is checked afresh");
                        ends.push((
                            peer.clone(),
                            None,
                            "the relay could not check this connection's token against a revocation; reconnect",
                            CloseKind::Internal,
                        ));
                    }
                },
            }
        }
        // What earlier inputs of the round queued goes first.
        self.flush(round);
        for (peer, p, reason, kind) in ends {
            if let Some(p) = &p {
                warn!(%peer, user = %p.user, token = %p.token_id, "closing a connection: its token was revoked");
                let mut record = AuditRecord::new(AuditAction::Revoked);
                record.user = Some(p.user.clone());
                record.peer = Some(peer.to_string());
                record.reason = Some(reason.into());
                round.audit.push(record);
            }
            self.deliver(
                &peer,
                Message::Error {
                    sender_id: Some(self.hub.me().clone()),
                    target_id: Some(peer.clone()),
                    message: reason.into(),
                },
            );
            self.close(&peer, Close::new(kind, reason));
        }
    }

    /// Audit rows for the hub's events: stored changes, refusals, and the
    /// first [`DENIALS_AUDITED`] denials of each connection (the rest are
    /// counted, for one row when it ends).
    pub(super) fn audit_rows(&mut self, events: &[HubEvent]) -> Vec<AuditRecord> {
        let Some(guard) = &self.guard else {
            return Vec::new();
        };
        let denials = &mut self.denials;
        let mut audited = |peer: &PeerId| {
            let tally = denials.entry(peer.clone()).or_default();
            if tally.audited < DENIALS_AUDITED {
                tally.audited += 1;
                true
            } else {
                tally.counted += 1;
                if tally.user.is_none() {
                    tally.user = guard.policy.principal(peer).map(|p| p.user.clone());
                }
                false
            }
        };
        let row = |action, doc: &DocumentId, peer: &PeerId| {
            let mut r = AuditRecord::new(action);
            r.user = guard.policy.principal(peer).map(|p| p.user.clone());
            r.peer = Some(peer.to_string());
            r.doc = Some(doc.to_string());
            r.grid = self
                .hub
                .document(doc)
                .and_then(crate::access::grid_of)
                .or_else(|| guard.policy.grid_seen(doc).map(|g| g.to_string()));
            r
        };
        events
            .iter()
            .filter_map(|event| match event {
                HubEvent::Changed { doc, by, changes } => {
                    let mut r = row(AuditAction::Change, doc, by);
                    r.changes = Some(*changes);
                    Some(r)
                }
                HubEvent::Refused { doc, by, reason } => {
                    let mut r = row(AuditAction::Refused, doc, by);
                    r.reason = Some(reason.clone());
                    Some(r)
                }
                HubEvent::Denied { doc, peer } if audited(peer) => {
                    let mut r = row(AuditAction::Denied, doc, peer);
                    r.reason = Some("may not read this document".into());
                    Some(r)
                }
                HubEvent::Denied { .. }
                | HubEvent::Unavailable { .. }
                | HubEvent::SameHeads { .. } => None,
            })
            .collect()
    }
}
