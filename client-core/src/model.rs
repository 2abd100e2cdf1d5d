//! The documents and the ticket lifecycle.

pub mod lifecycle;
