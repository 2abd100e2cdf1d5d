//! Writing an export file so that it is either whole or absent: into a
//! temporary file beside the destination, synced, then renamed into place.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A sink the exporter can write to from its own thread.
pub trait WriteSend: Write + Send {}
impl<W: Write + Send> WriteSend for W {}

/// Why the file could not be written; the destination is left as it was.
/// The message names the cause, so it is not also the `source()`.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("--out {0} names no file")]
    NoFileName(PathBuf),
    #[error(
        "cannot write the export to {path}: {what}: {cause}; check the directory exists and is \
         writable, or choose another --out"
    )]
    Io {
        path: PathBuf,
        what: String,
        cause: io::Error,
    },
}

/// Runs `write` into a temporary file next to `path`, syncs it and renames
/// it to `path`. On any failure the temporary file is removed and `path` is
/// left as it was. `private` files (personal data) are owner-only.
pub fn write_atomically<T, E: From<OutputError>>(
    path: &Path,
    private: bool,
    write: impl FnOnce(&mut dyn WriteSend) -> Result<T, E>,
) -> Result<T, E> {
    let cannot = |what: &str, cause: io::Error| OutputError::Io {
        path: path.to_path_buf(),
        what: what.to_owned(),
        cause,
    };
    let name = path
        .file_name()
        .ok_or_else(|| OutputError::NoFileName(path.to_path_buf()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Like any new file (0666 less the umask), or owner-only with personal data.
        let mode = if private { 0o600 } else { 0o666 };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut temp = builder
        .tempfile_in(dir)
        .map_err(|e| cannot(&format!("cannot create a file in {}", dir.display()), e))?;
    let value = {
        let mut sink = BufWriter::new(temp.as_file_mut());
        let value = write(&mut sink)?;
        sink.flush().map_err(|e| cannot("writing failed", e))?;
        value
    };
    temp.as_file()
        .sync_all()
        .map_err(|e| cannot("syncing to disk failed", e))?;
    temp.persist(path)
        .map_err(|e| cannot("renaming the finished file into place failed", e.error))?;
    // Makes the rename durable (best effort: not every platform can).
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "could not sync the directory");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_destination_untouched_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.csv");
        std::fs::write(&target, b"old").unwrap();
        let failed: Result<(), OutputError> = write_atomically(&target, false, |w| {
            w.write_all(b"half").unwrap();
            Err(OutputError::NoFileName(PathBuf::from("x")))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no .part file left"
        );
        write_atomically::<_, OutputError>(&target, true, |w| {
            w.write_all(b"new").map_err(|e| OutputError::Io {
                path: target.clone(),
                what: "test".into(),
                cause: e,
            })
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "personal data is owner-only");
        }
    }
}
