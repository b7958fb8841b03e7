//! Reliability campaigns against the real `hookledger` binary, bounded in rounds and time and
//! confined to 127.0.0.1. The scripts in `scripts/` run them long (`campaign crash --rounds 20`);
//! the test suite runs each for seconds (`crates/cli/tests/cli/campaigns.rs`).
//!
//! # Layout
//! - [`traffic`]: live, signed requests of all five dialects and what the log must hold for each.
//! - [`http`]: a minimal blocking HTTP/1.1 client (one connection per request).
//! - [`serve`]: `hookledger serve` as a child process, killed with SIGKILL.
//! - [`receiver`]: a loopback webhook receiver counting deliveries by `webhook-id`.
//! - [`check`]: the checks after a kill (log, deliveries, `verify`, replay digest).
//! - [`crash`]: kill -9 at random moments under load.
//! - [`disk`]: a full disk, failing fsync and a read-only database.
//! - [`secrets`]: no secret or token in the log, the files or the answers.
//! - [`tamper`]: one changed byte in a random row of a copy, caught by `verify`.
//! - [`rng`]: the seeded generator every campaign prints the seed of.

pub mod check;
pub mod crash;
pub mod disk;
pub mod http;
pub mod receiver;
pub mod rng;
pub mod secrets;
pub mod serve;
pub mod tamper;
pub mod traffic;
