//! CSV output: UTF-8 with a byte-order mark (Excel on Chinese Windows reads
//! BOM-less UTF-8 as GBK and garbles it), CRLF line ends, fields quoted
//! when they hold a comma, quote or line break.
//!
//! Two shapes: one table alone ([`CsvOut`]), or every table as a file in a
//! zip archive together with `metadata.csv` ([`CsvZipOut`]). Ticket and
//! visit rows stream to temporary files while rows are pushed; the archive
//! is written at the end. A table alone carries the calendar it was computed
//! with in a last column, having nowhere else to say it.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};

use chrono::FixedOffset;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::tables::{Cell, Column, META_COLUMNS, MetaRow, Table};
use super::{Finished, Header, Lang, ReportError};

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

fn writer<W: Write>(mut sink: W) -> Result<csv::Writer<W>, ReportError> {
    sink.write_all(BOM)?;
    Ok(csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(sink))
}

fn write_header<W: Write>(
    w: &mut csv::Writer<W>,
    columns: &[Column],
    lang: Lang,
    extra: Option<&str>,
) -> Result<(), ReportError> {
    for c in columns {
        w.write_field(c.header(lang))?;
    }
    if let Some(extra) = extra {
        w.write_field(extra)?;
    }
    w.write_record(None::<&[u8]>)?;
    Ok(())
}

fn write_row<W: Write>(
    w: &mut csv::Writer<W>,
    cells: &[Cell<'_>],
    lang: Lang,
    offset: FixedOffset,
    extra: Option<&str>,
) -> Result<(), ReportError> {
    for c in cells {
        w.write_field(c.spell(lang, offset).as_bytes())?;
    }
    if let Some(extra) = extra {
        w.write_field(extra)?;
    }
    w.write_record(None::<&[u8]>)?;
    Ok(())
}

fn write_meta<W: Write>(
    w: &mut csv::Writer<W>,
    meta: &[MetaRow],
    lang: Lang,
    offset: FixedOffset,
) -> Result<(), ReportError> {
    write_header(w, META_COLUMNS, lang, None)?;
    for m in meta {
        w.write_field(m.label(lang))?;
        w.write_field(m.value.spell(lang, offset).as_bytes())?;
        w.write_record(None::<&[u8]>)?;
    }
    Ok(())
}

fn temp_file(dir: Option<&std::path::Path>) -> io::Result<File> {
    match dir {
        Some(d) => tempfile::tempfile_in(d),
        None => tempfile::tempfile(),
    }
}

/// One table alone.
pub(crate) struct CsvOut<W: Write> {
    table: Table,
    out: csv::Writer<W>,
    lang: Lang,
    offset: FixedOffset,
    calendar: String,
}

impl<W: Write> CsvOut<W> {
    pub fn new(sink: W, table: Table, header: &Header<'_>) -> Result<Self, ReportError> {
        let mut out = writer(sink)?;
        let calendar_header = calendar_column(header.lang);
        match table {
            Table::Tickets => write_header(
                &mut out,
                header.ticket_columns,
                header.lang,
                Some(calendar_header),
            )?,
            Table::Visits => write_header(
                &mut out,
                header.visit_columns,
                header.lang,
                Some(calendar_header),
            )?,
            _ => {}
        }
        Ok(Self {
            table,
            out,
            lang: header.lang,
            offset: header.offset,
            calendar: header.calendar.to_owned(),
        })
    }

    pub fn wants(&self, table: Table) -> bool {
        self.table == table
    }

    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ReportError> {
        write_row(
            &mut self.out,
            cells,
            self.lang,
            self.offset,
            Some(&self.calendar),
        )
    }

    pub fn finish(mut self, end: &Finished) -> Result<(), ReportError> {
        if let Some((_, columns, rows)) = end.summaries.iter().find(|(t, _, _)| *t == self.table) {
            write_header(
                &mut self.out,
                columns,
                self.lang,
                Some(calendar_column(self.lang)),
            )?;
            for r in rows {
                write_row(
                    &mut self.out,
                    r,
                    self.lang,
                    self.offset,
                    Some(&self.calendar),
                )?;
            }
        }
        self.out.flush()?;
        Ok(())
    }
}

fn calendar_column(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "工作日历",
        Lang::En => "Calendar",
    }
}

/// Every table in a zip archive.
pub(crate) struct CsvZipOut<W: Write> {
    sink: W,
    tickets: csv::Writer<BufWriter<File>>,
    visits: csv::Writer<BufWriter<File>>,
    lang: Lang,
    offset: FixedOffset,
}

impl<W: Write> CsvZipOut<W> {
    pub fn new(sink: W, header: &Header<'_>) -> Result<Self, ReportError> {
        let mut tickets = writer(BufWriter::new(temp_file(header.temp_dir)?))?;
        write_header(&mut tickets, header.ticket_columns, header.lang, None)?;
        let mut visits = writer(BufWriter::new(temp_file(header.temp_dir)?))?;
        write_header(&mut visits, header.visit_columns, header.lang, None)?;
        Ok(Self {
            sink,
            tickets,
            visits,
            lang: header.lang,
            offset: header.offset,
        })
    }

    pub fn ticket(&mut self, cells: &[Cell<'_>]) -> Result<(), ReportError> {
        write_row(&mut self.tickets, cells, self.lang, self.offset, None)
    }

    pub fn visit(&mut self, cells: &[Cell<'_>]) -> Result<(), ReportError> {
        write_row(&mut self.visits, cells, self.lang, self.offset, None)
    }

    pub fn finish(self, end: &Finished) -> Result<(), ReportError> {
        let (lang, offset) = (self.lang, self.offset);
        let mut zip = ZipWriter::new_stream(self.sink);
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);

        zip.start_file("metadata.csv", options)?;
        let mut w = writer(&mut zip)?;
        write_meta(&mut w, &end.meta, lang, offset)?;
        w.flush()?;
        drop(w);

        for (table, columns, rows) in &end.summaries {
            zip.start_file(format!("{}.csv", table.key()), options)?;
            let mut w = writer(&mut zip)?;
            write_header(&mut w, columns, lang, None)?;
            for r in rows {
                write_row(&mut w, r, lang, offset, None)?;
            }
            w.flush()?;
        }

        for (table, spool) in [(Table::Tickets, self.tickets), (Table::Visits, self.visits)] {
            let mut file = spool
                .into_inner()
                .map_err(|e| ReportError::Io(e.into_error()))?
                .into_inner()
                .map_err(|e| ReportError::Io(e.into_error()))?;
            let len = file.stream_position()?;
            file.rewind()?;
            let options = options.large_file(len >= u64::from(u32::MAX));
            zip.start_file(format!("{}.csv", table.key()), options)?;
            io::copy(&mut file, &mut zip)?;
        }
        let mut sink = zip.finish()?.into_inner();
        sink.flush()?;
        Ok(())
    }
}
