//! XLSX output: a workbook with a metadata sheet (说明), the three summary
//! sheets and the ticket and visit sheets.
//!
//! The ticket and visit sheets use rust_xlsxwriter's constant-memory mode:
//! each row goes to a temporary file as soon as the next one starts, so
//! memory stays flat however many rows there are. The small sheets are
//! filled at the end. Instants are real date cells in local time at the
//! export's offset (the metadata sheet names the offset); ids and codes are
//! text cells, so 16-digit codes keep every digit.
//!
//! The zip container is deflated at level 2, not rust_xlsxwriter's default
//! 6: saving compresses every spooled row in one go after the last ticket,
//! on one core, and level 2 takes a little over half the time for a file
//! about a tenth larger (the sheets' XML is the same either way).

use std::io::Write;

use chrono::FixedOffset;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

use super::tables::{Cell, Column, META_COLUMNS, Table, excel_serial};
use super::{Finished, Header, Lang, ReportError};

/// Excel's last row index is 1,048,575; row 0 is the header.
const MAX_ROW: u32 = 1_048_575;
/// Excel's limit on the characters in one cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Deflate level of the zip container (1 fastest to 9; see the module
/// documentation).
const ZIP_LEVEL: u8 = 2;

const META_SHEET: usize = 0;
const TICKETS_SHEET: usize = 5;
const VISITS_SHEET: usize = 6;

struct Formats {
    header: Format,
    time: Format,
    hours: Format,
    rate: Format,
    coord: Format,
}

pub(crate) struct XlsxOut<W: Write + Send> {
    sink: W,
    book: Workbook,
    lang: Lang,
    offset: FixedOffset,
    formats: Formats,
    tickets_row: u32,
    visits_row: u32,
    /// Text cells cut to Excel's 32,767-character limit.
    pub truncated: u64,
}

impl<W: Write + Send> XlsxOut<W> {
    pub fn new(sink: W, header: &Header<'_>) -> Result<Self, ReportError> {
        let mut book = Workbook::new();
        book.set_zip_compression_level(ZIP_LEVEL);
        if let Some(dir) = header.temp_dir {
            book.set_tempdir(dir)?;
        }
        let formats = Formats {
            header: Format::new().set_bold(),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            hours: Format::new().set_num_format("0.00"),
            rate: Format::new().set_num_format("0.00%"),
            coord: Format::new().set_num_format("0.000000"),
        };
        let lang = header.lang;
        let meta_title = match lang {
            Lang::Zh => "说明",
            Lang::En => "About",
        };
        let sheet = book.add_worksheet();
        sheet.set_name(meta_title)?;
        write_header(sheet, META_COLUMNS, lang, &formats.header)?;
        sheet.set_column_width(0, 28)?;
        sheet.set_column_width(1, 90)?;
        for table in [
            Table::ByGrid,
            Table::ByCommunity,
            Table::ByStreet,
            Table::ByUnit,
        ] {
            let sheet = book.add_worksheet();
            sheet.set_name(table.title(lang))?;
        }
        for (table, columns) in [
            (Table::Tickets, header.ticket_columns),
            (Table::Visits, header.visit_columns),
        ] {
            let sheet = book.add_worksheet_with_constant_memory()?;
            sheet.set_name(table.title(lang))?;
            for (i, c) in columns.iter().enumerate() {
                sheet.set_column_width(col_num(i)?, width(c))?;
            }
            write_header(sheet, columns, lang, &formats.header)?;
        }
        Ok(Self {
            sink,
            book,
            lang,
            offset: header.offset,
            formats,
            tickets_row: 0,
            visits_row: 0,
            truncated: 0,
        })
    }

    pub fn ticket(&mut self, row: &[Cell<'_>]) -> Result<(), ReportError> {
        self.tickets_row = next_row(self.tickets_row, Table::Tickets)?;
        self.write_row(TICKETS_SHEET, self.tickets_row, row)
    }

    pub fn visit(&mut self, row: &[Cell<'_>]) -> Result<(), ReportError> {
        self.visits_row = next_row(self.visits_row, Table::Visits)?;
        self.write_row(VISITS_SHEET, self.visits_row, row)
    }

    fn write_row(&mut self, sheet: usize, row: u32, cells: &[Cell<'_>]) -> Result<(), ReportError> {
        let ws = self.book.worksheet_from_index(sheet)?;
        for (i, cell) in cells.iter().enumerate() {
            let truncated = write_cell(
                ws,
                row,
                col_num(i)?,
                cell,
                &self.formats,
                self.lang,
                self.offset,
            )?;
            self.truncated += u64::from(truncated);
        }
        Ok(())
    }

    pub fn finish(mut self, end: &Finished) -> Result<(), ReportError> {
        let (lang, offset) = (self.lang, self.offset);
        let ws = self.book.worksheet_from_index(META_SHEET)?;
        for (i, m) in end.meta.iter().enumerate() {
            let r = next_row(u32::try_from(i).unwrap_or(MAX_ROW), Table::ByGrid)?;
            ws.write_string(r, 0, m.label(lang))?;
            write_cell(ws, r, 1, &m.value, &self.formats, lang, offset)?;
        }
        for (n, (table, columns, rows)) in end.summaries.iter().enumerate() {
            let ws = self.book.worksheet_from_index(1 + n)?;
            debug_assert_eq!(ws.name(), table.title(lang));
            write_header(ws, columns, lang, &self.formats.header)?;
            for (i, c) in columns.iter().enumerate() {
                ws.set_column_width(col_num(i)?, width(c))?;
            }
            for (r, cells) in rows.iter().enumerate() {
                let r = next_row(u32::try_from(r).unwrap_or(MAX_ROW), *table)?;
                for (i, cell) in cells.iter().enumerate() {
                    write_cell(ws, r, col_num(i)?, cell, &self.formats, lang, offset)?;
                }
            }
        }
        self.book.save_to_writer(&mut self.sink)?;
        self.sink.flush()?;
        Ok(())
    }
}

fn next_row(last: u32, table: Table) -> Result<u32, ReportError> {
    if last >= MAX_ROW {
        return Err(ReportError::SheetFull { sheet: table.key() });
    }
    Ok(last + 1)
}

fn col_num(i: usize) -> Result<u16, ReportError> {
    u16::try_from(i).map_err(|_| ReportError::SheetFull { sheet: "columns" })
}

fn write_header(
    ws: &mut Worksheet,
    columns: &[Column],
    lang: Lang,
    bold: &Format,
) -> Result<(), ReportError> {
    for (i, c) in columns.iter().enumerate() {
        ws.write_string_with_format(0, col_num(i)?, c.header(lang), bold)?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// Writes one cell; returns whether text had to be cut to Excel's limit.
fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell<'_>,
    f: &Formats,
    lang: Lang,
    offset: FixedOffset,
) -> Result<bool, ReportError> {
    match cell {
        Cell::Empty => {}
        Cell::Int(i) => {
            ws.write_number(row, col, *i as f64)?;
        }
        Cell::Coord(c) if c.is_finite() => {
            ws.write_number_with_format(row, col, *c, &f.coord)?;
        }
        Cell::Hours(h) if h.is_finite() => {
            ws.write_number_with_format(row, col, *h, &f.hours)?;
        }
        Cell::Rate(r) if r.is_finite() => {
            ws.write_number_with_format(row, col, *r, &f.rate)?;
        }
        Cell::Coord(_) | Cell::Hours(_) | Cell::Rate(_) => {}
        Cell::Time(t) => {
            ws.write_number_with_format(row, col, excel_serial(*t, offset), &f.time)?;
        }
        Cell::Text(_) | Cell::Bool(_) | Cell::Label { .. } => {
            let text = cell.spell(lang, offset);
            if text.chars().count() > MAX_CELL_CHARS {
                let cut: String = text.chars().take(MAX_CELL_CHARS - 1).chain(['…']).collect();
                ws.write_string(row, col, cut)?;
                return Ok(true);
            }
            ws.write_string(row, col, text)?;
        }
    }
    Ok(false)
}

fn width(c: &Column) -> f64 {
    match c.key {
        "id" | "tickets" | "amends" => 38.0,
        "title" | "address" | "description" | "notes" | "unit" => 30.0,
        k if k.ends_with("_at") => 20.0,
        "grid_name" | "community" | "street" | "district" => 14.0,
        _ => 12.0,
    }
}
