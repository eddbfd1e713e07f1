//! Serde helpers for BigCommerce's mixed wire formats.
//!
//! - Money: v2 sends 4-decimal strings (`"62.6793"`), v3 sends JSON numbers (`25.0`). Both parse
//!   into [`Decimal`]; an empty string or `null` is zero for required amounts and `None` for
//!   optional ones. Serializing uses `rust_decimal`'s string form, which these helpers read back.
//! - Dates: v2 sends RFC 2822 (`"Tue, 05 Mar 2019 21:40:11 +0000"`), v3 sends ISO-8601, webhooks
//!   send Unix seconds. [`datetime`] accepts all three; serializing writes RFC 3339.
//! - Ids: usually integers, sometimes numeric strings. [`id`] accepts both.
//! - `null` where a string, bool or number is expected becomes the type's default
//!   ([`null_as_default`]), because one unexpected `null` must not fail a whole page.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// Accepts `null` (or a missing field, with `#[serde(default)]`) as `T::default()`.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses a decimal from a JSON string or number. `None` for `null` and `""`.
pub(crate) fn decimal_from_value(value: &Value) -> Result<Option<Decimal>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => parse_decimal_text(text.trim()).map(Some),
        Value::Number(number) => parse_decimal_text(&number.to_string()).map(Some),
        other => Err(format!("expected a decimal string or number, got {other}")),
    }
}

fn parse_decimal_text(text: &str) -> Result<Decimal, String> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|error| format!("invalid decimal {text:?}: {error}"))
}

/// Money that is always present: string or number; `null`/`""` become zero.
pub mod decimal {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let value = Value::deserialize(deserializer)?;
        decimal_from_value(&value)
            .map(Option::unwrap_or_default)
            .map_err(de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(
        value: &Decimal,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }
}

/// Optional money: `null`/`""`/missing become `None`.
pub mod optional_decimal {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        decimal_from_value(&value).map_err(de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(amount) => serializer.serialize_str(&amount.to_string()),
            None => serializer.serialize_none(),
        }
    }
}

/// Parses RFC 3339 / ISO-8601 (with or without offset), RFC 2822, or Unix seconds.
pub(crate) fn datetime_from_value(value: &Value) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => parse_datetime_text(text.trim())
            .and_then(|at| in_range(at, text))
            .map(Some),
        Value::Number(number) => {
            let seconds = number
                .as_i64()
                .ok_or_else(|| format!("timestamp {number} is not whole seconds"))?;
            Utc.timestamp_opt(seconds, 0)
                .single()
                .ok_or_else(|| format!("timestamp {seconds} is out of range"))
                .and_then(|at| in_range(at, &seconds.to_string()))
                .map(Some)
        }
        other => Err(format!(
            "expected a date string or Unix seconds, got {other}"
        )),
    }
}

/// A date in UTC years 0 to 9999: what RFC 3339 (four-digit years) can write, so that a decoded
/// resource serializes to JSON that decodes again. No real BigCommerce date is outside it.
fn in_range(at: DateTime<Utc>, text: &str) -> Result<DateTime<Utc>, String> {
    use chrono::Datelike as _;
    if (0..=9999).contains(&at.year()) {
        Ok(at)
    } else {
        Err(format!(
            "date {:?} is out of range (UTC years 0 to 9999)",
            crate::error::excerpt(text, 40)
        ))
    }
}

fn parse_datetime_text(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Ok(parsed.with_timezone(&Utc));
    }
    if let Ok(parsed) = DateTime::parse_from_rfc2822(text) {
        return Ok(parsed.with_timezone(&Utc));
    }
    // ISO-8601 without an offset ("2024-05-14T09:34:00"): BigCommerce means UTC.
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(naive.and_utc());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        if let Some(parsed) = Utc.timestamp_opt(seconds, 0).single() {
            return Ok(parsed);
        }
    }
    Err(format!(
        "invalid date {text:?}: expected RFC 3339, RFC 2822 or Unix seconds"
    ))
}

/// A required date in any of BigCommerce's formats. `null`/`""` become the Unix epoch so a
/// lenient record still parses; callers compare `date_modified`, so the epoch sorts first.
pub mod datetime {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        datetime_from_value(&value)
            .map(Option::unwrap_or_default)
            .map_err(de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(
        value: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_rfc3339())
    }
}

/// An optional date (`date_shipped` is `""` until shipped).
pub mod optional_datetime {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        datetime_from_value(&value).map_err(de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(
        value: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(at) => serializer.serialize_str(&at.to_rfc3339()),
            None => serializer.serialize_none(),
        }
    }
}

/// Parses an id from a JSON integer or a numeric string. `None` for `null`/`""`.
pub(crate) fn id_from_value(value: &Value) -> Result<Option<u64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("invalid id {text:?}: expected a non-negative integer")),
        Value::Number(number) => number
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("invalid id {number}: expected a non-negative integer")),
        other => Err(format!("expected an id, got {other}")),
    }
}

/// A required id, integer or numeric string. `null` becomes 0.
pub mod id {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let value = Value::deserialize(deserializer)?;
        id_from_value(&value)
            .map(Option::unwrap_or_default)
            .map_err(de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value)
    }
}

/// An optional id, integer or numeric string.
pub mod optional_id {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        id_from_value(&value).map_err(de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(
        value: &Option<u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(id) => serializer.serialize_u64(*id),
            None => serializer.serialize_none(),
        }
    }
}

/// A string that may arrive as a JSON string or number (e.g. webhook `store_id`).
pub mod string_or_number {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::Null => Ok(String::new()),
            Value::String(text) => Ok(text),
            Value::Number(number) => Ok(number.to_string()),
            other => Err(de::Error::custom(format!(
                "expected a string or number, got {other}"
            ))),
        }
    }

    pub fn serialize<S: serde::Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }
}

/// An unsigned count or quantity that may arrive as a number, numeric string or `null`.
pub mod count {
    use super::*;

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64> + Default,
    {
        let value = Value::deserialize(deserializer)?;
        let raw = id_from_value(&value).map_err(de::Error::custom)?;
        match raw {
            None => Ok(T::default()),
            Some(number) => T::try_from(number)
                .map_err(|_| de::Error::custom(format!("count {number} is out of range"))),
        }
    }
}

/// A signed integer (stock levels) that may arrive as a number, numeric string or `null`.
pub mod signed {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::Null => Ok(0),
            Value::Number(number) => number
                .as_i64()
                .or_else(|| number.as_f64().map(|float| float as i64))
                .ok_or_else(|| de::Error::custom(format!("invalid integer {number}"))),
            Value::String(text) if text.trim().is_empty() => Ok(0),
            Value::String(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|_| de::Error::custom(format!("invalid integer {text:?}"))),
            other => Err(de::Error::custom(format!(
                "expected an integer, got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_parse_from_strings_and_numbers() {
        assert_eq!(
            decimal_from_value(&json!("62.6793")).unwrap(),
            Some(Decimal::from_str("62.6793").unwrap())
        );
        assert_eq!(
            decimal_from_value(&json!(25.0)).unwrap(),
            Some(Decimal::from_str("25").unwrap())
        );
        assert_eq!(
            decimal_from_value(&json!(0.1)).unwrap(),
            Some(Decimal::from_str("0.1").unwrap())
        );
        assert_eq!(decimal_from_value(&json!("")).unwrap(), None);
        assert!(decimal_from_value(&json!("abc")).is_err());
        assert!(decimal_from_value(&json!(true)).is_err());
    }

    #[test]
    fn dates_parse_rfc2822_iso_and_unix() {
        let expected = Utc.with_ymd_and_hms(2019, 3, 5, 21, 40, 11).unwrap();
        assert_eq!(
            datetime_from_value(&json!("Tue, 05 Mar 2019 21:40:11 +0000")).unwrap(),
            Some(expected)
        );
        assert_eq!(
            datetime_from_value(&json!("2019-03-05T22:40:11+01:00")).unwrap(),
            Some(expected)
        );
        assert_eq!(
            datetime_from_value(&json!("2019-03-05T21:40:11")).unwrap(),
            Some(expected)
        );
        assert_eq!(
            datetime_from_value(&json!(expected.timestamp())).unwrap(),
            Some(expected)
        );
        assert_eq!(datetime_from_value(&json!("")).unwrap(), None);
        assert!(datetime_from_value(&json!("yesterday")).is_err());
    }

    #[test]
    fn dates_outside_years_0_to_9999_are_refused_so_that_what_decodes_encodes_again() {
        // These decoded, but their RFC 3339 form (`+10000-…`, `-0001-…`) does not, so an order
        // the poller stored (as JSON) could not be read back, which breaks the round trip the
        // `bigcommerce_responses` fuzz target asserts; chrono's far ends also overflow the
        // poller's `watermark - overlap`.
        for date in [
            json!(253_402_300_800_i64),
            json!("9999-12-31T23:59:59-01:00"),
            json!("0000-01-01T00:00:00+01:00"),
            json!("Fri, 31 Dec 9999 23:59:59 -0100"),
            json!("253402300800"),
            json!(-8_210_266_876_800_i64),
        ] {
            let error = datetime_from_value(&date).unwrap_err();
            assert!(error.contains("out of range"), "{date}: {error}");
        }
        for date in [json!("9999-12-31T23:59:59Z"), json!("0000-01-01T00:00:00Z")] {
            let parsed = datetime_from_value(&date).unwrap().unwrap();
            let again = datetime_from_value(&json!(parsed.to_rfc3339())).unwrap();
            assert_eq!(again, Some(parsed), "{date}");
        }
    }

    #[test]
    fn ids_parse_from_numbers_and_strings() {
        assert_eq!(id_from_value(&json!(42)).unwrap(), Some(42));
        assert_eq!(id_from_value(&json!("42")).unwrap(), Some(42));
        assert_eq!(id_from_value(&json!(null)).unwrap(), None);
        assert!(id_from_value(&json!(-1)).is_err());
        assert!(id_from_value(&json!("x1")).is_err());
    }
}
