//! GeoJSON output (RFC 7946): a FeatureCollection of one Point feature per
//! ticket, coordinates `[longitude, latitude]` in WGS84 as the devices
//! record them, the ticket id as the feature id and the ticket row (stable
//! keys, as in JSON) as its properties.
//!
//! Features stream straight to the sink. Tickets without a location, or
//! with coordinates outside −180..180 / −90..90, are skipped and counted;
//! the count and the rest of the metadata follow the features in a
//! `metadata` foreign member (RFC 7946 §6.1).

use std::io::Write;

use chrono::FixedOffset;
use geojson::{Feature, Geometry, feature::Id};

use super::json::{meta_object, row_object};
use super::tables::{Cell, Column};
use super::{Finished, Header, ReportError};

pub(crate) struct GeoJsonOut<W: Write> {
    sink: W,
    features: u64,
    columns: Vec<Column>,
    offset: FixedOffset,
}

impl<W: Write> GeoJsonOut<W> {
    pub fn new(mut sink: W, header: &Header<'_>) -> Result<Self, ReportError> {
        sink.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
        Ok(Self {
            sink,
            features: 0,
            columns: header.ticket_columns.to_vec(),
            offset: header.offset,
        })
    }

    /// Writes a ticket's feature at `[lon, lat]`, already checked in range.
    pub fn ticket(
        &mut self,
        cells: &[Cell<'_>],
        id: String,
        lon_lat: (f64, f64),
    ) -> Result<(), ReportError> {
        let feature = Feature {
            bbox: None,
            geometry: Some(Geometry::new_point([lon_lat.0, lon_lat.1])),
            id: Some(Id::String(id)),
            properties: Some(row_object(&self.columns, cells, self.offset)),
            foreign_members: None,
        };
        self.sink
            .write_all(if self.features == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut self.sink, &feature)?;
        self.features += 1;
        Ok(())
    }

    pub fn finish(mut self, end: &Finished) -> Result<(), ReportError> {
        self.sink.write_all(b"\n],\"metadata\":")?;
        serde_json::to_writer(&mut self.sink, &meta_object(&end.meta, self.offset))?;
        self.sink.write_all(b"}\n")?;
        self.sink.flush()?;
        Ok(())
    }
}
