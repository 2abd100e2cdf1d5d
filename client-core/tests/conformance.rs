//! The checked-in conformance file (`client-core/conformance/lifecycle.json`)
//! is what `client_core::conformance::generate` makes now. After a change to
//! the lifecycle, the readers, the writers or the ids, regenerate it with
//! `GRIDSYNC_BLESS=1 cargo test -p client-core --test conformance` and
//! commit it; the field app's tests (`web/app`) then say whether the
//! TypeScript still agrees.

use std::path::PathBuf;

use client_core::conformance;
use client_core::ids::DocumentId;
use client_core::model::catalog::Catalog;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/lifecycle.json")
}

#[test]
fn the_checked_in_conformance_file_is_current() {
    let mut fresh = serde_json::to_string_pretty(&conformance::generate()).unwrap();
    fresh.push('\n');
    if std::env::var_os("GRIDSYNC_BLESS").is_some() {
        std::fs::write(path(), &fresh).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(path()).unwrap_or_default();
    assert!(
        stored == fresh,
        "client-core/conformance/lifecycle.json is stale: regenerate it with \
         `GRIDSYNC_BLESS=1 cargo test -p client-core --test conformance`, commit it, \
         and run the field app's tests (npm test --prefix web/app)"
    );
}

#[test]
fn the_stated_namespace_derives_the_catalog_id() {
    let file = conformance::generate();
    let ns: uuid::Uuid = file["ids"]["namespace"].as_str().unwrap().parse().unwrap();
    let derived = uuid::Uuid::new_v5(&ns, b"gridsync:catalog");
    assert_eq!(
        DocumentId::from_bytes(*derived.as_bytes()),
        Catalog::document_id()
    );
    assert_eq!(file["ids"]["catalog"], Catalog::document_id().to_string());
}

#[test]
fn every_rule_has_cases_that_apply_and_cases_that_conflict() {
    let file = conformance::generate();
    let cases = file["fold_cases"].as_array().unwrap();
    assert!(cases.len() > 60, "{}", cases.len());
    let conflicted = cases
        .iter()
        .filter(|c| !c["folded"]["conflicts"].as_array().unwrap().is_empty())
        .count();
    assert!(
        conflicted > 20 && conflicted < cases.len() - 20,
        "{conflicted}"
    );
}
