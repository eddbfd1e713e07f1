//! Release builds embed the built UI (`ui/dist`, see `src/api/ui.rs`), and cargo does not know
//! about a folder a derive macro reads: rebuild when it changes (while it is not built, watch
//! the `ui` folder, so building it triggers the embedding). Debug builds read `ui/dist` from
//! disk at run time and need no rebuild.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    if std::path::Path::new("../../ui/dist").exists() {
        println!("cargo:rerun-if-changed=../../ui/dist");
    } else {
        println!("cargo:rerun-if-changed=../../ui");
    }
}
