//! Set-aside fetches: resources whose fetch from BigCommerce failed for good (an id the client
//! refuses, a 4xx that is not about credentials, an undecodable body), kept out of the fetch
//! queue with the reason so that they hold nothing else up. An operator lists them, replays one
//! (back into the fetch queue, fetched within a second) or discards it; every action is audited.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::dead_letters::utc;
use super::{AppApi, AppError, Code};
use crate::model::FetchTarget;
use crate::store::SetAsideFetch;

/// What happened to a set-aside fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SetAsideState {
    /// Out of the fetch queue, waiting for an operator.
    SetAside,
    /// Put back into the fetch queue.
    Replayed,
    /// Given up for good.
    Discarded,
}

/// A set-aside fetch as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SetAside {
    /// The fetch key, e.g. `product:77` or `cart:…` (what replay and discard take).
    pub key: String,
    /// Why its fetch cannot work.
    pub reason: String,
    /// When it was set aside.
    pub set_aside_at: DateTime<Utc>,
    /// The oldest notification that named it.
    pub oldest_notification_at: DateTime<Utc>,
    /// Its state: `set_aside`, or after an action `replayed` or `discarded`.
    pub state: SetAsideState,
}

impl SetAside {
    fn from_record(record: &SetAsideFetch, state: SetAsideState) -> Self {
        SetAside {
            key: record.key.clone(),
            reason: record.reason.clone(),
            set_aside_at: utc(record.at_ms),
            oldest_notification_at: utc(record.oldest_event_ms),
            state,
        }
    }
}

/// The key as a fetch target, or a bad request.
fn fetch_key(key: &str) -> Result<String, AppError> {
    FetchTarget::from_key(key).map(|t| t.key()).ok_or_else(|| {
        AppError::new(
            Code::BadRequest,
            "not a fetch key: expected `order:<id>`, `customer:<id>`, `product:<id>` or `cart:<id>`, as `GET /api/set-aside` lists them",
        )
    })
}

fn not_set_aside() -> AppError {
    AppError::new(
        Code::NotFound,
        "no fetch is set aside under that key; list them with the set_aside_fetches operation",
    )
}

impl AppApi {
    /// Every set-aside fetch, by key.
    pub fn set_aside_fetches(&self) -> Result<Vec<SetAside>, AppError> {
        Ok(self
            .store
            .set_aside_fetches()?
            .iter()
            .map(|r| SetAside::from_record(r, SetAsideState::SetAside))
            .collect())
    }

    /// Puts a set-aside fetch back into the fetch queue, due now, audited.
    pub fn replay_set_aside_fetch(&self, key: &str, actor: &str) -> Result<SetAside, AppError> {
        if FetchTarget::from_key(key).is_none() && self.store.set_aside_fetch(key)?.is_some() {
            return Err(AppError::new(
                Code::BadRequest,
                "this entry names nothing BigCommerce can be asked for (its id is not valid, or it is an inbox entry that cannot be read): a replay cannot work; discard it",
            ));
        }
        let key = fetch_key(key)?;
        let now = self.clock.now_ms();
        let record = self.store.write(|tx| {
            let record = tx.replay_set_aside_fetch(&key, now)?;
            if record.is_some() {
                tx.audit(
                    now,
                    actor,
                    "set_aside.replayed",
                    &serde_json::json!({ "key": key }),
                )?;
            }
            Ok(record)
        })?;
        record
            .map(|r| SetAside::from_record(&r, SetAsideState::Replayed))
            .ok_or_else(not_set_aside)
    }

    /// Gives a set-aside fetch up for good, audited.
    pub fn discard_set_aside_fetch(&self, key: &str, actor: &str) -> Result<SetAside, AppError> {
        // Anything set aside can be discarded, including keys that name no valid target.
        let key = match self.store.set_aside_fetch(key)? {
            Some(_) => key.to_owned(),
            None => fetch_key(key)?,
        };
        let now = self.clock.now_ms();
        let record = self.store.write(|tx| {
            let record = tx.discard_set_aside_fetch(&key)?;
            if record.is_some() {
                tx.audit(
                    now,
                    actor,
                    "set_aside.discarded",
                    &serde_json::json!({ "key": key }),
                )?;
            }
            Ok(record)
        })?;
        record
            .map(|r| SetAside::from_record(&r, SetAsideState::Discarded))
            .ok_or_else(not_set_aside)
    }
}
