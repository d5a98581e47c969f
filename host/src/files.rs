//! Reading the operator's files (risk limits, users, TLS certificates and keys) with a size
//! limit: at most one byte past the limit is read, so a huge file (or a device) is refused
//! unread, with its size.

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It cannot be opened or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// It is larger than the limit.
    #[error("{size} bytes or more, over the {max}-byte limit")]
    TooLarge {
        /// Its size, as far as it was read (one byte past the limit).
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// The file's bytes, if it holds at most `max`.
///
/// # Errors
/// [`ReadError`].
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > max {
        return Err(ReadError::TooLarge { size, max });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("f");
        std::fs::write(&f, b"12345").expect("write");
        assert_eq!(read_limited(&f, 5).expect("fits"), b"12345");
        assert!(matches!(read_limited(&f, 4), Err(ReadError::TooLarge { size: 5, max: 4 })));
        assert!(matches!(read_limited(&dir.path().join("none"), 4), Err(ReadError::Io(_))));
    }
}
