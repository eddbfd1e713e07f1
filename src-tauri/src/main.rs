//! `bigreach` as installed: with no subcommand (or `window`) it opens the desktop window over
//! an appliance running in this process; with any other subcommand (`serve`, `status`, `demo`,
//! `sim`, …) it is the CLI, through the very same code (`bigreach::main`).
//!
//! The shell is thin: three IPC commands, each a translation to the typed app API that the
//! local HTTP API serves too (`api` takes any `Operation`, `subscribe_status` streams the status
//! over a channel once a second, `open_in_browser` opens the same UI over loopback with the
//! per-install token in the URL fragment). The window may call those three and nothing else
//! (`capabilities/main.json`).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod keyring;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bigreach::host::{HostedAppliance, Launch};
use bigreach_core::app::{Answer, AppError, Code, Operation, Status};
use clap::Parser;
use tauri::ipc::Channel;
use tauri::{RunEvent, State};
use tauri_plugin_opener::OpenerExt;

/// `bigreach window`: the desktop window (what `bigreach` alone opens).
#[derive(Parser, Debug, Default)]
#[command(name = "bigreach window", version)]
struct WindowArgs {
    /// The config file (default: `$XDG_CONFIG_HOME/bigreach/bigreach.toml`). When it does not
    /// exist the window opens on the first-run Connection screen, which writes it.
    #[arg(long, env = "BIGREACH_CONFIG")]
    config: Option<PathBuf>,
    /// Run against both twins with the small demo store instead (nothing real is touched).
    #[arg(long)]
    twins: bool,
    /// `--twins`: keep the data here (default: a temporary directory removed on exit).
    #[arg(long, requires = "twins")]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|arg| arg.to_str()) {
        None => window(WindowArgs::default()),
        Some("window") => window(WindowArgs::parse_from(&args[1..])),
        Some(_) => bigreach::main(),
    }
}

/// Where the window's config lives by default.
fn default_config() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("bigreach").join("bigreach.toml")
}

fn window(args: WindowArgs) -> ExitCode {
    // WebKitGTK's DMA-BUF renderer draws a blank window on many GPU/driver mixes (and under
    // Xvfb); off unless the user chose otherwise.
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    page_language();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BIGREACH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run_window(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// In the C or POSIX locale (a service account, a bare container) WebKitGTK gives the page
/// `navigator.language = "C"`, which is no BCP 47 tag: `new Intl.NumberFormat("C")` throws,
/// and uPlot does exactly that as it loads, so the page stays blank. The page's language then
/// follows `LC_MESSAGES=en_US.UTF-8` (the UI formats its own numbers and dates, so nothing
/// else changes).
fn page_language() {
    let effective = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
    let c_like = effective
        .as_deref()
        .is_none_or(|value| matches!(value.split(['.', '@']).next(), Some("C" | "POSIX")));
    if c_like {
        if let Some(all) = std::env::var_os("LC_ALL").filter(|value| !value.is_empty()) {
            std::env::remove_var("LC_ALL");
            std::env::set_var("LANG", all);
        }
        std::env::set_var("LC_MESSAGES", "en_US.UTF-8");
    }
}

fn run_window(args: WindowArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    // One runtime for the appliance and for Tauri's async commands.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    tauri::async_runtime::set(runtime.handle().clone());
    let launch = if args.twins {
        Launch::Twins {
            data_dir: args.data_dir,
        }
    } else {
        Launch::Config(args.config.unwrap_or_else(default_config))
    };
    let secrets = keyring::OsKeyring::connect().host_secrets();
    let host = Arc::new(runtime.block_on(HostedAppliance::launch(launch, secrets))?);
    tracing::info!(config = %host.config_path().display(), "the appliance is up; opening the window");
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_opener::init())
        .manage(host.clone())
        .invoke_handler(tauri::generate_handler![
            api,
            subscribe_status,
            open_in_browser
        ])
        .build(tauri::generate_context!())
        .context("building the window")?;
    app.run(move |_app, event| {
        if let RunEvent::Exit = event {
            // The outbox and the store close cleanly before the process ends.
            tauri::async_runtime::block_on(host.shutdown());
        }
    });
    Ok(())
}

/// Any operation of the app API, answered as `POST /api/call` answers it.
#[tauri::command]
async fn api(
    host: State<'_, Arc<HostedAppliance>>,
    operation: Operation,
) -> Result<Answer, AppError> {
    host.call(operation).await
}

/// The status once a second over `on_status` until the page goes away. While the appliance
/// is not running yet (the first run) nothing is sent; another error ends the stream with it.
#[tauri::command]
async fn subscribe_status(
    host: State<'_, Arc<HostedAppliance>>,
    on_status: Channel<Status>,
) -> Result<(), AppError> {
    let host = host.inner().clone();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        match host.status().await {
            Ok(status) => {
                if on_status.send(status).is_err() {
                    return Ok(());
                }
            }
            Err(error) if error.code == Code::NotRunning => {}
            Err(error) => return Err(error),
        }
    }
}

/// Opens the same UI in the default browser, over loopback, with the token in the fragment.
#[tauri::command]
async fn open_in_browser(
    app: tauri::AppHandle,
    host: State<'_, Arc<HostedAppliance>>,
) -> Result<(), AppError> {
    let url = host.browser_url().await?;
    // The error is not echoed: it could carry the URL, and with it the token.
    app.opener().open_url(url, None::<&str>).map_err(|_| {
        AppError::new(
            Code::Internal,
            "no browser could be opened here; run `bigreach status` for the local API's address and open it with the token from <data_dir>/api-token",
        )
    })
}
