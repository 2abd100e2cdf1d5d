//! Document limits: how large and how deep a document may grow through
//! changes that arrive from peers.
//!
//! GridSync's own documents are shallow (a ticket is a root map holding
//! lists of flat maps, three levels at most) and small (a ticket is a few
//! kilobytes; photos live outside documents). A peer can nevertheless send
//! anything Automerge can encode: a 200 KB change holding a chain of
//! 100,000 nested maps once overflowed the relay's stack in a recursive
//! read. The hub checks every change it receives against [`Limits`] and
//! refuses the whole message when one is broken; readers
//! ([`super::schema::read_tree`]) never descend deeper than they need, so
//! a document stored before these checks existed still reads.
//!
//! The checks cost one pass over the new changes' operations and, per
//! object they create, a walk to the root bounded by `max_depth`: they grow
//! with what arrived, not with the document.

use std::collections::HashMap;

use automerge::{Automerge, Change, ReadDoc};

/// The bounds a document and each change to it must stay within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Containers (maps, lists, texts) an object may sit below: an object
    /// on the root map is at depth 1. GridSync writes depth 3 at most
    /// (root → `events` → an event → a JS text value).
    pub max_depth: usize,
    /// Encoded bytes of one change.
    pub max_change_bytes: usize,
    /// Operations in one change.
    pub max_change_ops: usize,
    /// Operations in one document (JS clients write each character of a
    /// text as one).
    pub max_document_ops: u64,
    /// Encoded bytes of one document: what is stored plus what arrives.
    pub max_document_bytes: usize,
}

impl Limits {
    /// The limits the relay and devices apply (see ARCHITECTURE.md).
    pub const DEFAULT: Limits = Limits {
        max_depth: 16,
        max_change_bytes: 1024 * 1024,
        max_change_ops: 100_000,
        max_document_ops: 1_000_000,
        max_document_bytes: 8 * 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which limit a change broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("a sync message carries a chunk of {bytes} bytes; a change may be at most {max} bytes")]
    ChunkBytes { bytes: usize, max: usize },
    #[error("change {hash} is {bytes} bytes; a change may be at most {max} bytes")]
    ChangeBytes {
        hash: String,
        bytes: usize,
        max: usize,
    },
    #[error("change {hash} holds {ops} operations; a change may hold at most {max}")]
    ChangeOps {
        hash: String,
        ops: usize,
        max: usize,
    },
    #[error("change {hash} nests objects deeper than {max} levels; GridSync documents are shallow")]
    Depth { hash: String, max: usize },
    #[error("the document would hold {ops} operations; a document may hold at most {max}")]
    DocumentOps { ops: u64, max: u64 },
    #[error("the document would be {bytes} bytes; a document may be at most {max} bytes")]
    DocumentBytes { bytes: usize, max: usize },
}

impl Limits {
    /// Checks the encoded chunks of a sync message before anything is
    /// decoded or applied: none may be larger than a change may be.
    pub fn check_chunks<'a>(
        &self,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), LimitError> {
        match chunks
            .into_iter()
            .map(<[u8]>::len)
            .find(|bytes| *bytes > self.max_change_bytes)
        {
            Some(bytes) => Err(LimitError::ChunkBytes {
                bytes,
                max: self.max_change_bytes,
            }),
            None => Ok(()),
        }
    }

    /// Checks each change's size on its own.
    fn check_changes(&self, changes: &[Change]) -> Result<(), LimitError> {
        for change in changes {
            let bytes = change.raw_bytes().len();
            if bytes > self.max_change_bytes {
                return Err(LimitError::ChangeBytes {
                    hash: change.hash().to_string(),
                    bytes,
                    max: self.max_change_bytes,
                });
            }
            if change.len() > self.max_change_ops {
                return Err(LimitError::ChangeOps {
                    hash: change.hash().to_string(),
                    ops: change.len(),
                    max: self.max_change_ops,
                });
            }
        }
        Ok(())
    }

    /// Checks `doc` after `applied` (the changes it just gained) were
    /// applied: each change's size, the document's size (`bytes` is its
    /// encoded size with them) and the depth of every object they created.
    pub fn check_document(
        &self,
        doc: &Automerge,
        applied: &[Change],
        bytes: usize,
    ) -> Result<(), LimitError> {
        self.check_changes(applied)?;
        if bytes > self.max_document_bytes {
            return Err(LimitError::DocumentBytes {
                bytes,
                max: self.max_document_bytes,
            });
        }
        let ops = doc.stats().num_ops;
        if ops > self.max_document_ops {
            return Err(LimitError::DocumentOps {
                ops,
                max: self.max_document_ops,
            });
        }
        for change in applied {
            self.check_depth(doc, change)?;
        }
        Ok(())
    }

    /// Every object `change` creates sits at most `max_depth` deep in `doc`.
    /// An object made on the root, or inside another object of the same
    /// change, gets its depth from there; only one made inside an older
    /// object walks up the document (at most `max_depth` steps).
    fn check_depth(&self, doc: &Automerge, change: &Change) -> Result<(), LimitError> {
        use automerge::legacy::ObjectId;
        let too_deep = || LimitError::Depth {
            hash: change.hash().to_string(),
            max: self.max_depth,
        };
        let expanded = change.decode();
        let start = expanded.start_op.get();
        // Depth of each object this change made, by its op counter.
        let mut made: HashMap<u64, usize> = HashMap::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            if op.obj_type().is_none() {
                continue;
            }
            let parent = match &op.obj {
                ObjectId::Root => 0,
                ObjectId::Id(id) if id.1 == expanded.actor_id && made.contains_key(&id.0) => {
                    made[&id.0]
                }
                ObjectId::Id(id) => {
                    let Ok(obj) = doc.import_obj(&format!("{}@{}", id.0, id.1.to_hex_string()))
                    else {
                        continue;
                    };
                    // An object's depth is the number of its ancestors.
                    doc.parents(&obj)
                        .map_err(|_| too_deep())?
                        .take(self.max_depth + 1)
                        .count()
                }
            };
            let depth = parent + 1;
            if depth > self.max_depth {
                return Err(too_deep());
            }
            made.insert(start + i as u64, depth);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};

    use super::*;

    fn nested(levels: usize) -> Automerge {
        let mut doc = Automerge::new();
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            let mut obj = ROOT;
            for _ in 0..levels {
                obj = tx.put_object(&obj, "x", ObjType::Map)?;
            }
            Ok(())
        })
        .unwrap();
        doc
    }

    fn check(doc: &Automerge, limits: &Limits) -> Result<(), LimitError> {
        let changes = doc.get_changes(&[]);
        limits.check_chunks(changes.iter().map(|c| c.raw_bytes()))?;
        limits.check_document(doc, &changes, 0)
    }

    #[test]
    fn objects_at_the_depth_limit_pass_and_one_deeper_fails() {
        let limits = Limits::DEFAULT;
        assert_eq!(check(&nested(limits.max_depth), &limits), Ok(()));
        assert!(matches!(
            check(&nested(limits.max_depth + 1), &limits),
            Err(LimitError::Depth { max: 16, .. })
        ));
    }

    #[test]
    fn a_chain_of_a_hundred_thousand_maps_is_refused_quickly_and_without_recursion() {
        let doc = nested(100_000);
        assert!(matches!(
            check(&doc, &Limits::DEFAULT),
            Err(LimitError::Depth { .. })
        ));
    }

    /// Ten levels, then `more` levels in a later change under the deepest.
    fn deepened(more: usize) -> (Automerge, Vec<Change>) {
        let mut doc = nested(10);
        let before = doc.get_heads();
        let deepest = {
            let mut obj = ROOT;
            while let Some((_, id)) = doc.get(&obj, "x").unwrap() {
                obj = id;
            }
            obj
        };
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            let mut obj = deepest;
            for _ in 0..more {
                obj = tx.put_object(&obj, "y", ObjType::Map)?;
            }
            Ok(())
        })
        .unwrap();
        let new = doc.get_changes(&before);
        (doc, new)
    }

    #[test]
    fn a_later_change_under_an_old_object_counts_from_that_objects_depth() {
        let (doc, new) = deepened(6);
        assert_eq!(Limits::DEFAULT.check_document(&doc, &new, 0), Ok(()));
        let (doc, new) = deepened(7);
        assert!(matches!(
            Limits::DEFAULT.check_document(&doc, &new, 0),
            Err(LimitError::Depth { .. })
        ));
    }

    #[test]
    fn size_and_op_counts_are_bounded() {
        let mut doc = Automerge::new();
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            for i in 0..50 {
                tx.put(ROOT, format!("k{i}"), "x".repeat(100))?;
            }
            Ok(())
        })
        .unwrap();
        let small = Limits {
            max_change_ops: 10,
            ..Limits::DEFAULT
        };
        assert!(matches!(
            check(&doc, &small),
            Err(LimitError::ChangeOps {
                ops: 50,
                max: 10,
                ..
            })
        ));
        let small = Limits {
            max_change_bytes: 1000,
            ..Limits::DEFAULT
        };
        assert!(matches!(
            check(&doc, &small),
            Err(LimitError::ChunkBytes { max: 1000, .. })
        ));
        let changes = doc.get_changes(&[]);
        assert!(matches!(
            small.check_document(&doc, &changes, 0),
            Err(LimitError::ChangeBytes { max: 1000, .. })
        ));
        let small = Limits {
            max_document_ops: 20,
            ..Limits::DEFAULT
        };
        assert!(matches!(
            check(&doc, &small),
            Err(LimitError::DocumentOps { ops: 50, max: 20 })
        ));
        let changes = doc.get_changes(&[]);
        assert!(matches!(
            Limits::DEFAULT.check_document(&doc, &changes, 9 * 1024 * 1024),
            Err(LimitError::DocumentBytes { .. })
        ));
    }
}
