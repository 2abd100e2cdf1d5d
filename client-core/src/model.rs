//! The documents and the ticket lifecycle.
//!
//! - [`schema`]: the one place that knows the Automerge layout.
//! - [`lifecycle`]: the lifecycle table and the fold of a ticket's events.
//! - [`ticket`], [`ticket_private`], [`visit`], [`grid_index`], [`catalog`]: the
//!   document types (the catalog is written by the relay only).

pub mod catalog;
pub mod grid_index;
pub mod lifecycle;
pub mod limits;
pub mod schema;
pub mod summary;
pub mod ticket;
pub mod ticket_private;
pub mod visit;

/// Defines `ALL`, `as_str`, `Display` and `FromStr` for a closed set of
/// snake_case names.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::model::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err($crate::model::UnknownName {
                        what: stringify!($ty),
                        name: other.to_owned(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

/// A name that is not one of a closed set (role, status, action, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`: expected one of {}", expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
    pub expected: &'static [&'static str],
}

pub(crate) use text_enum;
