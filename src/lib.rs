//! `bigreach`: the CLI and headless server. A thin layer over the runtime and the core.
//!
//! A library so that every binary that carries BigReach (this crate's `bigreach`, the desktop
//! shell in `src-tauri/`) runs the same commands through the same code: [`main`].

#[cfg(feature = "rehearsal")]
mod rehearse;
#[cfg(feature = "rehearsal")]
mod serve_twins;

use std::path::{Path, PathBuf};

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bigreach_clock::SystemClock;
use bigreach_core::app::dead_letters::DeadLetter;
use bigreach_core::app::AppError;
use bigreach_core::app::SetAside;
use bigreach_core::config::Config;
use bigreach_core::secret::SecretResolver;
use bigreach_runtime::Appliance;
use clap::{Parser, Subcommand};

mod audit_cli;
mod backfill_cli;
mod catalog_cli;
pub mod host;
mod operator;
mod preflight_cli;
mod stage_cli;

#[derive(Parser)]
#[command(
    name = "bigreach",
    version,
    about = "BigCommerce → Bloomreach Engagement sync appliance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented default bigreach.toml.
    Init {
        /// Where to write it.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
    },
    /// Check a config file without starting anything: errors in the file, then warnings for
    /// environment variables it names that are not set and values still at the `init`
    /// placeholders.
    Check {
        /// The config file.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
        /// Treat the warnings as errors (exit status 1).
        #[arg(long)]
        strict: bool,
    },
    /// Run the appliance headless until Ctrl-C or SIGTERM; its UI is on the local API address.
    /// With `--twins`: against both twins with the small demo store (no config needed).
    Serve {
        /// The config file.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
        /// Run against both twins with the small demo store, on ports the system picks (the
        /// default `rehearsal` feature).
        #[arg(long)]
        twins: bool,
        /// `--twins`: keep the data here (default: a temporary directory removed on exit).
        #[arg(long, requires = "twins")]
        data_dir: Option<PathBuf>,
        /// `--twins`: the cutover stage a fresh store starts at.
        #[arg(long, requires = "twins", default_value = "connect")]
        start_stage: String,
        /// `--twins`: how the store's history reaches Bloomreach: `tracking` (the backfill lane)
        /// or `imports` (the Imports API, started from the History screen).
        #[arg(long, requires = "twins", default_value = "tracking", value_parser = ["tracking", "imports"])]
        history: String,
        /// `--twins`: print one JSON line when ready (url with #token=, api, token, data_dir,
        /// bigcommerce_control, bloomreach_control, storefront).
        #[arg(long, requires = "twins")]
        json: bool,
    },
    /// Print the status of a running appliance (through its local API).
    Status {
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
        /// Print the typed status document as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List, inspect, replay or discard dead letters (through the running appliance's local API).
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml", global = true)]
        config: PathBuf,
        /// Print the typed answer as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// List, replay or discard fetches set aside because they failed for good (an id that is not
    /// valid, a resource BigCommerce refuses; through the running appliance's local API).
    SetAside {
        #[command(subcommand)]
        command: SetAsideCommand,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml", global = true)]
        config: PathBuf,
        /// Print the typed answer as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Why did this person not enter the flow: identity links, every command with its delivery
    /// state, and every order withheld with the reason (through the running appliance).
    Trace {
        /// An email, a phone in E.164 (+…) or a BigCommerce customer id.
        query: String,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
        /// Print the typed trace as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare BigCommerce's paid orders and refunds with what Bloomreach acknowledged, per day
    /// (store time zone) and currency (through the running appliance); exit status 8 when
    /// they differ.
    Reconcile {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day (inclusive), YYYY-MM-DD.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Send what is missing through the outbox (idempotent; audited).
        #[arg(long)]
        repair: bool,
        /// Also write the finance CSV here, and one row per finding next to it as
        /// `<name>-findings.csv` (columns in data/contract/reconciliation.md).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
        /// Print the typed answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The catalog: `catalog drift` compares BigCommerce's variants with the Bloomreach catalog
    /// (through the running appliance); exit status 10 when it drifted and was not repaired.
    Catalog {
        #[command(subcommand)]
        command: catalog_cli::CatalogCommand,
    },
    /// The audit log: `audit export` writes an offline bundle an auditor can verify.
    Audit {
        #[command(subcommand)]
        command: audit_cli::AuditCommand,
    },
    /// Verify an audit bundle: manifest, hashes, hash chain, Merkle root, signature, key, and
    /// with --previous that it extends that bundle; exit status 9 when it does not verify.
    Verify(audit_cli::VerifyArgs),
    /// The staged cutover (through the running appliance): status, plan, advance (bound to a
    /// reviewed plan's hash), rollback, acknowledge; exit status 12 when a step is refused.
    Stage {
        #[command(subcommand)]
        command: Option<stage_cli::StageCommand>,
        /// The hash of the reviewed plan (`bigreach stage plan`); advance applies exactly it.
        #[arg(long, global = true)]
        plan_hash: Option<String>,
        /// Show what advance or rollback would do, and change nothing.
        #[arg(long, global = true)]
        dry_run: bool,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml", global = true)]
        config: PathBuf,
        /// Print the typed answer as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// The go-live checks: BigCommerce credentials and scopes (reads a real order, customer and
    /// product), webhooks, Bloomreach credentials, permissions, catalog fields and ID names, the
    /// clock, and the storefront's CSP and SRI for the Bloomreach SDK; asks the running
    /// appliance, else runs standalone (audited); exit status 11 when a blocking check failed.
    Preflight(preflight_cli::PreflightArgs),
    /// History through the Bloomreach Imports API: `plan` (what it costs), `run` (write the
    /// import files, resumable; `--manual DIR` for upload by hand).
    Backfill {
        #[command(subcommand)]
        command: backfill_cli::BackfillCommand,
        /// The config file.
        #[arg(long, default_value = "bigreach.toml", global = true)]
        config: PathBuf,
        /// Print the typed answer as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// The rehearsal commands: sim, demo, scenario, bench (the default `rehearsal` feature).
    #[cfg(feature = "rehearsal")]
    #[command(flatten)]
    Rehearse(rehearse::RehearseCommand),
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// Every dead letter, with its reason.
    List,
    /// One dead letter with its frozen payload.
    Show {
        /// The command id.
        id: u64,
    },
    /// Put it back in its lane, byte-identical, with a fresh retry budget.
    Replay {
        /// The command id.
        id: u64,
    },
    /// Give it up for good (kept for traces and the audit log).
    Discard {
        /// The command id.
        id: u64,
    },
}

#[derive(Subcommand)]
enum SetAsideCommand {
    /// Every set-aside fetch, with its reason.
    List,
    /// Put it back into the fetch queue (fetched again within a second).
    Replay {
        /// The key `list` shows, e.g. `product:77`.
        key: String,
    },
    /// Give it up for good (audited).
    Discard {
        /// The key `list` shows, e.g. `product:77`.
        key: String,
    },
}

/// Runs the command line in `std::env::args()` and returns the exit status: the whole CLI.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match start(cli) {
        Ok(code) => code,
        Err(error) => {
            // Operator errors carry a stable code, mapped to the exit status in one place.
            if let Some(app) = error.downcast_ref::<AppError>() {
                eprintln!("error: {} ({})", app.message, app.code);
                return ExitCode::from(operator::exit_code(app.code));
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(cli: Cli) -> Result<ExitCode> {
    let quiet = match &cli.command {
        #[cfg(feature = "rehearsal")]
        Command::Rehearse(command) => command.quiet(),
        Command::Serve { json, .. } => *json,
        _ => false,
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("BIGREACH_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if quiet { "error" } else { "info" })
        })
    };
    // Colour only on a terminal; `serve` also writes daily rolling log files under <data_dir>/logs (one line per webhook
    // and per delivery batch); the guard flushes them on exit.
    let _log_guard = match &cli.command {
        Command::Serve {
            config,
            twins: false,
            ..
        } => {
            let loaded = Config::load(config)?;
            let logs = loaded.data_dir.join("logs");
            // tracing-appender takes no file mode: the logs live in a folder private to the
            // service user (0700), as does the data directory above it.
            bigreach_runtime::private::create_dir(&logs)
                .with_context(|| format!("creating {}", logs.display()))?;
            let (file, guard) = tracing_appender::non_blocking(tracing_appender::rolling::daily(
                &logs,
                "bigreach.log",
            ));
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            tracing_subscriber::registry()
                .with(filter())
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(std::io::stderr().is_terminal())
                        .with_writer(std::io::stderr),
                )
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(file),
                )
                .init();
            Some(guard)
        }
        _ => {
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .init();
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(run(cli.command))
        .map(|()| ExitCode::SUCCESS)
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Init { config } => init(&config),
        Command::Check { config, strict } => {
            if !operator::check(&config, strict)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Serve {
            config,
            twins,
            data_dir,
            start_stage,
            history,
            json,
        } => {
            if twins {
                serve_twins(data_dir, &start_stage, history == "imports", json).await
            } else {
                serve(&config).await
            }
        }
        Command::Status { config, json } => operator::status(&config, json).await,
        Command::DeadLetters {
            command,
            config,
            json,
        } => dead_letters(&config, command, json).await,
        Command::SetAside {
            command,
            config,
            json,
        } => set_aside(&config, command, json).await,
        Command::Trace {
            query,
            config,
            json,
        } => operator::trace(&config, &query, json).await,
        Command::Reconcile {
            from,
            to,
            repair,
            csv,
            config,
            json,
        } => {
            let request = bigreach_core::app::ReconcileRequest { from, to, repair };
            if !operator::reconcile(&config, request, csv.as_deref(), json).await? {
                std::process::exit(i32::from(operator::NOT_BALANCED));
            }
            Ok(())
        }
        Command::Catalog { command } => {
            if !catalog_cli::catalog(command).await? {
                std::process::exit(i32::from(catalog_cli::DRIFT_NOT_REPAIRED));
            }
            Ok(())
        }
        Command::Audit { command } => audit_cli::audit(command),
        Command::Verify(args) => audit_cli::verify(args),
        Command::Stage {
            command,
            plan_hash,
            dry_run,
            config,
            json,
        } => {
            stage_cli::stage(
                &config,
                command.unwrap_or(stage_cli::StageCommand::Status),
                plan_hash.as_deref(),
                dry_run,
                json,
            )
            .await
        }
        Command::Preflight(args) => {
            if !preflight_cli::run(args).await? {
                std::process::exit(i32::from(preflight_cli::BLOCKING_FAILURE));
            }
            Ok(())
        }
        Command::Backfill {
            command,
            config,
            json,
        } => backfill_cli::backfill(&config, command, json).await,
        #[cfg(feature = "rehearsal")]
        Command::Rehearse(command) => rehearse::run(command).await,
    }
}

fn init(path: &Path) -> Result<()> {
    if path.exists() {
        bail!(
            "{} already exists; remove it or pass --config with another path",
            path.display()
        );
    }
    std::fs::write(path, Config::default_toml())
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {}: edit it, export the secrets it names, then run `bigreach serve`",
        path.display()
    );
    Ok(())
}

/// What answers the app API's `rehearse`: the twins and the harness (the default `rehearsal`
/// feature); a product build has none, and `rehearse` answers `not_running`.
pub(crate) fn rehearser(
    config: &Config,
) -> Option<std::sync::Arc<dyn bigreach_core::app::rehearse::Rehearser>> {
    #[cfg(feature = "rehearsal")]
    {
        Some(std::sync::Arc::new(rehearse::TwinRehearser {
            config: config.clone(),
            limit: std::time::Duration::from_secs(300),
        }))
    }
    #[cfg(not(feature = "rehearsal"))]
    {
        let _ = config;
        None
    }
}

async fn serve(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let secrets = SecretResolver::new();
    // Hosted: `connection` reads this file and `rehearse` runs against the twins; a headless
    // install keeps its secrets in the environment, so `connect` says which variables to set.
    let host = bigreach_runtime::Host {
        config_path: Some(path.to_owned()),
        secret_store: None,
        rehearser: rehearser(&config),
    };
    let listeners = bigreach_runtime::Listeners::bind(&config)?;
    let appliance =
        Appliance::start_hosted(&config, &secrets, SystemClock::shared(), listeners, host)
            .await
            .with_context(|| format!("starting with {}", path.display()))?;
    let status = appliance.status()?;
    println!(
        "BigReach is running: webhooks on {}, local API on {} (token in {})",
        status.webhook_address,
        status.api_address,
        config.data_dir.join("api-token").display()
    );
    stop_signal().await?;
    println!("stopping…");
    appliance.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM (systemd, a test runner).
async fn stop_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        stopped = tokio::signal::ctrl_c() => stopped.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[cfg(feature = "rehearsal")]
async fn serve_twins(
    data_dir: Option<PathBuf>,
    start_stage: &str,
    history_imports: bool,
    json: bool,
) -> Result<()> {
    let start_stage = bigreach_core::cutover::Stage::ALL
        .into_iter()
        .find(|stage| stage.name() == start_stage)
        .with_context(|| {
            let names: Vec<&str> = bigreach_core::cutover::Stage::ALL
                .iter()
                .map(|stage| stage.name())
                .collect();
            format!(
                "--start-stage {start_stage:?} is not a stage; use one of {}",
                names.join(", ")
            )
        })?;
    serve_twins::run(serve_twins::TwinsServe {
        data_dir,
        start_stage,
        history: if history_imports {
            bigreach_core::config::HistoryMode::Imports
        } else {
            bigreach_core::config::HistoryMode::Tracking
        },
        json,
    })
    .await
}

#[cfg(not(feature = "rehearsal"))]
async fn serve_twins(
    _data_dir: Option<PathBuf>,
    _start_stage: &str,
    _history_imports: bool,
    _json: bool,
) -> Result<()> {
    bail!("this build has no twins (it was built without the `rehearsal` feature)")
}

async fn dead_letters(config: &Path, command: DeadLetterCommand, json: bool) -> Result<()> {
    use reqwest::Method;
    let letter: DeadLetter = match command {
        DeadLetterCommand::List => {
            let letters: Vec<DeadLetter> =
                operator::call(config, Method::GET, "api/dead-letters").await?;
            if json {
                operator::emit(&(serde_json::to_string_pretty(&letters)? + "\n"))?;
            } else {
                // Fetches set aside are the other half of "what did not go through".
                let fetches: Vec<SetAside> =
                    operator::call(config, Method::GET, "api/set-aside").await?;
                operator::emit(&operator::dead_letters_report(&letters, &fetches))?;
            }
            return Ok(());
        }
        DeadLetterCommand::Show { id } => {
            operator::call(config, Method::GET, &format!("api/dead-letters/{id}")).await?
        }
        DeadLetterCommand::Replay { id } => {
            operator::call(
                config,
                Method::POST,
                &format!("api/dead-letters/{id}/replay"),
            )
            .await?
        }
        DeadLetterCommand::Discard { id } => {
            operator::call(
                config,
                Method::POST,
                &format!("api/dead-letters/{id}/discard"),
            )
            .await?
        }
    };
    operator::emit(&(serde_json::to_string_pretty(&letter)? + "\n"))
}

async fn set_aside(config: &Path, command: SetAsideCommand, json: bool) -> Result<()> {
    use reqwest::Method;
    let (action, key) = match command {
        SetAsideCommand::List => {
            let fetches: Vec<SetAside> =
                operator::call(config, Method::GET, "api/set-aside").await?;
            if json {
                operator::emit(&(serde_json::to_string_pretty(&fetches)? + "\n"))?;
            } else {
                operator::emit(&operator::set_aside_report(&fetches))?;
            }
            return Ok(());
        }
        SetAsideCommand::Replay { key } => ("replay", key),
        SetAsideCommand::Discard { key } => ("discard", key),
    };
    // A key can hold any character (`/`, spaces): it travels as one path segment.
    let segment: String = url::form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let answer: SetAside = operator::call(
        config,
        Method::POST,
        &format!("api/set-aside/{segment}/{action}"),
    )
    .await?;
    operator::emit(&(serde_json::to_string_pretty(&answer)? + "\n"))
}
