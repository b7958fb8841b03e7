//! The quick versions of the reliability campaigns (`scripts/crash-test`, `scripts/disk-faults`,
//! `scripts/tamper`): the same code as the long runs, for a few seconds each.

use std::path::PathBuf;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hookledger"))
}

#[test]
fn two_kills_under_load_from_every_dialect_and_delivery_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = campaigns::crash::CrashConfig {
        bin: bin(),
        dir: dir.path().to_path_buf(),
        rounds: 2,
        clients: 4,
        round_ms_min: 400,
        round_ms_max: 900,
        seed: campaigns::rng::Rng::seed_from_os(),
        drain_ms_max: 15_000,
    };
    let report = campaigns::crash::run(&config, &mut |line| eprintln!("{line}")).expect("campaign");
    eprintln!("{}", report.summary());
    assert!(report.ok(), "{}\n{:#?}", report.summary(), report.problems);
    assert_eq!(report.rounds, 2);
    assert!(report.acknowledged >= 20, "{}", report.summary());
    assert!(report.delivered > 0, "{}", report.summary());
}

#[test]
fn one_changed_byte_in_any_column_of_a_random_row_is_caught_by_verify_every_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("source.db");
    let seed = campaigns::rng::Rng::seed_from_os();
    let filled = campaigns::crash::fill(&bin(), &source, 2, 600, seed).expect("fill");
    assert!(filled > 10, "only {filled} requests acknowledged");
    let config = campaigns::tamper::TamperConfig {
        bin: bin(),
        source,
        dir: dir.path().to_path_buf(),
        flips: 40,
        seed,
    };
    let report = campaigns::tamper::run(&config, &mut |_| {}).expect("campaign");
    eprintln!("{}", report.summary());
    assert_eq!(report.flips, 40);
    assert_eq!(report.caught, 40, "{:#?}", report.missed);
}

/// One fault episode of `mode` under load, healed without a restart.
fn disk_fault_campaign(mode: campaigns::disk::Mode) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = campaigns::disk::DiskConfig {
        bin: bin(),
        dir: dir.path().to_path_buf(),
        mode,
        cycles: 1,
        fault_ms: 800,
        healthy_ms: 500,
        clients: 3,
        seed: campaigns::rng::Rng::seed_from_os(),
    };
    let report = campaigns::disk::run(&config, &mut |line| eprintln!("{line}")).expect("campaign");
    eprintln!("{}", report.summary());
    assert!(report.ok(), "{}\n{:#?}", report.summary(), report.problems);
}

#[test]
fn a_full_disk_is_503_with_retry_after_loses_nothing_and_heals_by_itself() {
    disk_fault_campaign(campaigns::disk::Mode::Enospc);
}

#[test]
fn a_failing_fsync_is_503_with_retry_after_loses_nothing_and_heals_by_itself() {
    disk_fault_campaign(campaigns::disk::Mode::EioFsync);
}

#[test]
fn a_read_only_file_system_is_503_with_retry_after_loses_nothing_and_heals_by_itself() {
    disk_fault_campaign(campaigns::disk::Mode::Erofs);
}

#[test]
fn no_secret_or_token_is_in_the_log_the_database_the_request_log_or_any_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = campaigns::secrets::run(&bin(), dir.path()).expect("campaign");
    eprintln!("{}", report.summary());
    assert!(report.requests >= 20, "{}", report.summary());
    assert!(report.bytes_searched > 10_000, "{}", report.summary());
    assert!(report.found.is_empty(), "{:#?}", report.found);
}
