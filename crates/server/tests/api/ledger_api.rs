//! The accountant's and auditor's read APIs over HTTP: trial balance (as of a `seq` or a time,
//! equal to what the service showed then), journal exports, the register, event exports, and
//! bearer tokens with roles on each.

use store::ledger::JOURNAL_ENTRY_KIND;
use store::projection::JournalLine;
use store::Writer;

use crate::helpers::{spawn_app, TestApp, ADMIN_TOKEN};

/// The real service, plus its writer so that the test can write as a webhook route would.
async fn spawn_app_with_writer() -> (TestApp, Writer) {
    let app = spawn_app().await;
    let writer = app.state.writer.clone();
    (app, writer)
}

/// Appends the workload's request `i` and, in the same job, a balanced journal entry for each
/// new event (standing in for the journal projector): 100.00 USD sold, or collected every
/// third event.
async fn write_request(writer: &Writer, i: u64) {
    let events = replay::workload::events(i);
    writer
        .submit(move |ctx| {
            for event in &events {
                let (appended, stored) = ctx.append(event)?;
                if appended.duplicate {
                    continue;
                }
                projections::apply(ctx.projections(), &stored)
                    .map_err(|e| store::StoreError::Invariant(e.to_string()))?;
                let (debit, credit) = if stored.seq.is_multiple_of(3) {
                    ("Assets:Cash:Stripe", "Assets:Receivables:Roms")
                } else {
                    ("Assets:Receivables:Roms", "Income:Sales")
                };
                let entry_id = format!("test-{:04}", stored.seq);
                let tx = ctx.projections();
                for (line_no, account, debit_minor, credit_minor) in
                    [(1, debit, 10_000, 0), (2, credit, 0, 10_000)]
                {
                    tx.insert_journal_line(&JournalLine {
                        entry_id: entry_id.clone(),
                        line_no,
                        seq: stored.seq,
                        recorded_at: stored.recorded_at.clone(),
                        account: account.into(),
                        currency: "USD".into(),
                        debit_minor,
                        credit_minor,
                        memo: String::new(),
                    })?;
                }
                let body = serde_json::json!({"entry_id": entry_id, "seq": stored.seq,
                    "description": format!("Entry {}", stored.seq), "lines": []});
                tx.put_doc(JOURNAL_ENTRY_KIND, &entry_id, &body.to_string(), stored.seq)?;
            }
            Ok::<_, store::StoreError>(())
        })
        .await
        .expect("answered")
        .expect("written");
}

#[tokio::test]
async fn the_trial_balance_as_of_a_seq_or_time_is_what_the_service_showed_then() {
    let (app, writer) = spawn_app_with_writer().await;
    for i in 0..10 {
        write_request(&writer, i).await;
    }
    let shown_then = app.get_json("/api/ledger/trial-balance").await;
    let head = app.get_json("/health").await["head_seq"]
        .as_u64()
        .expect("head");
    let event = app.get_json(&format!("/api/events/{head}")).await;
    let time = event["recorded_at"].as_str().expect("time").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for i in 10..25 {
        write_request(&writer, i).await;
    }
    let now = app.get_json("/api/ledger/trial-balance").await;
    assert_ne!(now, shown_then);
    assert_eq!(
        app.get_json(&format!("/api/ledger/trial-balance?as_of={head}"))
            .await,
        shown_then
    );
    assert_eq!(
        app.get_json(&format!("/api/ledger/trial-balance?as_of={time}"))
            .await,
        shown_then
    );
    let totals = shown_then["totals"].as_array().expect("totals");
    assert!(
        totals.iter().any(|t| t["currency"] == "USD"),
        "{shown_then}"
    );
    for total in totals {
        assert_eq!(total["debit_minor"], total["credit_minor"], "{total}");
    }
    let sum: i64 = totals
        .iter()
        .map(|t| t["debit_minor"].as_i64().expect("debit"))
        .sum();
    assert_eq!(shown_then["total_debit_minor"], sum);
    let keys: Vec<&str> = shown_then["accounts"][0]
        .as_object()
        .expect("account")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "account",
            "balance_minor",
            "credit_minor",
            "currency",
            "debit_minor"
        ]
    );
    let bad = app
        .get_as("/api/ledger/trial-balance?as_of=tomorrow", ADMIN_TOKEN)
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_journal_line_leads_to_the_request_that_caused_it() {
    let (app, writer) = spawn_app_with_writer().await;
    for i in 0..6 {
        write_request(&writer, i).await;
    }
    let journal = app
        .get_json("/api/ledger/journal?account=Assets:Cash")
        .await;
    let entries = journal["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    let seq = entries[0]["seq"].as_u64().expect("seq");
    let event = app.get_json(&format!("/api/events/{seq}")).await;
    assert_eq!(event["seq"], seq);
    assert!(event["raw_request"]["body"].is_string(), "{event}");
    assert!(event["raw_request"]["headers"].is_object(), "{event}");
    let register = app
        .get_json("/api/ledger/register?account=Assets:Receivables:Roms")
        .await;
    let rows = register["rows"].as_array().expect("rows");
    let usd: Vec<&serde_json::Value> = rows.iter().filter(|r| r["currency"] == "USD").collect();
    let expected: i64 = usd
        .iter()
        .map(|r| r["debit_minor"].as_i64().expect("d") - r["credit_minor"].as_i64().expect("c"))
        .sum();
    let last = usd.last().expect("a USD row");
    assert_eq!(last["balance_minor"].as_i64(), Some(expected));
}

#[tokio::test]
async fn journal_exports_have_their_content_types() {
    let (app, writer) = spawn_app_with_writer().await;
    for i in 0..4 {
        write_request(&writer, i).await;
    }
    for (format, content_type, needle) in [
        ("csv", "text/csv", "seq,entry_id,recorded_at,"),
        ("ledger", "text/plain", "    ; seq: 1\n"),
        ("beancount", "text/plain", " open Assets:Receivables:Roms\n"),
    ] {
        let response = app
            .get_as(&format!("/api/ledger/journal?format={format}"), ADMIN_TOKEN)
            .await;
        assert_eq!(response.status(), 200, "{format}");
        let header = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(header.starts_with(content_type), "{format}: {header}");
        let body = response.text().await.expect("text");
        assert!(body.contains(needle), "{format}: {body}");
    }
    let bad = app
        .get_as("/api/ledger/journal?format=xlsx", ADMIN_TOKEN)
        .await;
    assert_eq!(bad.status(), 400);
    let csv = app
        .get_as("/api/ledger/trial-balance?format=csv", ADMIN_TOKEN)
        .await;
    assert!(csv
        .text()
        .await
        .expect("text")
        .starts_with("account,currency,"));
}

#[tokio::test]
async fn events_export_as_ndjson_and_csv_with_the_cursor_in_a_header() {
    let (app, writer) = spawn_app_with_writer().await;
    for i in 0..5 {
        write_request(&writer, i).await;
    }
    let ndjson = app
        .get_as("/api/events?format=ndjson&limit=2", ADMIN_TOKEN)
        .await;
    assert_eq!(ndjson.status(), 200);
    assert_eq!(ndjson.headers()["x-next-after-seq"], "2");
    let text = ndjson.text().await.expect("text");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["seq"], 2);
    let csv = app
        .get_as("/api/events?format=csv&after_seq=3", ADMIN_TOKEN)
        .await;
    assert!(csv.headers().get("x-next-after-seq").is_none());
    let text = csv.text().await.expect("text");
    assert!(text.starts_with("seq,id,stream,"), "{text}");
    assert_eq!(text.lines().count(), 1 + 2);
    let json = app.get_json("/api/events?limit=2").await;
    assert_eq!(json["next_after_seq"], 2);
    let bad = app.get_as("/api/events?format=xml", ADMIN_TOKEN).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn ledger_reads_need_a_token_and_an_auditor_reads_but_changes_nothing() {
    let (app, _writer) = spawn_app_with_writer().await;
    let auditor = app.token("auditor").await;
    for path in [
        "/api/ledger/trial-balance",
        "/api/ledger/journal",
        "/api/ledger/register?account=Income",
        "/api/events?format=csv",
        "/api/digest",
    ] {
        assert_eq!(app.get(path).await.status(), 401, "{path} without a token");
        assert_eq!(app.get_as(path, "nope").await.status(), 401, "{path}");
        assert_eq!(app.get_as(path, &auditor).await.status(), 200, "{path}");
    }
    let write = app
        .post_json_as(
            "/api/v1/tenant/tokens",
            &auditor,
            serde_json::json!({ "role": "auditor" }),
        )
        .await;
    assert_eq!(write.status(), 403);
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.expect("json");
    for path in [
        "/api/ledger/trial-balance",
        "/api/ledger/journal",
        "/api/ledger/register",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
    let missing_account = app.get_as("/api/ledger/register", ADMIN_TOKEN).await;
    assert_eq!(missing_account.status(), 400);
}
