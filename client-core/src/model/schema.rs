//! The one place that knows how GridSync documents are laid out in
//! Automerge: document types, the schema version, and typed reads that
//! never fail on a missing or mistyped field.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, ValueRef};

/// The schema every document is written with, `MAJOR.MINOR`. Readers accept
/// any minor version of their major (minor versions only add fields) and
/// refuse a newer major.
pub const SCHEMA_MAJOR: u64 = 1;
pub const SCHEMA_VERSION: &str = "1.0";

/// Key of the document type on every root map.
pub const DOC_TYPE: &str = "doc_type";
/// Key of the schema version on every root map.
pub const SCHEMA: &str = "schema";

/// The kinds of document GridSync writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocType {
    Ticket,
    /// A ticket's personal data (the resident's contact), apart from the
    /// ticket so that only those who may see it receive it.
    TicketPrivate,
    VisitLog,
    GridIndex,
    /// The category catalog, written only by the relay.
    Catalog,
}

impl DocType {
    pub fn as_str(&self) -> &'static str {
        match self {
            DocType::Ticket => "ticket",
            DocType::TicketPrivate => "ticket_private",
            DocType::VisitLog => "visit_log",
            DocType::GridIndex => "grid_index",
            DocType::Catalog => "catalog",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ticket" => Some(DocType::Ticket),
            "ticket_private" => Some(DocType::TicketPrivate),
            "visit_log" => Some(DocType::VisitLog),
            "grid_index" => Some(DocType::GridIndex),
            "catalog" => Some(DocType::Catalog),
            _ => None,
        }
    }
}

/// Why a document cannot be read as the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "this document was written with schema {found}, newer than this GridSync understands \
         (major {SCHEMA_MAJOR}); upgrade gridsync to read it"
    )]
    NewerMajor { found: String },
    #[error("expected a {expected} document, found {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
}

/// Reads the document type, checking the schema version first.
pub fn doc_type(doc: &impl ReadDoc) -> Result<Option<DocType>, SchemaError> {
    if let Some(version) = read_str(doc, &ROOT, SCHEMA) {
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u64>().ok());
        if major.is_none_or(|m| m > SCHEMA_MAJOR) {
            return Err(SchemaError::NewerMajor { found: version });
        }
    }
    Ok(read_str(doc, &ROOT, DOC_TYPE).and_then(|t| DocType::parse(&t)))
}

/// Checks that `doc` is of type `expected` (or still empty: a document
/// whose first changes have not arrived yet reads as empty, not as an error).
pub fn expect_type(doc: &impl ReadDoc, expected: DocType) -> Result<(), SchemaError> {
    match doc_type(doc)? {
        Some(t) if t == expected => Ok(()),
        None if read_str(doc, &ROOT, DOC_TYPE).is_none() => Ok(()),
        _ => Err(SchemaError::WrongType {
            expected: expected.as_str(),
            found: read_str(doc, &ROOT, DOC_TYPE).unwrap_or_else(|| "an untyped map".into()),
        }),
    }
}

/// Writes the document type and schema version on the root map.
pub fn write_header(
    tx: &mut impl Transactable,
    ty: DocType,
) -> Result<(), automerge::AutomergeError> {
    tx.put(ROOT, DOC_TYPE, ty.as_str())?;
    tx.put(ROOT, SCHEMA, SCHEMA_VERSION)?;
    Ok(())
}

fn scalar(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key).ok().flatten()? {
        (Value::Scalar(s), _) => Some(s.into_owned()),
        _ => None,
    }
}

pub fn read_str(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<String> {
    match scalar(doc, obj, key)? {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Integers, timestamps and whole floats all read as `i64` (JS writes
/// numbers as floats).
pub fn read_i64(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<i64> {
    match scalar(doc, obj, key)? {
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(i),
        ScalarValue::Uint(u) => i64::try_from(u).ok(),
        ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(f as i64),
        _ => None,
    }
}

pub fn read_f64(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<f64> {
    match scalar(doc, obj, key)? {
        ScalarValue::F64(f) => Some(f),
        ScalarValue::Int(i) => Some(i as f64),
        ScalarValue::Uint(u) => Some(u as f64),
        _ => None,
    }
}

/// The object stored at `key`, if it is one of type `ty`.
pub fn read_obj(doc: &impl ReadDoc, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok().flatten()? {
        (Value::Object(t), id) if t == ty => Some(id),
        _ => None,
    }
}

/// The maps in the list at `key`, in list order; an item that is not a map
/// is returned as `None` so the caller can report it.
pub fn read_list_of_maps(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Vec<Option<ObjId>> {
    let Some(list) = read_obj(doc, obj, key, ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .map(|i| match doc.get(&list, i).ok().flatten() {
            Some((Value::Object(ObjType::Map), id)) => Some(id),
            _ => None,
        })
        .collect()
}

/// The strings in the list at `key`.
pub fn read_list_of_str(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Vec<String> {
    let Some(list) = read_obj(doc, obj, key, ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i).ok().flatten() {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A bounded copy of part of a document, made in one pass per object:
/// Automerge's columnar reads are costly one key at a time, so a reader
/// that needs most of a document takes it as a tree. Unlike Automerge's
/// own `hydrate`, it never descends more than a given number of levels, so
/// a document of any shape (a chain of 100,000 nested maps sent by a
/// hostile peer) reads in bounded stack and time.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Scalar(ScalarValue),
    Text(String),
    Map(Tree),
    List(Vec<Node>),
    /// An object below the depth the reader asked for.
    Deeper,
}

/// The keys of a map read by [`read_tree`].
pub type Tree = BTreeMap<String, Node>;

/// Reads the map `obj` and what it holds, `depth` levels down (1: its
/// scalars and texts, with nested objects as [`Node::Deeper`]).
pub fn read_tree(doc: &impl ReadDoc, obj: &ObjId, depth: usize) -> Tree {
    doc.map_range(obj, ..)
        .map(|item| {
            let id = item.id();
            (item.key.into_owned(), node(doc, item.value, id, depth))
        })
        .collect()
}

fn node(doc: &impl ReadDoc, value: ValueRef<'_>, id: ObjId, depth: usize) -> Node {
    match value {
        ValueRef::Scalar(s) => Node::Scalar(ScalarValue::from(s)),
        ValueRef::Object(ObjType::Text) => Node::Text(doc.text(&id).unwrap_or_default()),
        ValueRef::Object(_) if depth <= 1 => Node::Deeper,
        ValueRef::Object(ObjType::List) => Node::List(
            doc.list_range(&id, ..)
                .map(|item| {
                    let child = item.id();
                    node(doc, item.value, child, depth - 1)
                })
                .collect(),
        ),
        ValueRef::Object(ObjType::Map | ObjType::Table) => {
            Node::Map(read_tree(doc, &id, depth - 1))
        }
    }
}

/// The list at `key` on the root, created if absent.
pub fn root_list(
    tx: &mut impl Transactable,
    key: &str,
) -> Result<ObjId, automerge::AutomergeError> {
    match tx.get(ROOT, key)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => tx.put_object(ROOT, key, ObjType::List),
    }
}

/// Appends a new map to `list` and returns it.
pub fn push_map(
    tx: &mut impl Transactable,
    list: &ObjId,
) -> Result<ObjId, automerge::AutomergeError> {
    let end = tx.length(list);
    tx.insert_object(list, end, ObjType::Map)
}

/// Puts `value` at `key` unless it is `None`.
pub fn put_opt<V: Into<ScalarValue>>(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    value: Option<V>,
) -> Result<(), automerge::AutomergeError> {
    if let Some(v) = value {
        tx.put(obj, key, v)?;
    }
    Ok(())
}
