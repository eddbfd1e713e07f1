//! The operator commands of the CLI (`check`, `status`, `trace`, `dead-letters`): thin adapters
//! over the running appliance's local API, which answers with the application API's typed
//! structs. They print a readable report by default and the typed JSON with `--json`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use bigreach_core::app::dead_letters::DeadLetter;
use bigreach_core::app::status::Status;
use bigreach_core::app::trace::Trace;
use bigreach_core::app::{AppError, Code, ReconcileRequest, SetAside};
use bigreach_core::config::Config;
use bigreach_core::reconcile::Reconciliation;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

/// The process exit status for each error code, in one exhaustive match.
pub fn exit_code(code: Code) -> u8 {
    match code {
        Code::Internal => 1,
        Code::BadRequest => 2,
        Code::NotFound => 3,
        Code::Unauthorized => 4,
        Code::NotRunning => 5,
        Code::StoreUnavailable => 6,
        Code::Upstream => 7,
        Code::AtLastStage
        | Code::AtFirstStage
        | Code::PreflightMissing
        | Code::PreflightStale
        | Code::PreflightFailed
        | Code::PlanMoved
        | Code::StageHeld
        | Code::NotHeld
        | Code::StageClosed => CUTOVER_REFUSED,
        Code::AlreadyRunning => ALREADY_RUNNING,
    }
}

/// The exit status when the job asked for runs already (a history backfill in the appliance).
pub const ALREADY_RUNNING: u8 = 14;

/// The exit status of `bigreach stage advance | rollback | acknowledge` when the appliance
/// refuses the step (the cutover codes: stale preflight, moved plan, held stage, …).
pub const CUTOVER_REFUSED: u8 = 12;

/// The exit status of `bigreach reconcile` when BigCommerce and Bloomreach differ (distinct
/// from every error code's).
pub const NOT_BALANCED: u8 = 8;

/// Writes to standard output; a reader that went away (`bigreach trace … | head`) ends the
/// program quietly instead of with a panic.
pub fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => Err(error).context("writing to standard output"),
    }
}

fn emit_json(value: &impl serde::Serialize) -> Result<()> {
    emit(&(serde_json::to_string_pretty(value)? + "\n"))
}

/// `bigreach check`: the file's validity (errors), then what would stop `serve` (warnings, or
/// errors with `strict`). Returns whether the config passed.
pub fn check(path: &Path, strict: bool) -> Result<bool> {
    let config = Config::load(path)?;
    let problems = config.readiness_problems(|name| std::env::var_os(name).is_some());
    let mut out = String::new();
    let label = if strict { "error" } else { "warning" };
    for problem in &problems {
        let _ = writeln!(out, "{label}: {problem}");
    }
    let passed = problems.is_empty() || !strict;
    let _ = writeln!(
        out,
        "{}: {}",
        path.display(),
        match (problems.len(), passed) {
            (0, _) => "OK".to_owned(),
            (n, true) => format!("valid, with {n} warning(s); `--strict` makes them errors"),
            (n, false) => format!("{n} problem(s)"),
        }
    );
    emit(&out)?;
    Ok(passed)
}

/// Calls the running appliance's local API (loopback, per-install token) and decodes the typed
/// answer; an error answer becomes the [`AppError`] it carries.
pub async fn call<T: DeserializeOwned>(
    config_path: &Path,
    method: reqwest::Method,
    path: &str,
) -> Result<T> {
    call_with(config_path, method, path, None::<&()>).await
}

/// [`call`] with a JSON body.
pub async fn call_with<T: DeserializeOwned, B: serde::Serialize>(
    config_path: &Path,
    method: reqwest::Method,
    path: &str,
    body: Option<&B>,
) -> Result<T> {
    let config = Config::load(config_path)?;
    let token_path = config.data_dir.join("api-token");
    let token = std::fs::read_to_string(&token_path).map_err(|_| {
        AppError::new(
            Code::NotRunning,
            format!(
                "no API token at {}; has `bigreach serve` run with this config?",
                token_path.display()
            ),
        )
    })?;
    let url = format!("http://{}/{path}", config.api.listen);
    let write = method != reqwest::Method::GET;
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(token.trim());
    if let Some(body) = body {
        request = request.json(body);
    } else if write {
        // The local API takes writes only as JSON (a path-only write has an empty body).
        request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
    }
    let response = request.send().await.map_err(|error| {
        AppError::new(
            Code::NotRunning,
            format!("could not reach {url} ({error}); is `bigreach serve` running?"),
        )
    })?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if !status.is_success() {
        let error: AppError = serde_json::from_slice(&body).unwrap_or_else(|_| {
            AppError::new(
                Code::Internal,
                format!(
                    "HTTP {status} without an error body: {}",
                    String::from_utf8_lossy(&body)
                ),
            )
        });
        return Err(error.into());
    }
    serde_json::from_slice(&body).with_context(|| format!("decoding the answer of {url}"))
}

/// `bigreach status`.
pub async fn status(config: &Path, json: bool) -> Result<()> {
    let status: Status = call(config, reqwest::Method::GET, "api/status").await?;
    if json {
        return emit_json(&status);
    }
    emit(&status_report(&status))
}

fn age(ms: i64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 7_200_000 => format!("{} min", ms / 60_000),
        ms => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The status as a person reads it.
pub fn status_report(s: &Status) -> String {
    let mut out = String::new();
    let state = if !s.alerts.is_empty() {
        "NEEDS ATTENTION"
    } else if s.idle {
        "idle, all caught up"
    } else {
        "syncing"
    };
    let _ = writeln!(out, "BigReach at {}: {state}", when(&s.at));
    let _ = writeln!(
        out,
        "  webhooks on {}, local API on {}",
        s.webhook_address, s.api_address
    );
    for alert in &s.alerts {
        let _ = writeln!(out, "  ! {}", alert.message);
    }
    let _ = writeln!(out, "  lanes          pending   oldest");
    for (lane, pending) in &s.store.outbox_pending {
        let oldest = s
            .lane_age_ms
            .get(lane)
            .map(|ms| age(*ms))
            .unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(out, "    {lane:<13}{pending:>8}   {oldest}");
    }
    let _ = writeln!(
        out,
        "  upstream       {} webhook(s) not yet processed, {} resource(s) to fetch from BigCommerce",
        s.store.inbox_pending, s.store.fetch_queue
    );
    let m = &s.metrics;
    let _ = writeln!(
        out,
        "  delivered      {} in all ({} since start), {} in flight, {} dead letter(s), {} retries, {} Bloomreach 429s",
        s.store.delivered, m.delivered, s.in_flight, s.store.dead_letters, m.retries, m.bloomreach_429s
    );
    let _ = writeln!(
        out,
        "  webhooks       {} accepted, {} duplicates, {} refused (secret {}, size {}, malformed {}, other store {}), {} with an invalid id",
        m.webhooks_accepted,
        m.webhooks_duplicate,
        m.webhooks_unauthorized + m.webhooks_too_large + m.webhooks_malformed + m.webhooks_other_store,
        m.webhooks_unauthorized,
        m.webhooks_too_large,
        m.webhooks_malformed,
        m.webhooks_other_store,
        m.webhooks_bad_id
    );
    match &s.hooks {
        Some(h) => {
            let _ = writeln!(
                out,
                "  hooks          {} active, {} re-activated, {} created at the last check",
                h.active.len() + h.reactivated.len() + h.created.len(),
                h.reactivated.len(),
                h.created.len()
            );
        }
        None => {
            let _ = writeln!(out, "  hooks          not managed by BigReach");
        }
    }
    let q = &s.bigcommerce_quota;
    let _ = writeln!(
        out,
        "  quota          BigCommerce {} of {} left in the window, {} requests, {} 429s; Bloomreach {} requests/s",
        q.requests_left.map_or("?".to_owned(), |n| n.to_string()),
        q.quota.map_or("?".to_owned(), |n| n.to_string()),
        q.requests_sent,
        q.rate_limited,
        s.bloomreach_requests_per_second
    );
    if let Some(last) = m.last_errors.last() {
        let _ = writeln!(
            out,
            "  last error     {} at {}: {}",
            last.stage,
            DateTime::from_timestamp_millis(last.at_ms)
                .map(|t| when(&t))
                .unwrap_or_default(),
            last.message
        );
    }
    out
}

/// `bigreach trace`.
pub async fn trace(config: &Path, query: &str, json: bool) -> Result<()> {
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let trace: Trace = call(
        config,
        reqwest::Method::GET,
        &format!("api/trace?q={encoded}"),
    )
    .await?;
    if json {
        return emit_json(&trace);
    }
    emit(&trace_report(&trace))
}

/// A trace as a person reads it.
pub fn trace_report(t: &Trace) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Trace for {}", t.query);
    let _ = writeln!(out, "  person keys: {}", t.person_keys.join(", "));
    for link in &t.links {
        let _ = writeln!(out, "    {} → {}", link.from, link.to);
    }
    if t.commands.is_empty() {
        let _ = writeln!(out, "  no commands were queued or sent for this person");
    } else {
        let _ = writeln!(out, "  commands ({}):", t.commands.len());
    }
    for c in &t.commands {
        let detail = match (&c.acknowledged_at, &c.last_error) {
            (Some(at), _) => format!(
                "acknowledged {}{}",
                when(at),
                c.request_id
                    .as_deref()
                    .map(|id| format!(" (request {id})"))
                    .unwrap_or_default()
            ),
            (None, Some(error)) => format!("after {} attempt(s): {error}", c.attempts),
            (None, None) => format!("queued {}", when(&c.enqueued_at)),
        };
        let _ = writeln!(
            out,
            "    #{:<7} {:<28} {:<10} {detail}",
            c.id,
            c.fact,
            c.state.name()
        );
    }
    if !t.withheld.is_empty() {
        let _ = writeln!(out, "  withheld ({}):", t.withheld.len());
    }
    for w in &t.withheld {
        let _ = writeln!(
            out,
            "    {:<20} {} (decided {})",
            w.subject,
            w.reason,
            when(&w.at)
        );
    }
    if !t.set_aside.is_empty() {
        let _ = writeln!(
            out,
            "  set aside ({}), nothing of it is sent until replayed:",
            t.set_aside.len()
        );
    }
    for s in &t.set_aside {
        let _ = writeln!(
            out,
            "    {:<20} {} (since {})",
            s.key,
            s.reason,
            when(&s.set_aside_at)
        );
    }
    if t.set_aside_unattributed > 0 {
        let _ = writeln!(
            out,
            "  {} other fetch(es) are set aside whose person cannot be told until fetched (orders, carts): see `bigreach set-aside list`",
            t.set_aside_unattributed
        );
    }
    let _ = writeln!(out, "  verdict: {}", t.verdict.summary);
    for reason in &t.verdict.reasons {
        let _ = writeln!(out, "    - {reason}");
    }
    out
}

/// `bigreach dead-letters list`: the dead letters, then a line on the set-aside fetches.
pub fn dead_letters_report(letters: &[DeadLetter], set_aside: &[SetAside]) -> String {
    let mut out = String::new();
    if letters.is_empty() {
        out.push_str("no dead letters\n");
    }
    for letter in letters {
        let _ = writeln!(
            out,
            "{:>8}  {:<13} {:<28} {}",
            letter.id,
            letter.lane,
            letter.fact,
            letter.reason.as_deref().unwrap_or("")
        );
    }
    if !set_aside.is_empty() {
        let _ = writeln!(
            out,
            "{} fetch(es) set aside as well (nothing of them was sent): `bigreach set-aside list`",
            set_aside.len()
        );
    }
    out
}

/// `bigreach set-aside list`.
pub fn set_aside_report(fetches: &[SetAside]) -> String {
    if fetches.is_empty() {
        return "nothing is set aside\n".to_owned();
    }
    let mut out = String::new();
    for fetch in fetches {
        let _ = writeln!(
            out,
            "{:<44} set aside {}  {}",
            fetch.key,
            when(&fetch.set_aside_at),
            fetch.reason
        );
    }
    let _ = writeln!(
        out,
        "replay one with `bigreach set-aside replay KEY`, or give it up with `bigreach set-aside discard KEY`"
    );
    out
}

/// `bigreach reconcile`: the per-day, per-currency comparison, with `--repair`, `--csv FILE`
/// and `--json`.
pub async fn reconcile(
    config: &Path,
    request: ReconcileRequest,
    csv: Option<&Path>,
    json: bool,
) -> Result<bool> {
    let out: Reconciliation = call_with(
        config,
        reqwest::Method::POST,
        "api/reconcile",
        Some(&request),
    )
    .await?;
    if let Some(path) = csv {
        let summary = bigreach_core::reconcile::to_csv(&out).context("writing the CSV")?;
        std::fs::write(path, summary).with_context(|| format!("writing {}", path.display()))?;
        let findings_path = findings_path(path);
        let findings =
            bigreach_core::reconcile::findings_csv(&out).context("writing the findings CSV")?;
        std::fs::write(&findings_path, findings)
            .with_context(|| format!("writing {}", findings_path.display()))?;
    }
    if json {
        emit_json(&out)?;
    } else {
        emit(&reconcile_report(&out))?;
    }
    Ok(out.balanced)
}

/// Where the findings CSV goes next to `--csv out.csv`: `out-findings.csv`.
pub fn findings_path(csv: &Path) -> std::path::PathBuf {
    let stem = csv
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "reconciliation".to_owned());
    csv.with_file_name(format!("{stem}-findings.csv"))
}

/// A reconciliation as finance reads it.
pub fn reconcile_report(r: &Reconciliation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Reconciliation {} to {} ({}), BigCommerce against what Bloomreach acknowledged",
        r.range.from, r.range.to, r.time_zone
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<4} {:>6} {:>14} {:>12} {:>14} {:>6} {:>14} {:>12} {:>14}  classes",
        "day",
        "cur",
        "orders",
        "gross",
        "refunds",
        "net",
        "BR ord",
        "BR gross",
        "BR refunds",
        "BR net",
    );
    for row in r.rows.iter().chain(&r.totals) {
        let day = row
            .day
            .map(|d| d.to_string())
            .unwrap_or_else(|| "total".to_owned());
        let mut classes = vec![format!("{} matched", row.matched)];
        for (n, name) in [
            (row.missing, "missing"),
            (row.extra, "extra"),
            (row.duplicate, "duplicate"),
            (row.amount_mismatch, "amount mismatch"),
        ] {
            if n > 0 {
                classes.push(format!("{n} {name}"));
            }
        }
        let _ = writeln!(
            out,
            "  {:<10} {:<4} {:>6} {:>14} {:>12} {:>14} {:>6} {:>14} {:>12} {:>14}  {}",
            day,
            row.currency,
            row.bigcommerce_orders,
            row.bigcommerce_gross.round_dp(2),
            row.bigcommerce_refunds.round_dp(2),
            row.bigcommerce_net.round_dp(2),
            row.bloomreach_orders,
            row.bloomreach_gross.round_dp(2),
            row.bloomreach_refunds.round_dp(2),
            row.bloomreach_net.round_dp(2),
            classes.join(", ")
        );
    }
    if !r.findings.is_empty() {
        let _ = writeln!(out, "  findings ({}):", r.findings.len());
    }
    for f in &r.findings {
        let what = match f.refund_id {
            Some(id) => format!("order {} refund {id}", f.order_id),
            None => format!("order {}", f.order_id),
        };
        let amounts = match (f.bigcommerce_amount, f.bloomreach_amount) {
            (Some(bc), Some(br)) => {
                format!("BigCommerce {bc} {0}, Bloomreach {br} {0}", f.currency)
            }
            (Some(bc), None) => format!("BigCommerce {bc} {}", f.currency),
            (None, Some(br)) => format!("Bloomreach {br} {}", f.currency),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "    {} {:<16} {what}: {amounts}; {}",
            f.day,
            f.class.name(),
            f.note
        );
    }
    if let Some(repair) = &r.repair {
        let _ = writeln!(
            out,
            "  repair: {} order(s) re-read and sent, {} dead letter(s) replayed, {} already on their way, {} discarded by an operator (left alone)",
            repair.orders_resent.len(),
            repair.dead_letters_replayed.len(),
            repair.already_pending.len(),
            repair.left_discarded.len()
        );
    }
    let _ = writeln!(
        out,
        "  sign-off: {}",
        if r.balanced {
            "balanced: every paid order and refund is in Bloomreach once, at its amount"
        } else if r.repair.is_some() {
            "not balanced yet: repaired events are on their way; run it again once delivered"
        } else {
            "not balanced: see the findings; `--repair` sends what is missing"
        }
    );
    out
}
