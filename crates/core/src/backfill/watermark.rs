//! The cut-over watermark: one recorded instant splits the orders between the import and the
//! live path, so that none is both and none neither. An order belongs to the import when it was
//! created at or before the watermark, whatever happens to it later (an edit during the
//! backfill changes its data, not its owner); the backfill skips orders created after it, and
//! live ingest skips the sale of an order the import owns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who sends an order's sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderOwner {
    /// The history import.
    Import,
    /// The live tracking path.
    Live,
}

/// The owner of an order created at `created` under `watermark`.
pub fn order_owner(created: DateTime<Utc>, watermark: DateTime<Utc>) -> OrderOwner {
    if created <= watermark {
        OrderOwner::Import
    } else {
        OrderOwner::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_watermark_is_imported_after_it_is_live() {
        let watermark = DateTime::from_timestamp(1_000, 0).expect("valid");
        let at = watermark;
        let after = DateTime::from_timestamp(1_001, 0).expect("valid");
        let before = DateTime::from_timestamp(999, 0).expect("valid");
        assert_eq!(order_owner(before, watermark), OrderOwner::Import);
        assert_eq!(order_owner(at, watermark), OrderOwner::Import);
        assert_eq!(order_owner(after, watermark), OrderOwner::Live);
    }
}
