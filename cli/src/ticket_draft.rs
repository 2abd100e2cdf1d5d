//! What a reporter fills in, before it becomes a `NewTicket`: the one place
//! that knows the defaults and checks shared by `ticket new` and
//! `ticket import`.

use client_core::ids::{GridCode, TicketId};
use client_core::model::ticket::{Kind, Location, NewTicket, Resident, Source, Urgency};
use serde::Deserialize;

use crate::args::TicketNewArgs;

pub const DEFAULT_KIND: Kind = Kind::Event;
pub const DEFAULT_SOURCE: Source = Source::Patrol;
pub const DEFAULT_URGENCY: Urgency = Urgency::Normal;

/// A ticket as typed on the command line or read from an import line.
/// A serialized `NewTicket` is a valid draft.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketDraft {
    /// Made here when absent; give it to make retries idempotent.
    pub id: Option<TicketId>,
    pub grid: GridCode,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: String,
    pub kind: Option<Kind>,
    pub source: Option<Source>,
    pub urgency: Option<Urgency>,
    pub location: Option<Location>,
    pub resident: Option<Resident>,
}

impl TicketDraft {
    pub fn from_args(a: &TicketNewArgs) -> Self {
        let location = match (a.lat, a.lon) {
            (Some(lat), Some(lon)) => Some(Location {
                lat,
                lon,
                accuracy_m: a.accuracy,
                address: a.address.clone(),
            }),
            _ => None,
        };
        let resident =
            (a.resident_name.is_some() || a.resident_phone.is_some()).then(|| Resident {
                name: a.resident_name.clone(),
                phone: a.resident_phone.clone(),
            });
        Self {
            id: a.id,
            grid: a.grid.clone(),
            title: a.title.clone(),
            description: a.description.clone().unwrap_or_default(),
            category: a.category.clone().unwrap_or_default(),
            kind: a.kind,
            source: a.source,
            urgency: a.urgency,
            location,
            resident,
        }
    }

    /// Checks what serde cannot, and fills in the defaults.
    pub fn into_new_ticket(self) -> Result<NewTicket, String> {
        if self.title.trim().is_empty() {
            return Err("a ticket needs a title".to_owned());
        }
        if let Some(loc) = &self.location {
            let lat_ok = loc.lat.is_finite() && loc.lat.abs() <= 90.0;
            let lon_ok = loc.lon.is_finite() && loc.lon.abs() <= 180.0;
            if !lat_ok || !lon_ok {
                return Err(format!(
                    "location {}, {} is not a WGS84 position (lat -90..90, lon -180..180)",
                    loc.lat, loc.lon
                ));
            }
            if loc.accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
                return Err("location accuracy_m must be metres, 0 or more".to_owned());
            }
        }
        Ok(NewTicket {
            id: self.id.unwrap_or_else(TicketId::random),
            grid: self.grid,
            source: self.source.unwrap_or(DEFAULT_SOURCE),
            kind: self.kind.unwrap_or(DEFAULT_KIND),
            category: self.category,
            urgency: self.urgency.unwrap_or(DEFAULT_URGENCY),
            title: self.title,
            description: self.description,
            location: self.location,
            resident: self.resident,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serialized_new_ticket_is_a_valid_draft() {
        let t = NewTicket {
            id: TicketId::random(),
            grid: "GL-01".parse().unwrap(),
            source: Source::Hotline,
            kind: Kind::Component,
            category: "0102".into(),
            urgency: Urgency::Urgent,
            title: "井盖缺失，\n有危险".into(),
            description: String::new(),
            location: None,
            resident: Some(Resident {
                name: Some("张三".into()),
                phone: None,
            }),
        };
        let json = serde_json::to_string(&t).unwrap();
        let draft: TicketDraft = serde_json::from_str(&json).unwrap();
        assert_eq!(draft.into_new_ticket().unwrap(), t);
    }

    #[test]
    fn minimal_drafts_get_defaults_and_bad_ones_explain() {
        let d: TicketDraft = serde_json::from_str(r#"{"grid":"GL-01","title":"路灯"}"#).unwrap();
        let t = d.into_new_ticket().unwrap();
        assert_eq!(
            (t.kind, t.source, t.urgency),
            (Kind::Event, Source::Patrol, Urgency::Normal)
        );
        let bad: TicketDraft = serde_json::from_str(
            r#"{"grid":"GL-01","title":"x","location":{"lat":200,"lon":1,"accuracy_m":null,"address":null}}"#,
        )
        .unwrap();
        assert!(bad.into_new_ticket().is_err());
        assert!(
            serde_json::from_str::<TicketDraft>(r#"{"grid":"GL-01","title":"x","colour":1}"#)
                .is_err()
        );
    }
}
