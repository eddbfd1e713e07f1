//! Scenario files that must be refused when they load, not fail (or panic) while they run.
//! Regression tests for what the `scenario` fuzz target checks (`crates/fuzz`).

use bigreach_harness::scenario::Scenario;

const HEAD: &str = "name = \"t\"\ndescription = \"d\"\n";

fn parse(body: &str) -> Result<Scenario, String> {
    Scenario::parse(&format!("{HEAD}{body}"))
}

#[test]
fn a_time_the_runner_cannot_schedule_is_refused_naming_the_field() {
    // `inf` and a huge number made the runner's `Duration::from_secs_f64` panic mid-run; `nan`
    // and negative times were silently taken as minute 0.
    for (body, field) in [
        ("[[crowds]]\nat_min = inf\nover_mins = 1\norders = 1\n", "crowds.at_min"),
        ("[[crowds]]\nat_min = 0\nover_mins = 1e300\norders = 1\n", "crowds.over_mins"),
        (
            "[[faults]]\nat_min = nan\nfor_mins = 1\nkind = \"bloomreach_outage\"\n",
            "faults.at_min",
        ),
        (
            "[[faults]]\nat_min = 0\nfor_mins = -5\nkind = \"bloomreach_outage\"\n",
            "faults.for_mins",
        ),
        (
            "[[shoppers]]\nname = \"a\"\nemail = \"a@example.com\"\n[[shoppers.actions]]\nat_min = -inf\ndo = \"register\"\n",
            "actions.at_min",
        ),
    ] {
        let error = parse(body).map(|_| ()).unwrap_err();
        assert!(error.contains(field), "{body}: {error}");
        assert!(error.contains("minutes"), "{body}: {error}");
    }
}

#[test]
fn a_speed_that_is_not_a_number_is_refused() {
    for speed in ["inf", "nan", "-inf", "0.5", "1e6"] {
        let error = parse(&format!("speed = {speed}\n"))
            .map(|_| ())
            .unwrap_err();
        assert!(error.contains("speed"), "{speed}: {error}");
    }
}

#[test]
fn ordinary_times_load() {
    let scenario = parse(
        "[[crowds]]\nat_min = 0\nover_mins = 1.5\norders = 3\n[[faults]]\nat_min = 2\nfor_mins = 0\nkind = \"bloomreach_outage\"\n",
    )
    .unwrap();
    assert_eq!(scenario.crowds.len(), 1);
    assert_eq!(scenario.faults.len(), 1);
}

#[test]
fn an_empty_or_garbage_file_says_what_is_wrong() {
    let error = Scenario::parse("").map(|_| ()).unwrap_err();
    assert!(error.contains("name"), "{error}");
    let error = Scenario::parse("\u{0}\u{1b}[31m").map(|_| ()).unwrap_err();
    assert!(!error.trim().is_empty());
}

#[test]
fn every_shipped_scenario_still_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/scenarios");
    let mut dirs = vec![root];
    let mut loaded = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
                loaded += 1;
            }
        }
    }
    assert!(loaded >= 12, "only {loaded} scenario files found");
}
