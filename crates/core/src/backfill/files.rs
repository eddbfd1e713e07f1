//! The files of one kind, split at the row limit, and the state that makes a write resumable.
//!
//! A page's rows are appended, the file synced, and only then is the new state (rows and byte
//! length per file) committed to the store with the page's cursor. A kill between the two
//! leaves rows past the recorded length; on resume the runtime truncates the file back to
//! [`FileRecord::bytes`] and lists the page again, so no row is written twice and none lost.

use serde::{Deserialize, Serialize};

use super::encoding::FileKind;

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file name (`purchases-0001.csv`), inside the backfill directory.
    pub name: String,
    /// Data rows (the header not counted), as committed.
    pub rows: u64,
    /// Its length in bytes, as committed (header included).
    pub bytes: u64,
    /// SHA-256 (hex) once the file is complete.
    pub sha256: Option<String>,
}

/// The files of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSetState {
    /// Which file.
    pub kind: FileKind,
    /// Rows per file at most.
    pub row_limit: u64,
    /// The files, in order; the last is the one being written.
    pub files: Vec<FileRecord>,
}

/// Where a run of rows goes: `rows` rows into file `index`, which is new (write the header
/// first) when `new_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPlacement {
    /// The file's index in [`FileSetState::files`].
    pub index: usize,
    /// Rows to append.
    pub rows: u64,
    /// Whether the file starts here.
    pub new_file: bool,
}

/// The name of file `index` (0-based) of `kind`.
pub fn file_name(kind: FileKind, index: usize) -> String {
    format!("{}-{:04}.csv", kind.stem(), index + 1)
}

impl FileSetState {
    /// No file yet.
    pub fn new(kind: FileKind, row_limit: u64) -> Self {
        Self {
            kind,
            row_limit: row_limit.max(1),
            files: Vec::new(),
        }
    }

    /// Rows written in all files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Where `rows` more rows go: the rest of the current file, then as many new files as
    /// needed. Pure: the state changes only through [`FileSetState::commit`].
    pub fn place(&self, rows: u64) -> Vec<RowPlacement> {
        let mut placements = Vec::new();
        let mut left = rows;
        let mut index = self.files.len().saturating_sub(1);
        let mut room = self
            .files
            .last()
            .map_or(0, |f| self.row_limit.saturating_sub(f.rows));
        let mut new_file = self.files.is_empty();
        if new_file {
            index = 0;
            room = self.row_limit;
        }
        while left > 0 {
            if room == 0 {
                index += 1;
                room = self.row_limit;
                new_file = true;
                continue;
            }
            let take = left.min(room);
            placements.push(RowPlacement {
                index,
                rows: take,
                new_file,
            });
            left -= take;
            room -= take;
            new_file = false;
        }
        placements
    }

    /// Records that file `index` now holds `rows` more rows and is `bytes` long (after the
    /// append was synced).
    pub fn commit(&mut self, index: usize, rows: u64, bytes: u64) {
        while self.files.len() <= index {
            let name = file_name(self.kind, self.files.len());
            self.files.push(FileRecord {
                name,
                rows: 0,
                bytes: 0,
                sha256: None,
            });
        }
        let file = &mut self.files[index];
        file.rows += rows;
        file.bytes = bytes;
    }

    /// The length each file on disk must be cut back to on resume (its committed length; a file
    /// not recorded at all is removed, length `None`).
    pub fn resume_length(&self, name: &str) -> Option<u64> {
        self.files.iter().find(|f| f.name == name).map(|f| f.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_fill_the_current_file_then_open_new_ones_at_the_limit() {
        let mut state = FileSetState::new(FileKind::Purchases, 3);
        assert_eq!(
            state.place(4),
            vec![
                RowPlacement {
                    index: 0,
                    rows: 3,
                    new_file: true
                },
                RowPlacement {
                    index: 1,
                    rows: 1,
                    new_file: true
                }
            ]
        );
        state.commit(0, 3, 100);
        state.commit(1, 1, 40);
        assert_eq!(state.files[1].name, "purchases-0002.csv");
        assert_eq!(
            state.place(5),
            vec![
                RowPlacement {
                    index: 1,
                    rows: 2,
                    new_file: false
                },
                RowPlacement {
                    index: 2,
                    rows: 3,
                    new_file: true
                }
            ]
        );
        state.commit(1, 2, 80);
        state.commit(2, 3, 90);
        assert_eq!(state.rows(), 9);
        assert!(state.files.iter().all(|f| f.rows <= 3));
        // A full last file: the next row starts a new one.
        assert_eq!(
            state.place(1),
            vec![RowPlacement {
                index: 3,
                rows: 1,
                new_file: true
            }]
        );
        assert!(state.place(0).is_empty());
    }

    #[test]
    fn resume_cuts_files_back_to_their_committed_length() {
        let mut state = FileSetState::new(FileKind::Customers, 10);
        state.commit(0, 4, 512);
        assert_eq!(state.resume_length("customers-0001.csv"), Some(512));
        assert_eq!(state.resume_length("customers-0002.csv"), None);
    }
}
