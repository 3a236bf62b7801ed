//! Pebble: reads business mailboxes, classifies and links each email, drafts
//! replies for people to approve, and records every step in a tamper-evident
//! activity stream. See `docs/architecture.md` for the map.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod crm;
pub mod dashboard;
pub mod demo;
pub mod drafts;
pub mod http;
pub mod ingest;
pub mod intent;
pub mod keyfile;
pub mod llm;
pub use pebble_mail as mail;
pub mod metrics;
pub mod objects;
pub mod outbox;
pub mod pipeline;
pub mod privacy;
pub mod startup;
pub mod store;
pub mod tally;
pub mod telemetry;
pub mod ui;
