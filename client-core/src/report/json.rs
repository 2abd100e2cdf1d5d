//! JSON output, for machines: one object holding the metadata and every
//! table as an array of row objects keyed by stable English column keys
//! (`id`, `due_at`, `on_time_rate`, ...), whatever the export's language.
//! Enumerations are codes (`closed`, `hotline`), instants ISO 8601 text with
//! the export's offset, rates fractions (0.8571), empty values `null`.
//!
//! Ticket and visit rows stream to temporary files; the object is assembled
//! at the end, one row per line.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};

use chrono::FixedOffset;
use serde_json::{Map, Value};

use super::tables::{Cell, Column, MetaRow, Table};
use super::{Finished, Header, ReportError};

/// A row as a JSON object keyed by column key.
pub(crate) fn row_object(
    columns: &[Column],
    cells: &[Cell<'_>],
    offset: FixedOffset,
) -> Map<String, Value> {
    columns
        .iter()
        .zip(cells)
        .map(|(c, v)| (c.key.to_owned(), v.json(offset)))
        .collect()
}

/// The metadata as a JSON object keyed by metadata key.
pub(crate) fn meta_object(meta: &[MetaRow], offset: FixedOffset) -> Map<String, Value> {
    meta.iter()
        .map(|m| (m.key.to_owned(), m.value.json(offset)))
        .collect()
}

/// Rows of one table, spooled to a temporary file as `{...},\n{...}`.
struct Spool {
    file: BufWriter<File>,
    rows: u64,
}

impl Spool {
    fn new(dir: Option<&std::path::Path>) -> io::Result<Self> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        };
        Ok(Self {
            file: BufWriter::new(file),
            rows: 0,
        })
    }

    fn push(&mut self, object: &Map<String, Value>) -> Result<(), ReportError> {
        if self.rows > 0 {
            self.file.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut self.file, object)?;
        self.rows += 1;
        Ok(())
    }

    fn copy_into(self, sink: &mut impl Write) -> Result<(), ReportError> {
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| ReportError::Io(e.into_error()))?;
        file.rewind()?;
        io::copy(&mut file, sink)?;
        Ok(())
    }
}

pub(crate) struct JsonOut<W: Write> {
    sink: W,
    tickets: Spool,
    visits: Spool,
    ticket_columns: Vec<Column>,
    visit_columns: Vec<Column>,
    offset: FixedOffset,
}

impl<W: Write> JsonOut<W> {
    pub fn new(sink: W, header: &Header<'_>) -> Result<Self, ReportError> {
        Ok(Self {
            sink,
            tickets: Spool::new(header.temp_dir)?,
            visits: Spool::new(header.temp_dir)?,
            ticket_columns: header.ticket_columns.to_vec(),
            visit_columns: header.visit_columns.to_vec(),
            offset: header.offset,
        })
    }

    pub fn ticket(&mut self, cells: &[Cell<'_>]) -> Result<(), ReportError> {
        let object = row_object(&self.ticket_columns, cells, self.offset);
        self.tickets.push(&object)
    }

    pub fn visit(&mut self, cells: &[Cell<'_>]) -> Result<(), ReportError> {
        let object = row_object(&self.visit_columns, cells, self.offset);
        self.visits.push(&object)
    }

    pub fn finish(mut self, end: &Finished) -> Result<(), ReportError> {
        let sink = &mut self.sink;
        sink.write_all(b"{\"metadata\":")?;
        serde_json::to_writer(&mut *sink, &meta_object(&end.meta, self.offset))?;
        for (table, columns, rows) in &end.summaries {
            write!(sink, ",\n\"{}\":[", table.key())?;
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    sink.write_all(b",")?;
                }
                sink.write_all(b"\n")?;
                serde_json::to_writer(&mut *sink, &row_object(columns, r, self.offset))?;
            }
            sink.write_all(b"]")?;
        }
        for (table, spool) in [(Table::Tickets, self.tickets), (Table::Visits, self.visits)] {
            write!(sink, ",\n\"{}\":[\n", table.key())?;
            spool.copy_into(sink)?;
            sink.write_all(b"]")?;
        }
        sink.write_all(b"}\n")?;
        sink.flush()?;
        Ok(())
    }
}
