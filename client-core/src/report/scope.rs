//! Where a grid sits in the district (grid → community → street →
//! district), and the filter that narrows a report to part of it.

use std::collections::HashMap;

use crate::ids::GridCode;

use super::Lang;

/// What the district knows about a grid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GridInfo {
    /// The grid's name, e.g. `幸福里第三网格`.
    pub name: String,
    /// 社区
    pub community: String,
    /// 街道 (or 镇)
    pub street: String,
    /// 区 (or 县)
    pub district: String,
}

/// The lookup `grid code → GridInfo` a report groups by. A grid that is
/// missing reads as unknown (未知) at every level.
#[derive(Debug, Clone, Default)]
pub struct GridDirectory {
    grids: HashMap<GridCode, GridInfo>,
}

impl GridDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, code: GridCode, info: GridInfo) -> &mut Self {
        self.grids.insert(code, info);
        self
    }

    pub fn get(&self, code: &GridCode) -> Option<&GridInfo> {
        self.grids.get(code)
    }

    pub fn len(&self) -> usize {
        self.grids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grids.is_empty()
    }
}

impl FromIterator<(GridCode, GridInfo)> for GridDirectory {
    fn from_iter<I: IntoIterator<Item = (GridCode, GridInfo)>>(iter: I) -> Self {
        Self {
            grids: iter.into_iter().collect(),
        }
    }
}

/// Narrows a report to part of the district. Each set field must match
/// exactly (names as in [`GridInfo`]); a record whose grid is unknown
/// matches no set field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub district: Option<String>,
    pub street: Option<String>,
    pub community: Option<String>,
    pub grid: Option<GridCode>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// The filter as one line for the export's metadata.
    pub fn describe(&self, lang: Lang) -> String {
        let names = match lang {
            Lang::Zh => ["区", "街道", "社区", "网格"],
            Lang::En => ["district", "street", "community", "grid"],
        };
        let parts: Vec<String> = [
            self.district.as_deref(),
            self.street.as_deref(),
            self.community.as_deref(),
            self.grid.as_ref().map(GridCode::as_str),
        ]
        .iter()
        .zip(names)
        .filter_map(|(v, n)| v.map(|v| format!("{n}={v}")))
        .collect();
        if parts.is_empty() {
            match lang {
                Lang::Zh => "全部".to_owned(),
                Lang::En => "all".to_owned(),
            }
        } else {
            parts.join("; ")
        }
    }
}

/// A record's place in the district, with unknown parts already spelt out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Place {
    pub district: String,
    pub street: String,
    pub community: String,
    /// Empty for a ticket whose grid has not arrived yet.
    pub grid: String,
    pub grid_name: String,
}

impl Place {
    /// Looks the grid up, or `None` when the filter excludes it.
    pub fn resolve(
        grid: Option<&GridCode>,
        directory: &GridDirectory,
        filter: &Filter,
        lang: Lang,
    ) -> Option<Place> {
        let info = grid.and_then(|g| directory.get(g));
        let matches = |want: &Option<String>, have: Option<&String>| {
            want.as_ref().is_none_or(|w| have == Some(w))
        };
        let ok = matches(&filter.district, info.map(|i| &i.district))
            && matches(&filter.street, info.map(|i| &i.street))
            && matches(&filter.community, info.map(|i| &i.community))
            && filter.grid.as_ref().is_none_or(|g| grid == Some(g));
        if !ok {
            return None;
        }
        let unknown = lang.unknown();
        let known = |s: Option<&String>| match s {
            Some(s) if !s.trim().is_empty() => s.clone(),
            _ => unknown.to_owned(),
        };
        Some(Place {
            district: known(info.map(|i| &i.district)),
            street: known(info.map(|i| &i.street)),
            community: known(info.map(|i| &i.community)),
            grid: grid.map(|g| g.as_str().to_owned()).unwrap_or_default(),
            grid_name: known(info.map(|i| &i.name)),
        })
    }
}
