//! Fuzzes `ingest::fuzz::amount`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzz::amount(data));
