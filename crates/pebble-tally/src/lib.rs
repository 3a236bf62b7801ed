//! Tally wire format.
