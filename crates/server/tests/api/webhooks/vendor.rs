//! Seed 003, `POST /api/vendor/order-updates`.

use ingest::Dialect;

use crate::fixtures::check_every_fixture;

#[tokio::test]
async fn every_vendor_fixture_gets_its_expected_answer_over_http() {
    assert!(check_every_fixture(Dialect::Vendor).await >= 30);
}
