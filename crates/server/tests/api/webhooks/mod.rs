//! The inbound endpoints over HTTP: one module per dialect (every fixture, then what is
//! particular to it), and [`edge`] for what the write path does the same for all.

mod accounting;
mod edge;
mod exact;
mod request_log;
mod roms;
mod stripe;
mod vendor;
