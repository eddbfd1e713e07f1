//! History through the Bloomreach Imports API, pure: the planner ([`plan`]), the CSV encoding of
//! the live mapping's commands ([`encoding`]: one mapping, two encodings), the files split at
//! the row limit with their resumable state ([`files`]), and the cut-over watermark that decides
//! whether an order belongs to the import or to the live path ([`watermark`]).
//!
//! The runtime (`runtime::backfill`) does the listing and the file I/O; what is decided here
//! (how many calls, which row goes to which file, where a resumed file is cut back to) needs no
//! I/O and is tested on its own.

pub mod encoding;
pub mod files;
pub mod imports;
pub mod plan;
pub mod progress;
pub mod watermark;

pub use encoding::{ColumnType, CsvColumn, CsvSchema, EncodeError, FileKind};
pub use files::{FileRecord, FileSetState, RowPlacement};
pub use plan::{BackfillPlan, PlanInput, QuotaFigures, ResourceCounts};
pub use progress::{BackfillProgress, Phase, ResourceCursor, ResourceKind};
pub use watermark::{order_owner, OrderOwner};

/// Bloomreach's limit on the rows of one import file (reference bloomreach.md, Imports API).
pub const MAX_ROWS_PER_FILE: u64 = 1_000_000;

/// BigCommerce's largest page (`limit=250`), for orders, customers and products alike.
pub const PAGE_SIZE: u64 = 250;
