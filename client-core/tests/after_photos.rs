//! The catalog's `after_photos_required` (处置后照片) enforced by the
//! device: `handled` on a ticket whose category requires after-photos and
//! that lists no `after` photo is refused with `after_photos_required`,
//! before anything is written. It is a check of the device that acts (as
//! the dispatch deadline is), not a lifecycle rule: the fold never looks
//! at photos, so a `handled` that arrives from elsewhere still applies.

use client_core::device::{AFTER_PHOTOS_REQUIRED, Device, DeviceError, EventInput, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::catalog::{self, Catalog, Category};
use client_core::model::lifecycle::{Action, Role, Status};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::store::MemoryStore;

const BEFORE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const AFTER: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn category(code: &str, name: &str, after_photos_required: bool) -> Category {
    Category {
        code: code.into(),
        name_zh: name.into(),
        name_en: String::new(),
        kind: Kind::Event,
        time_limit: None,
        urgent_time_limit: None,
        filing: String::new(),
        closing: String::new(),
        after_photos_required,
    }
}

fn grid() -> GridCode {
    GridCode::new("G-01").unwrap()
}

/// A device (acting as supervisor `chen` first), holding a catalog in
/// which 1102 暴露垃圾 requires after-photos and 2103 噪声扰民 does not,
/// if `with_catalog`.
fn device(with_catalog: bool) -> Device<MemoryStore> {
    let dev = Device::init(
        MemoryStore::new(),
        Identity::new("chen", Role::Supervisor, vec![grid()]),
    )
    .unwrap();
    if with_catalog {
        let c = Catalog {
            version: 3,
            categories: [
                category("1102", "暴露垃圾", true),
                category("2103", "噪声扰民", false),
            ]
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect(),
        };
        let ((), batch) = dev
            .repo()
            .edit(&Catalog::document_id(), |tx| catalog::write(tx, &c))
            .unwrap();
        dev.repo().commit(batch).unwrap();
    }
    dev
}

/// A ticket of `code` reported and dispatched by `chen`, then
/// acknowledged and in progress by unit `wuye`; the device now acts as
/// `wuye`.
fn in_progress(dev: &mut Device<MemoryStore>, code: &str) -> TicketId {
    let t = NewTicket {
        id: TicketId::random(),
        grid: grid(),
        source: Source::Patrol,
        kind: Kind::Event,
        category: code.into(),
        urgency: Urgency::Normal,
        title: "垃圾堆放".into(),
        description: String::new(),
        location: None,
        resident: None,
    };
    dev.report(&t, 1).unwrap();
    dev.add_photo(t.id, BEFORE, "before", 2).unwrap();
    dev.act(t.id, Action::Accepted, EventInput::default(), 3)
        .unwrap();
    let dispatch = EventInput {
        unit: Some("wuye".into()),
        ..EventInput::default()
    };
    dev.act(t.id, Action::Dispatched, dispatch, 4).unwrap();
    dev.set_identity(Identity::new("wuye", Role::Unit, vec![grid()]))
        .unwrap();
    for (i, action) in [Action::Acknowledged, Action::InProgress]
        .into_iter()
        .enumerate()
    {
        dev.act(t.id, action, EventInput::default(), 5 + i as i64)
            .unwrap();
    }
    t.id
}

#[test]
fn handled_without_an_after_photo_is_refused_when_the_category_requires_one() {
    let mut dev = device(true);
    let id = in_progress(&mut dev, "1102");
    let events = dev.ticket(id).unwrap().events.len();

    // A before photo is not an after photo.
    let refused = dev
        .act(id, Action::Handled, EventInput::default(), 10)
        .unwrap_err();
    assert_eq!(refused.reason_code(), Some(AFTER_PHOTOS_REQUIRED));
    let DeviceError::AfterPhotosRequired {
        ticket, category, ..
    } = &refused
    else {
        panic!("{refused:?}");
    };
    assert_eq!((*ticket, category.as_str()), (id, "1102"));
    let message = refused.to_string();
    assert!(
        message.contains(&format!(
            "gridsync ticket photo add {id} FILE --phase after"
        )),
        "{message}"
    );
    assert!(message.contains("暴露垃圾"), "{message}");
    // Nothing was written.
    let t = dev.ticket(id).unwrap();
    assert_eq!(t.events.len(), events);
    assert_eq!(t.status(), Status::InProgress);

    // With an after photo it goes through.
    dev.add_photo(id, AFTER, "after", 11).unwrap();
    let t = dev
        .act(id, Action::Handled, EventInput::default(), 12)
        .unwrap();
    assert_eq!(t.status(), Status::Handled);
}

#[test]
fn a_category_without_the_flag_or_a_device_without_a_catalog_needs_no_after_photo() {
    let mut dev = device(true);
    let id = in_progress(&mut dev, "2103");
    let t = dev
        .act(id, Action::Handled, EventInput::default(), 10)
        .unwrap();
    assert_eq!(t.status(), Status::Handled);

    // A code the catalog does not know requires nothing.
    let mut dev = device(true);
    let id = in_progress(&mut dev, "9999");
    let t = dev
        .act(id, Action::Handled, EventInput::default(), 10)
        .unwrap();
    assert_eq!(t.status(), Status::Handled);

    // No catalog yet: the device cannot know, and does not guess.
    let mut dev = device(false);
    let id = in_progress(&mut dev, "1102");
    let t = dev
        .act(id, Action::Handled, EventInput::default(), 10)
        .unwrap();
    assert_eq!(t.status(), Status::Handled);
}

/// Other actions on the same ticket are not held back by the missing
/// photo: only `handled` needs it.
#[test]
fn only_handled_needs_the_after_photo() {
    let mut dev = device(true);
    let id = in_progress(&mut dev, "1102");
    let ask = EventInput {
        note: Some("需要协调环卫车".into()),
        due_at: Some(1_000_000),
        ..EventInput::default()
    };
    dev.act(id, Action::ExtensionRequested, ask, 10).unwrap();
    assert_eq!(dev.ticket(id).unwrap().status(), Status::InProgress);
}
