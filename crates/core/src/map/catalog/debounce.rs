//! Per-variant debouncing of catalog writes, and the trigger decisions that go with it. Pure:
//! the caller (the ingest step) supplies the time and what the store knows about the item.
//!
//! A **burst** starts with the first change of an item whose last write is settled (delivered)
//! or was tried already (backing off). Its write is due `window` after that change; every further change
//! before then joins the same write (newest state, union of the changed fields: the outbox's
//! newest-state rule), so a burst costs one write and no change waits longer than the window.
//! The state the item had when the burst started is its **base**: what Bloomreach holds once
//! the writes before the burst land. Triggers compare the burst's newest state with its base, so
//! a stock flap inside one window is no crossing at all, and a real crossing is one event.
//!
//! A first write (no earlier state) is not debounced: there is nothing to coalesce it with.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The state of an item when its open burst started, kept in the store
/// (`catalog_burst:<variant id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    /// When the burst's first change was seen (ms); names the burst's trigger facts.
    pub started_ms: i64,
    /// The item's full state before the burst (what Bloomreach holds without it).
    pub base: Map<String, Value>,
}

/// The item's last command, when it has not been settled yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsent {
    /// When it is due (its `next_attempt_ms`).
    pub due_ms: i64,
    /// Whether it was tried already (backing off after a 429 or 5xx).
    pub attempted: bool,
}

/// What to do with a new state of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// When its write is due.
    pub due_ms: i64,
    /// The burst it belongs to (`None` for a first write).
    pub burst: Option<Burst>,
    /// Whether the burst is new (its record is to be stored).
    pub new_burst: bool,
}

/// The debouncer for one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// The window (ms); 0 writes every change at once.
    pub window_ms: i64,
}

impl Debounce {
    /// Plans the write of a new state seen at `now_ms`. `previous` is the last state enqueued
    /// for the item, `unsent` its last command when that is still pending, `open` the stored
    /// record of its current burst.
    pub fn plan(
        &self,
        now_ms: i64,
        previous: Option<&Map<String, Value>>,
        unsent: Option<Unsent>,
        open: Option<&Burst>,
    ) -> Plan {
        let Some(previous) = previous else {
            return Plan {
                due_ms: now_ms,
                burst: None,
                new_burst: false,
            };
        };
        // The burst is open while its write waits untried (for its due time, or behind other
        // work once due): the change joins it, and goes no later than it.
        if let (Some(unsent), Some(burst)) = (unsent, open) {
            if !unsent.attempted {
                return Plan {
                    due_ms: unsent.due_ms,
                    burst: Some(burst.clone()),
                    new_burst: false,
                };
            }
        }
        // A new burst. An older write still pending (backing off) is superseded by this one,
        // which carries its fields, so it keeps that one's time when that is sooner.
        let end = now_ms.saturating_add(self.window_ms);
        Plan {
            due_ms: unsent.map_or(end, |u| u.due_ms.min(end)),
            burst: Some(Burst {
                started_ms: now_ms,
                base: previous.clone(),
            }),
            new_burst: true,
        }
    }
}

/// A price drop: the price the shopper pays fell within one burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceDrop {
    /// The price before the burst.
    pub old_price: Decimal,
    /// The price now.
    pub new_price: Decimal,
    /// The regular price (the discount is computed from it, never from the MSRP).
    pub list_price: Decimal,
    /// `(list_price - new_price) / list_price` in percent (see `discount_percentage`).
    pub discount_percentage: Decimal,
}

/// The trigger events a burst's newest state calls for, compared with its base.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Triggers {
    /// Out of stock before the burst, in stock now.
    pub back_in_stock: bool,
    /// The price fell.
    pub price_drop: Option<PriceDrop>,
}

fn decimal(state: &Map<String, Value>, field: &str) -> Option<Decimal> {
    match state.get(field)? {
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn in_stock(state: &Map<String, Value>) -> Option<bool> {
    state.get("in_stock").and_then(Value::as_bool)
}

/// The triggers of `state` against `base` (the state before its burst).
pub fn triggers(base: &Map<String, Value>, state: &Map<String, Value>) -> Triggers {
    let back_in_stock = in_stock(base) == Some(false) && in_stock(state) == Some(true);
    let price_drop = match (decimal(base, "price"), decimal(state, "price")) {
        (Some(old_price), Some(new_price)) if new_price < old_price => {
            let list_price = decimal(state, "list_price").unwrap_or(old_price);
            Some(PriceDrop {
                old_price,
                new_price,
                list_price,
                discount_percentage: super::discount_percentage(list_price, new_price),
            })
        }
        _ => None,
    };
    Triggers {
        back_in_stock,
        price_drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const WINDOW: i64 = 30_000;

    fn state(stock: i64, price: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("stock_level".into(), json!(stock));
        m.insert("in_stock".into(), json!(stock > 0));
        m.insert(
            "price".into(),
            super::super::money(price.parse::<Decimal>().unwrap()),
        );
        m.insert("list_price".into(), json!(25));
        m
    }

    /// One item through the debouncer and a model of the outbox: a pending write (due time,
    /// state, its burst) that a deliverer takes at its due time, and the writes that landed.
    #[derive(Default)]
    struct Item {
        previous: Option<Map<String, Value>>,
        pending: Option<(i64, Map<String, Value>)>,
        burst: Option<Burst>,
        /// (time written, state written, the observation time of its oldest unwritten change).
        written: Vec<(i64, Map<String, Value>, i64)>,
        oldest_unwritten_ms: Option<i64>,
        /// Trigger events, keyed by burst start (newest wins, withdrawn when undone).
        events: std::collections::BTreeMap<i64, Triggers>,
        fired: Vec<Triggers>,
    }

    impl Item {
        fn deliver_until(&mut self, now_ms: i64) {
            if let Some((due, s)) = self.pending.clone() {
                if due <= now_ms {
                    self.written
                        .push((due, s, self.oldest_unwritten_ms.take().unwrap_or(due)));
                    self.pending = None;
                    self.fired
                        .extend(std::mem::take(&mut self.events).into_values());
                }
            }
        }

        fn change(&mut self, now_ms: i64, new: Map<String, Value>) {
            self.deliver_until(now_ms);
            if self.previous.as_ref() == Some(&new) {
                return;
            }
            let unsent = self.pending.as_ref().map(|(due, _)| Unsent {
                due_ms: *due,
                attempted: false,
            });
            let plan = Debounce { window_ms: WINDOW }.plan(
                now_ms,
                self.previous.as_ref(),
                unsent,
                self.burst.as_ref(),
            );
            if let Some(burst) = &plan.burst {
                let t = triggers(&burst.base, &new);
                if t == Triggers::default() {
                    self.events.remove(&burst.started_ms);
                } else {
                    self.events.insert(burst.started_ms, t);
                }
            }
            self.burst = plan.burst;
            self.pending = Some((plan.due_ms, new.clone()));
            self.oldest_unwritten_ms.get_or_insert(now_ms);
            self.previous = Some(new);
        }
    }

    #[test]
    fn a_burst_within_the_window_is_one_write_due_a_window_after_its_first_change() {
        let mut item = Item::default();
        item.change(0, state(5, "20"));
        item.deliver_until(0);
        assert_eq!(item.written.len(), 1, "a first write is not held back");
        for (i, stock) in [4, 3, 2, 1, 9].into_iter().enumerate() {
            item.change(1_000 + i as i64 * 200, state(stock, "20"));
        }
        item.deliver_until(30_999);
        assert_eq!(item.written.len(), 1, "the burst waits for its window");
        item.deliver_until(31_000);
        assert_eq!(item.written.len(), 2);
        assert_eq!(
            item.written[1].1,
            state(9, "20"),
            "the newest state is written"
        );
    }

    #[test]
    fn a_stock_flap_inside_a_window_fires_nothing_and_a_real_crossing_fires_once() {
        let mut item = Item::default();
        item.change(0, state(0, "20"));
        item.deliver_until(0);
        // In, out, in, out… ending out: no crossing.
        for i in 0..10 {
            item.change(1_000 + i * 100, state(if i % 2 == 0 { 3 } else { 0 }, "20"));
        }
        item.deliver_until(100_000);
        assert!(item.fired.is_empty(), "{:?}", item.fired);
        // …ending in: one back-in-stock.
        for i in 0..11 {
            item.change(
                200_000 + i * 100,
                state(if i % 2 == 0 { 3 } else { 0 }, "20"),
            );
        }
        item.deliver_until(300_000);
        assert_eq!(item.fired.len(), 1);
        assert!(item.fired[0].back_in_stock);
    }

    #[test]
    fn a_price_drop_computes_the_discount_from_the_regular_price() {
        let base = state(3, "25");
        let mut now = state(3, "20");
        now.insert("msrp".into(), json!(40));
        let t = triggers(&base, &now);
        let drop = t.price_drop.unwrap();
        assert_eq!(drop.old_price, Decimal::from(25));
        assert_eq!(drop.new_price, Decimal::from(20));
        assert_eq!(drop.discount_percentage, Decimal::from(20));
        assert!(!t.back_in_stock);
        assert_eq!(triggers(&now, &base).price_drop, None, "a rise is no drop");
    }

    #[test]
    fn a_pending_write_backing_off_keeps_its_sooner_time_when_superseded() {
        let previous = state(1, "20");
        let plan = Debounce { window_ms: WINDOW }.plan(
            100_000,
            Some(&previous),
            Some(Unsent {
                due_ms: 90_000,
                attempted: true,
            }),
            None,
        );
        assert_eq!(plan.due_ms, 90_000);
        assert!(plan.new_burst);
    }

    proptest! {
        /// Whatever the changes: every change is written within the window, one write per
        /// burst (at most one per window after the first), and exactly one back-in-stock per
        /// out→in crossing of what was written.
        #[test]
        fn writes_are_bounded_stale_and_crossings_fire_once(
            steps in proptest::collection::vec((0i64..20_000, 0i64..3, 0usize..3), 1..120)
        ) {
            let mut item = Item::default();
            let mut now = 0;
            for (gap, stock, price) in steps {
                now += gap;
                item.change(now, state(stock, ["18", "20", "22"][price]));
            }
            let end = now;
            item.deliver_until(i64::MAX);
            for (written_ms, _, oldest_ms) in &item.written {
                prop_assert!(written_ms - oldest_ms <= WINDOW, "stale for {} ms", written_ms - oldest_ms);
            }
            // The first write is immediate, every other one ends a burst of at least a window.
            let bursts = item.written.len() as i64 - 1;
            prop_assert!(bursts <= end / WINDOW + 1, "{bursts} writes after the first over {end} ms");
            let crossings = item.written.windows(2)
                .filter(|w| w[0].1["in_stock"] == json!(false) && w[1].1["in_stock"] == json!(true))
                .count();
            let fired = item.fired.iter().filter(|t| t.back_in_stock).count();
            prop_assert_eq!(fired, crossings);
            let drops = item.written.windows(2)
                .filter(|w| decimal(&w[1].1, "price") < decimal(&w[0].1, "price"))
                .count();
            prop_assert_eq!(item.fired.iter().filter(|t| t.price_drop.is_some()).count(), drops);
        }
    }
}
