//! Fuzzes `ingest::fuzz::canonical_json`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzz::canonical_json(data));
