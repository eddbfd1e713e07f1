//! In-place migrations from older schema versions, one file per step. Each runs inside the
//! write transaction that opens the store, so a failed migration leaves the file as it was.
//!
//! | from → to | what changes |
//! |---|---|
//! | 1 → 2 | the pending index `outbox_pending` `(lane, id) → next attempt` is replaced by `outbox_ready`, `outbox_queue` and `pending_profiles`, rebuilt from `outbox` (`v1_to_v2.rs`) |

pub(super) mod v1_to_v2;
