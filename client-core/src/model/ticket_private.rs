//! A ticket's private document: the resident's contact, kept apart from
//! the ticket so that only those who may see personal data receive it.
//!
//! Every reader of a ticket (handling units and district reviewers among
//! them) receives the whole ticket document, history included, through
//! sync; the relay's export leaves residents' names and phones out unless
//! an admin asks. So the contact lives here, in one document per ticket at
//! an id derived from the ticket id ([`TicketId::private_document_id`]),
//! which the relay lets only the grid's supervisors, the reporter and
//! admins read.
//!
//! Root map: header (`doc_type` `ticket_private`, `schema`), `ticket` (the
//! ticket id), `grid` and `created_by` (the reporter), all written once,
//! and the contact fields `resident_name` and `resident_phone`, which may
//! be put again (a corrected phone number) but are never deleted. A ticket
//! written before this document existed keeps its own contact fields
//! ([`super::ticket::read`] still reads them); the relay's
//! `migrate personal-data` moves them here.

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};

use super::schema::{self, DocType, Node, SchemaError, Tree};
use super::ticket::Resident;
use crate::ids::{GridCode, TicketId};

/// The root keys that hold a resident's contact: in a private document,
/// and in tickets written before it existed. No new change may write them
/// into a ticket.
pub const CONTACT_KEYS: [&str; 2] = [key::RESIDENT_NAME, key::RESIDENT_PHONE];

/// Every root key a private document may hold.
pub const KEYS: [&str; 7] = [
    schema::DOC_TYPE,
    schema::SCHEMA,
    key::TICKET,
    key::GRID,
    key::CREATED_BY,
    key::RESIDENT_NAME,
    key::RESIDENT_PHONE,
];

pub(crate) mod key {
    pub const TICKET: &str = "ticket";
    pub const GRID: &str = "grid";
    pub const CREATED_BY: &str = "created_by";
    pub const RESIDENT_NAME: &str = "resident_name";
    pub const RESIDENT_PHONE: &str = "resident_phone";
}

/// A private document as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketPrivate {
    pub ticket: Option<TicketId>,
    pub grid: Option<GridCode>,
    /// The reporter, who may read it.
    pub created_by: String,
    pub resident: Resident,
}

impl Resident {
    /// Whether there is any contact to keep.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.phone.is_none()
    }
}

/// Writes a new private document (header, ticket, grid, reporter) with
/// `resident`'s contact.
pub fn create(
    tx: &mut impl Transactable,
    ticket: TicketId,
    grid: &GridCode,
    created_by: &str,
    resident: &Resident,
) -> Result<(), automerge::AutomergeError> {
    schema::write_header(tx, DocType::TicketPrivate)?;
    tx.put(ROOT, key::TICKET, ticket.to_string())?;
    tx.put(ROOT, key::GRID, grid.as_str())?;
    tx.put(ROOT, key::CREATED_BY, created_by)?;
    set_contact(tx, resident)
}

/// Puts the contact fields `resident` has (the others are left as they are).
pub fn set_contact(
    tx: &mut impl Transactable,
    resident: &Resident,
) -> Result<(), automerge::AutomergeError> {
    schema::put_opt(tx, &ROOT, key::RESIDENT_NAME, resident.name.as_deref())?;
    schema::put_opt(tx, &ROOT, key::RESIDENT_PHONE, resident.phone.as_deref())?;
    Ok(())
}

/// Reads a private document: fails only on another type or a newer schema
/// major. Strings may be scalars (as GridSync writes them) or texts (as the
/// JS client does); nothing below the root is read.
pub fn read(doc: &impl ReadDoc) -> Result<TicketPrivate, SchemaError> {
    schema::expect_type(doc, DocType::TicketPrivate)?;
    let root = schema::read_tree(doc, &ROOT, 1);
    Ok(TicketPrivate {
        ticket: text(&root, key::TICKET).and_then(|t| t.parse().ok()),
        grid: text(&root, key::GRID).and_then(|g| g.parse().ok()),
        created_by: text(&root, key::CREATED_BY).unwrap_or_default(),
        resident: Resident {
            name: text(&root, key::RESIDENT_NAME),
            phone: text(&root, key::RESIDENT_PHONE),
        },
    })
}

fn text(root: &Tree, key: &str) -> Option<String> {
    match root.get(key)? {
        Node::Scalar(ScalarValue::Str(s)) => Some(s.to_string()),
        Node::Text(t) => Some(t.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;

    #[test]
    fn a_private_document_reads_back_and_its_id_is_derived_from_the_ticket() {
        let id = TicketId::random();
        let grid = GridCode::new("G-01").unwrap();
        let resident = Resident {
            name: Some("张三".into()),
            phone: Some("13800000000".into()),
        };
        let mut doc = Automerge::new();
        doc.transact(|tx| create(tx, id, &grid, "wang", &resident))
            .unwrap();
        let read = read(&doc).unwrap();
        assert_eq!(read.ticket, Some(id));
        assert_eq!(read.grid, Some(grid));
        assert_eq!(read.created_by, "wang");
        assert_eq!(read.resident, resident);
        assert_eq!(id.private_document_id(), id.private_document_id());
        assert!(id.private_document_id().is_name_derived());
        assert_ne!(id.private_document_id(), id.document_id());
    }
}
