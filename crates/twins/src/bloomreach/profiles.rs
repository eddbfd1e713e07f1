//! Customer profiles: identity resolution (hard and soft ids, merges), properties with
//! per-property update times, and events with the duplicate filter.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::truth::{EventTruth, ProfileTruth, TwinStats};

/// At most this many values of one soft-id type per profile; the least recently used is dropped.
pub(crate) const SOFT_IDS_PER_TYPE: usize = 64;
/// How long the duplicate filter remembers an event (restarted by every duplicate).
pub(crate) const DEDUP_WINDOW_DAYS: i64 = 90;

/// One validated external id from a command's `customer_ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalId {
    pub name: String,
    pub value: String,
    /// Hard ids carry their priority (position in the project's hard-id list); soft ids `None`.
    pub hard_priority: Option<usize>,
}

#[derive(Debug, Clone)]
struct StoredProperty {
    value: Value,
    /// Float Unix seconds of the write that set it (explicit `update_timestamp` or receive time).
    updated_at: f64,
}

#[derive(Debug, Clone)]
struct Profile {
    internal_id: u64,
    hard: BTreeMap<String, String>,
    /// Soft ids by type: `(value, last use sequence number)`, ascending by last use.
    soft: BTreeMap<String, Vec<(String, u64)>>,
    properties: BTreeMap<String, StoredProperty>,
    events: Vec<EventTruth>,
    /// Duplicate-filter memory: canonical event key → last time it was received.
    dedup: HashMap<String, DateTime<Utc>>,
    merged_from: Vec<u64>,
    anonymized: bool,
}

impl Profile {
    fn new(internal_id: u64) -> Self {
        Self {
            internal_id,
            hard: BTreeMap::new(),
            soft: BTreeMap::new(),
            properties: BTreeMap::new(),
            events: Vec::new(),
            dedup: HashMap::new(),
            merged_from: Vec::new(),
            anonymized: false,
        }
    }

    fn truth(&self) -> ProfileTruth {
        let mut ids = BTreeMap::new();
        for (name, value) in &self.hard {
            ids.insert(name.clone(), vec![value.clone()]);
        }
        for (name, values) in &self.soft {
            if !values.is_empty() {
                ids.insert(
                    name.clone(),
                    values.iter().map(|(v, _)| v.clone()).collect(),
                );
            }
        }
        ProfileTruth {
            internal_id: self.internal_id,
            ids,
            properties: self
                .properties
                .iter()
                .map(|(k, p)| (k.clone(), p.value.clone()))
                .collect(),
            events: self.events.clone(),
            merged_from: self.merged_from.clone(),
            anonymized: self.anonymized,
        }
    }
}

/// True when no hard-id type has two different values between `a` and `b`.
fn compatible(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.iter()
        .all(|(name, value)| b.get(name).is_none_or(|other| other == value))
}

/// The project's customer base.
#[derive(Debug, Default)]
pub(crate) struct Profiles {
    next_internal_id: u64,
    use_seq: u64,
    profiles: BTreeMap<u64, Profile>,
    /// `(id name, value)` → internal id of the one profile holding it.
    index: HashMap<(String, String), u64>,
    /// Every customer attribute name the project knows (for the attribute cap).
    attribute_names: BTreeSet<String>,
}

impl Profiles {
    pub(crate) fn truth(&self) -> Vec<ProfileTruth> {
        self.profiles.values().map(Profile::truth).collect()
    }

    /// One live profile as the truth shows it.
    pub(crate) fn view(&self, internal_id: u64) -> Option<ProfileTruth> {
        self.profiles.get(&internal_id).map(Profile::truth)
    }

    fn next_use(&mut self) -> u64 {
        self.use_seq += 1;
        self.use_seq
    }

    /// Finds (or creates) the profile a command's ids designate, merging and stealing ids as the
    /// documented rules say. Returns the internal id of the profile the command applies to.
    ///
    /// Rules (documented unless marked inferred):
    /// - hard ids are case-sensitive and unique per project; one value per hard-id type per
    ///   profile; same for soft ids (up to 64 values per type);
    /// - profiles found through the command's ids are merged into the oldest one, unless that
    ///   would give one hard-id type two values;
    /// - inferred: hard ids are examined in the project's priority order (config order), then soft
    ///   ids; a found profile that conflicts with what is already gathered is left alone; a hard id
    ///   not found anywhere whose type is already taken by another value is not attached anywhere
    ///   (counted in `identity_conflicts`); a soft id found on a conflicting profile is stolen by
    ///   the profile the command applies to.
    pub(crate) fn resolve(&mut self, ids: &[ExternalId], stats: &mut TwinStats) -> u64 {
        let mut hard: Vec<&ExternalId> = ids.iter().filter(|i| i.hard_priority.is_some()).collect();
        hard.sort_by_key(|i| i.hard_priority);
        let soft: Vec<&ExternalId> = ids.iter().filter(|i| i.hard_priority.is_none()).collect();

        let mut group: Vec<u64> = Vec::new();
        let mut group_hard: BTreeMap<String, String> = BTreeMap::new();
        let mut hard_to_add: Vec<(String, String)> = Vec::new();
        let mut soft_to_attach: Vec<(String, String)> = Vec::new();
        let mut steals: Vec<(String, String, u64)> = Vec::new();
        let mut conflict = false;

        for id in hard {
            let key = (id.name.clone(), id.value.clone());
            match self.index.get(&key).copied() {
                Some(owner) if group.contains(&owner) => {}
                Some(owner) => {
                    let owner_hard = &self.profiles[&owner].hard;
                    if compatible(owner_hard, &group_hard) {
                        group_hard.extend(owner_hard.iter().map(|(k, v)| (k.clone(), v.clone())));
                        group.push(owner);
                    } else {
                        conflict = true;
                    }
                }
                None => match group_hard.get(&id.name) {
                    Some(other) if other != &id.value => conflict = true,
                    Some(_) => {}
                    None => {
                        group_hard.insert(id.name.clone(), id.value.clone());
                        hard_to_add.push(key);
                    }
                },
            }
        }
        for id in soft {
            let key = (id.name.clone(), id.value.clone());
            match self.index.get(&key).copied() {
                Some(owner) if group.contains(&owner) => soft_to_attach.push(key),
                Some(owner) => {
                    let owner_hard = &self.profiles[&owner].hard;
                    if compatible(owner_hard, &group_hard) {
                        group_hard.extend(owner_hard.iter().map(|(k, v)| (k.clone(), v.clone())));
                        group.push(owner);
                    } else {
                        conflict = true;
                        steals.push((key.0.clone(), key.1.clone(), owner));
                    }
                    soft_to_attach.push(key);
                }
                None => soft_to_attach.push(key),
            }
        }
        if conflict {
            stats.identity_conflicts += 1;
        }

        group.sort_unstable();
        let target = match group.first().copied() {
            Some(oldest) => oldest,
            None => {
                self.next_internal_id += 1;
                let id = self.next_internal_id;
                self.profiles.insert(id, Profile::new(id));
                id
            }
        };
        for &newer in group.iter().skip(1) {
            self.merge(target, newer);
            stats.merges += 1;
        }
        for (name, value, owner) in steals {
            if let Some(profile) = self.profiles.get_mut(&owner) {
                if let Some(values) = profile.soft.get_mut(&name) {
                    values.retain(|(v, _)| v != &value);
                }
            }
            self.index.remove(&(name, value));
        }
        for (name, value) in hard_to_add {
            if let Some(profile) = self.profiles.get_mut(&target) {
                profile.hard.insert(name.clone(), value.clone());
            }
            self.index.insert((name, value), target);
        }
        for (name, value) in soft_to_attach {
            self.touch_soft(target, name, value);
        }
        target
    }

    /// Attaches (or refreshes) a soft id on `target`, dropping the least recently used value of
    /// that type beyond 64.
    fn touch_soft(&mut self, target: u64, name: String, value: String) {
        let seq = self.next_use();
        let Some(profile) = self.profiles.get_mut(&target) else {
            return;
        };
        let values = profile.soft.entry(name.clone()).or_default();
        values.retain(|(v, _)| v != &value);
        values.push((value.clone(), seq));
        let mut dropped = Vec::new();
        while values.len() > SOFT_IDS_PER_TYPE {
            let (old, _) = values.remove(0);
            dropped.push(old);
        }
        self.index.insert((name.clone(), value), target);
        for old in dropped {
            self.index.remove(&(name.clone(), old));
        }
    }

    /// Merges profile `newer` into the older profile `older`: ids, properties (the newer value
    /// wins a clash: later update time, ties go to the newer profile), events, and the duplicate
    /// filter's memory all move.
    fn merge(&mut self, older: u64, newer: u64) {
        let Some(source) = self.profiles.remove(&newer) else {
            return;
        };
        let mut dropped_soft = Vec::new();
        let Some(target) = self.profiles.get_mut(&older) else {
            self.profiles.insert(newer, source);
            return;
        };
        for (name, value) in &source.hard {
            target
                .hard
                .entry(name.clone())
                .or_insert_with(|| value.clone());
            self.index.insert((name.clone(), value.clone()), older);
        }
        for (name, values) in source.soft {
            let merged = target.soft.entry(name.clone()).or_default();
            for (value, seq) in values {
                self.index.insert((name.clone(), value.clone()), older);
                merged.push((value, seq));
            }
            merged.sort_by_key(|(_, seq)| *seq);
            while merged.len() > SOFT_IDS_PER_TYPE {
                let (old, _) = merged.remove(0);
                dropped_soft.push((name.clone(), old));
            }
        }
        for (name, property) in source.properties {
            match target.properties.get(&name) {
                Some(existing) if existing.updated_at > property.updated_at => {}
                _ => {
                    target.properties.insert(name, property);
                }
            }
        }
        target.events.extend(source.events);
        target.events.sort_by_key(|e| e.received_at);
        for (key, seen) in source.dedup {
            let entry = target.dedup.entry(key).or_insert(seen);
            if *entry < seen {
                *entry = seen;
            }
        }
        target.merged_from.push(newer);
        target.merged_from.extend(source.merged_from);
        target.anonymized |= source.anonymized;
        for key in dropped_soft {
            self.index.remove(&key);
        }
    }

    /// Applies a customer-properties update to profile `target`.
    ///
    /// `update_timestamp` is the explicit update time (last write wins per property; a property
    /// is overwritten only if its stored time is strictly older). Without one, the receive time
    /// is used and an equal stored time is overwritten too.
    pub(crate) fn update_properties(
        &mut self,
        target: u64,
        properties: &Map<String, Value>,
        update_timestamp: Option<f64>,
        received: f64,
        attribute_limit: usize,
        stats: &mut TwinStats,
    ) {
        let updated_at = update_timestamp.unwrap_or(received);
        let explicit = update_timestamp.is_some();
        for (name, value) in properties {
            if !self.attribute_names.contains(name) {
                if self.attribute_names.len() >= attribute_limit {
                    stats.properties_dropped_over_cap += 1;
                    continue;
                }
                self.attribute_names.insert(name.clone());
            }
            let Some(profile) = self.profiles.get_mut(&target) else {
                return;
            };
            let overwrite = match profile.properties.get(name) {
                None => true,
                Some(stored) if explicit => stored.updated_at < updated_at,
                Some(stored) => stored.updated_at <= updated_at,
            };
            if overwrite {
                profile.properties.insert(
                    name.clone(),
                    StoredProperty {
                        value: value.clone(),
                        updated_at,
                    },
                );
            }
        }
    }

    /// The one live profile that `ids` designate, without creating or merging anything.
    /// `internal` is an internal id given instead of (or with) external ids.
    ///
    /// Inferred: ids that match no profile are ignored as long as one matches; ids that match
    /// different profiles are an error.
    pub(crate) fn lookup(&self, ids: &[ExternalId], internal: Option<u64>) -> Result<u64, String> {
        let mut found: BTreeSet<u64> = BTreeSet::new();
        if let Some(internal) = internal {
            if self.profiles.contains_key(&internal) {
                found.insert(internal);
            }
        }
        for id in ids {
            if let Some(owner) = self.index.get(&(id.name.clone(), id.value.clone())) {
                found.insert(*owner);
            }
        }
        let mut found = found.into_iter();
        match (found.next(), found.next()) {
            (None, _) => Err("Customer not found.".to_owned()),
            (Some(one), None) => Ok(one),
            (Some(_), Some(_)) => Err("The customer ids belong to different customers.".to_owned()),
        }
    }

    /// GDPR anonymization of `target`: every external id goes (and can identify a new profile
    /// later), a fresh soft id `cookie_name` = `cookie_value` is attached when the project has
    /// one, and only the `private` properties are removed. Events stay.
    pub(crate) fn anonymize(
        &mut self,
        target: u64,
        private: &[String],
        fresh_cookie: Option<(String, String)>,
    ) {
        let Some(profile) = self.profiles.get_mut(&target) else {
            return;
        };
        let mut gone: Vec<(String, String)> =
            std::mem::take(&mut profile.hard).into_iter().collect();
        for (name, values) in std::mem::take(&mut profile.soft) {
            gone.extend(values.into_iter().map(|(v, _)| (name.clone(), v)));
        }
        profile.properties.retain(|name, _| !private.contains(name));
        profile.anonymized = true;
        for key in gone {
            self.index.remove(&key);
        }
        if let Some((name, value)) = fresh_cookie {
            self.touch_soft(target, name, value);
        }
    }

    /// Stores an event on `target` unless the duplicate filter drops it. Returns whether it was
    /// stored.
    pub(crate) fn add_event(
        &mut self,
        target: u64,
        event: EventTruth,
        now: DateTime<Utc>,
        stats: &mut TwinStats,
    ) -> bool {
        let Some(profile) = self.profiles.get_mut(&target) else {
            return false;
        };
        if event.event_type != "consent" {
            let key = dedup_key(&event);
            let window = chrono::Duration::days(DEDUP_WINDOW_DAYS);
            if let Some(last) = profile.dedup.get_mut(&key) {
                if now.signed_duration_since(*last) < window {
                    *last = now;
                    stats.duplicate_events_dropped += 1;
                    return false;
                }
            }
            profile.dedup.insert(key, now);
        }
        profile.events.push(event);
        true
    }
}

/// The duplicate filter's identity of an event: type, exact timestamp, and properties with their
/// JSON types (`1` and `1.0` differ), independent of key order.
fn dedup_key(event: &EventTruth) -> String {
    let mut key = String::new();
    key.push_str(&serde_json::to_string(&event.event_type).unwrap_or_default());
    key.push('|');
    key.push_str(&format!("{:016x}", event.timestamp.to_bits()));
    key.push('|');
    canonical(&Value::Object(event.properties.clone()), &mut key);
    key
}

/// Writes `value` as JSON with object keys sorted, keeping number spelling (`1` vs `1.0`).
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn hard(name: &str, value: &str, priority: usize) -> ExternalId {
        ExternalId {
            name: name.to_owned(),
            value: value.to_owned(),
            hard_priority: Some(priority),
        }
    }

    fn soft(name: &str, value: &str) -> ExternalId {
        ExternalId {
            name: name.to_owned(),
            value: value.to_owned(),
            hard_priority: None,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn one_command_can_merge_three_profiles_into_the_oldest() {
        let mut p = Profiles::default();
        let mut stats = TwinStats::default();
        let a = p.resolve(&[hard("customer_id", "1", 0)], &mut stats);
        let b = p.resolve(&[hard("email_id", "e", 1)], &mut stats);
        let c = p.resolve(&[soft("cookie", "k")], &mut stats);
        let target = p.resolve(
            &[
                soft("cookie", "k"),
                hard("email_id", "e", 1),
                hard("customer_id", "1", 0),
            ],
            &mut stats,
        );
        assert_eq!(target, a);
        assert_eq!(stats.merges, 2);
        let truth = p.truth();
        assert_eq!(truth.len(), 1);
        let mut merged = truth[0].merged_from.clone();
        merged.sort_unstable();
        assert_eq!(merged, vec![b, c]);
        assert_eq!(p.index.len(), 3);
        assert!(p.index.values().all(|owner| *owner == a));
    }

    #[test]
    fn conflicting_new_hard_id_follows_the_priority_order() {
        let mut p = Profiles::default();
        let mut stats = TwinStats::default();
        let one = p.resolve(
            &[hard("customer_id", "1", 0), hard("email_id", "e", 1)],
            &mut stats,
        );
        // customer_id (priority 0) is new; the email belongs to customer 1: a new profile.
        let two = p.resolve(
            &[hard("email_id", "e", 1), hard("customer_id", "2", 0)],
            &mut stats,
        );
        assert_ne!(one, two);
        assert_eq!(stats.identity_conflicts, 1);
        assert_eq!(p.index[&("email_id".to_owned(), "e".to_owned())], one);
        assert_eq!(p.index[&("customer_id".to_owned(), "2".to_owned())], two);
        assert_eq!(stats.merges, 0);
    }

    #[test]
    fn merge_keeps_the_newer_value_by_update_time() {
        let mut p = Profiles::default();
        let mut stats = TwinStats::default();
        let old = p.resolve(&[hard("customer_id", "1", 0)], &mut stats);
        let new = p.resolve(&[hard("email_id", "e", 1)], &mut stats);
        let props = |v: &str| {
            let mut m = Map::new();
            m.insert("name".to_owned(), json!(v));
            m
        };
        // The older profile holds the later write.
        p.update_properties(old, &props("later"), Some(200.0), 0.0, 255, &mut stats);
        p.update_properties(new, &props("earlier"), Some(100.0), 0.0, 255, &mut stats);
        p.resolve(
            &[hard("customer_id", "1", 0), hard("email_id", "e", 1)],
            &mut stats,
        );
        assert_eq!(p.truth()[0].properties["name"], json!("later"));
    }

    #[test]
    fn attribute_cap_drops_new_names_silently() {
        let mut p = Profiles::default();
        let mut stats = TwinStats::default();
        let id = p.resolve(&[hard("customer_id", "1", 0)], &mut stats);
        let mut props = Map::new();
        props.insert("a".to_owned(), json!(1));
        props.insert("b".to_owned(), json!(2));
        props.insert("c".to_owned(), json!(3));
        p.update_properties(id, &props, None, 1.0, 2, &mut stats);
        assert_eq!(p.truth()[0].properties.len(), 2);
        assert_eq!(stats.properties_dropped_over_cap, 1);
    }

    #[test]
    fn dedup_memory_follows_a_merge() {
        let mut p = Profiles::default();
        let mut stats = TwinStats::default();
        let old = p.resolve(&[hard("customer_id", "1", 0)], &mut stats);
        let new = p.resolve(&[soft("cookie", "k")], &mut stats);
        let event = EventTruth {
            event_type: "view".to_owned(),
            timestamp: 5.0,
            properties: Map::new(),
            received_at: at(0),
        };
        assert!(p.add_event(new, event.clone(), at(0), &mut stats));
        let target = p.resolve(
            &[hard("customer_id", "1", 0), soft("cookie", "k")],
            &mut stats,
        );
        assert_eq!(target, old);
        assert!(!p.add_event(old, event, at(10), &mut stats));
        assert_eq!(stats.duplicate_events_dropped, 1);
    }
}
