//! Model-based test of the outbox: random sequences of enqueue (repeated facts with the same or
//! another content hash) / claim (through the lane policy, with some lanes disallowed and a
//! command in flight) / record an attempt (delivered, retry that counts or not, dead) / replay /
//! discard / reopen the file / advance time run against the store and against a `BTreeMap`
//! reference model. After every step the two must agree on pending work per lane, dead letters,
//! the delivered ledger, fact dedupe and the three pending indexes; every claim must be due,
//! allowed, not in flight, in per-person order, and non-empty when unblocked work is due.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use proptest::prelude::*;
use redb::{ReadableDatabase, ReadableMultimapTable, ReadableTable};

use super::schema::{OUTBOX_FACTS, OUTBOX_QUEUE, OUTBOX_READY, PENDING_PROFILES};
use super::{decode, Store};
use crate::model::{AttemptOutcome, CommandStatus, Destination, Lane, NewCommand};
use crate::outbox::{Channel, LaneSet};

const BUDGET: u32 = 3;
const FACTS: usize = 8;
const PEOPLE: usize = 3;

/// What a command is, which decides its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Profile,
    Event,
    Catalog,
}

/// A catalog item's id is its fact, as in the product (`item:<variant>`).
fn destination(kind: Kind, fact: &str) -> Destination {
    match kind {
        Kind::Profile => Destination::CustomerUpdate,
        Kind::Event => Destination::Event,
        Kind::Catalog => Destination::CatalogItem {
            item_id: fact.to_owned(),
        },
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Delivered,
    Retry { counts: bool, delay_ms: i64 },
    Dead,
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        fact: usize,
        hash: usize,
        kind: Kind,
        lane: Lane,
        person: Option<usize>,
    },
    Claim {
        max: usize,
        catalog: bool,
        /// The lanes the stage allows.
        allowed: Vec<Lane>,
        /// A command in flight (picked like `Record` picks), skipped by the claim.
        in_flight: Option<usize>,
    },
    Record {
        pick: usize,
        outcome: Outcome,
    },
    Replay {
        pick: usize,
    },
    Discard {
        pick: usize,
    },
    Reopen,
    Advance {
        ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![Just(Kind::Profile), Just(Kind::Event), Just(Kind::Catalog)];
    let lane = proptest::sample::select(Lane::ALL.to_vec());
    let allowed = prop_oneof![
        3 => Just(Lane::ALL.to_vec()),
        1 => proptest::sample::subsequence(Lane::ALL.to_vec(), 0..=Lane::ALL.len()),
    ];
    let outcome = prop_oneof![
        Just(Outcome::Delivered),
        (any::<bool>(), 0i64..50)
            .prop_map(|(counts, delay_ms)| Outcome::Retry { counts, delay_ms }),
        Just(Outcome::Dead),
    ];
    prop_oneof![
        4 => (0..FACTS, 0..2usize, kind, lane, proptest::option::of(0..PEOPLE)).prop_map(
            |(fact, hash, kind, lane, person)| {
                // As the mapper does: catalog items and only they go to the catalog lane.
                let lane = match (kind, lane) {
                    (Kind::Catalog, _) => Lane::Catalog,
                    (_, Lane::Catalog) => Lane::Carts,
                    (_, lane) => lane,
                };
                Op::Enqueue { fact, hash, kind, lane, person }
            }
        ),
        3 => (1usize..8, any::<bool>(), allowed, proptest::option::of(any::<usize>())).prop_map(
            |(max, catalog, allowed, in_flight)| Op::Claim { max, catalog, allowed, in_flight }
        ),
        4 => (any::<usize>(), outcome).prop_map(|(pick, outcome)| Op::Record { pick, outcome }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Discard { pick }),
        1 => Just(Op::Reopen),
        2 => (1i64..40).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Debug, Clone)]
struct ModelCommand {
    lane: Lane,
    kind: Kind,
    fact: String,
    person: Option<String>,
    status: CommandStatus,
    attempts: u32,
    next_attempt_ms: i64,
}

#[derive(Debug, Default)]
struct Model {
    commands: BTreeMap<u64, ModelCommand>,
    facts: BTreeMap<String, (u64, String)>,
    delivered: BTreeSet<u64>,
    dead: BTreeSet<u64>,
    next_id: u64,
    now: i64,
}

impl Model {
    fn pick(&self, pick: usize) -> Option<u64> {
        let ids: Vec<u64> = self.commands.keys().copied().collect();
        (!ids.is_empty()).then(|| ids[pick % ids.len()])
    }

    fn pending(&self) -> impl Iterator<Item = (&u64, &ModelCommand)> {
        self.commands
            .iter()
            .filter(|(_, c)| c.status == CommandStatus::Pending)
    }

    /// An event waits while its person has an undelivered profile command with a lower id.
    fn blocked(&self, id: u64, command: &ModelCommand) -> bool {
        command.kind == Kind::Event
            && command.person.is_some()
            && self.pending().any(|(other, c)| {
                *other < id && c.kind == Kind::Profile && c.person == command.person
            })
    }
}

fn person_key(person: usize) -> String {
    format!("email:p{person}@shop.com")
}

fn open(path: &Path) -> Store {
    Store::open(path).expect("open the store")
}

fn apply(store: &Store, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::Enqueue {
            fact,
            hash,
            kind,
            lane,
            person,
        } => {
            let fact = format!("fact:{fact}");
            let hash = format!("h{hash}");
            let person = person.map(person_key);
            let command = NewCommand {
                lane: *lane,
                destination: destination(*kind, &fact),
                fact: fact.clone(),
                content_hash: hash.clone(),
                customer_key: person.clone(),
                payload: format!(r#"{{"fact":"{fact}","hash":"{hash}"}}"#).into_bytes(),
                event_time_ms: model.now,
            };
            let got = store.write(|tx| tx.enqueue(&command, model.now)).unwrap();
            let repeat = model.facts.get(&fact).is_some_and(|(_, h)| *h == hash);
            let expected = if repeat {
                None
            } else {
                model.next_id += 1;
                let id = model.next_id;
                // A newer state of a catalog item supersedes an older one not yet delivered.
                if let Some((previous, _)) = model.facts.get(&fact) {
                    let previous = *previous;
                    let old = model.commands.get_mut(&previous).expect("a fact's command");
                    // So does a newer trigger event (the triggers lane) of the same fact.
                    let newest_wins = (*kind == Kind::Catalog && old.kind == Kind::Catalog)
                        || (*lane == Lane::Triggers && old.kind == *kind && *kind != Kind::Catalog);
                    if newest_wins
                        && matches!(old.status, CommandStatus::Pending | CommandStatus::Dead)
                    {
                        old.status = CommandStatus::Superseded;
                        model.dead.remove(&previous);
                    }
                }
                model.facts.insert(fact.clone(), (id, hash));
                model.commands.insert(
                    id,
                    ModelCommand {
                        lane: *lane,
                        kind: *kind,
                        fact,
                        person,
                        status: CommandStatus::Pending,
                        attempts: 0,
                        next_attempt_ms: model.now,
                    },
                );
                Some(id)
            };
            prop_assert_eq!(got, expected, "enqueue result");
        }
        Op::Claim {
            max,
            catalog,
            allowed,
            in_flight,
        } => {
            let channel = if *catalog {
                Channel::Catalog
            } else {
                Channel::Tracking
            };
            let exclude: HashSet<u64> = in_flight
                .and_then(|pick| model.pick(pick))
                .into_iter()
                .collect();
            let batch = store
                .claim_batch(model.now, *max, channel, LaneSet::of(allowed), &exclude)
                .unwrap();
            // Catalog items with a state in flight wait for its answer.
            let items_in_flight: BTreeSet<&str> = exclude
                .iter()
                .filter_map(|id| model.commands.get(id))
                .filter(|c| c.kind == Kind::Catalog)
                .map(|c| c.fact.as_str())
                .collect();
            let waits_for_flight = |c: &ModelCommand| {
                *catalog && c.kind == Kind::Catalog && items_in_flight.contains(c.fact.as_str())
            };
            prop_assert!(batch.len() <= *max, "batch over its size");
            let ids: BTreeSet<u64> = batch.iter().map(|c| c.id).collect();
            prop_assert_eq!(ids.len(), batch.len(), "a command twice in one batch");
            for record in &batch {
                let Some(expected) = model.commands.get(&record.id) else {
                    return Err(TestCaseError::fail(format!("unknown id {}", record.id)));
                };
                prop_assert_eq!(&expected.status, &CommandStatus::Pending);
                prop_assert!(expected.next_attempt_ms <= model.now, "not due yet");
                prop_assert_eq!(record.lane == Lane::Catalog, *catalog, "wrong sink");
                prop_assert!(
                    allowed.contains(&record.lane),
                    "a lane the stage does not allow"
                );
                prop_assert!(
                    !exclude.contains(&record.id),
                    "a command in flight claimed again"
                );
                prop_assert!(
                    !waits_for_flight(expected),
                    "catalog item {} sent while an older state of it is in flight",
                    expected.fact
                );
                prop_assert!(
                    !model.blocked(record.id, expected),
                    "event {} sent before its person's profile",
                    record.id
                );
            }
            // Nothing starves: with due, unblocked work in this sink's lanes a batch is never
            // empty (the scan bound is far above these sizes).
            let eligible = model.pending().any(|(id, c)| {
                (c.lane == Lane::Catalog) == *catalog
                    && allowed.contains(&c.lane)
                    && !exclude.contains(id)
                    && c.next_attempt_ms <= model.now
                    && !model.blocked(*id, c)
                    && !waits_for_flight(c)
            });
            prop_assert!(
                !eligible || !batch.is_empty(),
                "due work but an empty batch"
            );
        }
        Op::Record { pick, outcome } => {
            let Some(id) = model.pick(*pick) else {
                return Ok(());
            };
            let outcome = match outcome {
                Outcome::Delivered => AttemptOutcome::Delivered {
                    request_id: Some("r".into()),
                },
                Outcome::Retry { counts, delay_ms } => AttemptOutcome::Retry {
                    error: "try again".into(),
                    next_attempt_ms: model.now + delay_ms,
                    counts: *counts,
                },
                Outcome::Dead => AttemptOutcome::Dead {
                    reason: "rejected".into(),
                },
            };
            store
                .record_attempts(&[(id, outcome.clone())], model.now, BUDGET)
                .unwrap();
            let command = model.commands.get_mut(&id).expect("picked");
            if command.status == CommandStatus::Pending {
                command.attempts += 1;
                match outcome {
                    AttemptOutcome::Delivered { .. } => {
                        command.status = CommandStatus::Delivered;
                        model.delivered.insert(id);
                    }
                    AttemptOutcome::Retry {
                        next_attempt_ms,
                        counts,
                        ..
                    } => {
                        if !counts {
                            command.attempts -= 1;
                        }
                        if command.attempts >= BUDGET {
                            command.status = CommandStatus::Dead;
                            model.dead.insert(id);
                        } else {
                            command.next_attempt_ms = next_attempt_ms;
                        }
                    }
                    AttemptOutcome::Dead { .. } => {
                        command.status = CommandStatus::Dead;
                        model.dead.insert(id);
                    }
                }
            }
        }
        Op::Replay { pick } => {
            let Some(id) = model.pick(*pick) else {
                return Ok(());
            };
            let got = store
                .write(|tx| tx.replay_dead_letter(id, model.now))
                .unwrap();
            let was_dead = model.dead.remove(&id);
            prop_assert_eq!(
                got.is_some(),
                was_dead,
                "replay applies to dead letters only"
            );
            if was_dead {
                let command = model.commands.get_mut(&id).expect("picked");
                command.status = CommandStatus::Pending;
                command.attempts = 0;
                command.next_attempt_ms = model.now;
            }
        }
        Op::Discard { pick } => {
            let Some(id) = model.pick(*pick) else {
                return Ok(());
            };
            let got = store.write(|tx| tx.discard_dead_letter(id)).unwrap();
            let was_dead = model.dead.remove(&id);
            prop_assert_eq!(
                got.is_some(),
                was_dead,
                "discard applies to dead letters only"
            );
            if was_dead {
                model.commands.get_mut(&id).expect("picked").status = CommandStatus::Discarded;
            }
        }
        // Handled by the runner, which owns the handle.
        Op::Reopen => {}
        Op::Advance { ms } => model.now += ms,
    }
    Ok(())
}

fn check(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    // Pending per lane.
    let counts = store.counts().unwrap();
    for lane in Lane::ALL {
        let expected = model.pending().filter(|(_, c)| c.lane == lane).count() as u64;
        prop_assert_eq!(
            counts.outbox_pending.get(lane.name()).copied().unwrap_or(0),
            expected,
            "pending in lane {}",
            lane.name()
        );
    }
    prop_assert_eq!(counts.enqueued, model.next_id);
    // Dead letters and the delivered ledger.
    let dead: BTreeSet<u64> = store.dead_letters().unwrap().iter().map(|c| c.id).collect();
    prop_assert_eq!(&dead, &model.dead, "dead letters");
    let delivered: BTreeSet<u64> = store
        .deliveries()
        .unwrap()
        .iter()
        .map(|(c, _)| c.id)
        .collect();
    prop_assert_eq!(&delivered, &model.delivered, "ledger");
    prop_assert_eq!(counts.delivered, model.delivered.len() as u64);
    // Every record's state.
    for (id, expected) in &model.commands {
        let record = store.command(*id).unwrap().expect("every command is kept");
        prop_assert_eq!(&record.status, &expected.status, "status of {}", id);
        prop_assert_eq!(record.attempts, expected.attempts, "attempts of {}", id);
        if expected.status == CommandStatus::Pending {
            prop_assert_eq!(record.next_attempt_ms, expected.next_attempt_ms);
        }
    }
    prop_assert_eq!(
        store.next_due_ms().unwrap(),
        model.pending().map(|(_, c)| c.next_attempt_ms).min(),
        "next due"
    );
    // Facts and indexes, read from the tables themselves.
    let txn = store.db.begin_read().unwrap();
    let mut facts = BTreeMap::new();
    for row in txn.open_table(OUTBOX_FACTS).unwrap().iter().unwrap() {
        let (fact, value) = row.unwrap();
        let row: super::outbox::FactRow = decode("fact row", value.value()).unwrap();
        facts.insert(fact.value().to_owned(), (row.id, row.content_hash));
    }
    prop_assert_eq!(&facts, &model.facts, "facts");
    let mut ready = BTreeSet::new();
    for row in txn.open_table(OUTBOX_READY).unwrap().iter().unwrap() {
        ready.insert(row.unwrap().0.value());
    }
    let expected_ready: BTreeSet<(u8, i64, u64)> = model
        .pending()
        .map(|(id, c)| (c.lane.index(), c.next_attempt_ms, *id))
        .collect();
    prop_assert_eq!(ready, expected_ready, "outbox_ready");
    let mut queue = BTreeSet::new();
    for row in txn.open_table(OUTBOX_QUEUE).unwrap().iter().unwrap() {
        queue.insert(row.unwrap().0.value());
    }
    let expected_queue: BTreeSet<(u8, u64)> = model
        .pending()
        .map(|(id, c)| (c.lane.index(), *id))
        .collect();
    prop_assert_eq!(queue, expected_queue, "outbox_queue");
    let mut profiles = BTreeSet::new();
    for row in txn
        .open_multimap_table(PENDING_PROFILES)
        .unwrap()
        .iter()
        .unwrap()
    {
        let (person, ids) = row.unwrap();
        for id in ids {
            profiles.insert((person.value().to_owned(), id.unwrap().value()));
        }
    }
    let expected_profiles: BTreeSet<(String, u64)> = model
        .pending()
        .filter(|(_, c)| c.kind == Kind::Profile)
        .filter_map(|(id, c)| c.person.clone().map(|p| (p, *id)))
        .collect();
    prop_assert_eq!(profiles, expected_profiles, "pending_profiles");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_outbox_agrees_with_its_reference_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bigreach.redb");
        let mut store = open(&path);
        let mut model = Model::default();
        for op in &ops {
            if let Op::Reopen = op {
                // redb allows one open database per file: drop the only handle, then reopen.
                drop(store);
                store = open(&path);
            }
            apply(&store, &mut model, op)?;
            check(&store, &model)?;
        }
    }
}
