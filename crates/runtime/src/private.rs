//! Data at rest is private to the service user: the data directory and the logs directory are
//! created 0700, the store file and the API token 0600 (created with that mode, so they are
//! never readable by others, whatever the umask). At start, [`warn_if_wider`] checks what
//! already exists and warns, naming the `chmod` that fixes it, when a mode is wider; it changes
//! nothing an operator chose.
//!
//! The daily log files are created by `tracing-appender`, which takes no file mode: they live
//! in the 0700 logs directory, which keeps them private.
//!
//! On platforms without Unix modes these functions create what is asked and check nothing.

use std::io;
use std::path::{Path, PathBuf};

/// Most a private directory may allow.
pub const DIR_MODE: u32 = 0o700;
/// Most a private file may allow.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) private to the user: mode 0700 for what is created here.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Creates `path` empty with mode 0600 unless it exists, so what is written into it later is
/// never readable by others.
pub fn create_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Writes `contents` to a new file `path` created with mode 0600 (it must not exist).
pub fn write_new_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// One path whose mode is wider than it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooWide {
    /// The file or directory.
    pub path: PathBuf,
    /// Its mode's permission bits.
    pub mode: u32,
    /// The most it should allow (0700 or 0600).
    pub wanted: u32,
}

/// The paths under `data_dir` that are wider than private: the directory itself, the store,
/// the API token, the logs directory and the files in it.
pub fn too_wide(data_dir: &Path) -> Vec<TooWide> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut found = Vec::new();
        let mut check = |path: PathBuf, wanted: u32| {
            if let Ok(metadata) = std::fs::metadata(&path) {
                let mode = metadata.permissions().mode() & 0o777;
                if mode & !wanted != 0 {
                    found.push(TooWide { path, mode, wanted });
                }
            }
        };
        check(data_dir.to_owned(), DIR_MODE);
        check(data_dir.join("bigreach.redb"), FILE_MODE);
        check(data_dir.join("api-token"), FILE_MODE);
        check(data_dir.join(bigreach_core::audit::KEY_FILE), FILE_MODE);
        let logs = data_dir.join("logs");
        check(logs.clone(), DIR_MODE);
        if let Ok(entries) = std::fs::read_dir(&logs) {
            for entry in entries.flatten() {
                check(entry.path(), FILE_MODE);
            }
        }
        found
    }
    #[cfg(not(unix))]
    {
        let _ = data_dir;
        Vec::new()
    }
}

/// Warns once per path under `data_dir` whose mode is wider than private (see [`too_wide`]).
pub fn warn_if_wider(data_dir: &Path) {
    for wide in too_wide(data_dir) {
        tracing::warn!(
            path = %wide.path.display(),
            mode = format!("{:o}", wide.mode),
            fix = format!("chmod {:o} {}", wide.wanted, wide.path.display()),
            "readable by other local users: BigReach's data (emails, names, phones) should be \
             private to the service user"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_folders_and_files_and_finds_wider_ones() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("a/data");
        create_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        create_file(&data.join("bigreach.redb")).unwrap();
        assert_eq!(mode(&data.join("bigreach.redb")), 0o600);
        write_new_file(&data.join("api-token"), b"t").unwrap();
        assert_eq!(mode(&data.join("api-token")), 0o600);
        assert!(too_wide(&data).is_empty());

        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            data.join("bigreach.redb"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let wide = too_wide(&data);
        assert_eq!(
            wide,
            [
                TooWide {
                    path: data.clone(),
                    mode: 0o755,
                    wanted: 0o700
                },
                TooWide {
                    path: data.join("bigreach.redb"),
                    mode: 0o644,
                    wanted: 0o600
                }
            ]
        );
    }
}
