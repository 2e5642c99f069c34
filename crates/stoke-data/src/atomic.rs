//! Atomic file writes, the one helper every Stoke crate that writes files uses: the content
//! goes to a temporary file in the same folder (`tempfile`), is flushed to disk, then renamed
//! over the target, so a killed process leaves either the old file or the new one, never half
//! of one, and no temporary file behind on an error.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::DataError;

/// Writes `path` atomically with `write`, which receives a buffered writer to the temporary
/// file.
///
/// # Errors
/// `write`'s error; [`DataError::Io`] if the temporary file cannot be created, flushed or
/// renamed.
pub fn write_with<E: From<DataError>>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let io = |source| DataError::Io { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    {
        let mut buffered = BufWriter::new(temp.as_file());
        write(&mut buffered)?;
        buffered.flush().map_err(io)?;
    }
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// As [`write_with`].
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_with(path, |out| {
        out.write_all(bytes).map_err(|source| DataError::Io { path: path.to_owned(), source })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_a_failed_one_leaves_it_and_nothing_else() {
        let dir = crate::test_dir("atomic");
        let path = dir.join("a.txt");
        write_bytes(&path, b"one").unwrap();
        write_bytes(&path, b"two").unwrap();
        let failed: Result<(), DataError> = write_with(&path, |out| {
            out.write_all(b"half").unwrap();
            Err(DataError::NoImages)
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "a temporary file was left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
