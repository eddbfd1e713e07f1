//! Tauri's build step: the app's commands become permissions (`allow-api`, …) that
//! `capabilities/main.json` grants to the main window only.

fn main() {
    let manifest =
        tauri_build::AppManifest::new().commands(&["api", "subscribe_status", "open_in_browser"]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("the Tauri build step (tauri.conf.json, capabilities/, icons/)");
}
