//! Pebble's domain core: the types and rules of the product, with no I/O.
//!
//! Everything here is pure so that it can be tested exhaustively and reused by
//! every adapter (SQLite, PostgreSQL, HTTP, CLI) without dragging them in.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod identifiers;
pub mod merkle;
