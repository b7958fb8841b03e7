//! `POST /api/webhooks/stripe`.

use ingest::Dialect;

use crate::fixtures::check_every_fixture;
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn every_stripe_fixture_gets_its_expected_answer_over_http() {
    assert!(check_every_fixture(Dialect::Stripe).await >= 30);
}

#[tokio::test]
async fn an_event_id_sent_again_is_a_duplicate_however_much_later() {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    let send = |id: &'static str| {
        let body = format!(
            r#"{{"id":"{id}","type":"customer.created","data":{{"object":{{"id":"cus_1"}}}}}}"#
        );
        let at = chrono::Utc::now();
        let signature =
            ingest::fixtures::expand("{{stripe_signature}}", body.as_bytes(), at).expect("valid");
        let app = &app;
        async move {
            app.post_text(
                "/api/webhooks/stripe",
                &[("stripe-signature", &signature)],
                &body,
            )
            .await
        }
    };
    assert_eq!(send("evt_1").await.status(), 200);
    assert_eq!(send("evt_2").await.status(), 200);
    let again = send("evt_1").await;
    assert_eq!(again.status(), 200);
    assert_eq!(app.events_count().await, 2);
    let log = app.request_log(1).await;
    assert_eq!(log[0]["outcome"], "duplicate");
    assert_eq!(log[0]["seq"], 1);
}
