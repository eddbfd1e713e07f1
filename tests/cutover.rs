//! The staged cutover against both twins on a manual clock: a walk from connect to triggers
//! where live purchases wait while ingest is closed and flow after the advance (nothing lost or
//! doubled); a rollback that keeps the queue and lists what was sent; a stale preflight and a
//! plan the store moved past, refused; and a 429 storm at ingest that trips the enforced check
//! and falls back to read-only, saying which check, the value, the threshold and the window.
//!
//! The preflight module is not part of this branch: each test writes the `preflight.run` audit
//! entry the preflight run writes (the shared contract), as a passing run would.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_core::app::cutover::{Advanced, StagePlanAnswer};
use bigreach_core::app::{Answer, Code, Operation};
use bigreach_core::config::Config;
use bigreach_core::cutover::{LaneChange, Stage, TransitionKind, PREFLIGHT_AUDIT_ACTION};
use bigreach_harness::twins::Twins;
use bigreach_runtime::Appliance;
use chrono::Utc;
use common::manual_clock::{
    advance_by, advance_until, drive, paid_guest_order, post_webhook, small_plan, start_appliance,
    webhook,
};

const STEP: Duration = Duration::from_millis(100);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
const ACTOR: &str = "test operator";

struct Rig {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    twins: Twins,
    appliance: Appliance,
    webhooks: String,
}

/// Both twins and an appliance that starts at `connect` (hooks not managed: the test posts
/// the webhooks; the poller passes once at start), after its first poll pass is stored.
async fn rig(configure: impl FnOnce(&mut Config)) -> Rig {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    config.cutover.start_stage = Stage::Connect;
    configure(&mut config);
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(&clock, STEP, "the first poll pass, stored", || {
        let status = appliance.status().unwrap();
        appliance.poll_passes() >= 1
            && status.starting.is_empty()
            && status.store.inbox_pending == 0
            && status.store.fetch_queue == 0
    })
    .await;
    let webhooks = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    Rig {
        _dir: dir,
        clock,
        twins,
        appliance,
        webhooks,
    }
}

impl Rig {
    fn stage(&self) -> Stage {
        self.appliance.app().stage().unwrap().stage
    }

    fn pending(&self, lane: &str) -> u64 {
        self.appliance.status().unwrap().store.outbox_pending[lane]
    }

    /// Writes a `preflight.run` audit entry as the preflight run does (the shared contract).
    fn preflight_passed(&self) {
        self.appliance
            .store()
            .audit(
                self.clock.now_ms(),
                "operator",
                PREFLIGHT_AUDIT_ACTION,
                &serde_json::json!({
                    "passed": true,
                    "digest": format!("{:064x}", self.clock.now_ms()),
                    "blocking": [],
                }),
            )
            .unwrap();
    }

    fn plan(&self) -> StagePlanAnswer {
        match self
            .appliance
            .app()
            .call(Operation::StagePlan, ACTOR)
            .unwrap()
        {
            Answer::StagePlan(plan) => *plan,
            other => panic!("not a plan: {other:?}"),
        }
    }

    fn advance_with(&self, plan_hash: &str) -> Result<Advanced, Code> {
        match self.appliance.app().call(
            Operation::Advance {
                plan_hash: plan_hash.to_owned(),
            },
            ACTOR,
        ) {
            Ok(Answer::Advanced(advanced)) => Ok(advanced),
            Ok(other) => panic!("not an advance: {other:?}"),
            Err(error) => Err(error.code),
        }
    }

    /// Reviews the plan and advances with its hash.
    fn advance(&self) -> Advanced {
        let plan = self.plan();
        self.advance_with(&plan.advance.plan_hash)
            .unwrap_or_else(|code| panic!("advance from {} refused: {code}", plan.advance.from))
    }

    /// Waits until the lanes the stage opens are drained and nothing is in flight.
    async fn settle(&self, what: &str) {
        advance_until(&self.clock, STEP, what, || {
            let status = self.appliance.status().unwrap();
            let open = self.appliance.app().stage().unwrap().lanes_open;
            status.store.inbox_pending == 0
                && status.store.fetch_queue == 0
                && status.in_flight == 0
                && open
                    .iter()
                    .all(|lane| status.store.outbox_pending[lane] == 0)
        })
        .await;
    }

    /// A paid guest order BigCommerce notifies with a webhook; returns once its purchase is
    /// queued.
    async fn live_order(&self, email: &str) -> u64 {
        let order = paid_guest_order(&self.twins.bigcommerce, email, None);
        let before = self.appliance.status().unwrap().store.enqueued;
        let answer = post_webhook(
            &self.clock,
            &self.webhooks,
            webhook(
                "store/order/statusUpdated",
                serde_json::json!({"type": "order", "id": order,
                    "status": {"previous_status_id": 0, "new_status_id": 11}}),
                &format!("cutover-order-{order}"),
            ),
        )
        .await;
        assert_eq!(answer, 200);
        advance_until(&self.clock, STEP, "the live order to be queued", || {
            let status = self.appliance.status().unwrap();
            status.store.fetch_queue == 0
                && status.store.inbox_pending == 0
                && status.store.enqueued > before
        })
        .await;
        order
    }

    /// Bloomreach's `purchase` events for `order`, and every event that names it.
    fn in_bloomreach(&self, order: u64) -> (usize, usize) {
        let truth = self.twins.bloomreach.truth();
        let events = truth.profiles.iter().flat_map(|p| p.events.iter());
        let naming: Vec<_> = events
            .filter(|e| e.properties.get("purchase_id") == Some(&serde_json::json!(order)))
            .collect();
        (
            naming.iter().filter(|e| e.event_type == "purchase").count(),
            naming.len(),
        )
    }

    fn cutover_audit(&self) -> Vec<(String, String, serde_json::Value)> {
        self.appliance
            .store()
            .audit_log()
            .unwrap()
            .into_iter()
            .filter(|r| r.action.starts_with("cutover."))
            .map(|r| (r.actor, r.action, serde_json::from_str(&r.detail).unwrap()))
            .collect()
    }

    /// A config file for the CLI: the `init` template, pointed at this data directory and API.
    fn cli_config(&self) -> String {
        let status = self.appliance.status().unwrap();
        let text = Config::default_toml()
            .replace(
                "data_dir = \"./bigreach-data\"",
                &format!("data_dir = {:?}", self._dir.path().display().to_string()),
            )
            .replace(
                "listen = \"127.0.0.1:8788\"",
                &format!("listen = \"{}\"", status.api_address),
            );
        let path = self._dir.path().join("cli.toml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Runs `bigreach ARGS --config CONFIG` while the clock moves.
    async fn cli(&self, config: &str, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bigreach"));
        command.args(args).args(["--config", config]);
        drive(
            &self.clock,
            tokio::task::spawn_blocking(move || command.output().unwrap()),
        )
        .await
        .unwrap()
    }

    async fn shutdown(self) {
        drive(&self.clock, self.appliance.shutdown()).await;
        self.twins.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_from_connect_to_triggers_holds_purchases_until_ingest_and_loses_nothing() {
    // The walk takes a few virtual minutes; one preflight covers it.
    let rig = rig(|config| config.cutover.preflight_max_age_secs = 3600).await;
    // Connect: the first sync is queued, nothing is sent.
    let stage = rig.appliance.app().stage().unwrap();
    assert_eq!((stage.stage, stage.recorded), (Stage::Connect, false));
    advance_by(&rig.clock, Duration::from_secs(30), STEP).await;
    let status = rig.appliance.status().unwrap();
    assert_eq!(status.store.delivered, 0, "nothing flows at connect");
    assert_eq!(
        status.metrics.batches_sent + status.metrics.catalog_requests,
        0
    );
    let queued: u64 = status.store.outbox_pending.values().sum();
    assert!(queued > 0, "the first sync waits in the outbox");

    // Connect → preflight opens nothing and needs no preflight; preflight → read-only does.
    assert_eq!(rig.advance().to, Stage::Preflight);
    let plan = rig.plan();
    assert!(plan.advance.needs_preflight);
    assert_eq!(
        rig.advance_with(&plan.advance.plan_hash),
        Err(Code::PreflightMissing)
    );
    rig.preflight_passed();
    let plan = rig.plan();
    let opening: Vec<&str> = plan
        .advance
        .lanes
        .iter()
        .filter(|l| l.change == LaneChange::Opens)
        .map(|l| l.lane.as_str())
        .collect();
    assert_eq!(opening, ["customers", "catalog", "backfill"]);
    assert_eq!(plan.advance.ceiling_percent_to, 50);
    assert!(plan.advance.cost.bloomreach_requests > 0);
    let advanced = rig.advance_with(&plan.advance.plan_hash).unwrap();
    assert_eq!(advanced.to, Stage::ReadOnly);
    rig.settle("the read-only lanes to drain").await;
    let rate = rig
        .appliance
        .status()
        .unwrap()
        .bloomreach_requests_per_second;
    assert!(
        (1..=45).contains(&rate),
        "read-only runs at most at half the configured rate: {rate}"
    );

    // A live purchase waits while ingest is closed; its profile goes ahead.
    let order = rig.live_order("walk.shopper@example.com").await;
    advance_by(&rig.clock, Duration::from_secs(60), STEP).await;
    assert!(rig.pending("transactions") >= 1);
    assert_eq!(
        rig.in_bloomreach(order),
        (0, 0),
        "no purchase before ingest"
    );

    let plan = rig.plan();
    let transactions = plan
        .advance
        .lanes
        .iter()
        .find(|l| l.lane == "transactions")
        .unwrap();
    assert_eq!(transactions.change, LaneChange::Opens);
    assert_eq!(transactions.queued, rig.pending("transactions"));
    assert!(transactions.oldest_age_ms.unwrap() >= 60_000);
    assert_eq!(
        rig.advance_with(&plan.advance.plan_hash).unwrap().to,
        Stage::Ingest
    );
    rig.settle("the ingest lanes to drain").await;
    let (purchases, events) = rig.in_bloomreach(order);
    assert_eq!(purchases, 1, "exactly one purchase after the advance");
    assert!(events > 1, "its lines too");

    assert_eq!(rig.advance().to, Stage::Triggers);
    assert_eq!(rig.advance_with("anything"), Err(Code::AtLastStage));
    rig.settle("everything to drain").await;
    assert!(rig.appliance.status().unwrap().idle);
    assert_eq!(rig.in_bloomreach(order).0, 1);

    let audit = rig.cutover_audit();
    assert_eq!(audit.len(), 4, "{audit:?}");
    assert!(audit
        .iter()
        .all(|(actor, action, _)| actor == ACTOR && action == "cutover.advance"));
    assert_eq!(
        audit[2].2["lanes_opened"],
        serde_json::json!(["transactions", "carts"])
    );
    let stage = rig.appliance.app().stage().unwrap();
    assert!(stage.recorded);
    assert_eq!(stage.last_transitions.len(), 4);
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_keeps_the_queue_lists_what_was_sent_and_a_re_advance_delivers_it() {
    let rig = rig(|config| config.cutover.preflight_max_age_secs = 3600).await;
    rig.advance();
    rig.preflight_passed();
    rig.advance();
    rig.settle("the read-only lanes to drain").await;
    assert_eq!(rig.advance().to, Stage::Ingest);
    let first = rig.live_order("first.shopper@example.com").await;
    rig.settle("the first order to be delivered").await;
    let (purchases, sent_events) = rig.in_bloomreach(first);
    assert_eq!(purchases, 1);

    // The preview and the rollback say what the closing lanes already sent.
    let preview = rig.plan().rollback.unwrap();
    assert_eq!((preview.from, preview.to), (Stage::Ingest, Stage::ReadOnly));
    let rolled = match rig
        .appliance
        .app()
        .call(Operation::Rollback, ACTOR)
        .unwrap()
    {
        Answer::RolledBack(rolled) => rolled,
        other => panic!("not a rollback: {other:?}"),
    };
    assert_eq!((rolled.from, rolled.to), (Stage::Ingest, Stage::ReadOnly));
    assert_eq!(rolled.lanes_closed, preview.lanes_closing);
    let transactions = rolled
        .lanes_closed
        .iter()
        .find(|l| l.lane == "transactions")
        .unwrap();
    assert_eq!(
        transactions.already_sent, sent_events as u64,
        "the purchase and its lines are in Bloomreach for good"
    );
    assert!(rolled.cannot_undo.contains("no event delete"));

    // Closed again: a new purchase waits, kept in the queue.
    let second = rig.live_order("second.shopper@example.com").await;
    advance_by(&rig.clock, Duration::from_secs(60), STEP).await;
    assert_eq!(rig.in_bloomreach(second), (0, 0));
    let kept = rig.pending("transactions");
    assert!(kept >= 1);

    // Re-advance: it flows, and nothing was lost or doubled.
    let plan = rig.plan();
    let lane = plan
        .advance
        .lanes
        .iter()
        .find(|l| l.lane == "transactions")
        .unwrap();
    assert_eq!(lane.queued, kept);
    rig.advance_with(&plan.advance.plan_hash).unwrap();
    rig.settle("the kept purchase to be delivered").await;
    assert_eq!(rig.in_bloomreach(first).0, 1);
    assert_eq!(rig.in_bloomreach(second).0, 1);

    let audit = rig.cutover_audit();
    let (actor, action, detail) = &audit[3];
    assert_eq!(
        (actor.as_str(), action.as_str()),
        (ACTOR, "cutover.rollback")
    );
    assert_eq!(detail["already_sent"]["transactions"], sent_events as u64);
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_preflight_and_a_plan_the_store_moved_past_are_refused() {
    let rig = rig(|_| {}).await;
    rig.advance();
    rig.preflight_passed();
    // Sixteen minutes later the preflight is stale (the limit is 15).
    advance_by(
        &rig.clock,
        Duration::from_secs(16 * 60),
        Duration::from_secs(2),
    )
    .await;
    let plan = rig.plan();
    assert_eq!(
        rig.advance_with(&plan.advance.plan_hash),
        Err(Code::PreflightStale)
    );
    assert_eq!(rig.stage(), Stage::Preflight);
    rig.preflight_passed();
    // The new preflight moved the plan too.
    assert_eq!(
        rig.advance_with(&plan.advance.plan_hash),
        Err(Code::PlanMoved)
    );
    rig.advance();
    rig.settle("the read-only lanes to drain").await;

    // A plan reviewed before a new order arrives no longer applies.
    let reviewed = rig.plan().advance.plan_hash;
    let order = rig.live_order("late.shopper@example.com").await;
    assert_eq!(rig.advance_with(&reviewed), Err(Code::PlanMoved));
    assert_eq!(rig.stage(), Stage::ReadOnly);

    // Through the local API too (as the CLI calls it): 409 with the code.
    let status = rig.appliance.status().unwrap();
    let answer = drive(
        &rig.clock,
        reqwest::Client::new()
            .post(format!("http://{}/api/call", status.api_address))
            .bearer_auth(rig.appliance.api_token())
            .json(&serde_json::json!({"op": "advance", "plan_hash": reviewed}))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 409);
    let body: serde_json::Value = drive(&rig.clock, answer.json()).await.unwrap();
    assert_eq!(body["code"], "plan_moved");

    // And through `bigreach stage`, as an operator types it.
    let config = rig.cli_config();
    let out = rig
        .cli(&config, &["stage", "advance", "--plan-hash", &reviewed])
        .await;
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    assert!(text(&out.stderr).contains("plan_moved"), "{out:?}");
    let current = rig.plan().advance.plan_hash;
    let out = rig.cli(&config, &["stage", "advance"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let shown = text(&out.stdout);
    assert!(
        shown.contains(&format!("--plan-hash {current}")) && shown.contains("OPENS"),
        "{shown}"
    );
    assert_eq!(rig.stage(), Stage::ReadOnly, "a plan alone changes nothing");
    let out = rig.cli(&config, &["stage", "status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["stage"], "read_only");
    let out = rig
        .cli(&config, &["stage", "advance", "--plan-hash", &current])
        .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stdout).contains("advanced read_only → ingest"),
        "{out:?}"
    );
    rig.settle("the new order to be delivered").await;
    assert_eq!(rig.in_bloomreach(order).0, 1);
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_at_ingest_trips_the_enforced_check_and_falls_back_to_read_only() {
    // A faulty network in front of Bloomreach answers every batch 429 while the storm lasts.
    let storm = Arc::new(AtomicBool::new(false));
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    config.cutover.start_stage = Stage::Connect;
    config.cutover.window_secs = 120;
    config.cutover.check_every_secs = 5;
    config.cutover.checks.min_sample = 4;
    let raining = storm.clone();
    config.bloomreach.base_url = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(move |path: &str, _: &[u8]| {
            if raining.load(Ordering::SeqCst) && path.ends_with("/batch") {
                return common::Verdict::Answer(
                    429,
                    r#"{"success": false, "errors": ["Too many requests"]}"#.into(),
                );
            }
            common::Verdict::Forward
        }),
        Arc::new(|_: &str, _: &[u8], _: u16, _: &[u8]| None),
    )
    .await;
    let appliance = start_appliance(&clock, &config, &Twins::secrets(), listeners).await;
    advance_until(&clock, STEP, "the first poll pass, stored", || {
        let status = appliance.status().unwrap();
        appliance.poll_passes() >= 1 && status.starting.is_empty() && status.store.fetch_queue == 0
    })
    .await;
    let webhooks = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    let rig = Rig {
        _dir: dir,
        clock,
        twins,
        appliance,
        webhooks,
    };
    rig.advance();
    rig.preflight_passed();
    rig.advance();
    rig.settle("the read-only lanes to drain").await;
    assert_eq!(rig.advance().to, Stage::Ingest);
    rig.settle("ingest to settle").await;
    // The stage shows the checks' last round: every check of ingest, with its value.
    advance_until(&rig.clock, STEP, "a round of the checks at ingest", || {
        rig.appliance
            .app()
            .stage()
            .unwrap()
            .last_evaluation
            .is_some()
    })
    .await;
    let round = rig
        .appliance
        .app()
        .stage()
        .unwrap()
        .last_evaluation
        .unwrap();
    assert_eq!(round.results.len(), 4);
    assert_eq!(round.decision, bigreach_core::cutover::Decision::Continue);

    storm.store(true, Ordering::SeqCst);
    let mut orders = Vec::new();
    for i in 0..3 {
        orders.push(
            rig.live_order(&format!("storm{i}.shopper@example.com"))
                .await,
        );
    }
    advance_until(&rig.clock, STEP, "the check to fall back", || {
        rig.stage() == Stage::ReadOnly
    })
    .await;

    // The fall back says which check tripped, with the value, the threshold and the window.
    let audit = rig.cutover_audit();
    let (actor, action, detail) = audit.last().unwrap();
    assert_eq!(action, "cutover.fall_back");
    assert_eq!(actor, bigreach_runtime::cutover::ACTOR);
    assert_eq!(detail["check"], "rate_limited");
    assert_eq!(
        (detail["from"].clone(), detail["to"].clone()),
        ("ingest".into(), "read_only".into())
    );
    assert!(detail["value"].as_f64().unwrap() > 0.05, "{detail}");
    assert_eq!(detail["threshold"], 0.05);
    let window = detail["window_secs"].as_u64().unwrap();
    assert!(window > 0 && window <= 120, "{detail}");
    let stage = rig.appliance.app().stage().unwrap();
    let last = stage.last_transitions.last().unwrap();
    assert_eq!(last.kind, TransitionKind::FallBack);
    assert_eq!(last.detail["check"], "rate_limited");
    for order in &orders {
        assert_eq!(
            rig.in_bloomreach(*order),
            (0, 0),
            "a 429 is never delivered"
        );
    }
    assert!(
        rig.pending("transactions") >= 3,
        "the purchases stay queued"
    );

    // The storm passes; after a fresh preflight the operator advances again and every
    // purchase arrives exactly once.
    storm.store(false, Ordering::SeqCst);
    rig.settle("read-only to recover").await;
    rig.preflight_passed();
    assert_eq!(rig.advance().to, Stage::Ingest);
    rig.settle("the purchases to be delivered").await;
    for order in &orders {
        assert_eq!(rig.in_bloomreach(*order).0, 1);
    }
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_survives_a_restart_and_its_closed_lanes_stay_closed() {
    let rig = rig(|config| config.cutover.preflight_max_age_secs = 3600).await;
    rig.advance();
    rig.preflight_passed();
    rig.advance();
    rig.settle("the read-only lanes to drain").await;
    let order = rig.live_order("restart.shopper@example.com").await;
    let Rig {
        _dir: dir,
        clock,
        twins,
        appliance,
        ..
    } = rig;
    drive(&clock, appliance.shutdown()).await;

    // The same data directory, new listeners.
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    config.cutover.start_stage = Stage::Connect;
    config.cutover.preflight_max_age_secs = 3600;
    let appliance = start_appliance(&clock, &config, &Twins::secrets(), listeners).await;
    let webhooks = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    let rig = Rig {
        _dir: dir,
        clock,
        twins,
        appliance,
        webhooks,
    };
    let stage = rig.appliance.app().stage().unwrap();
    assert_eq!((stage.stage, stage.recorded), (Stage::ReadOnly, true));
    assert_eq!(stage.last_transitions.len(), 2);
    advance_by(&rig.clock, Duration::from_secs(60), STEP).await;
    assert_eq!(
        rig.in_bloomreach(order),
        (0, 0),
        "still closed after the restart"
    );
    assert!(rig.pending("transactions") >= 1, "and still queued");
    assert_eq!(rig.advance().to, Stage::Ingest);
    rig.settle("the kept purchase to be delivered").await;
    assert_eq!(rig.in_bloomreach(order).0, 1);
    rig.shutdown().await;
}
