//! `console.rs` and `field_app.rs` embed `web/console/dist` and
//! `web/app/dist` with `include_dir!`, which cannot tell cargo what it
//! read: this makes a new build of either rebuild the relay.

fn main() {
    println!("cargo::rerun-if-changed=../web/console/dist");
    println!("cargo::rerun-if-changed=../web/app/dist");
}
