//! Seed 002, `POST /functions/v1/webhook-receiver`.

use ingest::Dialect;

use crate::fixtures::check_every_fixture;

#[tokio::test]
async fn every_exact_fixture_gets_its_expected_answer_over_http() {
    assert!(check_every_fixture(Dialect::Exact).await >= 40);
}
