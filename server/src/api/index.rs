//! The summary index in memory: what lists and queue counts read.
//!
//! Reading a street's 25,000 summaries from redb and decoding them costs
//! about 100 ms; a list must sort all of them before it can answer its
//! first page. So the API keeps the store's summary index (the listing
//! index of each grid, `Store::grid_summaries`) in memory, grid by grid:
//! a grid is read from the store the first time a request needs it, and
//! from then on the hub thread puts every ticket summary a commit changes
//! into it (the summary it just committed, read back from the store: the
//! same read that feeds `/api/events`). Nothing else writes tickets to the
//! relay's store, so the copy never disagrees with it for longer than the
//! hub thread takes to finish the round that committed. Memory grows with
//! the tickets of the grids asked for (about 300 bytes each, and its
//! figure record about 160 more: 152 inline, the counted events on the
//! heap; the API bench prints both). A summary stored before summaries
//! carried their [`FigureRecord`] gets it from the ticket's document as its
//! grid is read, so `/api/figures` never loads a document after that.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use client_core::ids::{GridCode, TicketId};
use client_core::model::summary::{FigureRecord, TicketSummary};
use client_core::repo::summary_of;
use client_core::store::{Listing, Store, StoreError};

/// The figure record of a ticket whose stored summary predates it, from
/// its document: read once, when its grid enters the index (the ticket's
/// next commit stores a summary with it). `None` if the document is missing
/// or unreadable (logged); the figures then leave it out, as the export does.
fn figures_from_document(
    store: &impl Store,
    id: TicketId,
) -> Result<Option<FigureRecord>, StoreError> {
    let doc_id = id.document_id();
    let Some(stored) = store.load(&doc_id)? else {
        return Ok(None);
    };
    let options =
        automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck);
    match automerge::Automerge::load_with_options(&stored.concat(), options) {
        Ok(doc) => Ok(summary_of(&doc_id, &doc).and_then(|s| s.figures)),
        Err(e) => {
            tracing::warn!(ticket = %id, error = %e, "figures: a ticket document does not load");
            Ok(None)
        }
    }
}

/// One grid's summaries.
#[derive(Debug, Clone, Default)]
pub(crate) struct GridSummaries {
    pub items: Vec<TicketSummary>,
    at: HashMap<TicketId, usize>,
}

impl GridSummaries {
    fn of(items: Vec<TicketSummary>) -> Self {
        let at = items.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        Self { items, at }
    }

    fn put(&mut self, s: TicketSummary) {
        match self.at.get(&s.id) {
            Some(&i) => self.items[i] = s,
            None => {
                self.at.insert(s.id, self.items.len());
                self.items.push(s);
            }
        }
    }
}

/// The grids read so far, shared by the request handlers (readers) and
/// the hub thread (the only writer after a grid is read).
#[derive(Debug, Default)]
pub(crate) struct SummaryIndex {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    grids: HashMap<GridCode, Arc<GridSummaries>>,
    /// Puts for each grid not held: a grid read from the store while one
    /// for it ran may miss it, and is then not kept (one entry per grid
    /// with tickets, like the registry's grid table).
    puts: HashMap<GridCode, u64>,
}

impl SummaryIndex {
    /// Grid `grid`'s summaries: from memory, or read from `store`.
    pub(crate) fn grid(
        &self,
        store: &impl Store,
        grid: &GridCode,
    ) -> Result<Arc<GridSummaries>, StoreError> {
        let seen = {
            let state = self.read();
            if let Some(g) = state.grids.get(grid) {
                return Ok(g.clone());
            }
            state.puts.get(grid).copied()
        };
        let mut items = store.grid_summaries(grid, Listing::All)?;
        for s in &mut items {
            // Export rows are read from the store by exports; memory keeps
            // what lists and figures use.
            s.row = None;
            if s.figures.is_none() {
                s.figures = figures_from_document(store, s.id)?;
            }
        }
        let read = Arc::new(GridSummaries::of(items));
        let mut state = self.write();
        if let Some(g) = state.grids.get(grid) {
            return Ok(g.clone());
        }
        if state.puts.get(grid).copied() == seen {
            state.puts.remove(grid);
            state.grids.insert(grid.clone(), read.clone());
        }
        Ok(read)
    }

    /// A summary the hub thread just committed.
    pub(crate) fn put(&self, s: &TicketSummary) {
        let mut state = self.write();
        match state.grids.get_mut(&s.grid) {
            // Copies the grid only while a request still holds the old one.
            Some(g) => Arc::make_mut(g).put(TicketSummary {
                row: None,
                ..s.clone()
            }),
            None => *state.puts.entry(s.grid.clone()).or_default() += 1,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::model::lifecycle::Status;
    use client_core::store::{Batch, MemoryStore};

    fn summary(grid: &str, status: Status) -> TicketSummary {
        TicketSummary {
            id: TicketId::random(),
            grid: GridCode::new(grid).unwrap(),
            status,
            category: "0101".into(),
            title: "路灯".into(),
            urgency: None,
            unit: None,
            due_at: None,
            reported_at: Some(1),
            updated_at: Some(1),
            rework_count: 0,
            conflicts: 0,
            handled_by: None,
            created_by: "wang".into(),
            urged_at: None,
            extension_pending: false,
            figures: None,
            row: None,
            photos: Vec::new(),
        }
    }

    #[test]
    fn a_grid_is_read_once_then_kept_up_to_date_by_puts() {
        let store = MemoryStore::new();
        let mut a = summary("G-01", Status::Reported);
        let mut batch = Batch::new();
        batch.put_summary(a.clone());
        store.write(batch).unwrap();
        let index = SummaryIndex::default();
        let g1 = GridCode::new("G-01").unwrap();
        // A put for a grid not held is dropped (the store has it).
        index.put(&summary("G-01", Status::Closed));
        assert_eq!(index.grid(&store, &g1).unwrap().items, [a.clone()]);

        // The store is not read again: a summary only in the store is not
        // seen, one put is.
        let mut batch = Batch::new();
        batch.put_summary(summary("G-01", Status::Reported));
        store.write(batch).unwrap();
        a.status = Status::Accepted;
        index.put(&a);
        let b = summary("G-01", Status::Reported);
        index.put(&b);
        let held = index.grid(&store, &g1).unwrap();
        assert_eq!(held.items, [a, b]);
        index.put(&summary("G-02", Status::Reported));
        assert_eq!(index.grid(&store, &g1).unwrap().items.len(), 2);
    }
}
