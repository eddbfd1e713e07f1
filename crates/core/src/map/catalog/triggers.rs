//! The trigger events a catalog change calls for: `back_in_stock` and `price_drop`
//! (data/contract/catalog.md, "Trigger events"). Decided per burst ([`super::debounce`]): the
//! fact names the item and the burst, so one real change is one event, a refined one replaces
//! it while it waits, and one undone within the window is withdrawn.

use serde_json::{json, Map, Value};

use super::debounce::{Burst, Triggers};
use super::{content_hash, money, CatalogItemState};
use crate::model::{Destination, Lane, NewCommand};

/// The event type of a variant coming back in stock.
pub const BACK_IN_STOCK: &str = "back_in_stock";

/// The event type of a variant's price falling.
pub const PRICE_DROP: &str = "price_drop";

/// The fact of a trigger event of one burst of one item.
pub fn trigger_fact(event_type: &str, item_id: &str, burst: &Burst) -> String {
    format!("{event_type}:{item_id}:{}", burst.started_ms)
}

/// What a trigger calls for: the events to enqueue and the facts to withdraw (a change the
/// burst undid).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TriggerCommands {
    /// Events to enqueue (each a newer state of its fact).
    pub enqueue: Vec<NewCommand>,
    /// Facts whose waiting event is to be withdrawn.
    pub withdraw: Vec<String>,
}

/// Who trigger events are tracked on: `customer_id_name` = `profile` (one system profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerProfile<'a> {
    /// The customer id's name (`bloomreach.ids.customer_id`).
    pub customer_id_name: &'a str,
    /// Its value.
    pub profile: &'a str,
}

/// The trigger commands for `item`'s newest state in `burst`, seen at `now_ms`.
pub fn trigger_commands(
    item: &CatalogItemState,
    burst: &Burst,
    triggers: &Triggers,
    who: &TriggerProfile<'_>,
    now_ms: i64,
) -> TriggerCommands {
    let mut out = TriggerCommands::default();
    let p = &item.properties;
    let common = |extra: &[(&str, Value)]| {
        let mut props = Map::new();
        props.insert("item_id".into(), json!(item.item_id));
        for field in ["product_id", "sku", "title", "url", "image", "stock_level"] {
            props.insert(field.into(), p.get(field).cloned().unwrap_or(Value::Null));
        }
        for (name, value) in extra {
            props.insert((*name).into(), value.clone());
        }
        props
    };
    let back_fact = trigger_fact(BACK_IN_STOCK, &item.item_id, burst);
    if triggers.back_in_stock {
        let props = common(&[
            ("price", p.get("price").cloned().unwrap_or(Value::Null)),
            (
                "list_price",
                p.get("list_price").cloned().unwrap_or(Value::Null),
            ),
        ]);
        out.enqueue
            .push(event(back_fact, BACK_IN_STOCK, props, who, now_ms));
    } else {
        out.withdraw.push(back_fact);
    }
    let drop_fact = trigger_fact(PRICE_DROP, &item.item_id, burst);
    match &triggers.price_drop {
        Some(drop) => {
            let props = common(&[
                ("old_price", money(drop.old_price)),
                ("new_price", money(drop.new_price)),
                ("price", money(drop.new_price)),
                ("list_price", money(drop.list_price)),
                ("discount_percentage", money(drop.discount_percentage)),
            ]);
            out.enqueue
                .push(event(drop_fact, PRICE_DROP, props, who, now_ms));
        }
        None => out.withdraw.push(drop_fact),
    }
    out
}

fn event(
    fact: String,
    event_type: &str,
    properties: Map<String, Value>,
    who: &TriggerProfile<'_>,
    now_ms: i64,
) -> NewCommand {
    // The content is what the event says, so a refined one (a lower price) replaces it while
    // it waits and a repeat of the same is no new command.
    let content = content_hash(&Value::Object(properties.clone()));
    let data = json!({
        "customer_ids": { who.customer_id_name: who.profile },
        "event_type": event_type,
        "timestamp": now_ms as f64 / 1000.0,
        "properties": properties,
    });
    NewCommand {
        lane: Lane::Triggers,
        destination: Destination::Event,
        fact,
        content_hash: content,
        customer_key: None,
        payload: data.to_string().into_bytes(),
        event_time_ms: now_ms,
    }
}
