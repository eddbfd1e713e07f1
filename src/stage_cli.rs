//! `bigreach stage [status | plan | advance | rollback | acknowledge]`: the staged cutover over
//! the running appliance's `POST /api/call`. Advance is bound to a reviewed plan, Terraform
//! style: without `--plan-hash` (or with `--dry-run`) it shows the plan and its hash and asks
//! to run again with it. A refused step exits with status 12 (`operator::CUTOVER_REFUSED`,
//! through the error code's mapping in `operator::exit_code`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use bigreach_core::app::cutover::{
    Acknowledged, Advanced, RollbackPreview, RolledBack, StagePlanAnswer, StageStatus,
};
use bigreach_core::app::Operation;
use bigreach_core::cutover::LaneChange;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::de::DeserializeOwned;

use crate::operator;

/// The `stage` subcommands.
#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum StageCommand {
    /// Where the cutover is: the stage, what flows, the hold and the last transitions.
    Status,
    /// What advancing would do (per lane: queued, oldest, what starts flowing, its cost), with
    /// the plan hash, and what a rollback would do.
    Plan,
    /// Advance to the next stage, applying exactly the plan with `--plan-hash`.
    Advance,
    /// Go back to the previous stage; queued data stays, what was already sent is listed.
    Rollback,
    /// Clear a hold a check set, so the stage may advance again.
    Acknowledge,
}

/// `bigreach stage …`.
pub async fn stage(
    config: &Path,
    command: StageCommand,
    plan_hash: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    match command {
        StageCommand::Status => {
            let status: StageStatus = call(config, Operation::Stage).await?;
            show(json, &status, status_report)
        }
        StageCommand::Plan => {
            let plan: StagePlanAnswer = call(config, Operation::StagePlan).await?;
            show(json, &plan, plan_report)
        }
        StageCommand::Advance => match plan_hash.filter(|_| !dry_run) {
            None => {
                let plan: StagePlanAnswer = call(config, Operation::StagePlan).await?;
                show(json, &plan, |plan| {
                    let mut out = plan_report(plan);
                    if plan.advance.to.is_some() {
                        let _ = writeln!(
                            out,
                            "\nNothing changed. To apply exactly this plan, run:\n  bigreach stage advance --plan-hash {}",
                            plan.advance.plan_hash
                        );
                    }
                    out
                })
            }
            Some(hash) => {
                let advanced: Advanced = call(
                    config,
                    Operation::Advance {
                        plan_hash: hash.to_owned(),
                    },
                )
                .await?;
                show(json, &advanced, |a| {
                    format!(
                        "advanced {} → {} at {}: {} opened ({} command(s) start flowing), Bloomreach ceiling {}%\n",
                        a.from,
                        a.to,
                        when(&a.at),
                        list(&a.lanes_opened),
                        a.starts_flowing,
                        a.ceiling_percent
                    )
                })
            }
        },
        StageCommand::Rollback if dry_run => {
            let plan: StagePlanAnswer = call(config, Operation::StagePlan).await?;
            match &plan.rollback {
                Some(preview) => show(json, preview, |p| {
                    rollback_report(p) + "\nNothing changed (--dry-run).\n"
                }),
                None => show(json, &plan.rollback, |_| {
                    format!(
                        "already at the first stage ({}); nothing to roll back to\n",
                        plan.advance.from
                    )
                }),
            }
        }
        StageCommand::Rollback => {
            let rolled: RolledBack = call(config, Operation::Rollback).await?;
            show(json, &rolled, |r| {
                rollback_report(&RollbackPreview {
                    from: r.from,
                    to: r.to,
                    lanes_closing: r.lanes_closed.clone(),
                    cannot_undo: r.cannot_undo.clone(),
                })
                .replace("would close", "closed")
            })
        }
        StageCommand::Acknowledge => {
            let acknowledged: Acknowledged = call(config, Operation::Acknowledge).await?;
            show(json, &acknowledged, |a| {
                format!(
                    "hold by the {} check cleared at {} ({}); {} may advance again\n",
                    a.cleared.check,
                    when(&a.at),
                    a.cleared.reason,
                    a.stage
                )
            })
        }
    }
}

async fn call<T: DeserializeOwned>(config: &Path, operation: Operation) -> Result<T> {
    operator::call_with(config, reqwest::Method::POST, "api/call", Some(&operation)).await
}

fn show<T: serde::Serialize>(json: bool, value: &T, report: impl Fn(&T) -> String) -> Result<()> {
    if json {
        return operator::emit(&(serde_json::to_string_pretty(value)? + "\n"));
    }
    operator::emit(&report(value))
}

fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no lane".to_owned()
    } else {
        names.join(", ")
    }
}

fn age(ms: i64) -> String {
    match ms {
        ms if ms < 120_000 => format!("{} s", ms / 1000),
        ms if ms < 7_200_000 => format!("{} min", ms / 60_000),
        ms => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

/// The stage as a person reads it.
pub fn status_report(s: &StageStatus) -> String {
    let mut out = String::new();
    let path: Vec<String> = s
        .stages
        .iter()
        .map(|info| {
            if info.current {
                format!("[{}]", info.stage)
            } else {
                info.stage.to_string()
            }
        })
        .collect();
    let _ = writeln!(out, "Cutover: {}", path.join(" → "));
    let since = match (&s.entered_at, s.recorded) {
        (Some(at), _) => format!("since {}", when(at)),
        (None, _) => "not recorded yet: the configured start stage ([cutover] start_stage); the automatic checks start with the first advance or rollback".to_owned(),
    };
    let _ = writeln!(out, "  stage          {} ({since})", s.stage);
    let _ = writeln!(out, "  lanes open     {}", list(&s.lanes_open));
    let _ = writeln!(
        out,
        "  Bloomreach     {}% of the configured rate",
        s.ceiling_percent
    );
    match &s.hold {
        Some(hold) => {
            let _ = writeln!(
                out,
                "  ! HELD by the {} check since {}: {}\n    look into it, then `bigreach stage acknowledge`",
                hold.check,
                when(&hold.since),
                hold.reason
            );
        }
        None => {
            let _ = writeln!(out, "  hold           none");
        }
    }
    if !s.checks.is_empty() {
        let _ = writeln!(out, "  watched by");
    }
    for check in &s.checks {
        let _ = writeln!(
            out,
            "    {:<20} {:<8} threshold {} {} over {} s",
            check.check.name(),
            format!("{:?}", check.mode).to_lowercase(),
            check.threshold,
            check.unit,
            check.window_secs
        );
    }
    if let Some(round) = &s.last_evaluation {
        let _ = writeln!(
            out,
            "  last round     {} over {} s: {}",
            when(&round.at),
            round.figures.window_secs,
            serde_json::to_value(&round.decision)
                .ok()
                .and_then(|d| d["decision"].as_str().map(str::to_owned))
                .unwrap_or_default()
        );
        for result in &round.results {
            let _ = writeln!(
                out,
                "    {:<20} {:<12} {}",
                result.check.name(),
                format!("{:?}", result.outcome).to_lowercase(),
                result.reason
            );
        }
    }
    if !s.last_transitions.is_empty() {
        let _ = writeln!(out, "  last transitions");
    }
    for t in &s.last_transitions {
        let _ = writeln!(
            out,
            "    #{:<3} {} {:<12} {} → {} by {}: {}",
            t.seq,
            when(&t.at),
            format!("{:?}", t.kind).to_lowercase(),
            t.from,
            t.to,
            t.actor,
            t.detail
        );
    }
    out
}

/// A plan as a person reads it.
pub fn plan_report(p: &StagePlanAnswer) -> String {
    let mut out = String::new();
    let a = &p.advance;
    let Some(to) = a.to else {
        let _ = writeln!(
            out,
            "At the last stage ({}); nothing to advance to.",
            a.from
        );
        if let Some(rollback) = &p.rollback {
            out.push_str(&rollback_report(rollback));
        }
        return out;
    };
    let _ = writeln!(
        out,
        "Plan: {} → {} (Bloomreach ceiling {}% → {}%, {} requests/s)",
        a.from,
        to,
        a.ceiling_percent_from,
        a.ceiling_percent_to,
        a.bloomreach_requests_per_second_to
    );
    let _ = writeln!(
        out,
        "  {:<13} {:<12} {:>8} {:>9} {:>10} {:>12}",
        "lane", "change", "queued", "oldest", "BR calls", "time at ceil"
    );
    for lane in &a.lanes {
        let change = match lane.change {
            LaneChange::Opens => "OPENS",
            LaneChange::StaysOpen => "open",
            LaneChange::StaysClosed => "closed",
        };
        let (calls, secs) = lane.cost.map_or(("-".to_owned(), "-".to_owned()), |c| {
            (
                c.bloomreach_requests.to_string(),
                format!("{} s", c.bloomreach_secs_at_ceiling),
            )
        });
        let _ = writeln!(
            out,
            "  {:<13} {:<12} {:>8} {:>9} {:>10} {:>12}",
            lane.lane,
            change,
            lane.queued,
            lane.oldest_age_ms
                .map(age)
                .unwrap_or_else(|| "-".to_owned()),
            calls,
            secs
        );
    }
    let _ = writeln!(
        out,
        "  starts flowing: {} command(s), {} Bloomreach request(s), about {} s at the new ceiling; 0 BigCommerce requests (delivery reads only the store)",
        a.starts_flowing, a.cost.bloomreach_requests, a.cost.bloomreach_secs_at_ceiling
    );
    match (&a.preflight, a.needs_preflight) {
        (_, false) => {
            let _ = writeln!(out, "  preflight: not needed for {to}");
        }
        (Some(pre), true) => {
            let _ = writeln!(
                out,
                "  preflight: {} at {} (digest {}){}",
                if pre.passed { "passed" } else { "FAILED" },
                DateTime::from_timestamp_millis(pre.ran_at_ms)
                    .map(|t| when(&t))
                    .unwrap_or_default(),
                &pre.digest[..pre.digest.len().min(12)],
                if pre.blocking.is_empty() {
                    String::new()
                } else {
                    format!("; blocking: {}", pre.blocking.join(", "))
                }
            );
        }
        (None, true) => {
            let _ = writeln!(out, "  preflight: none has run; `bigreach preflight` first");
        }
    }
    if !p.checks_after.is_empty() {
        let watched: Vec<String> = p
            .checks_after
            .iter()
            .map(|c| format!("{} ({:?})", c.check.name(), c.mode).to_lowercase())
            .collect();
        let _ = writeln!(out, "  then watched by: {}", watched.join(", "));
    }
    let _ = writeln!(out, "  plan hash: {}", a.plan_hash);
    if let Some(rollback) = &p.rollback {
        out.push_str(&rollback_report(rollback));
    }
    out
}

fn rollback_report(r: &RollbackPreview) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rollback {} → {} would close:", r.from, r.to);
    if r.lanes_closing.is_empty() {
        let _ = writeln!(out, "  no lane (nothing flows at {})", r.from);
    }
    for lane in &r.lanes_closing {
        let _ = writeln!(
            out,
            "  {:<13} keeps {} queued; already sent since the stage began: {}",
            lane.lane, lane.queued_kept, lane.already_sent
        );
    }
    let _ = writeln!(out, "  {}", r.cannot_undo);
    out
}

#[cfg(test)]
mod tests {
    use bigreach_core::app::cutover::{ClosingLane, CANNOT_UNDO};
    use bigreach_core::cutover::{
        plan, CutoverSnapshot, CutoverState, LaneQueue, PlanQuotas, PreflightSummary, Stage,
    };
    use bigreach_core::outbox::Lane;

    use super::*;

    const NOW: i64 = 1_764_547_200_000;

    #[test]
    fn the_plan_reads_as_a_table_with_its_hash_and_the_way_back() {
        let snapshot = CutoverSnapshot {
            state: CutoverState {
                entered_at_ms: Some(NOW - 60_000),
                recorded: true,
                ..CutoverState::unrecorded(Stage::ReadOnly)
            },
            lanes: Lane::ALL
                .into_iter()
                .map(|lane| LaneQueue {
                    lane,
                    queued: if lane == Lane::Transactions { 120 } else { 0 },
                    oldest_enqueued_at_ms: (lane == Lane::Transactions).then_some(NOW - 90_000),
                })
                .collect(),
            preflight: Some(PreflightSummary {
                passed: true,
                digest: "ab".repeat(32),
                blocking: Vec::new(),
                ran_at_ms: NOW - 1_000,
            }),
        };
        let advance = plan(&snapshot, PlanQuotas::default(), NOW);
        let answer = StagePlanAnswer {
            checks_after: Vec::new(),
            rollback: Some(RollbackPreview {
                from: Stage::ReadOnly,
                to: Stage::Preflight,
                lanes_closing: vec![ClosingLane {
                    lane: "customers".into(),
                    queued_kept: 3,
                    already_sent: 41,
                }],
                cannot_undo: CANNOT_UNDO.into(),
            }),
            advance,
        };
        let report = plan_report(&answer);
        assert!(
            report.starts_with(
                "Plan: read_only → ingest (Bloomreach ceiling 50% → 80%, 72 requests/s)"
            ),
            "{report}"
        );
        let row = report
            .lines()
            .find(|l| l.trim_start().starts_with("transactions"))
            .unwrap();
        assert!(
            row.contains("OPENS") && row.contains("120") && row.contains("90 s"),
            "{row}"
        );
        assert!(
            report.contains("starts flowing: 120 command(s), 3 Bloomreach request(s)"),
            "{report}"
        );
        assert!(
            report.contains("customers     keeps 3 queued; already sent since the stage began: 41"),
            "{report}"
        );
        assert!(report.contains(&format!("plan hash: {}", answer.advance.plan_hash)));
    }
}
