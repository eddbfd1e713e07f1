//! Variants → Bloomreach catalog items, and the field-level delta a change sends.
//!
//! The contract (every field, its type, whether it is searchable, what it means) is
//! `data/contract/catalog.md`; the built-in fields are [`CATALOG_FIELDS`], the rest come from the
//! declarative [`CatalogMapping`] (`data/catalog.toml`, compiled in, with bigreach.toml
//! `[mapping.catalog]` on top). [`CatalogMapping::fields`] is the full declaration the catalog
//! gets before any item is written.
//!
//! An item's *state* is all of its properties ([`catalog_items`]); what is enqueued is a
//! *delta* ([`catalog_delta`]): only the fields that differ from the last state enqueued for the
//! item, plus the fields of an older delta that never reached Bloomreach (it is superseded by the
//! new command, so the new one must carry them). The content hash is of the full state, so an
//! unchanged state is never enqueued twice and the newest-state rule of the outbox still holds.

use std::collections::BTreeMap;

use bigreach_bigcommerce::{Product, Variant};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{content_hash, money, options_text};
use crate::model::{Destination, Lane, NewCommand};

/// Bloomreach catalogs reject more searchable fields than this in practice (reference
/// bloomreach.md §4.3: Bloomreach's own connector caps them at 20).
pub const MAX_SEARCHABLE: usize = 20;

/// The built-in fields of the product catalog (name, Bloomreach type, searchable), in
/// declaration order. Option and custom fields come from [`CatalogMapping`].
pub const CATALOG_FIELDS: &[(&str, &str, bool)] = &[
    ("product_id", "string", true),
    ("title", "string", true),
    ("sku", "string", false),
    ("url", "string", false),
    ("image", "string", false),
    ("brand_id", "string", true),
    ("category_ids", "list", true),
    ("price", "number", true),
    ("list_price", "number", false),
    ("msrp", "number", false),
    ("discount_percentage", "number", true),
    ("on_sale", "boolean", true),
    ("stock_level", "number", false),
    ("in_stock", "boolean", true),
    ("active", "boolean", true),
    ("visible", "boolean", false),
    ("availability", "string", false),
    ("variant_options", "string", false),
];

/// The default catalog mapping, `data/catalog.toml`, compiled in.
pub(crate) const DEFAULT_CATALOG_MAPPING: &str = include_str!("../../../../data/catalog.toml");

/// The Bloomreach types a mapped custom field may have (values are converted to them).
const CUSTOM_TYPES: [&str; 6] = ["string", "long text", "number", "boolean", "list", "url"];

/// One declared catalog field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFieldSpec {
    /// The property name.
    pub name: String,
    /// Its Bloomreach type.
    pub field_type: String,
    /// Indexed for filtering in recommendations.
    pub searchable: bool,
}

/// `[custom_fields.<name>]` of `data/catalog.toml` and `[mapping.catalog.custom_fields.<name>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldSettings {
    /// The catalog field it fills (empty = leave the custom field out).
    pub field: String,
    /// Its Bloomreach type: string, long text, number, boolean, list, url.
    #[serde(default = "default_custom_type", rename = "type")]
    pub field_type: String,
    /// Indexed for filtering in recommendations.
    #[serde(default)]
    pub searchable: bool,
}

fn default_custom_type() -> String {
    "string".to_owned()
}

/// `[mapping.catalog]` in bigreach.toml (and the whole of `data/catalog.toml`), as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogMappingSettings {
    /// Option display name → catalog field (empty = not a field of its own).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// BigCommerce custom field name → catalog field.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, CustomFieldSettings>,
    /// The debounce window per variant, in seconds: a burst of changes within it is one write,
    /// due this long after its first change (0 to [`MAX_DEBOUNCE_SECS`]; default
    /// [`DEFAULT_DEBOUNCE_SECS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce_secs: Option<u64>,
    /// Send the `back_in_stock` and `price_drop` trigger events (default off). They go to the
    /// triggers lane, which only the production-triggers cutover stage (`bigreach stage`) opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<bool>,
    /// The value of the customer id (`bloomreach.ids.customer_id`) of the one profile the
    /// trigger events are tracked on (default [`DEFAULT_TRIGGER_PROFILE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_profile: Option<String>,
    /// Every this many seconds the poller lists every product with its variants (variant edits
    /// do not move a product's `date_modified`, so a missed `sku` webhook is found only this
    /// way); 0 = only after restoring a webhook. 300 to 86,400; default
    /// [`DEFAULT_SWEEP_SECS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_secs: Option<u64>,
    /// Every this many seconds the full catalog comparison reads every variant from BigCommerce
    /// and every item from Bloomreach, and repairs what drifted
    /// (`core::map::catalog::drift`); 0 = off. 3,600 to 604,800; default
    /// [`DEFAULT_DRIFT_COMPARE_SECS`] (daily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_compare_secs: Option<u64>,
}

/// The variant sweep period when none is configured.
pub const DEFAULT_SWEEP_SECS: u64 = 3_600;

/// The full catalog comparison's period when none is configured (daily).
pub const DEFAULT_DRIFT_COMPARE_SECS: u64 = 86_400;

/// The shortest and the longest period of the full catalog comparison (an hour, a week).
pub const DRIFT_COMPARE_RANGE: std::ops::RangeInclusive<u64> = 3_600..=604_800;

/// The debounce window when none is configured.
pub const DEFAULT_DEBOUNCE_SECS: u64 = 30;

/// The longest debounce window: "Back in Stock" must go out within a minute.
pub const MAX_DEBOUNCE_SECS: u64 = 60;

/// The profile trigger events are tracked on when none is configured.
pub const DEFAULT_TRIGGER_PROFILE: &str = "bigreach-catalog-triggers";

/// A problem with one `[mapping.catalog]` entry: (field path, what is wrong).
pub type Problem = (String, String);

/// The catalog mapping, validated: which option and custom fields become catalog fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogMapping {
    /// Option display name, lower-cased → field.
    options: BTreeMap<String, String>,
    /// Custom field name → (field, type).
    custom: BTreeMap<String, (String, String)>,
    /// Every declared field, built-in first.
    fields: Vec<CatalogFieldSpec>,
    /// The debounce window (ms).
    debounce_ms: i64,
    /// Whether trigger events are sent.
    triggers: bool,
    /// The customer id value of the trigger profile.
    trigger_profile: String,
    /// The scheduled variant sweep's period (s); 0 = none.
    sweep_secs: u64,
    /// The full catalog comparison's period (s); 0 = off.
    drift_compare_secs: u64,
}

fn defaults() -> CatalogMappingSettings {
    toml::from_str::<CatalogMappingSettings>(DEFAULT_CATALOG_MAPPING).unwrap_or_default()
}

fn is_field_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

impl Default for CatalogMapping {
    fn default() -> Self {
        // The compiled-in file is checked by a test (it validates without problems); an
        // unreadable one would be a build defect, so fall back to the built-in fields only.
        Self::with_overrides(&CatalogMappingSettings::default()).unwrap_or_else(|_| Self {
            options: BTreeMap::new(),
            custom: BTreeMap::new(),
            fields: builtin_fields(),
            debounce_ms: DEFAULT_DEBOUNCE_SECS as i64 * 1000,
            triggers: false,
            trigger_profile: DEFAULT_TRIGGER_PROFILE.to_owned(),
            sweep_secs: DEFAULT_SWEEP_SECS,
            drift_compare_secs: DEFAULT_DRIFT_COMPARE_SECS,
        })
    }
}

fn builtin_fields() -> Vec<CatalogFieldSpec> {
    CATALOG_FIELDS
        .iter()
        .map(|(name, field_type, searchable)| CatalogFieldSpec {
            name: (*name).to_owned(),
            field_type: (*field_type).to_owned(),
            searchable: *searchable,
        })
        .collect()
}

impl CatalogMapping {
    /// The defaults of `data/catalog.toml` with `overrides` on top, or every problem at once.
    pub fn with_overrides(overrides: &CatalogMappingSettings) -> Result<Self, Vec<Problem>> {
        let mut settings = defaults();
        for (option, field) in &overrides.options {
            // An override replaces the default entry of the same option, whatever its case.
            settings
                .options
                .retain(|name, _| !name.eq_ignore_ascii_case(option));
            settings.options.insert(option.clone(), field.clone());
        }
        for (name, custom) in &overrides.custom_fields {
            settings.custom_fields.insert(name.clone(), custom.clone());
        }
        let debounce_secs = overrides
            .debounce_secs
            .or(settings.debounce_secs)
            .unwrap_or(DEFAULT_DEBOUNCE_SECS);
        let triggers = overrides.triggers.or(settings.triggers).unwrap_or(false);
        let trigger_profile = overrides
            .trigger_profile
            .clone()
            .or(settings.trigger_profile.clone())
            .unwrap_or_else(|| DEFAULT_TRIGGER_PROFILE.to_owned());
        let sweep_secs = overrides
            .sweep_secs
            .or(settings.sweep_secs)
            .unwrap_or(DEFAULT_SWEEP_SECS);
        let drift_compare_secs = overrides
            .drift_compare_secs
            .or(settings.drift_compare_secs)
            .unwrap_or(DEFAULT_DRIFT_COMPARE_SECS);
        let mut problems = Vec::new();
        if sweep_secs != 0 && !(300..=86_400).contains(&sweep_secs) {
            problems.push((
                "mapping.catalog.sweep_secs".to_owned(),
                format!(
                    "{sweep_secs} s: use 300 to 86400 (each sweep lists every product, one request per 250), or 0 to sweep only after restoring a webhook"
                ),
            ));
        }
        if debounce_secs > MAX_DEBOUNCE_SECS {
            problems.push((
                "mapping.catalog.debounce_secs".to_owned(),
                format!(
                    "{debounce_secs} s is longer than {MAX_DEBOUNCE_SECS} s: stock and price changes (and Back in Stock) must reach Bloomreach within a minute; use 0 to {MAX_DEBOUNCE_SECS}"
                ),
            ));
        }
        if trigger_profile.trim().is_empty() || trigger_profile.len() > 100 {
            problems.push((
                "mapping.catalog.trigger_profile".to_owned(),
                "must be a non-empty customer id of at most 100 characters".to_owned(),
            ));
        }
        if drift_compare_secs != 0 && !DRIFT_COMPARE_RANGE.contains(&drift_compare_secs) {
            problems.push((
                "mapping.catalog.drift_compare_secs".to_owned(),
                format!(
                    "{drift_compare_secs} s: use {} to {} (an hour to a week; each comparison reads every variant from BigCommerce and every item from Bloomreach), or 0 to turn the scheduled comparison off",
                    DRIFT_COMPARE_RANGE.start(),
                    DRIFT_COMPARE_RANGE.end()
                ),
            ));
        }
        let mut fields = builtin_fields();
        let mut options = BTreeMap::new();
        let declare = |fields: &mut Vec<CatalogFieldSpec>,
                       problems: &mut Vec<Problem>,
                       path: String,
                       spec: CatalogFieldSpec| {
            if !is_field_name(&spec.name) {
                problems.push((
                    path,
                    format!(
                        "`{}` must be a catalog field name (lower-case letters, digits, _; starting with a letter) or empty to leave it out",
                        spec.name
                    ),
                ));
                return;
            }
            match fields.iter().find(|f| f.name == spec.name) {
                Some(existing)
                    if existing.field_type == spec.field_type
                        && !CATALOG_FIELDS.iter().any(|(n, _, _)| *n == spec.name) =>
                {
                    // Two options filling one field (Color and Colour) share its declaration.
                }
                Some(_) => {
                    problems.push((path, format!("`{}` is already a catalog field", spec.name)))
                }
                None => fields.push(spec),
            }
        };
        for (option, field) in &settings.options {
            if field.is_empty() {
                continue;
            }
            declare(
                &mut fields,
                &mut problems,
                format!("mapping.catalog.options.{option}"),
                CatalogFieldSpec {
                    name: field.clone(),
                    field_type: "string".to_owned(),
                    searchable: true,
                },
            );
            options.insert(option.to_lowercase(), field.clone());
        }
        let mut custom = BTreeMap::new();
        for (name, setting) in &settings.custom_fields {
            if setting.field.is_empty() {
                continue;
            }
            let path = format!("mapping.catalog.custom_fields.{name}");
            if !CUSTOM_TYPES.contains(&setting.field_type.as_str()) {
                problems.push((
                    format!("{path}.type"),
                    format!(
                        "`{}` is not one of {}",
                        setting.field_type,
                        CUSTOM_TYPES.join(", ")
                    ),
                ));
                continue;
            }
            if options.values().any(|f| f == &setting.field)
                || custom.values().any(|(f, _)| f == &setting.field)
            {
                problems.push((
                    format!("{path}.field"),
                    format!("`{}` is already a catalog field", setting.field),
                ));
                continue;
            }
            declare(
                &mut fields,
                &mut problems,
                format!("{path}.field"),
                CatalogFieldSpec {
                    name: setting.field.clone(),
                    field_type: setting.field_type.clone(),
                    searchable: setting.searchable,
                },
            );
            custom.insert(
                name.clone(),
                (setting.field.clone(), setting.field_type.clone()),
            );
        }
        let searchable = fields.iter().filter(|f| f.searchable).count();
        if searchable > MAX_SEARCHABLE {
            problems.push((
                "mapping.catalog".to_owned(),
                format!(
                    "{searchable} searchable catalog fields; Bloomreach allows at most {MAX_SEARCHABLE} (mark fewer custom fields searchable, or map fewer options)"
                ),
            ));
        }
        if problems.is_empty() {
            Ok(Self {
                options,
                custom,
                fields,
                debounce_ms: debounce_secs as i64 * 1000,
                triggers,
                trigger_profile,
                sweep_secs,
                drift_compare_secs,
            })
        } else {
            Err(problems)
        }
    }

    /// Every field the catalog declares: the built-in ones, then option and custom fields.
    pub fn fields(&self) -> &[CatalogFieldSpec] {
        &self.fields
    }

    /// The per-variant debouncer.
    pub fn debounce(&self) -> debounce::Debounce {
        debounce::Debounce {
            window_ms: self.debounce_ms,
        }
    }

    /// Whether the `back_in_stock` and `price_drop` events are sent.
    pub fn triggers(&self) -> bool {
        self.triggers
    }

    /// The same mapping with the trigger events switched on or off (tests, benches).
    pub fn with_triggers(mut self, on: bool) -> Self {
        self.triggers = on;
        self
    }

    /// The same mapping with another debounce window (tests, benches).
    pub fn with_debounce_ms(mut self, window_ms: i64) -> Self {
        self.debounce_ms = window_ms.max(0);
        self
    }

    /// The scheduled variant sweep's period, if there is one.
    pub fn sweep_interval(&self) -> Option<std::time::Duration> {
        (self.sweep_secs > 0).then(|| std::time::Duration::from_secs(self.sweep_secs))
    }

    /// The full catalog comparison's period, if it is scheduled.
    pub fn drift_compare_interval(&self) -> Option<std::time::Duration> {
        (self.drift_compare_secs > 0)
            .then(|| std::time::Duration::from_secs(self.drift_compare_secs))
    }

    /// The customer id value of the profile trigger events are tracked on.
    pub fn trigger_profile(&self) -> &str {
        &self.trigger_profile
    }
}

/// The full state of one catalog item.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogItemState {
    /// The variant id (never contains `/`).
    pub item_id: String,
    /// Every property of the item.
    pub properties: Map<String, Value>,
    /// The product's `date_modified` (ms).
    pub event_time_ms: i64,
}

impl CatalogItemState {
    /// The outbox fact of this item.
    pub fn fact(&self) -> String {
        format!("item:{}", self.item_id)
    }

    /// The hash of the full state (what the newest-state rule compares).
    pub fn content_hash(&self) -> String {
        content_hash(&Value::Object(self.properties.clone()))
    }

    /// The command that sends `payload` (a delta of this state, or all of it).
    pub fn command(&self, payload: &Map<String, Value>) -> NewCommand {
        NewCommand {
            lane: Lane::Catalog,
            destination: Destination::CatalogItem {
                item_id: self.item_id.clone(),
            },
            fact: self.fact(),
            content_hash: self.content_hash(),
            customer_key: None,
            payload: Value::Object(payload.clone()).to_string().into_bytes(),
            event_time_ms: self.event_time_ms,
        }
    }
}

/// A product → the full state of one catalog item per variant.
pub fn catalog_items(product: &Product, mapping: &CatalogMapping) -> Vec<CatalogItemState> {
    product
        .variants
        .iter()
        .map(|variant| CatalogItemState {
            item_id: variant.id.to_string(),
            properties: catalog_item_properties(product, variant, mapping),
            event_time_ms: product.date_modified.timestamp_millis(),
        })
        .collect()
}

/// A product → one command per variant carrying its full state (a first write).
pub fn catalog_commands(product: &Product, mapping: &CatalogMapping) -> Vec<NewCommand> {
    catalog_items(product, mapping)
        .iter()
        .map(|item| item.command(&item.properties))
        .collect()
}

/// What to send for `state`: with no earlier state, all of it. Otherwise the fields whose value
/// differs from `previous` (the last state enqueued), plus every field of `unsent` (the payload
/// of the last command, when it never reached Bloomreach and is superseded by this one), all with
/// their values in `state`. Fields `state` no longer has are not sent.
pub fn catalog_delta(
    state: &Map<String, Value>,
    previous: Option<&Map<String, Value>>,
    unsent: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let Some(previous) = previous else {
        return state.clone();
    };
    state
        .iter()
        .filter(|(name, value)| {
            previous.get(*name) != Some(*value) || unsent.is_some_and(|u| u.contains_key(*name))
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// `(list - price) / list` in percent, exact, 2 decimal places (half away from zero); 0 when
/// there is no discount.
pub fn discount_percentage(list_price: Decimal, price: Decimal) -> Decimal {
    if list_price <= Decimal::ZERO || price >= list_price {
        return Decimal::ZERO;
    }
    ((list_price - price) * Decimal::ONE_HUNDRED / list_price)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The catalog properties of one variant. Variant prices of `None` inherit the product's.
pub fn catalog_item_properties(
    product: &Product,
    variant: &Variant,
    mapping: &CatalogMapping,
) -> Map<String, Value> {
    // The regular price before a sale.
    let list_price = variant.price.unwrap_or(product.price);
    let sale_price = variant.sale_price.unwrap_or(product.sale_price);
    let msrp = variant.retail_price.unwrap_or(product.retail_price);
    // What the shopper pays now: BigCommerce's calculated price (sale price if set, else the
    // price), worked out here when it is missing.
    let price = if variant.calculated_price > Decimal::ZERO {
        variant.calculated_price
    } else if sale_price > Decimal::ZERO && sale_price < list_price {
        sale_price
    } else {
        list_price
    };
    let on_sale = price < list_price;
    let (stock, tracked) = match product.inventory_tracking.as_str() {
        "product" => (product.inventory_level, true),
        "variant" => (variant.inventory_level, true),
        // Untracked: BigCommerce reports 0 and never runs out.
        _ => (variant.inventory_level, false),
    };
    let purchasable = product.availability != "disabled" && !variant.purchasing_disabled;
    let image = if !variant.image_url.is_empty() {
        variant.image_url.clone()
    } else {
        product
            .images
            .iter()
            .find(|i| i.is_thumbnail)
            .or_else(|| product.images.first())
            .map(|i| i.url_standard.clone())
            .unwrap_or_default()
    };
    let mut p = Map::new();
    p.insert("product_id".into(), json!(product.id.to_string()));
    p.insert("title".into(), json!(product.name));
    p.insert("sku".into(), json!(variant.sku));
    p.insert(
        "url".into(),
        json!(product
            .custom_url
            .as_ref()
            .map(|u| u.url.clone())
            .unwrap_or_default()),
    );
    p.insert("image".into(), json!(image));
    p.insert("brand_id".into(), json!(product.brand_id.to_string()));
    p.insert(
        "category_ids".into(),
        json!(product
            .categories
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()),
    );
    p.insert("price".into(), money(price));
    p.insert("list_price".into(), money(list_price));
    p.insert(
        "msrp".into(),
        if msrp > Decimal::ZERO {
            money(msrp)
        } else {
            Value::Null
        },
    );
    p.insert(
        "discount_percentage".into(),
        money(discount_percentage(list_price, price)),
    );
    p.insert("on_sale".into(), json!(on_sale));
    p.insert("stock_level".into(), json!(stock));
    p.insert(
        "in_stock".into(),
        json!(purchasable && (!tracked || stock > 0)),
    );
    p.insert("active".into(), json!(product.is_visible && purchasable));
    p.insert("visible".into(), json!(product.is_visible));
    p.insert("availability".into(), json!(product.availability));
    p.insert(
        "variant_options".into(),
        json!(options_text(
            variant
                .option_values
                .iter()
                .map(|o| (o.option_display_name.clone(), o.label.clone()))
        )),
    );
    // Every declared option and custom field is present (null when this variant has none), so a
    // value that goes away is cleared in Bloomreach too.
    for field in mapping.options.values() {
        p.insert(field.clone(), Value::Null);
    }
    for option in &variant.option_values {
        if let Some(field) = mapping
            .options
            .get(&option.option_display_name.to_lowercase())
        {
            p.insert(field.clone(), json!(option.label));
        }
    }
    for (name, (field, field_type)) in &mapping.custom {
        let value = product
            .custom_fields
            .iter()
            .find(|c| &c.name == name)
            .map_or(Value::Null, |c| custom_value(&c.value, field_type));
        p.insert(field.clone(), value);
    }
    p
}

/// A custom field's text (≤ 250 characters in BigCommerce) as the declared type.
fn custom_value(text: &str, field_type: &str) -> Value {
    let text = text.trim();
    match field_type {
        "number" => text.parse::<Decimal>().map_or(Value::Null, money),
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => Value::Null,
        },
        "list" => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        _ => Value::String(text.to_owned()),
    }
}

pub mod debounce;
pub mod drift;
pub mod triggers;

#[cfg(test)]
mod tests;
