//! `console.rs` embeds `web/console/dist` with `include_dir!`, which cannot
//! tell cargo what it read: this makes a new console build rebuild the
//! relay.

fn main() {
    println!("cargo::rerun-if-changed=../web/console/dist");
}
