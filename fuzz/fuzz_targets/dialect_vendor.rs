//! Fuzzes the vendor dialect's parser (`ingest::fuzz::dialect`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzz::dialect(ingest::Dialect::Vendor, data));
