//! Where an export goes (`--out`: a file, or `-` for stdout) and writing it
//! there so that a file is either whole or absent: into a temporary file
//! beside the destination, synced, then renamed into place.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Format;

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
    /// Flushing stdout at the end (a closed pipe is `BrokenPipe`).
    #[error("writing to stdout failed: {0}")]
    Stdout(io::Error),
}

/// Where `--out` sends the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `--out -`
    Stdout,
    File(PathBuf),
}

/// Why `--out` cannot take this export.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error(
        "--out - writes to stdout only for json, geojson and csv with --table; {} is a binary \
         file: give --out a file name, for example report.{}",
        if *.format == Format::Xlsx { "an XLSX workbook" } else { "the zip of CSV tables" },
        .format.extension()
    )]
    BinaryToStdout { format: Format },
    #[error(
        "--json prints the export's counts on stdout, where --out - writes the export: give \
         --out a file name, or leave out --json"
    )]
    JsonToStdout,
    #[error(
        "--out {} is a directory; give a file name, for example {}",
        .out.display(),
        .out.join(format!("report.{}", .format.extension())).display()
    )]
    Directory { out: PathBuf, format: Format },
}

impl Destination {
    /// Checks `--out` for `format`; `json`: the command prints its counts
    /// as JSON on stdout.
    pub fn check(out: &Path, format: Format, json: bool) -> Result<Self, DestinationError> {
        if out.as_os_str() != "-" {
            if out.is_dir() {
                return Err(DestinationError::Directory {
                    out: out.to_path_buf(),
                    format,
                });
            }
            return Ok(Destination::File(out.to_path_buf()));
        }
        if matches!(format, Format::Xlsx | Format::CsvZip) {
            return Err(DestinationError::BinaryToStdout { format });
        }
        if json {
            return Err(DestinationError::JsonToStdout);
        }
        Ok(Destination::Stdout)
    }

    pub fn is_stdout(&self) -> bool {
        *self == Destination::Stdout
    }

    /// How messages name it: `stdout` or the path.
    pub fn shown(&self) -> String {
        match self {
            Destination::Stdout => "stdout".to_owned(),
            Destination::File(path) => path.display().to_string(),
        }
    }

    /// As `--out` was given: `-` or the path.
    pub fn arg(&self) -> String {
        match self {
            Destination::Stdout => "-".to_owned(),
            Destination::File(path) => path.display().to_string(),
        }
    }

    /// Runs `write` into the destination: stdout, flushed at the end, or the
    /// file through [`write_atomically`] (`private`: owner-only).
    pub fn write<T, E: From<OutputError>>(
        &self,
        private: bool,
        write: impl FnOnce(&mut dyn WriteSend) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            Destination::Stdout => {
                let mut sink = BufWriter::new(io::stdout());
                let value = write(&mut sink)?;
                sink.flush().map_err(OutputError::Stdout)?;
                Ok(value)
            }
            Destination::File(path) => write_atomically(path, private, write),
        }
    }
}

/// An export that failed partway, and where it was going: a file is left
/// as it was, stdout has part of the export.
#[derive(Debug, thiserror::Error)]
#[error("{}", failed_text(.to, .cause))]
pub struct ExportFailed<E: std::fmt::Display> {
    pub to: Destination,
    pub cause: E,
}

fn failed_text(to: &Destination, cause: &dyn std::fmt::Display) -> String {
    match to {
        Destination::Stdout => format!("the export to stdout failed partway: {cause}"),
        Destination::File(path) => {
            let p = path.display();
            format!("the export to {p} failed and {p} was left as it was: {cause}")
        }
    }
}

/// A spinner with a count on stderr when a person is watching: the
/// command lines' export progress.
#[cfg(feature = "cli")]
pub fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} exporting {msg}: {human_pos} records  {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
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
    fn the_destination_takes_only_what_it_can_hold() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("report.json");
        assert_eq!(
            Destination::check(&file, Format::Json, true).unwrap(),
            Destination::File(file.clone())
        );
        let stdout = Destination::check(Path::new("-"), Format::GeoJson, false).unwrap();
        assert_eq!(
            (stdout.shown(), stdout.arg()),
            ("stdout".into(), "-".into())
        );
        assert!(matches!(
            Destination::check(Path::new("-"), Format::CsvZip, false),
            Err(DestinationError::BinaryToStdout { .. })
        ));
        assert!(matches!(
            Destination::check(Path::new("-"), Format::Json, true),
            Err(DestinationError::JsonToStdout)
        ));
        let err = Destination::check(dir.path(), Format::Xlsx, false).unwrap_err();
        assert!(matches!(err, DestinationError::Directory { .. }));
        assert!(err.to_string().ends_with("report.xlsx"), "{err}");
    }

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
