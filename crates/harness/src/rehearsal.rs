//! `bigreach rehearse`: a rollback rehearsal of the staged cutover against both twins, on the
//! operator's own configuration. Not to be confused with the binary's `rehearse.rs`, which
//! holds the `sim`/`demo`/`scenario`/`bench` commands.
//!
//! The twins stand in for BigCommerce and Bloomreach (their URLs and credentials); everything
//! else that decides how the cutover behaves comes from the operator's config: the mapping
//! (catalog contract overrides included), the cutover thresholds and windows, the catalog name,
//! the ID names and the identity policy. The appliance starts at `connect` in a temporary data
//! directory, and the rehearsal then:
//!
//! 1. advances stage by stage to `triggers`, each advance with the hash of the plan it was shown,
//!    running the real preflight (the appliance's runner, audited as `preflight.run`) whenever
//!    the plan needs one;
//! 2. makes traffic through the twin at each stage (paid orders, a refund, a variant edit);
//! 3. rolls `ingest` back to `read_only`, checks that the queue is kept and that what the
//!    closing lanes sent is listed, makes more traffic, and advances again;
//! 4. judges the end state with the ground-truth verdict ([`crate::verdict::evaluate_in`]):
//!    nothing lost, nothing doubled.
//!
//! Every wait moves on the injected clock (`clock.sleep`), bounded by real time, so a test
//! drives it on a manual clock and the CLI on a scaled one.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bigreach_clock::SharedClock;
use bigreach_core::app::cutover::{ClosingLane, StagePlanAnswer};
use bigreach_core::app::{Answer, AppApi, Code, Operation, PreflightRequest};
use bigreach_core::config::Config;
use bigreach_core::cutover::{CheckOutcome, Stage};
use bigreach_core::outbox::{Lane, LaneSet};
use bigreach_core::preflight::storefront::integrity_of;
use bigreach_core::preflight::PreflightReport;
use bigreach_runtime::Appliance;
use bigreach_twins::bigcommerce::{CheckoutSpec, ShopperSpec, StorefrontSettings};
use bigreach_twins::bloomreach::SDK_FILE;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::demo::DemoError;
use crate::plan::DemoPlan;
use crate::twins::Twins;
use crate::verdict::{evaluate_in, DemoSummary, Finding};

/// The actor the rehearsal's transitions and preflight runs are audited under.
pub const ACTOR: &str = "rehearsal";

/// How a rehearsal runs.
#[derive(Debug, Clone)]
pub struct RehearsalOptions {
    /// The compiled-in demo plan seeding the twin store.
    pub plan: String,
    /// Give up a wait after this much real time.
    pub wait_limit: Duration,
}

impl Default for RehearsalOptions {
    fn default() -> Self {
        Self {
            plan: "small".into(),
            wait_limit: Duration::from_secs(90),
        }
    }
}

/// Why a rehearsal could not run at all (a problem it found is in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    /// The twins or the appliance did not start.
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// A wait ran out of real time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// An operation the rehearsal needs failed unexpectedly.
    #[error("{operation}: {message}")]
    Operation {
        /// Which operation.
        operation: String,
        /// Its error.
        message: String,
    },
    /// The twin refused a scripted action.
    #[error("twin: {0}")]
    Twin(String),
    /// A temporary directory.
    #[error("temporary data directory: {0}")]
    TempDir(#[from] std::io::Error),
}

/// The preflight run before an advance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightRun {
    /// No blocking failure.
    pub passed: bool,
    /// The report's digest (as audited).
    pub digest: String,
    /// The blocking checks that failed.
    pub blocking: Vec<String>,
}

/// One check's outcome in the stage's last round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckSeen {
    /// Check id.
    pub check: String,
    /// `enforce` or `observe`.
    pub mode: String,
    /// pass / fail / inconclusive.
    pub outcome: String,
    /// The measured value.
    pub value: f64,
    /// Its threshold.
    pub threshold: f64,
}

/// One step of the rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RehearsalStep {
    /// `advance` or `rollback`.
    pub action: String,
    /// The stage before.
    pub from: Stage,
    /// The stage after.
    pub to: Stage,
    /// The hash of the plan the advance was shown and applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<String>,
    /// The preflight run the advance needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightRun>,
    /// Traffic made at this stage, in words.
    pub traffic: Vec<String>,
    /// Pending commands per lane once the stage settled.
    pub queued: BTreeMap<String, u64>,
    /// Commands Bloomreach acknowledged per lane so far.
    pub delivered: BTreeMap<String, u64>,
    /// Rollback: what the closing lanes had already sent (Bloomreach has no event delete).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub already_sent: BTreeMap<String, u64>,
    /// The stage's checks in their last round.
    pub checks: Vec<CheckSeen>,
    /// What this step found wrong (empty: fine).
    pub problems: Vec<String>,
}

/// The whole rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RehearsalReport {
    /// Every step, in order.
    pub steps: Vec<RehearsalStep>,
    /// The ground-truth verdict at the end.
    pub verdict: DemoSummary,
    /// The verdict's findings (empty: nothing lost, nothing doubled).
    pub findings: Vec<Finding>,
    /// Every problem: the steps' and the verdict's.
    pub problems: Vec<String>,
    /// No problem at all.
    pub passed: bool,
}

/// The twins' configuration with the operator's cutover-relevant settings on top: the mapping
/// (catalog contract overrides included), the cutover settings (starting at `connect`), the
/// catalog name, the ID names, the identity policy and the reference currency. URLs, listeners
/// and credentials stay the twins'.
pub fn rehearsal_config(twins_config: Config, user: &Config) -> Config {
    let mut config = twins_config;
    config.mapping = user.mapping.clone();
    config.cutover = user.cutover.clone();
    config.cutover.start_stage = Stage::Connect;
    config.bloomreach.catalog_name = user.bloomreach.catalog_name.clone();
    config.bloomreach.ids = user.bloomreach.ids.clone();
    config.bloomreach.identity = user.bloomreach.identity;
    config.bloomreach.reference_currency = user.bloomreach.reference_currency.clone();
    config.monitoring = user.monitoring.clone();
    config
}

/// Runs the rehearsal on `user`'s configuration in a temporary data directory.
pub async fn run(
    user: &Config,
    options: &RehearsalOptions,
    clock: SharedClock,
) -> Result<RehearsalReport, RehearsalError> {
    let plan = DemoPlan::builtin(&options.plan).ok_or_else(|| {
        RehearsalError::Demo(DemoError::Config(format!(
            "no compiled-in plan {:?}",
            options.plan
        )))
    })?;
    let dir = tempfile::tempdir()?;
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = run_with_twins(user, options, &twins, dir.path(), clock).await;
    twins.shutdown().await;
    result
}

/// Runs the rehearsal against running twins, keeping the appliance's data in `data_dir`.
pub async fn run_with_twins(
    user: &Config,
    options: &RehearsalOptions,
    twins: &Twins,
    data_dir: &Path,
    clock: SharedClock,
) -> Result<RehearsalReport, RehearsalError> {
    let (twins_config, listeners) = twins.appliance_config(data_dir)?;
    let config = rehearsal_config(twins_config, user);
    config
        .validate()
        .map_err(|problems| DemoError::Config(format!("{problems:?}")))?;
    // A storefront whose CSP and SRI let the SDK load: the rehearsal is about the stages.
    let sdk_url = good_storefront(twins);
    let secrets = Twins::secrets();
    let appliance = Appliance::start_with(&config, &secrets, clock.clone(), listeners)
        .await
        .map_err(DemoError::from)?;
    let live_since = clock.now();
    let mut rig = Rig {
        appliance: &appliance,
        twins,
        clock: clock.clone(),
        limit: options.wait_limit,
        sdk_url: sdk_url.to_string(),
        shopper: 0,
    };
    let outcome = rig.rehearse().await;
    let status = appliance.status();
    appliance.shutdown().await;
    let steps = outcome?;
    let mut verdict = evaluate_in(
        &twins.bigcommerce.truth(),
        &twins.bloomreach.truth(),
        &config.bloomreach.ids,
        &config.bloomreach.catalog_name,
        live_since,
        config.bloomreach.reference_currency.as_deref(),
    );
    verdict.dead_letters = status.map(|s| s.store.dead_letters).unwrap_or_default();
    verdict.finished = true;
    let findings = verdict.findings();
    let mut problems: Vec<String> = steps
        .iter()
        .flat_map(|step| {
            step.problems
                .iter()
                .map(move |p| format!("{} {} → {}: {p}", step.action, step.from, step.to))
        })
        .collect();
    problems.extend(findings.iter().map(|finding| format!("verdict: {finding}")));
    Ok(RehearsalReport {
        passed: problems.is_empty(),
        steps,
        verdict,
        findings,
        problems,
    })
}

/// Sets the twin storefront to a page whose CSP and SRI let the Bloomreach SDK load (the
/// header allows the SDK host for scripts and tracking; the integrity matches the SDK file);
/// the SDK's URL.
pub fn good_storefront(twins: &Twins) -> url::Url {
    let sdk_url = twins.bloomreach.sdk_url();
    good_storefront_on(&twins.bigcommerce, &sdk_url);
    sdk_url
}

/// [`good_storefront`] on a BigCommerce twin, for the Bloomreach SDK at `sdk_url`.
pub fn good_storefront_on(
    bigcommerce: &bigreach_twins::bigcommerce::BigCommerceTwin,
    sdk_url: &url::Url,
) {
    let sdk_host = format!(
        "{}://{}:{}",
        sdk_url.scheme(),
        sdk_url.host_str().unwrap_or("127.0.0.1"),
        sdk_url.port_or_known_default().unwrap_or(80)
    );
    bigcommerce.set_storefront(StorefrontSettings {
        csp_header: Some(format!(
            "default-src 'self'; script-src 'self' {sdk_host}; connect-src 'self' {sdk_host}"
        )),
        meta_csp: None,
        snippet: true,
        sdk_src: Some(sdk_url.to_string()),
        integrity: integrity_of("sha384", SDK_FILE),
        crossorigin: Some("anonymous".into()),
        nonce: None,
    });
}

/// Serves the twin storefront with the SDK snippet but a `Content-Security-Policy` whose
/// `script-src` and `connect-src` leave the Bloomreach SDK host out, so the browser would
/// block the SDK and its tracking calls: a blocking preflight failure.
pub fn storefront_blocking_the_sdk(twins: &Twins) {
    let sdk_url = twins.bloomreach.sdk_url();
    twins.bigcommerce.set_storefront(StorefrontSettings {
        csp_header: Some("default-src 'self'; script-src 'self'; connect-src 'self'".into()),
        meta_csp: None,
        snippet: true,
        sdk_src: Some(sdk_url.to_string()),
        integrity: integrity_of("sha384", SDK_FILE),
        crossorigin: Some("anonymous".into()),
        nonce: None,
    });
}

/// Runs the real preflight through the app API (the appliance's runner), on a blocking
/// thread; audited as `preflight.run` by [`ACTOR`].
pub async fn preflight(app: &AppApi, sdk_url: &str) -> Result<PreflightReport, RehearsalError> {
    let app = app.clone();
    let request = PreflightRequest {
        storefront: Vec::new(),
        sdk_url: Some(sdk_url.to_owned()),
    };
    let answer =
        tokio::task::spawn_blocking(move || app.call(Operation::Preflight(request), ACTOR))
            .await
            .map_err(|e| op_error("preflight", e))?;
    match answer {
        Ok(Answer::Preflight(report)) => Ok(report),
        Ok(other) => Err(op_error("preflight", format!("answered {other:?}"))),
        Err(error) => Err(op_error("preflight", error)),
    }
}

/// How often an operator step reviews the plan again when the store moved on between the
/// review and the advance (orders keep arriving while a lane is closed, so a busy shop can
/// move the plan in that instant).
const PLAN_REVIEWS: usize = 5;

/// Advances with the hash of the newest plan, as an operator does: on `plan_moved` it reads
/// the new plan and advances with that, at most [`PLAN_REVIEWS`] times. Answers the hash it
/// last advanced with and the appliance's answer to that advance.
fn advance_reviewed(
    app: &AppApi,
) -> Result<(String, Result<Answer, bigreach_core::app::AppError>), RehearsalError> {
    let mut reviews = 0;
    loop {
        let plan_hash = match app.call(Operation::StagePlan, ACTOR) {
            Ok(Answer::StagePlan(plan)) => plan.advance.plan_hash,
            Ok(other) => return Err(op_error("stage plan", format!("answered {other:?}"))),
            Err(error) => return Err(op_error("stage plan", error)),
        };
        reviews += 1;
        let answer = app.call(
            Operation::Advance {
                plan_hash: plan_hash.clone(),
            },
            ACTOR,
        );
        match answer {
            Err(error) if error.code == Code::PlanMoved && reviews < PLAN_REVIEWS => {
                tracing::info!(
                    reviews,
                    "the plan moved before the advance; reviewing it again"
                );
            }
            answer => return Ok((plan_hash, answer)),
        }
    }
}

/// Why an operator step did not go through: the appliance's error code when it refused.
#[derive(Debug)]
pub struct StepFailure {
    /// The refusal's code (`None` when the step failed before the appliance answered).
    pub code: Option<Code>,
    /// What failed.
    pub error: RehearsalError,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl From<RehearsalError> for StepFailure {
    fn from(error: RehearsalError) -> Self {
        StepFailure { code: None, error }
    }
}

fn refused(operation: &str, error: bigreach_core::app::AppError, before: &str) -> StepFailure {
    StepFailure {
        code: Some(error.code),
        error: op_error(
            operation,
            format!("{before}{}: {}", error.code, error.message),
        ),
    }
}

/// One operator step as the scenarios take it: `advance` (the plan, the real preflight when
/// the plan needs one, the advance with the plan's hash, which the appliance refuses after a
/// failing preflight), `rollback` or `preflight`. A refusal or a failing preflight is an error
/// naming its code.
pub async fn operate(app: &AppApi, action: &str, sdk_url: &str) -> Result<(), StepFailure> {
    let plan = || match app.call(Operation::StagePlan, ACTOR) {
        Ok(Answer::StagePlan(plan)) => Ok(*plan),
        Ok(other) => Err(op_error("stage plan", format!("answered {other:?}"))),
        Err(error) => Err(op_error("stage plan", error)),
    };
    let blocking = |report: &PreflightReport| {
        (!report.passed).then(|| format!("blocking failures: {}", report.blocking().join(", ")))
    };
    match action {
        "preflight" => match blocking(&preflight(app, sdk_url).await?) {
            None => Ok(()),
            Some(failures) => Err(op_error("preflight", failures).into()),
        },
        "advance" => {
            let mut failed_preflight = None;
            if plan()?.advance.needs_preflight {
                failed_preflight = blocking(&preflight(app, sdk_url).await?);
            }
            let before = failed_preflight
                .map(|failures| format!("after a preflight with {failures}: "))
                .unwrap_or_default();
            match advance_reviewed(app)? {
                (_, Ok(_)) => Ok(()),
                (_, Err(error)) => Err(refused("advance", error, &before)),
            }
        }
        "rollback" => match app.call(Operation::Rollback, ACTOR) {
            Ok(_) => Ok(()),
            Err(error) => Err(refused("rollback", error, "")),
        },
        other => Err(op_error(other, "not a stage step").into()),
    }
}

struct Rig<'a> {
    appliance: &'a Appliance,
    twins: &'a Twins,
    clock: SharedClock,
    limit: Duration,
    sdk_url: String,
    shopper: u32,
}

fn op_error(operation: &str, error: impl std::fmt::Display) -> RehearsalError {
    RehearsalError::Operation {
        operation: operation.to_owned(),
        message: error.to_string(),
    }
}

fn twin(error: impl std::fmt::Display) -> RehearsalError {
    RehearsalError::Twin(error.to_string())
}

impl Rig<'_> {
    fn app(&self) -> &AppApi {
        self.appliance.app()
    }

    async fn wait_until(
        &self,
        what: &str,
        condition: impl Fn() -> bool,
    ) -> Result<(), RehearsalError> {
        let started = Instant::now();
        while !condition() {
            if started.elapsed() > self.limit {
                return Err(RehearsalError::Timeout(what.to_owned()));
            }
            self.clock.sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Nothing between BigCommerce and the outbox, nothing in flight, and every open lane
    /// drained (the closed lanes keep their queue).
    fn settled(&self) -> bool {
        let (Ok(status), Ok(stage)) = (self.appliance.status(), self.app().stage()) else {
            return false;
        };
        self.twins.bigcommerce.webhook_backlog() == 0
            && status.starting.is_empty()
            && status.store.inbox_pending == 0
            && status.store.fetch_queue == 0
            && status.in_flight == 0
            && stage
                .lanes_open
                .iter()
                .all(|lane| status.store.outbox_pending.get(lane).copied().unwrap_or(0) == 0)
    }

    async fn settle(&self, what: &str) -> Result<(), RehearsalError> {
        // Settled twice in a row, a moment apart: a webhook may be between twin and receiver.
        for _ in 0..2 {
            self.wait_until(what, || self.settled()).await?;
            self.clock.sleep(Duration::from_secs(2)).await;
        }
        self.wait_until(what, || self.settled()).await
    }

    fn stage(&self) -> Result<Stage, RehearsalError> {
        Ok(self.app().stage().map_err(|e| op_error("stage", e))?.stage)
    }

    fn plan(&self) -> Result<StagePlanAnswer, RehearsalError> {
        match self.app().call(Operation::StagePlan, ACTOR) {
            Ok(Answer::StagePlan(plan)) => Ok(*plan),
            Ok(other) => Err(op_error("stage plan", format!("answered {other:?}"))),
            Err(error) => Err(op_error("stage plan", error)),
        }
    }

    async fn preflight(&self) -> Result<PreflightReport, RehearsalError> {
        preflight(self.app(), &self.sdk_url).await
    }

    fn pending(&self) -> BTreeMap<String, u64> {
        self.appliance
            .status()
            .map(|s| s.store.outbox_pending)
            .unwrap_or_default()
    }

    fn delivered(&self) -> Result<BTreeMap<String, u64>, RehearsalError> {
        let sent = self
            .appliance
            .store()
            .delivered_since(LaneSet::of(&Lane::ALL), None)
            .map_err(|e| op_error("delivered", e))?;
        Ok(Lane::ALL
            .iter()
            .map(|lane| (lane.name().to_owned(), sent.get(lane).copied().unwrap_or(0)))
            .collect())
    }

    fn checks(&self) -> Vec<CheckSeen> {
        let Ok(stage) = self.app().stage() else {
            return Vec::new();
        };
        stage
            .last_evaluation
            .map(|round| {
                round
                    .results
                    .iter()
                    .map(|r| CheckSeen {
                        check: json_name(&r.check),
                        mode: json_name(&r.mode),
                        outcome: json_name(&r.outcome),
                        value: r.value,
                        threshold: r.threshold,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Shows the plan, runs the preflight when it needs one, and advances with the hash of
    /// the plan it was shown.
    async fn advance(&self) -> Result<RehearsalStep, RehearsalError> {
        let from = self.stage()?;
        let mut problems = Vec::new();
        let mut preflight = None;
        if self.plan()?.advance.needs_preflight {
            let report = self.preflight().await?;
            if !report.passed {
                problems.push(format!(
                    "the preflight has blocking failures: {}",
                    report.blocking().join(", ")
                ));
            }
            preflight = Some(PreflightRun {
                passed: report.passed,
                digest: report.digest.clone(),
                blocking: report.blocking(),
            });
        }
        let (hash, answer) = advance_reviewed(self.app())?;
        let to = match answer {
            Ok(Answer::Advanced(advanced)) => advanced.to,
            Ok(other) => return Err(op_error("advance", format!("answered {other:?}"))),
            Err(error) if error.code == Code::Internal => return Err(op_error("advance", error)),
            Err(error) => {
                problems.push(format!("the advance was refused: {}", error.code));
                from
            }
        };
        Ok(RehearsalStep {
            action: "advance".into(),
            from,
            to,
            plan_hash: Some(hash),
            preflight,
            traffic: Vec::new(),
            queued: BTreeMap::new(),
            delivered: BTreeMap::new(),
            already_sent: BTreeMap::new(),
            checks: Vec::new(),
            problems,
        })
    }

    /// A paid guest order by a new shopper; its id.
    fn order(&mut self) -> Result<u64, RehearsalError> {
        self.shopper += 1;
        let bc = &self.twins.bigcommerce;
        let person = bc.add_person(&ShopperSpec {
            email: Some(format!("rehearsal{}@example.com", self.shopper)),
            phone: None,
            first_name: "Rehearsal".into(),
            last_name: format!("Shopper {}", self.shopper),
            country_iso2: "US".into(),
        });
        let order = bc
            .checkout(
                person,
                &CheckoutSpec {
                    as_guest: true,
                    ..CheckoutSpec::default()
                },
            )
            .map_err(twin)?;
        bc.pay(order).map_err(twin)?;
        Ok(order)
    }

    /// A new regular price on the `nth` variant (a variant-only edit).
    fn variant_edit(&self, nth: usize) -> Result<String, RehearsalError> {
        let bc = &self.twins.bigcommerce;
        let ids = bc.variant_ids();
        let Some(&variant) = ids.get(nth % ids.len().max(1)) else {
            return Ok("no variant to edit".into());
        };
        let price = Decimal::new(1_999 + 100 * nth as i64, 2);
        bc.edit_variant(variant, Some(price), None).map_err(twin)?;
        Ok(format!("variant {variant} repriced to {price}"))
    }

    /// Bloomreach's `purchase` events naming `order`.
    fn purchases_of(&self, order: u64) -> usize {
        let truth = self.twins.bloomreach.truth();
        truth
            .profiles
            .iter()
            .flat_map(|p| p.events.iter())
            .filter(|e| {
                e.event_type == "purchase"
                    && e.properties.get("purchase_id") == Some(&serde_json::json!(order))
                    && e.properties.get("purchase_status") != Some(&serde_json::json!("refund"))
            })
            .count()
    }

    /// Fills in what a step saw once its stage settled.
    async fn observe(&self, step: &mut RehearsalStep, what: &str) -> Result<(), RehearsalError> {
        self.settle(what).await?;
        // One round of the stage's checks since it was entered, when it has any.
        self.wait_until("a round of the stage's checks", || {
            self.app().stage().is_ok_and(|stage| {
                stage.checks.is_empty()
                    || stage
                        .last_evaluation
                        .as_ref()
                        .is_some_and(|round| stage.entered_at.is_none_or(|at| round.at >= at))
            })
        })
        .await?;
        step.queued = self.pending();
        step.delivered = self.delivered()?;
        step.checks = self.checks();
        step.problems.extend(
            step.checks
                .iter()
                .filter(|c| c.mode == "enforce" && c.outcome == json_name(&CheckOutcome::Fail))
                .map(|c| {
                    format!(
                        "enforced check {} failed ({} > {})",
                        c.check, c.value, c.threshold
                    )
                }),
        );
        Ok(())
    }

    async fn rehearse(&mut self) -> Result<Vec<RehearsalStep>, RehearsalError> {
        self.wait_until("the appliance to start and its first poll pass", || {
            self.appliance.poll_passes() >= 1 && self.settled()
        })
        .await?;
        let mut steps = Vec::new();

        // connect → preflight → read_only: history and profiles flow, purchases wait.
        let mut step = self.advance().await?;
        self.observe(&mut step, "the preflight stage to settle")
            .await?;
        steps.push(step);
        let mut step = self.advance().await?;
        let waiting = self.order()?;
        step.traffic
            .push(format!("paid order {waiting} (ingest closed: it waits)"));
        self.observe(&mut step, "read_only to settle").await?;
        if self.purchases_of(waiting) != 0 {
            step.problems
                .push(format!("order {waiting} was sent while ingest was closed"));
        }
        if step.queued.get("transactions").copied().unwrap_or(0) == 0 {
            step.problems
                .push("the waiting purchase is not in the transactions queue".into());
        }
        steps.push(step);

        // read_only → ingest: the waiting purchase flows; an order, a refund, a variant edit.
        let mut step = self.advance().await?;
        let entered = self.delivered()?;
        let order = self.order()?;
        step.traffic.push(format!("paid order {order}"));
        self.twins.bigcommerce.refund(waiting, &[]).map_err(twin)?;
        step.traffic.push(format!("full refund of order {waiting}"));
        step.traffic.push(self.variant_edit(0)?);
        self.observe(&mut step, "ingest to settle").await?;
        for id in [waiting, order] {
            let seen = self.purchases_of(id);
            if seen != 1 {
                step.problems
                    .push(format!("order {id}: {seen} purchase events, not 1"));
            }
        }
        steps.push(step);

        // Rollback ingest → read_only: lanes close, the queue stays, what was sent is listed.
        let from = self.stage()?;
        let before_rollback = self.delivered()?;
        let rolled = match self.app().call(Operation::Rollback, ACTOR) {
            Ok(Answer::RolledBack(rolled)) => rolled,
            Ok(other) => return Err(op_error("rollback", format!("answered {other:?}"))),
            Err(error) => return Err(op_error("rollback", error)),
        };
        let mut step = RehearsalStep {
            action: "rollback".into(),
            from,
            to: rolled.to,
            plan_hash: None,
            preflight: None,
            traffic: Vec::new(),
            queued: BTreeMap::new(),
            delivered: BTreeMap::new(),
            already_sent: rolled
                .lanes_closed
                .iter()
                .map(|l: &ClosingLane| (l.lane.clone(), l.already_sent))
                .collect(),
            checks: Vec::new(),
            problems: Vec::new(),
        };
        for lane in &rolled.lanes_closed {
            let sent = before_rollback.get(&lane.lane).copied().unwrap_or(0)
                - entered.get(&lane.lane).copied().unwrap_or(0);
            if lane.already_sent != sent {
                step.problems.push(format!(
                    "lane {}: the rollback listed {} already sent, {} were delivered at ingest",
                    lane.lane, lane.already_sent, sent
                ));
            }
        }
        let kept = self.order()?;
        step.traffic
            .push(format!("paid order {kept} (ingest closed again: it waits)"));
        self.observe(&mut step, "the rolled-back stage to settle")
            .await?;
        let closed: Vec<&ClosingLane> = rolled.lanes_closed.iter().collect();
        for lane in closed {
            let now = step.queued.get(&lane.lane).copied().unwrap_or(0);
            if now < lane.queued_kept {
                step.problems.push(format!(
                    "lane {}: {} queued at the rollback, {now} now",
                    lane.lane, lane.queued_kept
                ));
            }
        }
        if self.purchases_of(kept) != 0 {
            step.problems
                .push(format!("order {kept} was sent after the rollback"));
        }
        if step.queued.get("transactions").copied().unwrap_or(0) == 0 {
            step.problems
                .push("the kept purchase is not in the transactions queue".into());
        }
        steps.push(step);

        // Advance again: the kept purchase flows, once.
        let mut step = self.advance().await?;
        step.traffic
            .push(format!("order {kept}, kept in the queue"));
        self.observe(&mut step, "ingest to settle again").await?;
        if self.purchases_of(kept) != 1 {
            step.problems.push(format!(
                "order {kept}: {} purchase events after the re-advance, not 1",
                self.purchases_of(kept)
            ));
        }
        steps.push(step);

        // ingest → triggers: everything open; more traffic.
        let mut step = self.advance().await?;
        let last = self.order()?;
        step.traffic.push(format!("paid order {last}"));
        step.traffic.push(self.variant_edit(1)?);
        self.observe(&mut step, "triggers to settle").await?;
        self.wait_until("everything to be delivered", || {
            self.appliance.status().is_ok_and(|s| s.idle)
                && self.twins.bigcommerce.webhook_backlog() == 0
        })
        .await?;
        step.queued = self.pending();
        step.delivered = self.delivered()?;
        if step.to != Stage::Triggers {
            step.problems
                .push(format!("the walk ended at {}, not triggers", step.to));
        }
        steps.push(step);
        Ok(steps)
    }
}

/// The JSON name of a unit enum value (`rate_limited`, `enforce`, `pass`).
fn json_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The report as a table for people.
pub fn table(report: &RehearsalReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let lanes = |map: &BTreeMap<String, u64>| {
        map.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(lane, n)| format!("{lane} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, step) in report.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} {} → {}{}",
            i + 1,
            step.action,
            step.from,
            step.to,
            step.plan_hash
                .as_deref()
                .map(|h| format!("  plan {}", &h[..h.len().min(12)]))
                .unwrap_or_default()
        );
        if let Some(preflight) = &step.preflight {
            let _ = writeln!(
                out,
                "   preflight:    {}",
                if preflight.passed {
                    "passed".to_owned()
                } else {
                    format!("FAILED ({})", preflight.blocking.join(", "))
                }
            );
        }
        for traffic in &step.traffic {
            let _ = writeln!(out, "   traffic:      {traffic}");
        }
        let _ = writeln!(out, "   queued:       {}", or_none(lanes(&step.queued)));
        let _ = writeln!(out, "   delivered:    {}", or_none(lanes(&step.delivered)));
        if step.action == "rollback" {
            let _ = writeln!(
                out,
                "   already sent: {} (Bloomreach has no event delete)",
                or_none(lanes(&step.already_sent))
            );
        }
        if !step.checks.is_empty() {
            let checks: Vec<String> = step
                .checks
                .iter()
                .map(|c| format!("{} {} ({})", c.check, c.outcome, c.mode))
                .collect();
            let _ = writeln!(out, "   checks:       {}", checks.join(", "));
        }
        for problem in &step.problems {
            let _ = writeln!(out, "   PROBLEM:      {problem}");
        }
    }
    let _ = writeln!(
        out,
        "verdict: {}",
        if report.passed {
            "nothing lost, nothing doubled".to_owned()
        } else {
            format!("{} problem(s)", report.problems.len())
        }
    );
    for problem in &report.problems {
        let _ = writeln!(out, "  - {problem}");
    }
    out
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "none".into()
    } else {
        text
    }
}

/// How much faster than real time the CLI's clock runs.
pub const CLI_SPEED: f64 = 20.0;
