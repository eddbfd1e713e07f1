//! The rehearsal commands (`sim`, `demo`, `scenario`, `bench`, `rehearse`), built only with the default
//! `rehearsal` feature: they run the twins and the proving harness (`bigreach-harness`), which a
//! product build (`--no-default-features`) leaves out.
//!
//! The demo plans are compiled in, so `bigreach demo` and `bigreach sim` work from any
//! directory; `--plan` takes a compiled-in name or the path of a plan file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bigreach_clock::{ScaledClock, SystemClock};
use bigreach_core::config::{Config, IdentityPolicy};
use bigreach_harness::plan::{DemoPlan, BUILTIN_PLANS, DEFAULT_PLAN};
use bigreach_harness::scenario::{self, RunOptions, Scenario, ScenarioReport};
use bigreach_harness::twins::{credentials, Twins, BIGCOMMERCE_FAULTS, BLOOMREACH_FAULTS};
use bigreach_harness::verdict::{DemoSummary, Family};
use bigreach_harness::{bench, demo, rehearsal};
use clap::Subcommand;

/// The rehearsal subcommands, flattened into the CLI's command list.
#[derive(Subcommand)]
pub enum RehearseCommand {
    /// Run both twins standalone and print their URLs and credentials.
    Sim {
        /// The store plan: `demo` or `small` (compiled in), or the path of a plan file.
        #[arg(long, default_value = DEFAULT_PLAN)]
        plan: String,
    },
    /// Play scenario files through the twins and the appliance and check the result.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Run a benchmark (ingest, drain, flash-sale, hostile, catalog or backfill); prints a table and writes JSON.
    Bench {
        /// ingest | drain | flash-sale | hostile | catalog | backfill
        name: String,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
        /// `catalog`: how many SKUs (default 100,000).
        #[arg(long)]
        skus: Option<u64>,
        /// `backfill`: how many historical orders (default 100,000).
        #[arg(long)]
        orders: Option<u64>,
        /// `backfill`: the BigCommerce quota plan (default standard).
        #[arg(long)]
        plan: Option<String>,
    },
    /// Rehearse the staged cutover against the twins on your config: advance stage by stage
    /// with traffic, roll back once, advance again, and judge it (exit status 13 when the
    /// rehearsal found a problem).
    Rehearse {
        /// The config whose mapping, cutover settings, catalog and ID names to rehearse
        /// (default: ./bigreach.toml if it exists, else the `init` defaults). Its URLs and
        /// credentials are not used: the twins stand in for both services.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Give up one wait after this many seconds.
        #[arg(long, default_value_t = 90)]
        limit_secs: u64,
    },
    /// Carry a simulated store into a simulated Bloomreach project and check the result.
    Demo {
        /// The store plan: `demo` or `small` (compiled in), or the path of a plan file.
        #[arg(long, default_value = DEFAULT_PLAN)]
        plan: String,
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

/// `bigreach scenario …`.
#[derive(Subcommand)]
pub enum ScenarioCommand {
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
        /// Scenarios run at once (reports still print in file order). A scenario mostly waits
        /// on its scaled clock, so a few at once fit on two cores.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
        jobs: u16,
    },
}

impl RehearseCommand {
    /// Whether the command prints its own report, so that logs default to errors only.
    pub fn quiet(&self) -> bool {
        !matches!(self, RehearseCommand::Sim { .. })
    }
}

/// Runs a rehearsal command. A failure is printed as one line (the error and its causes),
/// never with a backtrace, even when `RUST_BACKTRACE` is set: these commands are run by people
/// trying the product out, from any directory.
pub async fn run(command: RehearseCommand) -> Result<()> {
    if let Err(error) = run_command(command).await {
        eprintln!("Error: {error:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn run_command(command: RehearseCommand) -> Result<()> {
    match command {
        RehearseCommand::Sim { plan } => sim(&plan).await,
        RehearseCommand::Demo {
            plan,
            json,
            data_dir,
            limit_secs,
        } => run_demo(&plan, json, data_dir, limit_secs).await,
        RehearseCommand::Scenario {
            command:
                ScenarioCommand::Run {
                    files,
                    json,
                    identity,
                    compare,
                    jobs,
                },
        } => run_scenarios(&files, json, &identity, compare, usize::from(jobs)).await,
        RehearseCommand::Rehearse {
            config,
            json,
            limit_secs,
        } => run_rehearsal(config, json, limit_secs).await,
        RehearseCommand::Bench {
            name,
            json,
            skus,
            orders,
            plan,
        } => {
            let met =
                bench::run_with(&name, json, &bench::BenchOptions { skus, orders, plan }).await?;
            if !met {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Exit status of `bigreach rehearse` when the rehearsal found a problem.
pub const REHEARSAL_FAILED: i32 = 13;

async fn run_rehearsal(config: Option<PathBuf>, json: bool, limit: u64) -> Result<()> {
    let (config, origin) = match config {
        Some(path) => (Config::load(&path)?, path.display().to_string()),
        None if std::path::Path::new("bigreach.toml").exists() => (
            Config::load(std::path::Path::new("bigreach.toml"))?,
            "bigreach.toml".to_owned(),
        ),
        None => (
            Config::from_toml(
                Config::default_toml(),
                std::path::Path::new("(init defaults)"),
            )?,
            "the init defaults".to_owned(),
        ),
    };
    if !json {
        eprintln!("BigReach rehearsal of the staged cutover on {origin}, against the twins…");
    }
    let clock = ScaledClock::new(chrono::Utc::now(), rehearsal::CLI_SPEED);
    let options = rehearsal::RehearsalOptions {
        wait_limit: Duration::from_secs(limit),
        ..rehearsal::RehearsalOptions::default()
    };
    let report = rehearsal::run(&config, &options, clock).await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", rehearsal::table(&report));
    }
    if !report.passed {
        std::process::exit(REHEARSAL_FAILED);
    }
    Ok(())
}

/// The plan `--plan` names, with a one-line error that says what `--plan` accepts.
fn plan(arg: &str) -> Result<DemoPlan> {
    DemoPlan::from_arg(arg).map_err(|error| {
        let names: Vec<&str> = BUILTIN_PLANS.iter().map(|(name, _)| *name).collect();
        anyhow!(
            "{error}; --plan takes a compiled-in plan ({}) or the path of a plan file",
            names.join(", ")
        )
    })
}

async fn sim(plan_arg: &str) -> Result<()> {
    let plan = plan(plan_arg)?;
    let twins = Twins::start(&plan, SystemClock::shared()).await?;
    println!("BigCommerce twin");
    println!("  API root:      {}", twins.bigcommerce.api_root());
    println!("  X-Auth-Token:  {}", credentials::BC_TOKEN);
    let bc = twins.bigcommerce.base_url();
    println!("  ground truth:  {bc}_twin/state");
    println!(
        "  control:       {bc}_twin/faults/{{kind}}  (PUT {{\"on\": true|false, ...}}); \
         {bc}_twin/crowd  (POST {{\"orders\", \"over_secs\"}})"
    );
    println!("  fault kinds:   {}", BIGCOMMERCE_FAULTS.join(", "));
    println!("Bloomreach twin");
    println!("  base URL:      {}", twins.bloomreach.base_url());
    println!("  project token: {}", credentials::PROJECT_TOKEN);
    println!("  key id:        {}", credentials::KEY_ID);
    println!("  key secret:    {}", credentials::KEY_SECRET);
    let br = twins.bloomreach.base_url();
    println!("  ground truth:  {br}_twin/state");
    println!("  control:       {br}_twin/faults/{{kind}}  (PUT {{\"on\": true|false, ...}})");
    println!("  fault kinds:   {}", BLOOMREACH_FAULTS.join(", "));
    println!("  docs:          crates/twins/README.md (Control API)");
    println!("These are simulator credentials, not secrets. Ctrl-C stops both twins.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    twins.shutdown().await;
    Ok(())
}

async fn run_demo(plan_arg: &str, json: bool, data_dir: Option<PathBuf>, limit: u64) -> Result<()> {
    let plan = plan(plan_arg)?;
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
    for line in summary_lines(s) {
        println!("{line}");
    }
}

/// The demo's summary as the CLI prints it, line by line (also the rehearsal screen's report).
pub(crate) fn summary_lines(s: &DemoSummary) -> Vec<String> {
    let mark = |family: Family| {
        if s.family_is_clean(family) {
            "ok "
        } else {
            "BAD"
        }
    };
    let mut lines = vec![
        format!("BigReach demo summary ({:.1} s)", s.elapsed_s),
        format!("  [{}] purchases: {} paid orders in BigCommerce, {} purchases in Bloomreach, {} missing, {} duplicated, {} wrong amount, {} on another person's profile",
            mark(Family::Purchases),
            s.orders_paid_in_bigcommerce, s.purchases_in_bloomreach, s.purchases_missing, s.purchases_duplicated, s.purchases_wrong_amount, s.purchases_on_other_profiles),
        format!("  [{}] people:    {} persons in the store, {} profiles in Bloomreach, {} duplicate profiles, {} profiles holding several persons, {} persons without a profile",
            mark(Family::People),
            s.persons_in_truth, s.profiles_in_bloomreach, s.duplicate_profiles, s.merged_profiles, s.persons_without_profile),
        format!(
            "        ({} guests never paid, so they need no profile)",
            s.persons_never_paid
        ),
        format!(
            "  [{}] catalog:   {} variants in BigCommerce, {} catalog items in Bloomreach, {} missing",
            mark(Family::Catalog),
            s.variants_in_bigcommerce,
            s.catalog_items_in_bloomreach,
            s.catalog_items_missing
        ),
        format!("  [{}] latency:   payment → Bloomreach acknowledgement p50 {} ms, p99 {} ms, max {} ms ({} live purchases)",
            if s.latency_ms.count > 0 { "ok " } else { "BAD" }, s.latency_ms.p50, s.latency_ms.p99, s.latency_ms.max, s.latency_ms.count),
        format!("        traffic:   {} webhooks sent, {} Bloomreach 429s, {} BigCommerce 429s, {} resends absorbed by Bloomreach's duplicate filter, {} dead letters",
            s.webhooks_sent, s.bloomreach_429s, s.bigcommerce_429s, s.bloomreach_duplicates_dropped, s.dead_letters),
    ];
    if !s.family_is_clean(Family::Run) {
        lines.push("  [BAD] the appliance did not finish within the time limit".to_owned());
    }
    lines.push(
        if s.is_clean() {
            "RESULT: clean — nothing lost, nothing doubled, one profile per person"
        } else {
            "RESULT: problems found (see BAD lines)"
        }
        .to_owned(),
    );
    lines
}

/// Runs rehearsals for the app API's `rehearse` operation (the rehearsal screen): the cutover
/// rehearsal on the appliance's config, or the small demo, each against fresh twins of its own
/// on a thread and runtime of its own, so a screen's rehearsal never touches the live store.
pub struct TwinRehearser {
    /// The config the cutover rehearsal takes its cutover, mapping and identity settings from.
    pub config: Config,
    /// How long either may take.
    pub limit: Duration,
}

impl bigreach_core::app::rehearse::Rehearser for TwinRehearser {
    fn rehearse(
        &self,
        kind: bigreach_core::app::rehearse::RehearsalKind,
    ) -> std::result::Result<
        bigreach_core::app::rehearse::RehearsalReport,
        bigreach_core::app::AppError,
    > {
        use bigreach_core::app::rehearse::{RehearsalKind, RehearsalReport};
        use bigreach_core::app::{AppError, Code};
        let config = self.config.clone();
        let limit = self.limit;
        let started = std::time::Instant::now();
        let failed = |what: &str, error: &dyn std::fmt::Display| {
            AppError::new(
                Code::Internal,
                format!("the {what} could not run against the twins: {error}"),
            )
        };
        // A thread of its own: the caller may be on a runtime's blocking pool.
        let worker = std::thread::spawn(
            move || -> std::result::Result<(bool, String, Vec<String>), AppError> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| failed("rehearsal runtime", &e))?;
                runtime.block_on(async move {
                match kind {
                    RehearsalKind::Cutover => {
                        let clock = ScaledClock::new(chrono::Utc::now(), rehearsal::CLI_SPEED);
                        let options = rehearsal::RehearsalOptions {
                            wait_limit: limit,
                            ..rehearsal::RehearsalOptions::default()
                        };
                        let report = rehearsal::run(&config, &options, clock)
                            .await
                            .map_err(|e| failed("cutover rehearsal", &e))?;
                        let summary = if report.passed {
                            "The cutover rehearsal passed: advance, rollback and advance again lost and doubled nothing.".to_owned()
                        } else {
                            format!("The cutover rehearsal found {} problem(s): {}", report.problems.len(), report.problems.join("; "))
                        };
                        let lines = rehearsal::table(&report).lines().map(str::to_owned).collect();
                        Ok((report.passed, summary, lines))
                    }
                    RehearsalKind::Demo => {
                        let plan = DemoPlan::builtin("small")
                            .ok_or_else(|| failed("demo", &"no compiled-in small plan"))?;
                        let dir = tempfile::tempdir().map_err(|e| failed("demo", &e))?;
                        let summary = demo::run(&plan, &dir.path().join("data"), Arc::new(SystemClock), limit)
                            .await
                            .map_err(|e| failed("demo", &e))?;
                        let clean = summary.is_clean();
                        let line = if clean {
                            "The demo came out clean: nothing lost, nothing doubled, one profile per person.".to_owned()
                        } else {
                            "The demo found problems (see the BAD lines).".to_owned()
                        };
                        Ok((clean, line, summary_lines(&summary)))
                    }
                }
            })
            },
        );
        let (passed, summary, lines) = worker
            .join()
            .map_err(|_| failed("rehearsal", &"its thread panicked"))??;
        Ok(RehearsalReport {
            kind,
            passed,
            summary,
            lines,
            seconds: (started.elapsed().as_millis() as f64 / 100.0).round() / 10.0,
        })
    }
}

fn identity_policy(name: &str) -> Result<IdentityPolicy> {
    match name {
        "bigreach" => Ok(IdentityPolicy::Bigreach),
        "email-as-id" => Ok(IdentityPolicy::EmailAsId),
        other => bail!("unknown identity policy {other:?}; use bigreach or email-as-id"),
    }
}

async fn run_one(scenario: &Scenario, identity: IdentityPolicy) -> Result<ScenarioReport> {
    let temp = tempfile::tempdir().context("creating a temporary data directory")?;
    let options = RunOptions {
        identity,
        ..Default::default()
    };
    Ok(scenario::run(scenario, &temp.path().join("data"), &options).await?)
}

async fn run_scenarios(
    files: &[PathBuf],
    json: bool,
    identity: &str,
    compare: bool,
    jobs: usize,
) -> Result<()> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let policy = identity_policy(identity)?;
    // Every file loads before any runs: a typo in the last one fails at once.
    let scenarios = files
        .iter()
        .map(|file| Scenario::load(file))
        .collect::<Result<Vec<_>, _>>()?;
    let mut failed = 0;
    let mut rows = Vec::new();
    let mut reports = stream::iter(scenarios.iter())
        .map(|scenario| async move {
            let report = run_one(scenario, policy).await?;
            let baseline = if compare {
                Some(run_one(scenario, IdentityPolicy::EmailAsId).await?)
            } else {
                None
            };
            anyhow::Ok((report, baseline))
        })
        .buffered(jobs.max(1));
    while let Some((report, baseline)) = reports.try_next().await? {
        if !report.passed {
            failed += 1;
        }
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_scenario(&report);
        }
        if let Some(baseline) = baseline {
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
            let cell = |s: &DemoSummary| {
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

fn print_scenario(r: &ScenarioReport) {
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
    println!(
        "  catalog requests {}; catalog item writes accepted {}; drift repair writes {}; items of deleted variants left {}",
        r.catalog_requests, r.catalog_item_writes, r.drift_repairs, r.catalog_items_extra
    );
    println!(
        "  refunds {} of {} (missing {}, doubled {}, wrong amount {}, unknown {})",
        s.refunds_in_bloomreach,
        s.refunds_in_bigcommerce,
        s.refunds_missing,
        s.refunds_duplicated,
        s.refunds_wrong_amount,
        s.refunds_unknown
    );
    println!(
        "  cancellations {} paid then cancelled (missing {}, doubled {}, unknown {})",
        s.cancellations_in_bigcommerce,
        s.cancellations_missing,
        s.cancellations_duplicated,
        s.cancellations_unknown
    );
    println!("  {}", s.revenue.describe());
    for e in r.action_errors.iter().chain(&r.unmet_expectations) {
        println!("  ! {e}");
    }
    if !s.finished {
        println!("  ! the appliance did not finish within the time limit");
    }
}
