//! The lane policy: which due commands make up the next batch. Pure: it sees only what the store
//! gathered (the due candidates per lane, in scan order, and which events are held back by
//! whom) and the lanes the current stage allows, and it returns the batch.
//!
//! - Lanes are served by priority, but each lower lane with due work keeps
//!   [`LOWER_LANE_SHARE`] slots of the batch, so none starves while purchases still overtake it
//!   within one batch.
//! - Per-customer order: an event waits while a profile command of the same person with a lower
//!   id is undelivered (even in flight), so a segment never sees a purchase on an empty profile.
//!   Only that person's events wait. A profile command that holds an event back, and is itself
//!   due, is promoted to the front of the batch (at most half a batch), so a purchase waits one
//!   batch for its profile, not for the customers lane's share.
//! - Channels take turns: every [`CATALOG_TURN`]th claim offers the catalog first, so a steady
//!   stream of tracking commands cannot starve it ([`channel_order`]).
//! - A lane the stage does not allow never appears in a batch, not even through promotion; an
//!   event held by a profile in such a lane keeps waiting.

use std::collections::HashSet;

use super::{Channel, Lane, LaneSet, OutboxRecord};

/// Slots of a batch kept for each lower lane that has due work, so that no lane starves while
/// purchases still take most of every batch.
pub const LOWER_LANE_SHARE: usize = 2;

/// One claim in this many offers the catalog channel first.
pub const CATALOG_TURN: u64 = 5;

/// The due work the store found in one lane, in scan order (due time, then id).
#[derive(Debug, Clone, PartialEq)]
pub struct LaneCandidates {
    /// The lane.
    pub lane: Lane,
    /// Due commands, at most one batch of them that are not held back, plus the held-back
    /// events met on the way.
    pub candidates: Vec<Candidate>,
}

/// One due command.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The command.
    pub record: OutboxRecord,
    /// For an event: the earlier undelivered profile command of its person that holds it back.
    pub held_by: Option<Hold>,
}

/// The profile command that holds an event back.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    /// Its id (lower than the event's).
    pub profile_id: u64,
    /// The profile command itself when it is due and not in flight, so that it can be
    /// promoted; `None` when it waits for a retry or is being sent.
    pub due_profile: Option<OutboxRecord>,
}

/// Which channel a claim offers first: the catalog on every [`CATALOG_TURN`]th `turn` (a
/// counter of claims), tracking otherwise. The deliverer falls back to the second when the first
/// has nothing due.
pub fn channel_order(turn: u64) -> [Channel; 2] {
    if turn % CATALOG_TURN == CATALOG_TURN - 1 {
        [Channel::Catalog, Channel::Tracking]
    } else {
        [Channel::Tracking, Channel::Catalog]
    }
}

/// The next batch of at most `max` commands for `channel` out of the gathered `lanes`
/// (highest priority first), keeping only lanes in `allowed`. Promoted profile commands come
/// first, then each lane's take in priority order.
pub fn select_batch(
    channel: Channel,
    allowed: LaneSet,
    lanes: Vec<LaneCandidates>,
    max: usize,
) -> Vec<OutboxRecord> {
    let may_send = |lane: Lane| allowed.contains(lane) && lane.channel() == channel;
    let mut promoted: Vec<OutboxRecord> = Vec::new();
    let mut promoted_ids: HashSet<u64> = HashSet::new();
    let mut per_lane: Vec<Vec<OutboxRecord>> = Vec::new();
    for lane in lanes.into_iter().filter(|l| may_send(l.lane)) {
        let mut ready = Vec::new();
        for candidate in lane.candidates {
            if promoted_ids.contains(&candidate.record.id) {
                continue;
            }
            let Some(hold) = candidate.held_by else {
                ready.push(candidate.record);
                continue;
            };
            if promoted.len() < max / 2 && !promoted_ids.contains(&hold.profile_id) {
                if let Some(profile) = hold.due_profile.filter(|p| may_send(p.lane)) {
                    promoted_ids.insert(profile.id);
                    promoted.push(profile);
                }
            }
        }
        per_lane.push(ready);
    }
    // A promoted profile met again in its own lane is not sent twice.
    for ready in &mut per_lane {
        ready.retain(|c| !promoted_ids.contains(&c.id));
    }
    // A share for each lower lane with work, then fill by priority.
    let mut take: Vec<usize> = vec![0; per_lane.len()];
    let mut left = max - promoted.len().min(max);
    let first_busy = per_lane.iter().position(|c| !c.is_empty());
    for (i, ready) in per_lane.iter().enumerate() {
        if Some(i) != first_busy && !ready.is_empty() {
            let share = LOWER_LANE_SHARE.min(ready.len()).min(left);
            take[i] = share;
            left -= share;
        }
    }
    for (i, ready) in per_lane.iter().enumerate() {
        let more = (ready.len() - take[i]).min(left);
        take[i] += more;
        left -= more;
    }
    promoted
        .into_iter()
        .take(max)
        .chain(
            per_lane
                .into_iter()
                .zip(take)
                .flat_map(|(ready, n)| ready.into_iter().take(n)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{CommandStatus, Destination};

    fn record(id: u64, lane: Lane, destination: Destination, person: &str) -> OutboxRecord {
        OutboxRecord {
            id,
            lane,
            destination,
            fact: format!("fact:{id}"),
            customer_key: Some(person.to_owned()),
            payload: b"{}".to_vec(),
            event_time_ms: 0,
            enqueued_at_ms: 0,
            attempts: 0,
            next_attempt_ms: 0,
            status: CommandStatus::Pending,
            last_error: None,
        }
    }

    fn free(records: Vec<OutboxRecord>) -> Vec<Candidate> {
        records
            .into_iter()
            .map(|record| Candidate {
                record,
                held_by: None,
            })
            .collect()
    }

    fn events(lane: Lane, ids: std::ops::Range<u64>) -> LaneCandidates {
        LaneCandidates {
            lane,
            candidates: free(
                ids.map(|id| record(id, lane, Destination::Event, &format!("p{id}")))
                    .collect(),
            ),
        }
    }

    fn lanes_of(batch: &[OutboxRecord], lane: Lane) -> usize {
        batch.iter().filter(|c| c.lane == lane).count()
    }

    #[test]
    fn each_lower_lane_keeps_its_share_and_the_top_lane_takes_the_rest() {
        let batch = select_batch(
            Channel::Tracking,
            LaneSet::ALL,
            vec![
                events(Lane::Transactions, 0..100),
                events(Lane::Carts, 100..200),
                events(Lane::Backfill, 200..300),
            ],
            50,
        );
        assert_eq!(batch.len(), 50);
        assert_eq!(lanes_of(&batch, Lane::Carts), LOWER_LANE_SHARE);
        assert_eq!(lanes_of(&batch, Lane::Backfill), LOWER_LANE_SHARE);
        assert_eq!(
            lanes_of(&batch, Lane::Transactions),
            50 - 2 * LOWER_LANE_SHARE
        );
        assert!(batch[..46].iter().all(|c| c.lane == Lane::Transactions));
    }

    #[test]
    fn a_lane_alone_fills_the_batch_and_a_short_top_lane_leaves_room_below() {
        let batch = select_batch(
            Channel::Tracking,
            LaneSet::ALL,
            vec![events(Lane::Backfill, 0..80)],
            50,
        );
        assert_eq!(batch.len(), 50);
        let batch = select_batch(
            Channel::Tracking,
            LaneSet::ALL,
            vec![
                events(Lane::Transactions, 0..3),
                events(Lane::Backfill, 100..180),
            ],
            50,
        );
        assert_eq!(lanes_of(&batch, Lane::Transactions), 3);
        assert_eq!(lanes_of(&batch, Lane::Backfill), 47);
    }

    fn held(event_id: u64, profile: OutboxRecord, due: bool) -> Candidate {
        let person = profile.customer_key.clone().unwrap();
        Candidate {
            record: record(event_id, Lane::Transactions, Destination::Event, &person),
            held_by: Some(Hold {
                profile_id: profile.id,
                due_profile: due.then_some(profile),
            }),
        }
    }

    #[test]
    fn held_events_wait_and_their_due_profiles_are_promoted_up_to_half_a_batch() {
        let profiles: Vec<OutboxRecord> = (0..40)
            .map(|i| {
                record(
                    i,
                    Lane::Customers,
                    Destination::CustomerUpdate,
                    &format!("p{i}"),
                )
            })
            .collect();
        let lanes = vec![
            LaneCandidates {
                lane: Lane::Transactions,
                candidates: profiles
                    .iter()
                    .map(|p| held(p.id + 1000, p.clone(), true))
                    .collect(),
            },
            LaneCandidates {
                lane: Lane::Customers,
                candidates: free(profiles.clone()),
            },
        ];
        let batch = select_batch(Channel::Tracking, LaneSet::ALL, lanes, 50);
        assert!(batch.iter().all(|c| c.id < 1000), "no held event is sent");
        assert_eq!(batch.len(), 40, "every profile once, promoted or by share");
        let ids: HashSet<u64> = batch.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 40);
        // The first 25 are the promoted ones, in the order their events were met.
        assert_eq!(
            batch[..25].iter().map(|c| c.id).collect::<Vec<_>>(),
            (0..25).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_profile_waiting_for_a_retry_is_not_promoted_and_its_event_still_waits() {
        let profile = record(1, Lane::Customers, Destination::CustomerUpdate, "a");
        let lanes = vec![LaneCandidates {
            lane: Lane::Transactions,
            candidates: vec![held(2, profile, false)],
        }];
        assert!(select_batch(Channel::Tracking, LaneSet::ALL, lanes, 50).is_empty());
    }

    #[test]
    fn a_disallowed_lane_never_appears_not_even_through_promotion() {
        let profile = record(1, Lane::Customers, Destination::CustomerUpdate, "a");
        let lanes = vec![
            LaneCandidates {
                lane: Lane::Transactions,
                candidates: vec![held(2, profile.clone(), true)],
            },
            LaneCandidates {
                lane: Lane::Customers,
                candidates: free(vec![profile]),
            },
            events(Lane::Backfill, 10..20),
        ];
        let allowed = LaneSet::of(&[Lane::Transactions, Lane::Backfill]);
        let batch = select_batch(Channel::Tracking, allowed, lanes, 50);
        assert_eq!(batch.len(), 10);
        assert!(batch.iter().all(|c| c.lane == Lane::Backfill), "{batch:?}");
        // Nothing allowed: nothing sent.
        let batch = select_batch(
            Channel::Tracking,
            LaneSet::NONE,
            vec![events(Lane::Transactions, 0..5)],
            50,
        );
        assert!(batch.is_empty());
    }

    #[test]
    fn a_claim_serves_one_channel() {
        let catalog = LaneCandidates {
            lane: Lane::Catalog,
            candidates: free(vec![record(
                1,
                Lane::Catalog,
                Destination::CatalogItem {
                    item_id: "9".into(),
                },
                "x",
            )]),
        };
        let tracking = events(Lane::Transactions, 5..7);
        let lanes = vec![tracking, catalog];
        assert_eq!(
            select_batch(Channel::Tracking, LaneSet::ALL, lanes.clone(), 50).len(),
            2
        );
        let catalog_batch = select_batch(Channel::Catalog, LaneSet::ALL, lanes, 50);
        assert_eq!(catalog_batch.len(), 1);
        assert_eq!(catalog_batch[0].lane, Lane::Catalog);
    }

    #[test]
    fn the_catalog_is_offered_first_on_every_fifth_claim() {
        let firsts: Vec<Channel> = (0..10).map(|turn| channel_order(turn)[0]).collect();
        let catalog_turns: Vec<usize> = firsts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == Channel::Catalog)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(catalog_turns, vec![4, 9]);
        assert!((0..10).all(|turn| {
            let order = channel_order(turn);
            order[0] != order[1]
        }));
    }

    #[test]
    fn nothing_starves_every_lane_with_work_moves_in_every_batch() {
        // Batches as large as the deliverer's and smaller; three lower lanes need six slots.
        for max in [7usize, 10, 50] {
            let lanes: Vec<LaneCandidates> = [
                Lane::Transactions,
                Lane::Customers,
                Lane::Carts,
                Lane::Backfill,
            ]
            .into_iter()
            .zip(0u64..)
            .map(|(lane, i)| events(lane, i * 1000..i * 1000 + 200))
            .collect();
            let batch = select_batch(Channel::Tracking, LaneSet::ALL, lanes, max);
            assert_eq!(batch.len(), max);
            for lane in [Lane::Customers, Lane::Carts, Lane::Backfill] {
                assert_eq!(
                    lanes_of(&batch, lane),
                    LOWER_LANE_SHARE,
                    "{lane:?} at {max}"
                );
            }
            assert_eq!(
                lanes_of(&batch, Lane::Transactions),
                max - 3 * LOWER_LANE_SHARE
            );
        }
    }
}
