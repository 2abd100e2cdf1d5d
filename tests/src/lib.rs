//! End-to-end tests of GridSync across real processes and sockets; see `tests/`.
