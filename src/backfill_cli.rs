//! `bigreach backfill plan | run`: history through the Imports API. `plan` reads the counts and
//! the quota and prints what the backfill costs; `run` lists and writes the import files
//! (resumable: run it again after a kill), with a progress bar, and with `--manual DIR` copies
//! the files and one definition JSON per file there for upload by hand. With `[history] mode =
//! "imports"` (and no `--manual`) it then serves the files on `[history] files_listen` and
//! drives one Bloomreach import per file to done or failed, with a bar of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bigreach_bigcommerce::{BigCommerceClient, ClientConfig};
use bigreach_clock::SystemClock;
use bigreach_core::backfill::plan::BackfillPlan;
use bigreach_core::backfill::progress::ResourceKind;
use bigreach_core::backfill::{imports, FileKind};
use bigreach_core::config::{Config, HistoryMode};
use bigreach_core::secret::SecretResolver;
use bigreach_core::store::Store;
use bigreach_runtime::backfill::{read_plan, schemas, since_instant, BackfillJob, ImportSettings};
use chrono::NaiveDate;
use clap::Subcommand;

/// `bigreach backfill …`.
#[derive(Subcommand)]
pub enum BackfillCommand {
    /// Print the BigCommerce calls, the time, the rows per file and the files, before anything
    /// starts.
    Plan {
        /// Only orders created on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<NaiveDate>,
    },
    /// List the history and write the import files (resumes where a killed run stopped).
    Run {
        /// Only orders created on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Also copy the files and each definition's settings (JSON) here, for upload by hand.
        #[arg(long)]
        manual: Option<PathBuf>,
    },
}

fn client(config: &Config) -> Result<BigCommerceClient> {
    let token = SecretResolver::new()
        .resolve(&config.bigcommerce.access_token)
        .context("resolving [bigcommerce] access_token")?;
    let mut bc = ClientConfig::new(config.bigcommerce_api_root(), token);
    bc.reserve_share = config.bigcommerce.quota_reserve_share;
    Ok(BigCommerceClient::new(bc, SystemClock::shared())?)
}

fn bloomreach(config: &Config) -> Result<bigreach_bloomreach::BloomreachClient> {
    let secret = SecretResolver::new()
        .resolve(&config.bloomreach.secret)
        .context("resolving [bloomreach] secret")?;
    let mut br = bigreach_bloomreach::ClientConfig::new(
        config.bloomreach.base_url.clone(),
        config.bloomreach.project_token.clone(),
        config.bloomreach.key_id.clone(),
        secret,
    );
    br.requests_per_second = config.bloomreach.requests_per_second;
    Ok(bigreach_bloomreach::BloomreachClient::new(
        br,
        SystemClock::shared(),
    )?)
}

/// How often a running import is read at first (doubling to a minute).
const IMPORT_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves the files and imports them (`[history] mode = "imports"`), with a bar over the
/// files: done / total, and each run's state as it changes.
async fn import(
    job: &BackfillJob,
    config: &Config,
    json: bool,
) -> Result<bigreach_core::backfill::BackfillProgress> {
    let public_url = config.history.files_public_url().context(
        "[history] files_public_url is needed: the URL Bloomreach downloads the files from",
    )?;
    let listen = config.history.files_listen();
    let listener = bigreach_runtime::listener::bind(listen)
        .with_context(|| format!("listening on [history] files_listen {listen}"))?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {pos}/{len} files  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let settings = ImportSettings {
        bloomreach: bloomreach(config)?,
        listener,
        public_url,
        catalog_name: config.bloomreach.catalog_name.clone(),
        poll_every: IMPORT_POLL,
    };
    let progress = job
        .import(settings, |progress| {
            bar.set_length(progress.imports.len() as u64);
            bar.set_position(progress.imports.iter().filter(|r| r.ended()).count() as u64);
            if let Some(run) = progress.imports.iter().find(|r| !r.ended()) {
                bar.set_message(format!("{} {}", run.file, run.state));
            }
        })
        .await?;
    bar.finish_with_message(format!("{:?}", progress.phase));
    Ok(progress)
}

/// Runs a backfill command.
pub async fn backfill(config_path: &Path, command: BackfillCommand, json: bool) -> Result<()> {
    let config = Config::load(config_path)?;
    let client = client(&config)?;
    let row_limit = config.history.row_limit();
    let reserve = config.bigcommerce.quota_reserve_share;
    match command {
        BackfillCommand::Plan { since } => {
            let plan = read_plan(&client, since_instant(since), reserve, row_limit).await?;
            print_plan(&plan, json)
        }
        BackfillCommand::Run { since, manual } => {
            let since = since_instant(since);
            let plan = read_plan(&client, since, reserve, row_limit).await?;
            let (settings, _) = bigreach_runtime::mapping_settings(&config, &client).await?;
            let store = Store::open(&config.data_dir.join("bigreach.redb"))?;
            let job = BackfillJob {
                client,
                store,
                dir: config.data_dir.join("history"),
                settings: settings.clone(),
                row_limit,
                clock: SystemClock::shared(),
            };
            let totals = BTreeMap::from([
                (ResourceKind::Orders, plan.input.counts.orders),
                (ResourceKind::Customers, plan.input.counts.customers),
                (ResourceKind::Products, plan.input.counts.products),
            ]);
            let bar = indicatif::ProgressBar::new(totals.values().sum());
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let progress = job
                .run(since, totals, |progress| {
                    let (done, total) = progress.done_and_total();
                    bar.set_length(total);
                    bar.set_position(done);
                    bar.set_message(format!("{:?}", progress.phase));
                })
                .await?;
            bar.finish_with_message(format!("{:?}", progress.phase));
            let progress = match &manual {
                Some(dir) => {
                    write_manual(dir, &job, &config, &progress)?;
                    progress
                }
                None if config.history.mode == HistoryMode::Imports => {
                    import(&job, &config, json).await?
                }
                None => progress,
            };
            if json {
                // The status, not the stored progress: that holds the file server's password.
                let status =
                    bigreach_core::app::AppApi::new(job.store.clone(), SystemClock::shared())
                        .backfill_status()
                        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                for set in progress.files.values() {
                    for file in &set.files {
                        println!(
                            "{:<28} {:>9} rows  sha256 {}",
                            file.name,
                            file.rows,
                            file.sha256.as_deref().unwrap_or("-")
                        );
                    }
                }
                for run in &progress.imports {
                    println!(
                        "import {:<28} {:<8} {:>9} rows imported{}{}",
                        run.file,
                        run.state,
                        run.rows_imported,
                        if run.rows_failed > 0 {
                            format!(", {} failed", run.rows_failed)
                        } else {
                            String::new()
                        },
                        run.reason
                            .as_deref()
                            .map(|reason| format!(": {reason}"))
                            .unwrap_or_default()
                    );
                }
                println!(
                    "watermark {} (orders created after it go live: {} so far)",
                    progress.watermark.to_rfc3339(),
                    progress.orders_after_watermark
                );
            }
            if let Some(failure) = &progress.failure {
                anyhow::bail!("the history import failed: {failure} (fix it, then run `bigreach backfill run` again)");
            }
            Ok(())
        }
    }
}

/// The files and one `<file>.definition.json` each, for upload by hand.
fn write_manual(
    dir: &Path,
    job: &BackfillJob,
    config: &Config,
    progress: &bigreach_core::backfill::BackfillProgress,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let schemas = schemas(&job.settings);
    for kind in FileKind::ALL {
        for file in &progress.files[&kind].files {
            std::fs::copy(job.dir.join(&file.name), dir.join(&file.name))
                .with_context(|| format!("copying {}", file.name))?;
            let body = imports::definition(
                &schemas[&kind],
                &file.name,
                &config.bloomreach.catalog_name,
                None,
            );
            let path = dir.join(format!("{}.definition.json", file.name));
            std::fs::write(&path, serde_json::to_vec_pretty(&body)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

fn print_plan(plan: &BackfillPlan, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    let counts = &plan.input.counts;
    println!(
        "BigCommerce: {} orders, {} customers, {} products",
        counts.orders, counts.customers, counts.products
    );
    println!(
        "API calls: {} ({} order pages of 250 with line items, {} customer pages, {} product pages)",
        plan.api_calls, plan.order_calls, plan.customer_calls, plan.product_calls
    );
    println!(
        "time: {:.0} s at {:.2} requests/s ({} per {} s window, {:.0}% left to other apps)",
        plan.seconds,
        plan.input.quota.allowed_per_second(),
        plan.input.quota.requests_per_window,
        plan.input.quota.window_secs,
        plan.input.quota.reserve_share * 100.0
    );
    for files in &plan.files {
        println!(
            "{:<16} {:>9} rows in {} file(s), up to {} rows per file",
            files.kind.stem(),
            files.rows,
            files.files,
            files.rows_per_file
        );
    }
    Ok(())
}
