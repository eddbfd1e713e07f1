//! The full catalog comparison (pure, no I/O): what BigCommerce holds, each variant mapped
//! through the catalog mapping exactly as the live path would write it ([`super::catalog_items`]),
//! against what the Bloomreach catalog holds (its items read back through the catalog API).
//!
//! Every item falls in one class of the [`DriftReport`]:
//!
//! - **in sync**: in both, every mapped field the same (numbers compared as decimals, booleans
//!   also in their `"True"` spelling, null, `""`, `[]` and an absent field alike);
//! - **missing**: BigCommerce has the variant, Bloomreach has no item;
//! - **extra**: Bloomreach has an item BigCommerce has no variant for (a variant deleted while
//!   its webhook was lost, an item made by hand);
//! - **differing**: in both, with the fields that differ (`old` what Bloomreach holds, `new`
//!   what BigCommerce holds);
//! - **retired**: Bloomreach still shows an item BigReach already deleted (the delete is queued
//!   or was accepted and Bloomreach applies catalog writes in the background);
//! - **pending writes**: the difference is explained by a write still on its way: the item's
//!   last outbox command is pending (perhaps debounced or backing off), or was enqueued after
//!   the comparison began, or its product waits in the fetch queue. Not drift.
//!
//! The repair ([`repair_plan`]) is one outbox write per drifted item: a partial update with the
//! differing fields only, the full state for a missing item, a delete for an extra one. They go
//! through the ordinary catalog destination (fact `item:<id>`), so the newest state still wins.

use std::collections::{BTreeMap, BTreeSet};
use ts_rs::TS;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::CatalogItemState;
use crate::model::{Destination, Lane, NewCommand};

/// The frozen payload of a catalog command that deletes its item (the catalog sink sends it as
/// a bulk delete); every other catalog payload is the JSON object of properties to write.
pub const DELETE_PAYLOAD: &[u8] = b"null";

/// Whether a frozen catalog payload deletes its item.
pub fn is_delete(payload: &[u8]) -> bool {
    payload == DELETE_PAYLOAD
}

/// The outbox command that deletes catalog item `item_id` (fact `item:<id>`, so the newest
/// state of the item still wins); `content_hash` tells this delete from an earlier one.
pub fn delete_command(item_id: &str, content_hash: String, now_ms: i64) -> NewCommand {
    NewCommand {
        lane: Lane::Catalog,
        destination: Destination::CatalogItem {
            item_id: item_id.to_owned(),
        },
        fact: format!("item:{item_id}"),
        content_hash,
        customer_key: None,
        payload: DELETE_PAYLOAD.to_vec(),
        event_time_ms: now_ms,
    }
}

/// What the outbox says about an item's last catalog command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastWrite {
    /// Still to be delivered (pending, debounced, backing off or in flight).
    pub pending: bool,
    /// It deletes the item.
    pub delete: bool,
    /// When it was enqueued (ms).
    pub enqueued_at_ms: i64,
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct FieldDrift {
    /// The catalog field.
    pub field: String,
    /// What Bloomreach holds (null when absent).
    pub old: Value,
    /// What BigCommerce holds, mapped.
    pub new: Value,
}

/// An item in both catalogs whose fields differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DifferingItem {
    /// The item id (variant id).
    pub item_id: String,
    /// The differing fields, by name.
    pub fields: Vec<FieldDrift>,
}

/// How many items fell in each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DriftCounts {
    /// Items the same on both sides.
    pub in_sync: usize,
    /// In BigCommerce, not in Bloomreach.
    pub missing: usize,
    /// In Bloomreach, not in BigCommerce (and not retired).
    pub extra: usize,
    /// In both, with fields that differ.
    pub differing: usize,
    /// Deleted by BigReach, still shown by Bloomreach.
    pub retired: usize,
    /// Differences a queued write explains.
    pub pending_writes: usize,
}

/// What a repair enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DriftRepair {
    /// Partial updates carrying only the differing fields.
    pub partial_updates: usize,
    /// Full writes of missing items.
    pub full_upserts: usize,
    /// Deletes of extra items.
    pub deletes: usize,
    /// Items left alone because a newer write for them was enqueued while the comparison ran
    /// (that write brings the newer state).
    pub skipped: Vec<String>,
}

impl DriftRepair {
    /// Writes enqueued.
    pub fn writes(&self) -> usize {
        self.partial_updates + self.full_upserts + self.deletes
    }
}

/// The result of one full comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DriftReport {
    /// When the comparison began reading.
    pub started_at: DateTime<Utc>,
    /// When it had read both sides and compared them.
    pub finished_at: DateTime<Utc>,
    /// Variants BigCommerce has.
    pub bigcommerce_items: usize,
    /// Items the Bloomreach catalog has.
    pub bloomreach_items: usize,
    /// Items per class.
    pub counts: DriftCounts,
    /// Item ids in BigCommerce, not in Bloomreach.
    pub missing: Vec<String>,
    /// Item ids in Bloomreach, not in BigCommerce.
    pub extra: Vec<String>,
    /// Items whose fields differ.
    pub differing: Vec<DifferingItem>,
    /// Item ids already deleted by BigReach.
    pub retired: Vec<String>,
    /// Item ids whose difference a queued write explains.
    pub pending_writes: Vec<String>,
    /// What the repair enqueued (with `--repair`).
    pub repair: Option<DriftRepair>,
}

impl DriftReport {
    /// Items that drifted (missing, extra or differing).
    pub fn drifted(&self) -> usize {
        self.counts.missing + self.counts.extra + self.counts.differing
    }

    /// Whether drift was found and not repaired (`bigreach catalog drift` exits with 10).
    pub fn unrepaired(&self) -> bool {
        self.drifted() > 0 && self.repair.is_none()
    }
}

/// Everything one comparison reads.
#[derive(Debug, Clone, Copy)]
pub struct DriftInput<'a> {
    /// BigCommerce's variants, mapped.
    pub expected: &'a [CatalogItemState],
    /// Bloomreach's items, by id.
    pub actual: &'a BTreeMap<String, Map<String, Value>>,
    /// The last catalog command per item id.
    pub writes: &'a BTreeMap<String, LastWrite>,
    /// Product ids with a fetch queued.
    pub queued_products: &'a BTreeSet<String>,
    /// When the comparison began (ms).
    pub started_at_ms: i64,
    /// When it finished reading (ms).
    pub finished_at_ms: i64,
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Compares both sides.
pub fn compare(input: DriftInput<'_>) -> DriftReport {
    let mut report = DriftReport {
        started_at: utc(input.started_at_ms),
        finished_at: utc(input.finished_at_ms),
        bigcommerce_items: input.expected.len(),
        bloomreach_items: input.actual.len(),
        counts: DriftCounts::default(),
        missing: Vec::new(),
        extra: Vec::new(),
        differing: Vec::new(),
        retired: Vec::new(),
        pending_writes: Vec::new(),
        repair: None,
    };
    let explained = |item_id: &str, product_id: Option<&str>| {
        input
            .writes
            .get(item_id)
            .is_some_and(|w| w.pending || w.enqueued_at_ms >= input.started_at_ms)
            || product_id.is_some_and(|p| input.queued_products.contains(p))
    };
    let mut expected_ids = BTreeSet::new();
    let mut sorted: Vec<&CatalogItemState> = input.expected.iter().collect();
    sorted.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    for item in sorted {
        expected_ids.insert(item.item_id.as_str());
        let product_id = item.properties.get("product_id").and_then(Value::as_str);
        let Some(actual) = input.actual.get(&item.item_id) else {
            if explained(&item.item_id, product_id) {
                report.pending_writes.push(item.item_id.clone());
            } else {
                report.missing.push(item.item_id.clone());
            }
            continue;
        };
        let fields = differing_fields(&item.properties, actual);
        if fields.is_empty() {
            report.counts.in_sync += 1;
        } else if explained(&item.item_id, product_id) {
            report.pending_writes.push(item.item_id.clone());
        } else {
            report.differing.push(DifferingItem {
                item_id: item.item_id.clone(),
                fields,
            });
        }
    }
    for item_id in input.actual.keys() {
        if expected_ids.contains(item_id.as_str()) {
            continue;
        }
        match input.writes.get(item_id) {
            Some(write) if write.delete => report.retired.push(item_id.clone()),
            _ if explained(item_id, None) => report.pending_writes.push(item_id.clone()),
            _ => report.extra.push(item_id.clone()),
        }
    }
    report.counts.missing = report.missing.len();
    report.counts.extra = report.extra.len();
    report.counts.differing = report.differing.len();
    report.counts.retired = report.retired.len();
    report.counts.pending_writes = report.pending_writes.len();
    report
}

/// The mapped fields of `expected` whose value Bloomreach (`actual`) does not hold, by name.
pub fn differing_fields(
    expected: &Map<String, Value>,
    actual: &Map<String, Value>,
) -> Vec<FieldDrift> {
    expected
        .iter()
        .filter_map(|(field, new)| {
            let old = actual.get(field).unwrap_or(&Value::Null);
            (!same_value(old, new)).then(|| FieldDrift {
                field: field.clone(),
                old: old.clone(),
                new: new.clone(),
            })
        })
        .collect()
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn as_decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => {
            let text = number.to_string();
            text.parse::<Decimal>()
                .ok()
                .or_else(|| Decimal::from_scientific(&text).ok())
        }
        Value::String(text) => text.trim().parse::<Decimal>().ok(),
        _ => None,
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether Bloomreach's `old` holds BigReach's `new`: the same JSON, or the same number (as a
/// decimal, whether written as a number or a string), the same boolean (also as `"True"`), the
/// same list element by element; null, `""`, `[]` and an absent field are all "nothing".
pub fn same_value(old: &Value, new: &Value) -> bool {
    if old == new || (is_blank(old) && is_blank(new)) {
        return true;
    }
    match (old, new) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (_, Value::Number(_)) => as_decimal(old).is_some_and(|o| Some(o) == as_decimal(new)),
        (_, Value::Bool(b)) => as_bool(old) == Some(*b),
        (Value::Number(_), Value::String(_)) => {
            as_decimal(old).is_some_and(|o| Some(o) == as_decimal(new))
        }
        _ => false,
    }
}

/// One write a repair enqueues.
#[derive(Debug, Clone, PartialEq)]
pub enum RepairWrite {
    /// A partial update of a differing item: only these fields, with BigCommerce's values.
    Partial {
        /// The item's full state (BigCommerce's, mapped).
        state: CatalogItemState,
        /// The fields to send.
        fields: Map<String, Value>,
    },
    /// The full state of a missing item.
    Upsert {
        /// The item's full state.
        state: CatalogItemState,
    },
    /// The delete of an extra item.
    Delete {
        /// The item id.
        item_id: String,
    },
}

impl RepairWrite {
    /// The item it writes.
    pub fn item_id(&self) -> &str {
        match self {
            RepairWrite::Partial { state, .. } | RepairWrite::Upsert { state } => &state.item_id,
            RepairWrite::Delete { item_id } => item_id,
        }
    }
}

/// The writes that repair `report`: differing items get their differing fields, missing ones
/// their full state (both from `expected`), extra ones a delete. Retired and pending items are
/// left alone.
pub fn repair_plan(report: &DriftReport, expected: &[CatalogItemState]) -> Vec<RepairWrite> {
    let by_id: BTreeMap<&str, &CatalogItemState> = expected
        .iter()
        .map(|state| (state.item_id.as_str(), state))
        .collect();
    let mut plan = Vec::new();
    for item in &report.differing {
        if let Some(state) = by_id.get(item.item_id.as_str()) {
            let fields = item
                .fields
                .iter()
                .map(|f| (f.field.clone(), f.new.clone()))
                .collect();
            plan.push(RepairWrite::Partial {
                state: (*state).clone(),
                fields,
            });
        }
    }
    for item_id in &report.missing {
        if let Some(state) = by_id.get(item_id.as_str()) {
            plan.push(RepairWrite::Upsert {
                state: (*state).clone(),
            });
        }
    }
    for item_id in &report.extra {
        plan.push(RepairWrite::Delete {
            item_id: item_id.clone(),
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(id: &str, product: &str, properties: Value) -> CatalogItemState {
        let mut map = properties.as_object().cloned().unwrap_or_default();
        map.insert("product_id".into(), json!(product));
        CatalogItemState {
            item_id: id.into(),
            properties: map,
            event_time_ms: 1,
        }
    }

    fn actual(items: &[(&str, Value)]) -> BTreeMap<String, Map<String, Value>> {
        items
            .iter()
            .map(|(id, p)| ((*id).to_owned(), p.as_object().cloned().unwrap_or_default()))
            .collect()
    }

    fn run(
        expected: &[CatalogItemState],
        actual: &BTreeMap<String, Map<String, Value>>,
        writes: &BTreeMap<String, LastWrite>,
        queued: &BTreeSet<String>,
    ) -> DriftReport {
        compare(DriftInput {
            expected,
            actual,
            writes,
            queued_products: queued,
            started_at_ms: 1_000,
            finished_at_ms: 2_000,
        })
    }

    #[test]
    fn each_item_falls_in_one_class_and_the_counts_add_up() {
        let expected = vec![
            state("1", "10", json!({"price": 10, "in_stock": true})),
            state("2", "10", json!({"price": 12.5, "in_stock": true})),
            state("3", "20", json!({"price": 7, "in_stock": false})),
            state("4", "20", json!({"price": 8})),
        ];
        let actual = actual(&[
            (
                "1",
                json!({"product_id": "10", "price": 10, "in_stock": true}),
            ),
            (
                "2",
                json!({"product_id": "10", "price": 11, "in_stock": true}),
            ),
            ("9", json!({"product_id": "90", "price": 1})),
            ("4", json!({"product_id": "20", "price": 9})),
        ]);
        let mut writes = BTreeMap::new();
        writes.insert(
            "4".to_owned(),
            LastWrite {
                pending: true,
                delete: false,
                enqueued_at_ms: 500,
            },
        );
        let report = run(&expected, &actual, &writes, &BTreeSet::new());
        assert_eq!(report.missing, vec!["3"]);
        assert_eq!(report.extra, vec!["9"]);
        assert_eq!(report.pending_writes, vec!["4"]);
        assert_eq!(
            report.differing,
            vec![DifferingItem {
                item_id: "2".into(),
                fields: vec![FieldDrift {
                    field: "price".into(),
                    old: json!(11),
                    new: json!(12.5),
                }],
            }]
        );
        assert_eq!(
            report.counts,
            DriftCounts {
                in_sync: 1,
                missing: 1,
                extra: 1,
                differing: 1,
                retired: 0,
                pending_writes: 1,
            }
        );
        assert_eq!(report.drifted(), 3);
        assert!(report.unrepaired());
        assert_eq!((report.bigcommerce_items, report.bloomreach_items), (4, 4));
    }

    #[test]
    fn a_write_enqueued_since_the_start_or_a_queued_product_fetch_explains_a_difference() {
        let expected = vec![
            state("1", "10", json!({"price": 10})),
            state("2", "20", json!({"price": 10})),
            state("3", "30", json!({"price": 10})),
        ];
        let actual = actual(&[
            ("1", json!({"price": 9})),
            ("2", json!({"price": 9})),
            ("3", json!({"price": 9})),
        ]);
        let mut writes = BTreeMap::new();
        // Delivered, but enqueued after the comparison began: Bloomreach was read before it.
        writes.insert(
            "1".to_owned(),
            LastWrite {
                pending: false,
                delete: false,
                enqueued_at_ms: 1_500,
            },
        );
        // Delivered long before: no excuse.
        writes.insert(
            "3".to_owned(),
            LastWrite {
                pending: false,
                delete: false,
                enqueued_at_ms: 10,
            },
        );
        let queued = BTreeSet::from(["20".to_owned()]);
        let report = run(&expected, &actual, &writes, &queued);
        assert_eq!(report.pending_writes, vec!["1", "2"]);
        assert_eq!(report.differing.len(), 1);
        assert_eq!(report.differing[0].item_id, "3");
    }

    #[test]
    fn an_item_we_deleted_is_retired_not_extra() {
        let actual = actual(&[("5", json!({"price": 1})), ("6", json!({"price": 1}))]);
        let mut writes = BTreeMap::new();
        writes.insert(
            "5".to_owned(),
            LastWrite {
                pending: false,
                delete: true,
                enqueued_at_ms: 10,
            },
        );
        let report = run(&[], &actual, &writes, &BTreeSet::new());
        assert_eq!(report.retired, vec!["5"]);
        assert_eq!(report.extra, vec!["6"]);
        assert_eq!(report.counts.retired, 1);
    }

    #[test]
    fn values_are_compared_as_bloomreach_may_spell_them() {
        assert!(same_value(&json!("12.50"), &json!(12.5)));
        assert!(same_value(&json!(12.50), &json!(12.5)));
        assert!(same_value(&json!("True"), &json!(true)));
        assert!(same_value(&json!("false"), &json!(false)));
        assert!(same_value(&Value::Null, &json!("")));
        assert!(same_value(&Value::Null, &json!([])));
        assert!(same_value(&json!(["1", "2"]), &json!(["1", "2"])));
        assert!(same_value(&json!(3), &json!("3")));
        assert!(!same_value(&json!(["2", "1"]), &json!(["1", "2"])));
        assert!(!same_value(&json!(12.49), &json!(12.5)));
        assert!(!same_value(&json!("True"), &json!(false)));
        assert!(!same_value(&Value::Null, &json!(0)));
        assert!(!same_value(&json!("red"), &json!("Red")));
        // A field Bloomreach does not have compares as null.
        let fields = differing_fields(
            json!({"url": "", "price": 3}).as_object().unwrap(),
            json!({"price": "3"}).as_object().unwrap(),
        );
        assert!(fields.is_empty(), "{fields:?}");
    }

    #[test]
    fn the_repair_sends_only_the_differing_fields_the_full_missing_state_and_deletes() {
        let expected = vec![
            state("1", "10", json!({"price": 10, "title": "A"})),
            state("2", "10", json!({"price": 12, "title": "B"})),
        ];
        let actual = actual(&[
            ("1", json!({"product_id": "10", "price": 9, "title": "A"})),
            ("7", json!({"price": 1})),
        ]);
        let report = run(&expected, &actual, &BTreeMap::new(), &BTreeSet::new());
        let plan = repair_plan(&report, &expected);
        assert_eq!(plan.len(), 3);
        match &plan[0] {
            RepairWrite::Partial { state, fields } => {
                assert_eq!(state.item_id, "1");
                assert_eq!(Value::Object(fields.clone()), json!({"price": 10}));
            }
            other => panic!("expected a partial update, got {other:?}"),
        }
        match &plan[1] {
            RepairWrite::Upsert { state } => {
                assert_eq!(state.item_id, "2");
                assert_eq!(state.properties.len(), 3);
            }
            other => panic!("expected a full upsert, got {other:?}"),
        }
        assert_eq!(
            plan[2],
            RepairWrite::Delete {
                item_id: "7".into()
            }
        );
        assert_eq!(
            plan.iter().map(RepairWrite::item_id).collect::<Vec<_>>(),
            vec!["1", "2", "7"]
        );
    }

    #[test]
    fn the_report_travels_as_json_and_back() {
        let expected = vec![state("1", "10", json!({"price": 10}))];
        let report = run(
            &expected,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        let text = serde_json::to_string(&report).unwrap();
        let back: DriftReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.started_at.timestamp_millis(), 1_000);
    }
}
