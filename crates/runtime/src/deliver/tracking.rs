//! The tracking sink: profile updates and events through one `/batch` request of up to 50
//! commands, each sent as the frozen bytes of its payload under its outbox id as `command_id`.
//! A batch refused for good as a whole is split in halves until the commands at fault stand
//! alone, so one bad command cannot dead-letter its batch.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bigreach_bloomreach::{BatchCommand, BloomreachClient, CommandOutcome, ErrorClass};
use bigreach_clock::SharedClock;
use bigreach_core::outbox::{AttemptOutcome, OutboxRecord};
use serde_json::value::RawValue;

use super::outcome::Classifier;
use super::Sink;
use crate::metrics::Metrics;
use crate::retry_policy::{self, Directive};

/// Sends tracking commands (destinations with a batch command name).
pub(crate) struct TrackingSink {
    pub(crate) bloomreach: Arc<BloomreachClient>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    pub(crate) classifier: Arc<Classifier>,
}

impl Sink for TrackingSink {
    async fn send(&self, work: &[OutboxRecord]) -> Vec<(u64, AttemptOutcome)> {
        self.send_batch(work).await
    }
}

/// What [`TrackingSink::send_batch`] returns: boxed, since a refused batch sends its halves.
type Outcomes<'a> = Pin<Box<dyn Future<Output = Vec<(u64, AttemptOutcome)>> + Send + 'a>>;

impl TrackingSink {
    fn send_batch<'a>(&'a self, work: &'a [OutboxRecord]) -> Outcomes<'a> {
        Box::pin(async move {
            let mut commands = Vec::with_capacity(work.len());
            let mut outcomes = Vec::new();
            for record in work {
                let Some(name) = record.destination.batch_name() else {
                    outcomes.push((
                        record.id,
                        AttemptOutcome::Dead {
                            reason: format!("{} is not a tracking command", record.destination),
                        },
                    ));
                    continue;
                };
                match String::from_utf8(record.payload.clone())
                    .ok()
                    .and_then(|text| RawValue::from_string(text).ok())
                {
                    Some(data) => commands.push(BatchCommand {
                        command_id: record.id.to_string(),
                        name: name.to_owned(),
                        data,
                    }),
                    None => outcomes.push((
                        record.id,
                        AttemptOutcome::Dead {
                            reason: "frozen payload is not valid JSON".to_owned(),
                        },
                    )),
                }
            }
            if commands.is_empty() {
                return outcomes;
            }
            Metrics::add(&self.metrics.batches_sent, 1);
            Metrics::add(&self.metrics.batch_commands, commands.len() as u64);
            let started = self.clock.now_ms();
            let result = self.bloomreach.batch(&commands).await;
            let elapsed_ms = self.clock.now_ms() - started;
            let sent: Vec<u64> = commands
                .iter()
                .filter_map(|c| c.command_id.parse::<u64>().ok())
                .collect();
            match result {
                Ok(response) => {
                    let accepted = response
                        .results
                        .iter()
                        .filter(|r| r.outcome == CommandOutcome::Accepted)
                        .count();
                    tracing::info!(
                        commands = commands.len(),
                        accepted,
                        request_id = response.request_id.as_deref().unwrap_or(""),
                        elapsed_ms,
                        "bloomreach batch delivered"
                    );
                    // The service is healthy again only if it took something and refused nothing for
                    // credentials or load (else a parked delivery would flap, and the backoff streak
                    // of per-command rate limits would reset on every answer).
                    let healthy = accepted > 0
                        && !response.results.iter().any(|r| {
                            matches!(
                                r.outcome,
                                CommandOutcome::Rejected {
                                    class: ErrorClass::Auth | ErrorClass::RateLimited,
                                    ..
                                }
                            )
                        });
                    if healthy {
                        self.classifier.recover_rate();
                    }
                    let sent_ids: HashSet<u64> = sent.iter().copied().collect();
                    let mut answered = HashSet::new();
                    for result in response.results {
                        let Ok(id) = result.command_id.parse::<u64>() else {
                            continue;
                        };
                        // One outcome per command: an id we did not send, or a second answer for
                        // one, is ignored.
                        if !sent_ids.contains(&id) || !answered.insert(id) {
                            continue;
                        }
                        let outcome = match result.outcome {
                            CommandOutcome::Accepted => AttemptOutcome::Delivered {
                                request_id: response.request_id.clone(),
                            },
                            CommandOutcome::Rejected { errors, class } => {
                                self.classifier.command_failure(
                                    class,
                                    format!(
                                        "{} (request id {})",
                                        errors.join("; "),
                                        response.request_id.as_deref().unwrap_or("none")
                                    ),
                                    super::catalog::attempt_number(work, id),
                                )
                            }
                        };
                        outcomes.push((id, outcome));
                    }
                    // A command without a result was not confirmed: send it again.
                    for id in sent {
                        if !answered.contains(&id) {
                            outcomes.push((
                                id,
                                self.classifier.unanswered(
                                    "no result for this command",
                                    super::catalog::attempt_number(work, id),
                                ),
                            ));
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        commands = commands.len(),
                        code = error.code(),
                        request_id = error.request_id().unwrap_or(""),
                        elapsed_ms,
                        error = %crate::log_safe::log_safe(&error.to_string()),
                        "bloomreach batch failed"
                    );
                    // A whole request refused for good (400, 413, 422) may be one command's fault:
                    // split it and send the halves, so only the commands that are refused on their
                    // own become dead letters, not the 49 others sharing their batch.
                    if sent.len() > 1
                        && retry_policy::bloomreach_request(&error).directive
                            == Directive::DeadLetter
                    {
                        let sent: HashSet<u64> = sent.iter().copied().collect();
                        let rest: Vec<OutboxRecord> = work
                            .iter()
                            .filter(|r| sent.contains(&r.id))
                            .cloned()
                            .collect();
                        let (left, right) = rest.split_at(rest.len() / 2);
                        tracing::info!(
                        commands = rest.len(),
                        "a whole batch was refused for good; sending it in halves to find the commands at fault"
                    );
                        outcomes.extend(self.send_batch(left).await);
                        outcomes.extend(self.send_batch(right).await);
                        return outcomes;
                    }
                    let attempts = work.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                    let outcome = self.classifier.request_failure(&error, attempts);
                    outcomes.extend(sent.into_iter().map(|id| (id, outcome.clone())));
                }
            }
            outcomes
        })
    }
}
