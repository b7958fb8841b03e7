//! Integration tests: the real server on a random port with a temporary database, over HTTP.

mod helpers;
mod ledger_api;
mod read_api;
