//! The application API: every operation an operator or a screen can perform, in one typed list
//! ([`Operation`]), answered by typed, serializable structs. The CLI, the local HTTP API and the
//! desktop shell are adapters over [`AppApi::call`] (or the typed method behind each operation);
//! none of them holds domain logic. Errors are [`AppError`]: a stable [`Code`] plus a message.
//!
//! One module per operation family: [`status`], [`dead_letters`], [`set_aside`], [`trace`],
//! [`cutover`] (the staged cutover), [`reconcile`], [`catalog_drift`] (the full catalog
//! comparison); the audit export lives in `crate::audit`.

pub mod audit;
pub mod backfill;
pub mod catalog_drift;
pub mod connection;
pub mod cutover;
pub mod dead_letters;
pub mod error;
pub mod preflight;
pub mod reconcile;
pub mod rehearse;
pub mod runbooks;
pub mod set_aside;
pub mod status;
pub mod trace;

use std::sync::Arc;
use ts_rs::TS;

use bigreach_clock::SharedClock;
use serde::{Deserialize, Serialize};

pub use catalog_drift::CatalogSource;
pub use dead_letters::{CommandState, DeadLetter};
pub use error::{AppError, Code};
pub use preflight::{PreflightRequest, PreflightRunner};
pub use reconcile::{OrderSource, ReconcileRequest};
pub use set_aside::{SetAside, SetAsideState};
pub use status::{LiveFigures, Status};
pub use trace::Trace;

use crate::store::Store;

/// Every operation, as one closed list. Serialized as `{"op": "trace", "query": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// The status document.
    Status,
    /// A person's identity links, commands and withheld items.
    Trace {
        /// An email, a phone in E.164 (`+…`) or a BigCommerce customer id.
        query: String,
    },
    /// Every dead letter.
    DeadLetters,
    /// One dead letter with its frozen payload.
    DeadLetter {
        /// The command id.
        id: u64,
    },
    /// Puts a dead letter back in its lane (audited).
    ReplayDeadLetter {
        /// The command id.
        id: u64,
    },
    /// Gives a dead letter up for good (audited).
    DiscardDeadLetter {
        /// The command id.
        id: u64,
    },
    /// Puts several dead letters back in their lanes at once (audited each); with `preview`,
    /// changes nothing and answers exactly what would go out.
    ReplayDeadLetters {
        /// The command ids.
        ids: Vec<u64>,
        /// Only show what would go out.
        #[serde(default)]
        preview: bool,
    },
    /// Gives several dead letters up for good at once (audited each); with `preview`, changes
    /// nothing.
    DiscardDeadLetters {
        /// The command ids.
        ids: Vec<u64>,
        /// Only show what would be given up.
        #[serde(default)]
        preview: bool,
    },
    /// Every fetch set aside because it failed for good.
    SetAsideFetches,
    /// Puts a set-aside fetch back into the fetch queue (audited).
    ReplaySetAsideFetch {
        /// The fetch key, e.g. `product:77`.
        key: String,
    },
    /// Gives a set-aside fetch up for good (audited).
    DiscardSetAsideFetch {
        /// The fetch key, e.g. `product:77`.
        key: String,
    },
    /// Compares BigCommerce's paid orders with what Bloomreach acknowledged, per day and
    /// currency; with `repair`, sends what is missing (audited).
    Reconcile(ReconcileRequest),
    /// Compares BigCommerce's variants with the Bloomreach catalog; with `repair`, enqueues the
    /// writes that undo the drift (audited).
    CatalogDrift {
        /// Enqueue the repair.
        #[serde(default)]
        repair: bool,
    },
    /// The last catalog comparison's report.
    LastCatalogDrift,
    /// The cutover stage: where it is, what flows, the hold, the last transitions.
    Stage,
    /// What advancing to the next stage would do, with the plan hash `advance` takes, and what
    /// a rollback would do.
    StagePlan,
    /// Advances to the next stage, applying exactly the reviewed plan (audited).
    Advance {
        /// The hash of the reviewed plan (`stage_plan`).
        plan_hash: String,
    },
    /// Goes back to the previous stage; queued data stays (audited).
    Rollback,
    /// Clears a hold a check set, so the stage may advance again (audited).
    Acknowledge,
    /// Runs the go-live preflight: BigCommerce, Bloomreach and the storefront (audited as
    /// `preflight.run`). `{"op": "preflight"}`, optionally with `storefront` and `sdk_url`.
    Preflight(PreflightRequest),
    /// Where the history backfill stands: phase, done / total, rate, time left, files.
    BackfillStatus,
    /// What a history backfill would cost before it starts: BigCommerce's counts and quota
    /// read now, the API calls, the time at BigReach's share of the quota, and the files.
    BackfillPlan {
        /// Only orders created on or after this day (UTC), if given.
        #[serde(default)]
        since: Option<chrono::NaiveDate>,
    },
    /// Starts (or resumes) the history backfill in the running appliance, in the background:
    /// lists, writes the import files and imports them (`bigreach backfill run`); answers the
    /// status at the start, and `backfill_status` follows it (audited as `backfill.started`).
    /// Needs `[history] mode = "imports"` and the `read_only` stage or later.
    BackfillStart {
        /// Only orders created on or after this day (UTC), if given. A resumed backfill keeps
        /// the day it started with.
        #[serde(default)]
        since: Option<chrono::NaiveDate>,
    },
    /// Writes an offline audit bundle into `<data_dir>/exports/` (audited as `audit.exported`).
    AuditExport {
        /// First day the summaries cover (UTC), if any.
        #[serde(default)]
        from: Option<chrono::NaiveDate>,
        /// Last day the summaries cover (inclusive), if any.
        #[serde(default)]
        to: Option<chrono::NaiveDate>,
    },
    /// The bundles in `<data_dir>/exports/`, newest first.
    AuditExports,
    /// Verifies an exported bundle as `bigreach verify` does.
    AuditVerify {
        /// Its file name, as `audit_exports` lists it.
        file_name: String,
    },
    /// What the appliance is connected to (secrets by reference only).
    Connection,
    /// The first-run form: writes `bigreach.toml` and stores the secrets (audited).
    Connect(connection::ConnectRequest),
    /// Runs a rehearsal against the twins and answers its verdict (audited).
    Rehearse {
        /// What to rehearse.
        kind: rehearse::RehearsalKind,
    },
    /// The runbooks (`data/runbooks/*.md`), rendered.
    Runbooks,
    /// Each error class a screen shows to the runbook section that explains it.
    ErrorRunbooks,
}

impl Operation {
    /// Whether the operation changes state (transports may ask for confirmation or a POST).
    pub fn changes_state(&self) -> bool {
        match self {
            Operation::Status
            | Operation::Trace { .. }
            | Operation::DeadLetters
            | Operation::DeadLetter { .. }
            | Operation::SetAsideFetches
            | Operation::LastCatalogDrift
            | Operation::Stage
            | Operation::StagePlan
            | Operation::BackfillStatus
            | Operation::BackfillPlan { .. }
            | Operation::AuditExports
            | Operation::AuditVerify { .. }
            | Operation::Connection
            | Operation::Runbooks
            | Operation::ErrorRunbooks => false,
            // Against the twins only: nothing of the real store or project changes.
            Operation::Rehearse { .. } => false,
            Operation::Connect(_) => true,
            Operation::BackfillStart { .. } => true,
            // It writes a file and an audit entry, nothing the sync depends on.
            Operation::AuditExport { .. } => true,
            Operation::Reconcile(request) => request.repair,
            Operation::ReplayDeadLetters { preview, .. }
            | Operation::DiscardDeadLetters { preview, .. } => !preview,
            Operation::CatalogDrift { repair } => *repair,
            // It only reads (its audit entry records the run, as a reconciliation's does).
            Operation::Preflight(_) => false,
            Operation::ReplayDeadLetter { .. }
            | Operation::DiscardDeadLetter { .. }
            | Operation::ReplaySetAsideFetch { .. }
            | Operation::DiscardSetAsideFetch { .. }
            | Operation::Advance { .. }
            | Operation::Rollback
            | Operation::Acknowledge => true,
        }
    }
}

impl Operation {
    /// The TypeScript type of this operation's answer, as the UI's generated client names it
    /// (`ui/src/generated/operations.ts`): one exhaustive match, so a new operation cannot be
    /// left out of the client.
    pub fn answer_type(&self) -> &'static str {
        match self {
            Operation::Status => "Status",
            Operation::Trace { .. } => "Trace",
            Operation::DeadLetters => "Array<DeadLetter>",
            Operation::DeadLetter { .. }
            | Operation::ReplayDeadLetter { .. }
            | Operation::DiscardDeadLetter { .. } => "DeadLetter",
            Operation::ReplayDeadLetters { .. } | Operation::DiscardDeadLetters { .. } => {
                "DeadLetterBatch"
            }
            Operation::SetAsideFetches => "Array<SetAside>",
            Operation::ReplaySetAsideFetch { .. } | Operation::DiscardSetAsideFetch { .. } => {
                "SetAside"
            }
            Operation::Reconcile(_) => "Reconciliation",
            Operation::CatalogDrift { .. } | Operation::LastCatalogDrift => "DriftReport",
            Operation::Stage => "StageStatus",
            Operation::StagePlan => "StagePlanAnswer",
            Operation::Advance { .. } => "Advanced",
            Operation::Rollback => "RolledBack",
            Operation::Acknowledge => "Acknowledged",
            Operation::Preflight(_) => "PreflightReport",
            Operation::BackfillStatus | Operation::BackfillStart { .. } => "BackfillStatus",
            Operation::BackfillPlan { .. } => "BackfillPlan",
            Operation::AuditExport { .. } => "AuditExported",
            Operation::AuditExports => "Array<AuditExportFile>",
            Operation::AuditVerify { .. } => "AuditVerified",
            Operation::Connection => "ConnectionInfo",
            Operation::Connect(_) => "Connected",
            Operation::Rehearse { .. } => "RehearsalReport",
            Operation::Runbooks => "Array<Runbook>",
            Operation::ErrorRunbooks => "ErrorRunbooks",
        }
    }

    /// One operation of every kind (with sample fields): what the type generator and the
    /// round-trip tests walk.
    pub fn samples() -> Vec<Operation> {
        vec![
            Operation::Status,
            Operation::Trace {
                query: "jane@shop.com".into(),
            },
            Operation::DeadLetters,
            Operation::DeadLetter { id: 3 },
            Operation::ReplayDeadLetter { id: 3 },
            Operation::DiscardDeadLetter { id: 3 },
            Operation::ReplayDeadLetters {
                ids: vec![3, 4],
                preview: true,
            },
            Operation::DiscardDeadLetters {
                ids: vec![3],
                preview: false,
            },
            Operation::SetAsideFetches,
            Operation::ReplaySetAsideFetch {
                key: "product:77".into(),
            },
            Operation::DiscardSetAsideFetch {
                key: "cart:not-a-uuid".into(),
            },
            Operation::Reconcile(ReconcileRequest {
                from: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("a valid date"),
                to: chrono::NaiveDate::from_ymd_opt(2026, 3, 7).expect("a valid date"),
                repair: true,
            }),
            Operation::CatalogDrift { repair: false },
            Operation::LastCatalogDrift,
            Operation::Stage,
            Operation::StagePlan,
            Operation::Advance {
                plan_hash: "9f2c".into(),
            },
            Operation::Rollback,
            Operation::Acknowledge,
            Operation::Preflight(PreflightRequest::default()),
            Operation::BackfillStatus,
            Operation::BackfillPlan {
                since: chrono::NaiveDate::from_ymd_opt(2025, 1, 1),
            },
            Operation::BackfillStart { since: None },
            Operation::AuditExport {
                from: None,
                to: chrono::NaiveDate::from_ymd_opt(2026, 3, 7),
            },
            Operation::AuditExports,
            Operation::AuditVerify {
                file_name: "bigreach-audit-20260307T120000Z.zip".into(),
            },
            Operation::Connection,
            Operation::Connect(connection::ConnectRequest {
                store_hash: "abc123".into(),
                access_token: "token".into(),
                bloomreach_base_url: "https://api.exponea.com/".into(),
                project_token: "project".into(),
                key_id: "key".into(),
                api_secret: "secret".into(),
                webhook_public_url: "https://hooks.example.com/webhooks".into(),
                webhook_secret: None,
                data_dir: None,
            }),
            Operation::Rehearse {
                kind: rehearse::RehearsalKind::Cutover,
            },
            Operation::Runbooks,
            Operation::ErrorRunbooks,
        ]
    }
}

/// The answer to an [`Operation`]; serialized as the bare answer struct.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(untagged)]
pub enum Answer {
    /// To [`Operation::Status`].
    Status(Box<Status>),
    /// To [`Operation::Trace`].
    Trace(Trace),
    /// To [`Operation::DeadLetters`].
    DeadLetters(Vec<DeadLetter>),
    /// To the single dead-letter operations.
    DeadLetter(DeadLetter),
    /// To the bulk dead-letter operations.
    DeadLetterBatch(dead_letters::DeadLetterBatch),
    /// To [`Operation::SetAsideFetches`].
    SetAsideFetches(Vec<SetAside>),
    /// To the single set-aside operations.
    SetAside(SetAside),
    /// To [`Operation::Reconcile`].
    Reconciliation(Box<crate::reconcile::Reconciliation>),
    /// To [`Operation::CatalogDrift`] and [`Operation::LastCatalogDrift`].
    CatalogDrift(Box<crate::map::catalog::drift::DriftReport>),
    /// To [`Operation::Stage`].
    Stage(Box<cutover::StageStatus>),
    /// To [`Operation::StagePlan`].
    StagePlan(Box<cutover::StagePlanAnswer>),
    /// To [`Operation::Advance`].
    Advanced(cutover::Advanced),
    /// To [`Operation::Rollback`].
    RolledBack(cutover::RolledBack),
    /// To [`Operation::Acknowledge`].
    Acknowledged(cutover::Acknowledged),
    /// To [`Operation::Preflight`].
    Preflight(crate::preflight::PreflightReport),
    /// To [`Operation::BackfillStatus`].
    BackfillStatus(Box<backfill::BackfillStatus>),
    /// To [`Operation::BackfillPlan`].
    BackfillPlan(Box<crate::backfill::plan::BackfillPlan>),
    /// To [`Operation::AuditExport`].
    AuditExported(Box<audit::AuditExported>),
    /// To [`Operation::AuditExports`].
    AuditExports(Vec<audit::AuditExportFile>),
    /// To [`Operation::AuditVerify`].
    AuditVerified(audit::AuditVerified),
    /// To [`Operation::Connection`].
    Connection(Box<connection::ConnectionInfo>),
    /// To [`Operation::Connect`].
    Connected(Box<connection::Connected>),
    /// To [`Operation::Rehearse`].
    Rehearsal(rehearse::RehearsalReport),
    /// To [`Operation::Runbooks`].
    Runbooks(Vec<runbooks::Runbook>),
    /// To [`Operation::ErrorRunbooks`].
    ErrorRunbooks(runbooks::ErrorRunbooks),
}

/// What only the running appliance can supply: live figures, and a wake-up for delivery after
/// an operator put commands back in the outbox.
#[derive(Clone)]
struct Running {
    live: Arc<dyn LiveFigures>,
    alert_latency_ms: i64,
    outbox_changed: Arc<dyn Fn() + Send + Sync>,
}

/// The application API over the store.
#[derive(Clone)]
pub struct AppApi {
    store: Store,
    clock: SharedClock,
    running: Option<Running>,
    reconciling: Option<Arc<dyn OrderSource>>,
    catalog: Option<Arc<dyn CatalogSource>>,
    cutover: cutover::CutoverContext,
    preflight: Option<Arc<dyn PreflightRunner>>,
    backfill_planner: Option<Arc<dyn backfill::BackfillPlanner>>,
    backfill_runner: Option<Arc<dyn backfill::BackfillRunner>>,
    audit: Option<Arc<audit::AuditContext>>,
    connection: Option<Arc<connection::ConnectionContext>>,
    rehearser: Option<Arc<dyn rehearse::Rehearser>>,
}

impl AppApi {
    /// An API over `store`, reading time from `clock`, with no appliance running (status answers
    /// [`Code::NotRunning`]).
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            running: None,
            reconciling: None,
            catalog: None,
            cutover: cutover::CutoverContext::default(),
            preflight: None,
            backfill_planner: None,
            backfill_runner: None,
            audit: None,
            connection: None,
            rehearser: None,
        }
    }

    /// An API for the running appliance: `live` supplies its figures, a purchase or profile
    /// update older than `alert_latency_ms` raises an alert, and `outbox_changed` wakes delivery.
    pub fn running(
        store: Store,
        clock: SharedClock,
        live: Arc<dyn LiveFigures>,
        alert_latency_ms: i64,
        outbox_changed: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            store,
            clock,
            running: Some(Running {
                live,
                alert_latency_ms,
                outbox_changed,
            }),
            reconciling: None,
            catalog: None,
            cutover: cutover::CutoverContext::default(),
            preflight: None,
            backfill_planner: None,
            backfill_runner: None,
            audit: None,
            connection: None,
            rehearser: None,
        }
    }

    /// The same API, able to reconcile against BigCommerce through `source`.
    pub fn with_order_source(mut self, source: Arc<dyn OrderSource>) -> Self {
        self.reconciling = Some(source);
        self
    }

    /// The same API, able to compare the catalogs through `source`.
    pub fn with_catalog_source(mut self, source: Arc<dyn CatalogSource>) -> Self {
        self.catalog = Some(source);
        self
    }

    /// Performs one operation on behalf of `actor` (named in the audit log).
    pub fn call(&self, operation: Operation, actor: &str) -> Result<Answer, AppError> {
        Ok(match operation {
            Operation::Status => Answer::Status(Box::new(self.status()?)),
            Operation::Trace { query } => Answer::Trace(self.trace(&query)?),
            Operation::DeadLetters => Answer::DeadLetters(self.dead_letters()?),
            Operation::DeadLetter { id } => Answer::DeadLetter(self.dead_letter(id)?),
            Operation::ReplayDeadLetter { id } => {
                Answer::DeadLetter(self.replay_dead_letter(id, actor)?)
            }
            Operation::DiscardDeadLetter { id } => {
                Answer::DeadLetter(self.discard_dead_letter(id, actor)?)
            }
            Operation::ReplayDeadLetters { ids, preview } => {
                Answer::DeadLetterBatch(self.replay_dead_letters(&ids, preview, actor)?)
            }
            Operation::DiscardDeadLetters { ids, preview } => {
                Answer::DeadLetterBatch(self.discard_dead_letters(&ids, preview, actor)?)
            }
            Operation::SetAsideFetches => Answer::SetAsideFetches(self.set_aside_fetches()?),
            Operation::ReplaySetAsideFetch { key } => {
                Answer::SetAside(self.replay_set_aside_fetch(&key, actor)?)
            }
            Operation::DiscardSetAsideFetch { key } => {
                Answer::SetAside(self.discard_set_aside_fetch(&key, actor)?)
            }
            Operation::Reconcile(request) => {
                Answer::Reconciliation(Box::new(self.reconcile(request, actor)?))
            }
            Operation::CatalogDrift { repair } => {
                Answer::CatalogDrift(Box::new(self.catalog_drift(repair, actor)?))
            }
            Operation::LastCatalogDrift => {
                Answer::CatalogDrift(Box::new(self.last_catalog_drift()?))
            }
            Operation::Stage => Answer::Stage(Box::new(self.stage()?)),
            Operation::StagePlan => Answer::StagePlan(Box::new(self.stage_plan()?)),
            Operation::Advance { plan_hash } => Answer::Advanced(self.advance(&plan_hash, actor)?),
            Operation::Rollback => Answer::RolledBack(self.rollback(actor)?),
            Operation::Acknowledge => Answer::Acknowledged(self.acknowledge(actor)?),
            Operation::Preflight(request) => Answer::Preflight(self.preflight(&request, actor)?),
            Operation::BackfillStatus => Answer::BackfillStatus(Box::new(self.backfill_status()?)),
            Operation::BackfillPlan { since } => {
                Answer::BackfillPlan(Box::new(self.backfill_plan(since)?))
            }
            Operation::BackfillStart { since } => {
                Answer::BackfillStatus(Box::new(self.backfill_start(since, actor)?))
            }
            Operation::AuditExport { from, to } => {
                Answer::AuditExported(Box::new(self.audit_export(from, to, actor)?))
            }
            Operation::AuditExports => Answer::AuditExports(self.audit_exports()?),
            Operation::AuditVerify { file_name } => {
                Answer::AuditVerified(self.audit_verify(&file_name)?)
            }
            Operation::Connection => Answer::Connection(Box::new(self.connection()?)),
            Operation::Connect(request) => {
                Answer::Connected(Box::new(self.connect(&request, actor)?))
            }
            Operation::Rehearse { kind } => Answer::Rehearsal(self.rehearse(kind, actor)?),
            Operation::Runbooks => Answer::Runbooks(runbooks::runbooks()),
            Operation::ErrorRunbooks => Answer::ErrorRunbooks(runbooks::error_runbooks()),
        })
    }

    /// The status document of the running appliance.
    pub fn status(&self) -> Result<Status, AppError> {
        let running = self.running.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the appliance is not running in this process; start `bigreach serve` and ask it",
            )
        })?;
        let counts = self.store.counts()?;
        Ok(status::assemble(
            counts,
            running.live.live(),
            self.clock.now_ms(),
            running.alert_latency_ms,
        ))
    }

    fn outbox_changed(&self) {
        if let Some(running) = &self.running {
            (running.outbox_changed)();
        }
    }
}

#[cfg(test)]
mod tests;
