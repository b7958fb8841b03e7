//! Fuzzes `ingest::fuzz::signatures`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzz::signatures(data));
