//! Integration tests: the real server on a random port with a temporary database, over HTTP.

mod console;
mod fixtures;
mod flows;
mod helpers;
mod ledger_api;
mod limits;
mod numbers;
mod outbound;
mod read_api;
mod security;
mod webhooks;
