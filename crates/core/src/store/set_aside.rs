//! Set-aside fetches: fetch targets whose fetch from BigCommerce failed for good (the retry
//! policy's dead-letter directive: a 4xx that is not about credentials, an undecodable body, an
//! id the client refuses), kept with the reason in `set_aside` (fetch key → [`SetAsideFetch`])
//! and out of the fetch queue, so one bad resource never holds up the others. An operator
//! replays one (back into the fetch queue, due at once) or discards it.
//!
//! A new notification for a set-aside resource queues it again (the resource changed, so its
//! fetch may work now); the record stays until that fetch succeeds, is set aside again (the
//! record is replaced) or an operator acts.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::schema::{FETCH_QUEUE, SET_ASIDE};
use super::{decode, encode, Store, StoreError, StoreTxn};
use crate::model::FetchTarget;

/// One fetch target set aside, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideFetch {
    /// The fetch key, e.g. `cart:…` or `product:77`.
    pub key: String,
    /// Why its fetch cannot work (the client's error, capped).
    pub reason: String,
    /// When it was set aside (ms since epoch).
    pub at_ms: i64,
    /// The oldest notification that named it (ms since epoch), kept for a replay.
    pub oldest_event_ms: i64,
}

impl Store {
    /// Every set-aside fetch, by key.
    pub fn set_aside_fetches(&self) -> Result<Vec<SetAsideFetch>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SET_ASIDE)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, value) = row?;
            out.push(decode("set-aside fetch", value.value())?);
        }
        Ok(out)
    }

    /// One set-aside fetch.
    pub fn set_aside_fetch(&self, key: &str) -> Result<Option<SetAsideFetch>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SET_ASIDE)?;
        table
            .get(key)?
            .map(|value| decode("set-aside fetch", value.value()))
            .transpose()
    }
}

impl StoreTxn<'_> {
    /// Takes `target` out of the fetch queue and sets it aside with `reason` (replacing an
    /// earlier record of it). `oldest_event_ms` is used when the target was not queued.
    pub fn set_aside_fetch(
        &mut self,
        target: &FetchTarget,
        reason: &str,
        at_ms: i64,
        oldest_event_ms: i64,
    ) -> Result<SetAsideFetch, StoreError> {
        let key = target.key();
        let queued = self
            .txn
            .open_table(FETCH_QUEUE)?
            .remove(key.as_str())?
            .map(|v| v.value().1);
        self.set_aside_key(&key, reason, at_ms, queued.unwrap_or(oldest_event_ms))
    }

    /// Sets aside what can never be a fetch target under `key` (an id that is not valid for
    /// its kind, an inbox entry that cannot be decoded), with `reason`: operators see it and
    /// discard it; replay refuses it.
    pub fn set_aside_key(
        &mut self,
        key: &str,
        reason: &str,
        at_ms: i64,
        oldest_event_ms: i64,
    ) -> Result<SetAsideFetch, StoreError> {
        let record = SetAsideFetch {
            key: key.to_owned(),
            reason: reason.to_owned(),
            at_ms,
            oldest_event_ms,
        };
        self.txn.open_table(SET_ASIDE)?.insert(
            record.key.as_str(),
            encode("set-aside fetch", &record)?.as_slice(),
        )?;
        Ok(record)
    }

    /// Puts a set-aside fetch back into the fetch queue, due at `now_ms`; `None` when `key` is
    /// not set aside.
    pub fn replay_set_aside_fetch(
        &mut self,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<SetAsideFetch>, StoreError> {
        let Some(record) = self.take_set_aside(key)? else {
            return Ok(None);
        };
        if let Some(target) = FetchTarget::from_key(&record.key) {
            self.queue_fetch(&target, now_ms, record.oldest_event_ms)?;
        }
        Ok(Some(record))
    }

    /// Gives a set-aside fetch up for good; `None` when `key` is not set aside.
    pub fn discard_set_aside_fetch(
        &mut self,
        key: &str,
    ) -> Result<Option<SetAsideFetch>, StoreError> {
        self.take_set_aside(key)
    }

    /// Forgets the set-aside record of `target`, if any (its fetch worked).
    pub fn clear_set_aside(&mut self, target: &FetchTarget) -> Result<(), StoreError> {
        self.take_set_aside(&target.key())?;
        Ok(())
    }

    fn take_set_aside(&mut self, key: &str) -> Result<Option<SetAsideFetch>, StoreError> {
        let mut table = self.txn.open_table(SET_ASIDE)?;
        let removed = table.remove(key)?;
        removed
            .map(|value| decode("set-aside fetch", value.value()))
            .transpose()
    }
}
