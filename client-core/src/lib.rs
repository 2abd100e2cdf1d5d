//! GridSync's shared library.
//!
//! Grid workers record tickets and visits offline; every record is an
//! Automerge document, so records made on many devices merge without loss.
//! A ticket's status is never stored: it is the fold of its `events` list
//! over the lifecycle table, so concurrent changes surface as conflicts
//! instead of silently overwriting each other.
//!
//! - [`model`]: the documents (ticket, visit log, grid index), their schema
//!   and the ticket lifecycle fold.
//! - [`store`]: a small synchronous, fallible storage trait, with redb and
//!   in-memory implementations, and the local summary index.
//! - [`ids`]: newtype identifiers.
//! - [`protocol`]: automerge-repo v1 messages and their CBOR codec, and the
//!   heads-batch extension's.
//! - [`sync`]: the `Hub`, a sans-IO sync state machine for many documents
//!   and peers (the relay's and the device's).
//! - [`repo`], [`device`]: documents over a store, and the operations a
//!   person performs on a device.
//! - [`client`]: the device's sync session (sans-IO) and, with `runtime`,
//!   its WebSocket transport and tokio loop.
//! - `report` (feature `export`): district-review figures and the XLSX,
//!   CSV, GeoJSON and JSON exports.
//!
//! # Features
//!
//! All on by default. Without them (`--no-default-features`) the crate
//! builds with no tokio, no sockets and no redb: the core a browser build
//! needs.
//!
//! - `runtime`: `client::transport`, `client::sync_until_quiescent` and
//!   `client::watch` (tokio, tokio-tungstenite).
//! - `redb`: `store::RedbStore`.
//! - `export`: `report`.
//!
//! ```
//! use client_core::model::lifecycle::{fold, Action, Event, Role, Status};
//!
//! let created = Event::new(None, Action::Reported, "wang", Role::Worker, 0);
//! let accepted = Event::new(Some(Status::Reported), Action::Accepted, "li", Role::Supervisor, 1);
//! let folded = fold(&[Ok(created), Ok(accepted)]);
//! assert_eq!(folded.status, Some(Status::Accepted));
//! assert!(folded.conflicts.is_empty());
//! ```

pub mod client;
pub mod clip;
pub mod conformance;
pub mod device;
pub mod ids;
pub mod model;
pub mod protocol;
pub mod repo;
#[cfg(feature = "export")]
pub mod report;
pub mod store;
pub mod sync;
