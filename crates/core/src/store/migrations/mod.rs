//! In-place migrations from older schema versions, one file per step. Each runs inside the
//! write transaction that opens the store, so a failed migration leaves the file as it was.
//!
//! | from → to | what changes |
//! |---|---|
//! | 1 → 2 | the pending index `outbox_pending` `(lane, id) → next attempt` is replaced by `outbox_ready`, `outbox_queue` and `pending_profiles`, rebuilt from `outbox` (`v1_to_v2.rs`) |
//! | 2 → 3 | the `set_aside` table (fetches that failed for good) is created empty (`v2_to_v3.rs`); a version 2 build refuses the file, so it cannot fetch and drop what was set aside without seeing it |
//! | 3 → 4 | outbox records may carry the status `Superseded` (an older state of a catalog item replaced by a newer one); no table changes, nothing is rewritten, and a version 3 build refuses the file instead of failing on a status it cannot read |

pub(super) mod v1_to_v2;
pub(super) mod v2_to_v3;
