//! `sqlx::migrate!` embeds the migrations when the crate compiles, but cannot see a new file
//! appear in the folder; this makes cargo rebuild when the folder changes.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/payments");
}
