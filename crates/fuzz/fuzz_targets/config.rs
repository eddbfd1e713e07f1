//! `bigreach.toml`: parse and validate (`Config::from_toml`). A file that loads validates, and
//! survives writing it out and loading it again; a refused one says where, without quoting it.
#![no_main]

use std::path::Path;

use bigreach_core::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    match Config::from_toml(text, Path::new("bigreach.toml")) {
        Ok(config) => {
            assert_eq!(config.validate(), Ok(()));
            let _ = config.bigcommerce_api_root();
            let _ = config.readiness_problems(|_| true);
            let written = toml::to_string(&config).expect("a loaded config serializes");
            let again = Config::from_toml(&written, Path::new("written.toml"))
                .unwrap_or_else(|error| panic!("{written}\ndoes not load again: {error}"));
            assert_eq!(again, config, "changed by writing it out");
        }
        Err(ConfigError::Parse { message, .. }) => {
            assert!(!message.trim().is_empty(), "an empty parse message");
            assert!(!message.chars().any(char::is_control), "{message:?}");
            if let Some(line) = message
                .strip_prefix("line ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<usize>().ok())
            {
                assert!(
                    line >= 1 && line <= text.lines().count().max(1),
                    "{message}"
                );
            }
        }
        Err(ConfigError::Invalid(problems)) => {
            assert!(!problems.is_empty());
            for problem in &problems {
                assert!(!problem.field.is_empty() && !problem.problem.is_empty());
            }
        }
        Err(other) => panic!("from_toml does no I/O, yet: {other}"),
    }
});
