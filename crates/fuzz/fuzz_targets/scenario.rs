//! Scenario files (`Scenario::parse`, what `bigreach scenario run FILE` loads): a file that
//! loads has a speed the runner can use and times it can schedule.
#![no_main]

use std::time::Duration;

use bigreach_harness::scenario::Scenario;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

/// The runner turns virtual minutes into a `Duration` after the start: every accepted time
/// must convert, and land on a date.
fn schedulable(minutes: f64, what: &str) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let at = Duration::try_from_secs_f64(minutes * 60.0)
        .ok()
        .and_then(|after| chrono::Duration::from_std(after).ok())
        .and_then(|after| start.checked_add_signed(after));
    assert!(
        at.is_some(),
        "{what} = {minutes} accepted but cannot be scheduled"
    );
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Ok(scenario) = Scenario::parse(text) else {
        return;
    };
    assert!((1.0..=100_000.0).contains(&scenario.speed));
    for shopper in &scenario.shoppers {
        for action in &shopper.actions {
            schedulable(action.at_min, "actions.at_min");
        }
    }
    for crowd in &scenario.crowds {
        schedulable(crowd.at_min, "crowds.at_min");
        schedulable(crowd.over_mins, "crowds.over_mins");
    }
    for fault in &scenario.faults {
        schedulable(fault.at_min, "faults.at_min");
        schedulable(fault.for_mins, "faults.for_mins");
    }
});
