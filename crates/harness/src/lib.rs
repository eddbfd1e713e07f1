//! BigReach's proving machinery: everything that shows the appliance works, and nothing the
//! product needs. The `bigreach` binary links it only with its default `rehearsal` feature
//! (`bigreach demo | sim | scenario | bench`); a product build without that feature has no
//! twins and no harness code.
//!
//! - [`plan`]: demo plans, the shipped ones compiled in.
//! - [`twins`]: both twins on loopback and an appliance configuration pointing at them.
//! - [`verdict`]: the ground-truth verdict, in one copy ([`evaluate`](verdict::evaluate),
//!   [`DemoSummary::findings`](verdict::DemoSummary::findings)).
//! - [`demo`]: the demo run (twins, appliance, trading, verdict).
//! - [`scenario`]: scenario files and their runner.
//! - [`bench`](mod@bench): the benchmarks (`ingest`, `drain`, `flash-sale`).

pub mod bench;
pub mod demo;
pub mod plan;
pub mod scenario;
pub mod twins;
pub mod verdict;
