//! Prints what the default category catalog costs a device: the catalog
//! document's size, the time to read it, and a dispatch's time with and
//! without the catalog on the device (the dispatch reads it once).
//!
//! `cargo run -p server --example catalog_doc --release`

use std::time::Instant;

use automerge::Automerge;
use client_core::device::{Device, EventInput, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::catalog::{self, Catalog};
use client_core::model::lifecycle::{Action, Role};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::store::MemoryStore;

fn median_us(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn dispatch_us(with_catalog: bool) -> f64 {
    let grid = GridCode::new("G-01").unwrap();
    let dev = Device::init(
        MemoryStore::new(),
        Identity::new("chen", Role::Supervisor, vec![grid.clone()]),
    )
    .unwrap();
    if with_catalog {
        let c = server::catalog::default_catalog();
        let repo = dev.repo();
        let ((), batch) = repo
            .edit(&Catalog::document_id(), |tx| catalog::write(tx, &c))
            .unwrap();
        repo.commit(batch).unwrap();
    }
    if with_catalog {
        let mut loads = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            assert!(dev.catalog().unwrap().is_some());
            loads.push(start.elapsed().as_secs_f64() * 1e6);
        }
        println!(
            "Device::catalog (load from the store and read): {:.0} µs (median of 200)",
            median_us(loads)
        );
    }
    let mut runs = Vec::new();
    for i in 0..200 {
        let t = NewTicket {
            id: TicketId::random(),
            grid: grid.clone(),
            source: Source::Patrol,
            kind: Kind::Event,
            category: "1102".into(),
            urgency: Urgency::Normal,
            title: format!("暴露垃圾 {i}"),
            description: String::new(),
            location: None,
            resident: None,
        };
        dev.report(&t, 1_000).unwrap();
        dev.act(t.id, Action::Accepted, EventInput::default(), 2_000)
            .unwrap();
        let input = EventInput {
            unit: Some("wuye".into()),
            ..EventInput::default()
        };
        let start = Instant::now();
        dev.act(t.id, Action::Dispatched, input, 3_000).unwrap();
        runs.push(start.elapsed().as_secs_f64() * 1e6);
    }
    median_us(runs)
}

fn main() {
    let c = server::catalog::default_catalog();
    let mut doc = Automerge::new();
    doc.transact(|tx| catalog::write(tx, &c)).unwrap();
    let bytes = doc.save().len();
    let mut runs = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let read = catalog::read(&doc).unwrap().unwrap();
        runs.push(start.elapsed().as_secs_f64() * 1e6);
        assert_eq!(read.categories.len(), c.categories.len());
    }
    println!(
        "default catalog: {} categories, document {bytes} bytes saved, read in {:.0} µs (median of 200)",
        c.categories.len(),
        median_us(runs)
    );
    println!(
        "dispatch (median of 200): {:.0} µs without a catalog, {:.0} µs with the default catalog",
        dispatch_us(false),
        dispatch_us(true)
    );
}
