//! The stage machine, the plan and its hash, the refusals, and the checks' decisions.

use super::*;

const NOW: i64 = 1_764_547_200_000;

fn queues(transactions: u64, catalog: u64) -> Vec<LaneQueue> {
    Lane::ALL
        .into_iter()
        .map(|lane| {
            let queued = match lane {
                Lane::Transactions => transactions,
                Lane::Catalog => catalog,
                _ => 0,
            };
            LaneQueue {
                lane,
                queued,
                oldest_enqueued_at_ms: (queued > 0).then_some(NOW - 60_000),
            }
        })
        .collect()
}

fn passed(at_ms: i64) -> PreflightSummary {
    PreflightSummary {
        passed: true,
        digest: "d1".into(),
        blocking: Vec::new(),
        ran_at_ms: at_ms,
    }
}

fn recorded(stage: Stage) -> CutoverState {
    CutoverState {
        stage,
        recorded: true,
        entered_at_ms: Some(NOW - 3_600_000),
        hold: None,
        transitions: 3,
    }
}

fn snapshot(stage: Stage, transactions: u64) -> CutoverSnapshot {
    CutoverSnapshot {
        state: recorded(stage),
        lanes: queues(transactions, 1_000),
        preflight: Some(passed(NOW - 60_000)),
    }
}

fn names(lanes: &[Lane]) -> Vec<&'static str> {
    lanes.iter().map(|l| l.name()).collect()
}

#[test]
fn stages_open_lanes_cumulatively_with_rising_ceilings() {
    assert!(Stage::Connect.open_lanes().is_empty());
    assert!(Stage::Preflight.open_lanes().is_empty());
    assert_eq!(
        names(&Stage::ReadOnly.open_lanes()),
        ["customers", "catalog", "backfill"]
    );
    assert_eq!(
        names(&Stage::Ingest.open_lanes()),
        ["transactions", "customers", "carts", "catalog", "backfill"]
    );
    assert_eq!(Stage::Triggers.lanes(), LaneSet::ALL);
    let ceilings: Vec<u32> = Stage::ALL.iter().map(|s| s.ceiling_percent()).collect();
    assert_eq!(ceilings, [0, 0, 50, 80, 100]);
    assert_eq!(Stage::Ingest.requests_per_second(90), 72);
    assert_eq!(Stage::ReadOnly.requests_per_second(1), 1);
    assert_eq!(Stage::Preflight.requests_per_second(90), 0);
    assert_eq!(Stage::Connect.previous(), None);
    assert_eq!(Stage::Triggers.next(), None);
    assert_eq!(Stage::ReadOnly.next(), Some(Stage::Ingest));
    assert!(!Stage::Preflight.entry_needs_preflight());
    assert!(Stage::ReadOnly.entry_needs_preflight());
    for stage in Stage::ALL {
        assert_eq!(Stage::from_name(stage.name()), Some(stage));
        assert_eq!(
            serde_json::to_value(stage).unwrap(),
            serde_json::json!(stage.name())
        );
    }
}

#[test]
fn the_plan_shows_what_starts_flowing_and_what_it_costs() {
    let plan = plan(&snapshot(Stage::ReadOnly, 120), PlanQuotas::default(), NOW);
    assert_eq!((plan.from, plan.to), (Stage::ReadOnly, Some(Stage::Ingest)));
    assert_eq!(plan.bloomreach_requests_per_second_to, 72);
    let transactions = plan
        .lanes
        .iter()
        .find(|l| l.lane == "transactions")
        .unwrap();
    assert_eq!(transactions.change, LaneChange::Opens);
    assert_eq!(transactions.queued, 120);
    assert_eq!(transactions.oldest_age_ms, Some(60_000));
    assert_eq!(
        transactions.cost,
        Some(QueueCost {
            bloomreach_requests: 3,
            bloomreach_secs_at_ceiling: 1,
            bigcommerce_requests: 0,
        })
    );
    let catalog = plan.lanes.iter().find(|l| l.lane == "catalog").unwrap();
    assert_eq!(
        (catalog.change, catalog.cost),
        (LaneChange::StaysOpen, None)
    );
    let triggers = plan.lanes.iter().find(|l| l.lane == "triggers").unwrap();
    assert_eq!(triggers.change, LaneChange::StaysClosed);
    assert_eq!(plan.starts_flowing, 120);
    assert!(plan.needs_preflight);
    assert_eq!(plan.plan_hash.len(), 64);

    let last = super::plan(&snapshot(Stage::Triggers, 5), PlanQuotas::default(), NOW);
    assert_eq!(last.to, None);
    assert_eq!(last.starts_flowing, 0);
}

#[test]
fn the_plan_hash_moves_with_what_would_start_flowing_only() {
    let quotas = PlanQuotas::default();
    let base = plan(&snapshot(Stage::ReadOnly, 120), quotas, NOW).plan_hash;
    // Time passing and open lanes delivering leave it alone.
    assert_eq!(
        plan(&snapshot(Stage::ReadOnly, 120), quotas, NOW + 600_000).plan_hash,
        base
    );
    let mut delivering = snapshot(Stage::ReadOnly, 120);
    delivering.lanes[Lane::Catalog.index() as usize].queued = 3;
    assert_eq!(plan(&delivering, quotas, NOW).plan_hash, base);
    // A new purchase in the lane that opens moves it; so do a new preflight and another rate.
    assert_ne!(
        plan(&snapshot(Stage::ReadOnly, 121), quotas, NOW).plan_hash,
        base
    );
    let mut rerun = snapshot(Stage::ReadOnly, 120);
    rerun.preflight.as_mut().unwrap().digest = "d2".into();
    assert_ne!(plan(&rerun, quotas, NOW).plan_hash, base);
    let faster = PlanQuotas {
        bloomreach_requests_per_second: 200,
        ..quotas
    };
    assert_ne!(
        plan(&snapshot(Stage::ReadOnly, 120), faster, NOW).plan_hash,
        base
    );
}

#[test]
fn advance_refuses_in_order_and_applies_the_reviewed_plan() {
    let quotas = PlanQuotas::default();
    let go = |s: &CutoverSnapshot, hash: &str| advance(s, hash, quotas, 900, NOW);
    let last = snapshot(Stage::Triggers, 0);
    assert_eq!(
        go(&last, "x"),
        Err(Refusal::AtLastStage {
            stage: Stage::Triggers
        })
    );

    let mut held = snapshot(Stage::ReadOnly, 1);
    held.state.hold = Some(StageHold {
        check: CheckId::IdentityConflicts,
        reason: "2 phones".into(),
        at_ms: NOW,
    });
    let hash = plan(&held, quotas, NOW).plan_hash;
    assert!(matches!(go(&held, &hash), Err(Refusal::StageHeld { .. })));

    let mut missing = snapshot(Stage::ReadOnly, 1);
    missing.preflight = None;
    let hash = plan(&missing, quotas, NOW).plan_hash;
    assert_eq!(
        go(&missing, &hash),
        Err(Refusal::PreflightMissing { to: Stage::Ingest })
    );

    let mut stale = snapshot(Stage::ReadOnly, 1);
    stale.preflight = Some(passed(NOW - 901_000));
    let hash = plan(&stale, quotas, NOW).plan_hash;
    assert_eq!(
        go(&stale, &hash),
        Err(Refusal::PreflightStale {
            age_secs: 901,
            max_age_secs: 900
        })
    );

    let mut failed = snapshot(Stage::ReadOnly, 1);
    failed.preflight = Some(PreflightSummary {
        passed: false,
        blocking: vec!["bigcommerce_scopes".into()],
        ..passed(NOW)
    });
    let hash = plan(&failed, quotas, NOW).plan_hash;
    assert_eq!(
        go(&failed, &hash),
        Err(Refusal::PreflightFailed {
            blocking: vec!["bigcommerce_scopes".into()]
        })
    );

    let reviewed = plan(&snapshot(Stage::ReadOnly, 1), quotas, NOW).plan_hash;
    let moved = go(&snapshot(Stage::ReadOnly, 2), &reviewed).unwrap_err();
    assert!(matches!(moved, Refusal::PlanMoved { ref given, .. } if *given == reviewed));
    assert!(moved.to_string().contains("moved on"), "{moved}");

    let change = go(&snapshot(Stage::ReadOnly, 1), &reviewed).unwrap();
    assert_eq!(change.kind, TransitionKind::Advance);
    assert_eq!((change.from, change.to), (Stage::ReadOnly, Stage::Ingest));
    assert!(change.closing_lanes().is_empty());
    assert_eq!(change.detail["plan_hash"], reviewed);
    assert_eq!(
        change.detail["lanes_opened"],
        serde_json::json!(["transactions", "carts"])
    );

    // Connect → preflight sends nothing, so it needs no preflight.
    let mut connect = snapshot(Stage::Connect, 0);
    connect.preflight = None;
    let hash = plan(&connect, quotas, NOW).plan_hash;
    assert_eq!(go(&connect, &hash).unwrap().to, Stage::Preflight);
}

#[test]
fn rollback_closes_the_stages_lanes_and_clears_a_hold() {
    assert_eq!(
        rollback(&recorded(Stage::Connect)),
        Err(Refusal::AtFirstStage {
            stage: Stage::Connect
        })
    );
    let mut ingest = recorded(Stage::Ingest);
    ingest.hold = Some(StageHold {
        check: CheckId::PurchaseLatency,
        reason: "few".into(),
        at_ms: NOW,
    });
    let change = rollback(&ingest).unwrap();
    assert_eq!(change.to, Stage::ReadOnly);
    assert_eq!(change.hold, None);
    assert_eq!(names(&change.closing_lanes()), ["transactions", "carts"]);
    assert_eq!(
        change.detail["lanes_closed"],
        serde_json::json!(["transactions", "carts"])
    );
}

#[test]
fn hold_and_acknowledge() {
    let state = recorded(Stage::Ingest);
    assert_eq!(acknowledge(&state), Err(Refusal::NotHeld));
    let change = hold(&state, CheckId::IdentityConflicts, "1 phone", NOW).unwrap();
    assert_eq!((change.from, change.to), (Stage::Ingest, Stage::Ingest));
    let held = CutoverState {
        hold: change.hold.clone(),
        ..state
    };
    assert_eq!(hold(&held, CheckId::RateLimited, "again", NOW), None);
    let cleared = acknowledge(&held).unwrap();
    assert_eq!(cleared.hold, None);
    assert_eq!(cleared.detail["check"], "identity_conflicts");
    assert_eq!(cleared.kind.audit_action(), "cutover.acknowledge");
}

#[test]
fn a_fall_back_names_the_check_value_threshold_and_window() {
    let change = fall_back(
        &recorded(Stage::Ingest),
        CheckId::RateLimited,
        0.8,
        0.05,
        300,
    )
    .unwrap();
    assert_eq!(change.to, Stage::ReadOnly);
    assert_eq!(change.detail["check"], "rate_limited");
    assert_eq!(change.detail["value"], 0.8);
    assert_eq!(change.detail["threshold"], 0.05);
    assert_eq!(change.detail["window_secs"], 300);
    assert_eq!(
        fall_back(&recorded(Stage::Connect), CheckId::RateLimited, 1.0, 0.0, 1),
        None
    );
}

#[test]
fn the_preflight_summary_is_read_from_its_audit_entry() {
    let record = |action: &str, detail: &str| AuditRecord {
        seq: 1,
        at_ms: NOW,
        actor: "operator".into(),
        action: action.into(),
        detail: detail.into(),
        prev_hash: String::new(),
        hash: String::new(),
    };
    let summary = PreflightSummary::from_audit(&record(
        PREFLIGHT_AUDIT_ACTION,
        r#"{"passed": false, "digest": "abc", "blocking": ["storefront_csp"]}"#,
    ))
    .unwrap();
    assert_eq!(
        summary,
        PreflightSummary {
            passed: false,
            digest: "abc".into(),
            blocking: vec!["storefront_csp".into()],
            ran_at_ms: NOW,
        }
    );
    assert_eq!(
        PreflightSummary::from_audit(&record("config.loaded", r#"{"passed": true}"#)),
        None
    );
    assert_eq!(
        PreflightSummary::from_audit(&record(PREFLIGHT_AUDIT_ACTION, "not json")),
        None
    );
}

fn quiet() -> WindowFigures {
    WindowFigures {
        window_secs: 300,
        requests: 0,
        rate_limited: 0,
        delivered: 0,
        dead_lettered: 0,
        purchase_latency: LatencySample::default(),
        oldest_queued_purchase_ms: None,
        identity_conflicts: 0,
    }
}

#[test]
fn a_quiet_or_healthy_window_continues() {
    let thresholds = CheckThresholds::default();
    assert_eq!(
        decide(Stage::Ingest, &quiet(), &thresholds),
        Decision::Continue
    );
    let healthy = WindowFigures {
        requests: 400,
        rate_limited: 4,
        delivered: 10_000,
        dead_lettered: 20,
        purchase_latency: LatencySample::of((0..200).map(|i| i * 100).collect()),
        ..quiet()
    };
    let results = evaluate(Stage::Ingest, &healthy, &thresholds);
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|r| r.outcome == CheckOutcome::Pass),
        "{results:?}"
    );
    assert_eq!(
        decide(Stage::Ingest, &healthy, &thresholds),
        Decision::Continue
    );
    // Nothing watches the stages that send nothing.
    assert!(evaluate(Stage::Preflight, &healthy, &thresholds).is_empty());
}

#[test]
fn an_enforced_failure_falls_back_with_its_figures() {
    let thresholds = CheckThresholds::default();
    let storm = WindowFigures {
        requests: 40,
        rate_limited: 36,
        ..quiet()
    };
    assert_eq!(
        decide(Stage::Ingest, &storm, &thresholds),
        Decision::FallBack {
            check: CheckId::RateLimited,
            value: 0.9,
            threshold: 0.05,
            window_secs: 300,
        }
    );
    let dead = WindowFigures {
        delivered: 90,
        dead_lettered: 10,
        ..quiet()
    };
    assert!(matches!(
        decide(Stage::ReadOnly, &dead, &thresholds),
        Decision::FallBack {
            check: CheckId::DeadLetters,
            ..
        }
    ));
    // A purchase stuck in the queue over the limit fails at once, without a sample.
    let stuck = WindowFigures {
        oldest_queued_purchase_ms: Some(301_000),
        ..quiet()
    };
    assert_eq!(
        decide(Stage::Ingest, &stuck, &thresholds),
        Decision::FallBack {
            check: CheckId::PurchaseLatency,
            value: 301.0,
            threshold: 300.0,
            window_secs: 300,
        }
    );
    // Read-only does not watch purchases.
    assert_eq!(
        decide(Stage::ReadOnly, &stuck, &thresholds),
        Decision::Continue
    );
    let slow = WindowFigures {
        purchase_latency: LatencySample::of(vec![400_000; 20]),
        ..quiet()
    };
    assert!(matches!(
        decide(Stage::Triggers, &slow, &thresholds),
        Decision::FallBack {
            check: CheckId::PurchaseLatency,
            ..
        }
    ));
}

#[test]
fn too_few_samples_with_trouble_hold_and_observed_failures_hold() {
    let thresholds = CheckThresholds::default();
    let few = WindowFigures {
        requests: 4,
        rate_limited: 3,
        ..quiet()
    };
    let Decision::Hold { check, reason } = decide(Stage::Ingest, &few, &thresholds) else {
        panic!("a hold");
    };
    assert_eq!(check, CheckId::RateLimited);
    assert!(reason.contains("too few requests"), "{reason}");
    let one_slow = WindowFigures {
        purchase_latency: LatencySample::of(vec![1_000, 400_000]),
        ..quiet()
    };
    assert!(matches!(
        decide(Stage::Ingest, &one_slow, &thresholds),
        Decision::Hold {
            check: CheckId::PurchaseLatency,
            ..
        }
    ));
    // Identity conflicts are observed by default: a person decides.
    let conflicts = WindowFigures {
        identity_conflicts: 2,
        ..quiet()
    };
    let Decision::Hold { check, reason } = decide(Stage::ReadOnly, &conflicts, &thresholds) else {
        panic!("a hold");
    };
    assert_eq!(check, CheckId::IdentityConflicts);
    assert!(reason.contains("observed"), "{reason}");
    // Enforced, it falls back.
    let enforced = CheckThresholds {
        identity_conflicts: CheckMode::Enforce,
        ..CheckThresholds::default()
    };
    assert!(matches!(
        decide(Stage::ReadOnly, &conflicts, &enforced),
        Decision::FallBack {
            check: CheckId::IdentityConflicts,
            ..
        }
    ));
    // An observed 429 storm holds instead of falling back.
    let observed = CheckThresholds {
        rate_limited: CheckMode::Observe,
        ..CheckThresholds::default()
    };
    let storm = WindowFigures {
        requests: 40,
        rate_limited: 40,
        ..quiet()
    };
    assert!(matches!(
        decide(Stage::Ingest, &storm, &observed),
        Decision::Hold {
            check: CheckId::RateLimited,
            ..
        }
    ));
}

#[test]
fn p99_is_the_nearest_rank() {
    assert_eq!(LatencySample::of(Vec::new()), LatencySample::default());
    let sample = LatencySample::of((1..=100).rev().collect());
    assert_eq!((sample.count, sample.p99_ms, sample.max_ms), (100, 99, 100));
    let sample = LatencySample::of(vec![5]);
    assert_eq!((sample.p99_ms, sample.max_ms), (5, 5));
    let sample = LatencySample::of((1..=1000).collect());
    assert_eq!(sample.p99_ms, 990);
}
