//! `bigreach`: the CLI and headless server. A thin layer over the runtime and the core.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bigreach::demo::{self, DemoPlan, DemoSummary, Twins};
use bigreach_clock::SystemClock;
use bigreach_core::app::dead_letters::DeadLetter;
use bigreach_core::app::AppError;
use bigreach_core::config::Config;
use bigreach_core::secret::SecretResolver;
use bigreach_runtime::Appliance;
use clap::{Parser, Subcommand};

mod operator;

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
    /// Run both twins standalone and print their URLs and credentials.
    Sim {
        /// The store plan.
        #[arg(long, default_value = "data/demo.toml")]
        plan: PathBuf,
    },
    /// Play scenario files through the twins and the appliance and check the result.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Run a benchmark (ingest, drain or flash-sale); prints a table and writes JSON.
    Bench {
        /// ingest | drain | flash-sale
        name: String,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Carry a simulated store into a simulated Bloomreach project and check the result.
    Demo {
        /// The store plan.
        #[arg(long, default_value = "data/demo.toml")]
        plan: PathBuf,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Keep the appliance's data here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 110)]
        limit_secs: u64,
    },
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
enum ScenarioCommand {
    /// Run one or more scenario files.
    Run {
        /// Scenario files (see data/scenarios/).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON report per line.
        #[arg(long)]
        json: bool,
        /// How the appliance chooses customer IDs: `bigreach` or `email-as-id` (the usual
        /// connector setting, as a baseline).
        #[arg(long, default_value = "bigreach")]
        identity: String,
        /// Run each scenario with both identity policies and print them side by side.
        #[arg(long)]
        compare: bool,
    },
}

fn main() -> ExitCode {
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
    let quiet = matches!(
        cli.command,
        Command::Demo { .. } | Command::Scenario { .. } | Command::Bench { .. }
    );
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("BIGREACH_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(if quiet { "error" } else { "info" })
        })
    };
    // Colour only on a terminal; `serve` also writes daily rolling log files under <data_dir>/logs (one line per webhook
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
        Command::Serve { config } => serve(&config).await,
        Command::Status { config, json } => operator::status(&config, json).await,
        Command::DeadLetters {
            command,
            config,
            json,
        } => dead_letters(&config, command, json).await,
        Command::Trace {
            query,
            config,
            json,
        } => operator::trace(&config, &query, json).await,
        Command::Sim { plan } => sim(&plan).await,
        Command::Demo {
            plan,
            json,
            data_dir,
            limit_secs,
        } => run_demo(&plan, json, data_dir, limit_secs).await,
        Command::Scenario {
            command:
                ScenarioCommand::Run {
                    files,
                    json,
                    identity,
                    compare,
                },
        } => run_scenarios(&files, json, &identity, compare).await,
        Command::Bench { name, json } => {
            let met = bigreach::bench::run(&name, json).await?;
            if !met {
                std::process::exit(1);
            }
            Ok(())
        }
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

async fn dead_letters(config: &Path, command: DeadLetterCommand, json: bool) -> Result<()> {
    use reqwest::Method;
    let letter: DeadLetter = match command {
        DeadLetterCommand::List => {
            let letters: Vec<DeadLetter> =
                operator::call(config, Method::GET, "api/dead-letters").await?;
            if json {
                operator::emit(&(serde_json::to_string_pretty(&letters)? + "\n"))?;
            } else {
                operator::emit(&operator::dead_letters_report(&letters))?;
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

async fn sim(plan_path: &Path) -> Result<()> {
    let plan = DemoPlan::load(plan_path)?;
    let twins = Twins::start(&plan, SystemClock::shared()).await?;
    use bigreach::demo::credentials as c;
    println!("BigCommerce twin");
    println!("  API root:      {}", twins.bigcommerce.api_root());
    println!("  X-Auth-Token:  {}", c::BC_TOKEN);
    println!(
        "  ground truth:  {}_twin/state",
        twins.bigcommerce.base_url()
    );
    println!("Bloomreach twin");
    println!("  base URL:      {}", twins.bloomreach.base_url());
    println!("  project token: {}", c::PROJECT_TOKEN);
    println!("  key id:        {}", c::KEY_ID);
    println!("  key secret:    {}", c::KEY_SECRET);
    println!(
        "  ground truth:  {}_twin/state",
        twins.bloomreach.base_url()
    );
    println!("These are simulator credentials, not secrets. Ctrl-C stops both twins.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    twins.shutdown().await;
    Ok(())
}

async fn run_demo(
    plan_path: &Path,
    json: bool,
    data_dir: Option<PathBuf>,
    limit: u64,
) -> Result<()> {
    let plan = DemoPlan::load(plan_path)?;
    let temp = tempfile::tempdir().context("creating a temporary data directory")?;
    let data_dir = data_dir.unwrap_or_else(|| temp.path().join("data"));
    if !json {
        eprintln!(
            "BigReach demo: {} customers, {} products, {} historical orders, then {} live orders over {} s…",
            plan.store.customers,
            plan.store.products,
            plan.store.historical_orders,
            plan.trading.orders,
            plan.trading.over_secs
        );
    }
    let clock = Arc::new(SystemClock);
    let summary = demo::run(&plan, &data_dir, clock, Duration::from_secs(limit)).await?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    if !summary.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}

fn print_summary(s: &DemoSummary) {
    let mark = |ok: bool| if ok { "ok " } else { "BAD" };
    println!("BigReach demo summary ({:.1} s)", s.elapsed_s);
    println!("  [{}] purchases: {} paid orders in BigCommerce, {} purchases in Bloomreach, {} missing, {} duplicated, {} wrong amount, {} on another person's profile",
        mark(s.purchases_missing == 0 && s.purchases_duplicated == 0 && s.purchases_wrong_amount == 0 && s.purchases_unpaid == 0 && s.purchases_on_other_profiles == 0),
        s.orders_paid_in_bigcommerce, s.purchases_in_bloomreach, s.purchases_missing, s.purchases_duplicated, s.purchases_wrong_amount, s.purchases_on_other_profiles);
    println!("  [{}] people:    {} persons in the store, {} profiles in Bloomreach, {} duplicate profiles, {} profiles holding several persons, {} persons without a profile",
        mark(s.duplicate_profiles == 0 && s.merged_profiles == 0 && s.persons_without_profile == 0),
        s.persons_in_truth, s.profiles_in_bloomreach, s.duplicate_profiles, s.merged_profiles, s.persons_without_profile);
    println!(
        "        ({} guests never paid, so they need no profile)",
        s.persons_never_paid
    );
    println!(
        "  [{}] catalog:   {} variants in BigCommerce, {} catalog items in Bloomreach, {} missing",
        mark(s.catalog_items_missing == 0),
        s.variants_in_bigcommerce,
        s.catalog_items_in_bloomreach,
        s.catalog_items_missing
    );
    println!("  [{}] latency:   payment → Bloomreach acknowledgement p50 {} ms, p99 {} ms, max {} ms ({} live purchases)",
        mark(s.latency_ms.count > 0), s.latency_ms.p50, s.latency_ms.p99, s.latency_ms.max, s.latency_ms.count);
    println!("        traffic:   {} webhooks sent, {} Bloomreach 429s, {} BigCommerce 429s, {} resends absorbed by Bloomreach's duplicate filter, {} dead letters",
        s.webhooks_sent, s.bloomreach_429s, s.bigcommerce_429s, s.bloomreach_duplicates_dropped, s.dead_letters);
    if !s.finished {
        println!("  [BAD] the appliance did not finish within the time limit");
    }
    println!(
        "{}",
        if s.is_clean() {
            "RESULT: clean — nothing lost, nothing doubled, one profile per person"
        } else {
            "RESULT: problems found (see BAD lines)"
        }
    );
}

fn identity_policy(name: &str) -> Result<bigreach_core::config::IdentityPolicy> {
    use bigreach_core::config::IdentityPolicy;
    match name {
        "bigreach" => Ok(IdentityPolicy::Bigreach),
        "email-as-id" => Ok(IdentityPolicy::EmailAsId),
        other => bail!("unknown identity policy {other:?}; use bigreach or email-as-id"),
    }
}

async fn run_one(
    scenario: &bigreach::scenario::Scenario,
    identity: bigreach_core::config::IdentityPolicy,
) -> Result<bigreach::scenario::ScenarioReport> {
    let temp = tempfile::tempdir().context("creating a temporary data directory")?;
    let options = bigreach::scenario::RunOptions {
        identity,
        ..Default::default()
    };
    Ok(bigreach::scenario::run(scenario, &temp.path().join("data"), &options).await?)
}

async fn run_scenarios(files: &[PathBuf], json: bool, identity: &str, compare: bool) -> Result<()> {
    use bigreach_core::config::IdentityPolicy;
    let policy = identity_policy(identity)?;
    let mut failed = 0;
    let mut rows = Vec::new();
    for file in files {
        let scenario = bigreach::scenario::Scenario::load(file)?;
        let report = run_one(&scenario, policy).await?;
        if !report.passed {
            failed += 1;
        }
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_scenario(&report);
        }
        if compare {
            let baseline = run_one(&scenario, IdentityPolicy::EmailAsId).await?;
            if json {
                println!("{}", serde_json::to_string(&baseline)?);
            }
            rows.push((report, baseline));
        }
    }
    if compare && !json {
        println!();
        println!("| scenario | persons | BigReach: split / merged / on wrong profile / missing | email-as-id: split / merged / on wrong profile / missing |");
        println!("|---|---|---|---|");
        for (ours, base) in &rows {
            let cell = |s: &bigreach::demo::DemoSummary| {
                format!(
                    "{} / {} / {} / {}",
                    s.duplicate_profiles,
                    s.merged_profiles,
                    s.purchases_on_other_profiles,
                    s.purchases_missing
                )
            };
            println!(
                "| {} | {} | {} | {} |",
                ours.scenario,
                ours.summary.persons_in_truth,
                cell(&ours.summary),
                cell(&base.summary)
            );
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenario(s) failed", files.len());
        std::process::exit(1);
    }
    Ok(())
}

fn print_scenario(r: &bigreach::scenario::ScenarioReport) {
    let s = &r.summary;
    println!(
        "{} {} ({:.1} s real, speed {}x)",
        if r.passed { "PASS" } else { "FAIL" },
        r.scenario,
        s.elapsed_s,
        r.speed
    );
    println!(
        "  purchases {} of {} paid (missing {}, doubled {}, wrong amount {}, unpaid {}, on another person's profile {}); profiles {} for {} persons (split {}, merged {}, without profile {})",
        s.purchases_in_bloomreach, s.orders_paid_in_bigcommerce, s.purchases_missing, s.purchases_duplicated,
        s.purchases_wrong_amount, s.purchases_unpaid, s.purchases_on_other_profiles, s.profiles_in_bloomreach, s.persons_in_truth,
        s.duplicate_profiles, s.merged_profiles, s.persons_without_profile
    );
    println!(
        "  catalog {} of {} variants (missing {}, stale {}); 429s {}; duplicates dropped {}; hooks restored {}; latency p50 {} ms p99 {} ms (virtual); dead letters {}",
        s.catalog_items_in_bloomreach, s.variants_in_bigcommerce, s.catalog_items_missing, r.catalog_items_stale,
        s.bloomreach_429s, s.bloomreach_duplicates_dropped, r.hooks_restored, s.latency_ms.p50, s.latency_ms.p99, s.dead_letters
    );
    for e in r.action_errors.iter().chain(&r.unmet_expectations) {
        println!("  ! {e}");
    }
    if !s.finished {
        println!("  ! the appliance did not finish within the time limit");
    }
}
