//! `bigreach`: the CLI and headless server. A thin layer over the runtime and the core.

#[cfg(feature = "rehearsal")]
mod rehearse;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bigreach_clock::SystemClock;
use bigreach_core::config::Config;
use bigreach_core::secret::SecretResolver;
use bigreach_runtime::Appliance;
use clap::{Parser, Subcommand};

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
    /// Check a config file without starting anything.
    Check {
        /// The config file.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
    },
    /// Run the appliance headless until Ctrl-C.
    Serve {
        /// The config file.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
    },
    /// Print the status of a running appliance (through its local API).
    Status {
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
    },
    /// List, inspect, replay or discard dead letters (through the running appliance's local API).
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml", global = true)]
        config: PathBuf,
    },
    /// Why did this person not enter the flow: identity links, every command with its delivery
    /// state, and every order withheld with the reason (through the running appliance).
    Trace {
        /// An email, a phone in E.164 (+…) or a BigCommerce customer id.
        query: String,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    let quiet = match &cli.command {
        #[cfg(feature = "rehearsal")]
        Command::Rehearse(command) => command.quiet(),
        _ => false,
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("BIGREACH_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if quiet { "error" } else { "info" })
        })
    };
    // `serve` also writes daily rolling log files under <data_dir>/logs (one line per webhook
    // and per delivery batch); the guard flushes them on exit.
    let _log_guard = match &cli.command {
        Command::Serve { config } => {
            let loaded = Config::load(config)?;
            let logs = loaded.data_dir.join("logs");
            std::fs::create_dir_all(&logs)
                .with_context(|| format!("creating {}", logs.display()))?;
            let (file, guard) = tracing_appender::non_blocking(tracing_appender::rolling::daily(
                &logs,
                "bigreach.log",
            ));
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            tracing_subscriber::registry()
                .with(filter())
                .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
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
                .with_writer(std::io::stderr)
                .init();
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Init { config } => init(&config),
        Command::Check { config } => {
            Config::load(&config)?;
            println!("{}: OK", config.display());
            Ok(())
        }
        Command::Serve { config } => serve(&config).await,
        Command::Status { config } => {
            let body = local_api(&config, reqwest::Method::GET, "api/status").await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        Command::DeadLetters { command, config } => dead_letters(&config, command).await,
        Command::Trace { query, config } => {
            let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
            let body = local_api(
                &config,
                reqwest::Method::GET,
                &format!("api/trace?q={encoded}"),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
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

async fn serve(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let secrets = SecretResolver::new();
    let appliance = Appliance::start(&config, &secrets, SystemClock::shared())
        .await
        .with_context(|| format!("starting with {}", path.display()))?;
    let status = appliance.status()?;
    println!(
        "BigReach is running: webhooks on {}, local API on {} (token in {})",
        status.webhook_address,
        status.api_address,
        config.data_dir.join("api-token").display()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping…");
    appliance.shutdown().await;
    Ok(())
}

/// Calls the running appliance's local API (loopback, per-install token).
async fn local_api(
    config_path: &Path,
    method: reqwest::Method,
    path: &str,
) -> Result<serde_json::Value> {
    let config = Config::load(config_path)?;
    let token = std::fs::read_to_string(config.data_dir.join("api-token"))
        .context("reading the API token; is the appliance initialised in this data_dir?")?;
    let url = format!("http://{}/{path}", config.api.listen);
    let response = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(token.trim())
        .send()
        .await
        .with_context(|| format!("calling {url}; is `bigreach serve` running?"))?;
    let code = response.status();
    let body: serde_json::Value = response.json().await.context("reading the answer")?;
    if !code.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        let error_code = body["code"].as_str().unwrap_or("unknown");
        bail!("{message} ({error_code}, HTTP {code})");
    }
    Ok(body)
}

async fn dead_letters(config: &Path, command: DeadLetterCommand) -> Result<()> {
    use reqwest::Method;
    let body = match command {
        DeadLetterCommand::List => {
            let list = local_api(config, Method::GET, "api/dead-letters").await?;
            let letters = list.as_array().cloned().unwrap_or_default();
            if letters.is_empty() {
                println!("no dead letters");
            }
            for letter in letters {
                println!(
                    "{:>8}  {:<13} {:<28} {}",
                    letter["id"],
                    letter["lane"].as_str().unwrap_or(""),
                    letter["fact"].as_str().unwrap_or(""),
                    letter["reason"].as_str().unwrap_or("")
                );
            }
            return Ok(());
        }
        DeadLetterCommand::Show { id } => {
            local_api(config, Method::GET, &format!("api/dead-letters/{id}")).await?
        }
        DeadLetterCommand::Replay { id } => {
            local_api(
                config,
                Method::POST,
                &format!("api/dead-letters/{id}/replay"),
            )
            .await?
        }
        DeadLetterCommand::Discard { id } => {
            local_api(
                config,
                Method::POST,
                &format!("api/dead-letters/{id}/discard"),
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}
