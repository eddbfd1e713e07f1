//! Where a frozen command goes: a closed set, so that a new destination (the Imports API) is a
//! new variant that every `match` has to answer, not a new string to compare.

use serde::{Deserialize, Serialize};

use super::Channel;

/// Where a frozen command goes.
///
/// On disk (and in JSON) it keeps the form of schema version 2, `Tracking { name }` with the
/// batch command name or `CatalogItem { item_id }`, so stores written before the enum was closed
/// read unchanged and older builds can still read new records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireDestination", try_from = "WireDestination")]
pub enum Destination {
    /// A profile update: tracking batch command `customers`; the payload is its `data`.
    CustomerUpdate,
    /// An event: tracking batch command `customers/events`; the payload is its `data`.
    Event,
    /// A catalog item upsert (bulk partial update); the payload is its `properties`.
    CatalogItem {
        /// The catalog item id (the variant id).
        item_id: String,
    },
    // Room for an import through the Imports API (history), with its own channel, when the
    // backfill issue lands. Its wire form will need a new tag, hence a schema version.
}

/// The batch command name of a profile update.
const CUSTOMERS: &str = "customers";
/// The batch command name of an event.
const EVENTS: &str = "customers/events";

impl Destination {
    /// The tracking batch command name (`customers`, `customers/events`), for tracking
    /// destinations.
    pub fn batch_name(&self) -> Option<&'static str> {
        match self {
            Destination::CustomerUpdate => Some(CUSTOMERS),
            Destination::Event => Some(EVENTS),
            Destination::CatalogItem { .. } => None,
        }
    }

    /// The channel it is delivered through.
    pub fn channel(&self) -> Channel {
        match self {
            Destination::CustomerUpdate | Destination::Event => Channel::Tracking,
            Destination::CatalogItem { .. } => Channel::Catalog,
        }
    }
}

impl std::fmt::Display for Destination {
    /// For operators: the batch command name, or `catalog item <id>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::CustomerUpdate => f.write_str(CUSTOMERS),
            Destination::Event => f.write_str(EVENTS),
            Destination::CatalogItem { item_id } => write!(f, "catalog item {item_id}"),
        }
    }
}

/// The serialized form (schema version 2's `Destination`).
#[derive(Serialize, Deserialize)]
enum WireDestination {
    Tracking { name: String },
    CatalogItem { item_id: String },
}

impl From<Destination> for WireDestination {
    fn from(destination: Destination) -> Self {
        match destination {
            Destination::CustomerUpdate => WireDestination::Tracking {
                name: CUSTOMERS.to_owned(),
            },
            Destination::Event => WireDestination::Tracking {
                name: EVENTS.to_owned(),
            },
            Destination::CatalogItem { item_id } => WireDestination::CatalogItem { item_id },
        }
    }
}

impl TryFrom<WireDestination> for Destination {
    type Error = String;

    fn try_from(wire: WireDestination) -> Result<Self, Self::Error> {
        match wire {
            WireDestination::Tracking { name } if name == CUSTOMERS => {
                Ok(Destination::CustomerUpdate)
            }
            WireDestination::Tracking { name } if name == EVENTS => Ok(Destination::Event),
            WireDestination::Tracking { name } => Err(format!(
                "unknown tracking batch command {name:?} (this build knows {CUSTOMERS:?} and {EVENTS:?})"
            )),
            WireDestination::CatalogItem { item_id } => Ok(Destination::CatalogItem { item_id }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Schema version 2's enum, as it was declared before the destinations were closed.
    #[derive(Serialize)]
    enum OldDestination {
        Tracking { name: String },
        CatalogItem { item_id: String },
    }

    #[test]
    fn records_written_with_the_open_form_read_as_the_closed_enum() {
        for (old, new) in [
            (
                OldDestination::Tracking {
                    name: "customers".into(),
                },
                Destination::CustomerUpdate,
            ),
            (
                OldDestination::Tracking {
                    name: "customers/events".into(),
                },
                Destination::Event,
            ),
            (
                OldDestination::CatalogItem {
                    item_id: "77".into(),
                },
                Destination::CatalogItem {
                    item_id: "77".into(),
                },
            ),
        ] {
            let bytes = rmp_serde::to_vec_named(&old).unwrap();
            let read: Destination = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(read, new);
            // And it is written back byte for byte as before.
            assert_eq!(rmp_serde::to_vec_named(&new).unwrap(), bytes);
            assert_eq!(
                serde_json::to_value(&new).unwrap(),
                serde_json::to_value(&old).unwrap()
            );
        }
    }

    #[test]
    fn an_unknown_batch_command_is_a_decode_error_not_a_guess() {
        let bytes = rmp_serde::to_vec_named(&OldDestination::Tracking {
            name: "customers/imports".into(),
        })
        .unwrap();
        let err = rmp_serde::from_slice::<Destination>(&bytes).unwrap_err();
        assert!(err.to_string().contains("customers/imports"), "{err}");
    }

    #[test]
    fn operators_see_the_same_names_as_before() {
        assert_eq!(Destination::CustomerUpdate.to_string(), "customers");
        assert_eq!(Destination::Event.to_string(), "customers/events");
        assert_eq!(
            Destination::CatalogItem {
                item_id: "5".into()
            }
            .to_string(),
            "catalog item 5"
        );
    }
}
