//! Printing: tables for people, JSON for machines, both on stdout.
//!
//! Tables use ASCII borders (box-drawing characters are "ambiguous width"
//! and render double-wide in some Chinese terminal setups, which breaks
//! alignment); comfy-table measures cells in display columns, so Chinese
//! text lines up. JSON is the client-core records serialized as they are,
//! so field names match the documents and the relay's exports.

use std::io::{self, IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::error::CliError;

/// Where command output goes.
#[derive(Debug)]
pub struct Output {
    json: bool,
    out: io::Stdout,
}

impl Output {
    pub fn stdout(json: bool) -> Self {
        Self {
            json,
            out: io::stdout(),
        }
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Pretty JSON followed by a newline.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CliError> {
        let mut out = self.out.lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(|e| CliError::Output(e.into()))?;
        writeln!(out).map_err(CliError::Output)
    }

    /// One compact JSON object on its own line (streams), flushed.
    pub fn json_line<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CliError> {
        let mut out = self.out.lock();
        serde_json::to_writer(&mut out, value).map_err(|e| CliError::Output(e.into()))?;
        writeln!(out).map_err(CliError::Output)?;
        out.flush().map_err(CliError::Output)
    }

    /// A line of text, flushed (a caller may be waiting for it).
    pub fn line(&mut self, text: impl std::fmt::Display) -> Result<(), CliError> {
        let mut out = self.out.lock();
        writeln!(out, "{text}").map_err(CliError::Output)?;
        out.flush().map_err(CliError::Output)
    }

    pub fn table(&mut self, table: &Table) -> Result<(), CliError> {
        self.line(table)
    }
}

/// A table with the house style and the given header.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = fields();
    t.set_header(header);
    t
}

/// A headerless two-column table of `name | value` rows.
pub fn fields() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::ASCII_FULL_CONDENSED);
    // Wrap to the terminal's width; piped output keeps whole lines.
    if io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    }
    t
}

/// The first line of a text, marked when more lines follow.
pub fn first_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if lines.next().is_some() {
        format!("{first} ...")
    } else {
        first.to_owned()
    }
}

/// `-` for a missing value.
pub fn or_dash(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
