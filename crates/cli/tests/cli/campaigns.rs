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
