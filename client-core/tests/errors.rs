//! Errors keep their cause and print it once.
//!
//! The bug: several errors flattened their cause into a `String`
//! (`StoreError::Decode`, `DeviceError::BadIdentity`, the CBOR reason of
//! `DecodeError`), so a caller could not tell a damaged record from a JSON
//! shape change; and messages that already named their cause (`storage
//! error: {0}`) also returned it as `source()`, so a chain printer such as
//! anyhow's `{:#}` (the relay's command line) printed every cause twice.
//! And a stored identity whose actor id was not hex silently became a
//! random actor, so the device's next changes were signed by an actor the
//! relay had never registered to its user.

use std::error::Error;
use std::sync::Arc;

use client_core::device::{Device, DeviceError, Identity, IdentityError};
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::protocol::{CborError, DecodeError};
use client_core::repo::RepoError;
use client_core::report::{Calendar, CalendarError, ReportError};
use client_core::store::{Batch, MemoryStore, Store, StoreError, meta};

/// What anyhow's `{:#}` prints: the error, then each source after `: `.
fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn assert_cause_once(e: &(dyn Error + 'static), cause: &str) {
    let text = chain(e);
    assert_eq!(text.matches(cause).count(), 1, "`{cause}` once in: {text}");
}

#[test]
fn a_chain_names_each_cause_once() {
    let io = || std::io::Error::other("the disk is full");
    assert_cause_once(&StoreError::from(io()), "the disk is full");
    assert_cause_once(&ReportError::from(io()), "the disk is full");
    assert_cause_once(
        &DeviceError::from(RepoError::Store(StoreError::from(io()))),
        "the disk is full",
    );

    let not_automerge = automerge::Automerge::load(b"not an automerge document").unwrap_err();
    let load = RepoError::Load {
        doc: client_core::ids::DocumentId::random(),
        cause: Box::new(not_automerge),
    };
    let automerge_says = match &load {
        RepoError::Load { cause, .. } => cause.to_string(),
        _ => unreachable!(),
    };
    assert_cause_once(&load, &automerge_says);

    // A `documentId` that is not an id, inside a well-formed `request`.
    let mut frame = Vec::new();
    ciborium::ser::into_writer(
        &ciborium::Value::Map(vec![
            ("type".into(), "request".into()),
            ("senderId".into(), "a".into()),
            ("targetId".into(), "b".into()),
            ("documentId".into(), "not-an-id".into()),
            ("data".into(), ciborium::Value::Bytes(vec![])),
        ]),
        &mut frame,
    )
    .unwrap();
    let bad_id = client_core::protocol::decode(&frame).unwrap_err();
    assert!(
        matches!(bad_id, DecodeError::InvalidDocumentId { .. }),
        "{bad_id:?}"
    );
    assert_cause_once(&bad_id, "`not-an-id` is not a document id");

    let calendar = Calendar::from_toml("name = 1").unwrap_err();
    assert!(
        matches!(calendar, CalendarError::Syntax { .. }),
        "{calendar}"
    );
    assert_eq!(chain(&calendar), calendar.to_string());
}

#[test]
fn decode_errors_keep_what_failed_to_decode() {
    let truncated = client_core::protocol::decode(&[0xa1, 0x64, b't']).unwrap_err();
    assert_eq!(truncated, DecodeError::Cbor(CborError::Truncated));
    assert_eq!(
        truncated.to_string(),
        "not valid CBOR: the frame ends inside a CBOR item"
    );

    let store = MemoryStore::new();
    let mut b = Batch::new();
    b.put_meta(meta::IDENTITY, b"{\"user\":".to_vec());
    store.write(b).unwrap();
    let err = Device::open(store).unwrap_err();
    match &err {
        DeviceError::BadIdentity(IdentityError::Json(e)) => assert!(e.is_eof(), "{e}"),
        other => panic!("expected a JSON cause, got {other:?}"),
    }
    assert!(
        err.to_string().contains("the database may be damaged"),
        "{err}"
    );
}

fn identity_with_actor(actor: &str) -> Identity {
    Identity {
        actor: actor.into(),
        ..Identity::new("wang", Role::Worker, vec![GridCode::new("G-01").unwrap()])
    }
}

#[test]
fn an_actor_id_that_is_not_hex_is_an_error_not_a_random_actor() {
    let bad = identity_with_actor("not hex");
    assert!(matches!(
        bad.actor_id(),
        Err(IdentityError::Actor { ref actor, .. }) if actor == "not hex"
    ));
    let good = identity_with_actor("0a0b0c");
    assert_eq!(good.actor_id().unwrap().to_hex_string(), "0a0b0c");

    // Stored by an older or damaged client: opening the device fails.
    let store = MemoryStore::new();
    let mut b = Batch::new();
    b.put_meta(meta::IDENTITY, serde_json::to_vec(&bad).unwrap());
    store.write(b).unwrap();
    let err = Device::open(store).unwrap_err();
    assert!(
        matches!(err, DeviceError::BadIdentity(IdentityError::Actor { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("`not hex`"), "{err}");

    // Given to init or set_identity: refused, and nothing is stored.
    let store = Arc::new(MemoryStore::new());
    let err = Device::init(Arc::clone(&store), bad.clone()).unwrap_err();
    assert!(matches!(err, DeviceError::InvalidIdentity(_)), "{err:?}");
    assert_eq!(store.meta(meta::IDENTITY).unwrap(), None);
    let mut device = Device::init(Arc::clone(&store), good.clone()).unwrap();
    let err = device.set_identity(bad).unwrap_err();
    assert!(matches!(err, DeviceError::InvalidIdentity(_)), "{err:?}");
    assert_eq!(device.identity(), &good);
    assert_eq!(device.repo().actor().to_hex_string(), "0a0b0c");
    let stored: Identity =
        serde_json::from_slice(&store.meta(meta::IDENTITY).unwrap().unwrap()).unwrap();
    assert_eq!(stored, good);
}
