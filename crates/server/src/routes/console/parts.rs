//! Pieces several pages show: timeline rows, journal entries with their lines, and the
//! outbox rows an event emitted with their deliveries.

use maud::{html, Markup};
use store::console::EventSummary;
use store::delivery::Delivery;
use store::ledger::JournalEntry;
use store::projection::OutboxRow;

use super::layout::{account_page, money, short_hash, stream_link};

/// One timeline row per event (newest first as given).
pub fn event_rows(events: &[EventSummary]) -> Markup {
    html! {
        @for e in events {
            tr data-seq=(e.seq) {
                td.num { a.seq href={ "/console/events/" (e.seq) } { (e.seq) } }
                td.mono { (e.recorded_at) }
                td { (e.source) }
                td.type { (e.event_type) }
                td { (stream_link(&e.stream)) }
                td.mono title=(e.hash) { (short_hash(&e.hash)) }
            }
        }
    }
}

/// The header of a timeline table.
pub fn event_header() -> Markup {
    html! {
        tr { th.num { "seq" } th { "recorded at" } th { "source" } th { "type" } th { "stream" } th { "hash" } }
    }
}

/// Journal entries, each with its lines (debits and credits in the entry's currencies).
pub fn entries_table(entries: &[JournalEntry]) -> Markup {
    html! {
        table.journal {
            thead {
                tr {
                    th.num { "seq" } th { "entry" } th { "account" } th.num { "debit" }
                    th.num { "credit" } th { "currency" } th { "memo" }
                }
            }
            tbody {
                @for entry in entries {
                    @for (idx, line) in entry.lines.iter().enumerate() {
                        tr.journal-line data-entry=(entry.entry_id) {
                            @if idx == 0 {
                                td.num rowspan=(entry.lines.len()) {
                                    a href={ "/console/events/" (entry.seq) } { (entry.seq) }
                                }
                                td rowspan=(entry.lines.len()) {
                                    (entry.description)
                                    br;
                                    span.muted.mono title=(entry.entry_id) { (short_hash(&entry.entry_id)) }
                                }
                            }
                            td { a.account href=(account_page(&line.account)) { (line.account) } }
                            td.num { @if line.debit_minor != 0 { (money(line.debit_minor, &line.currency)) } }
                            td.num { @if line.credit_minor != 0 { (money(line.credit_minor, &line.currency)) } }
                            td { (line.currency) }
                            td.muted { (line.memo) }
                        }
                    }
                }
            }
        }
    }
}

/// A delivery's status as a coloured label.
pub fn delivery_status(status: &str) -> Markup {
    html! { span.status.(status) { (status) } }
}

/// The outbox rows emitted, each with the deliveries made of it: none until the delivery
/// worker expands it, nor when no configured endpoint takes it (a destination without a URL,
/// no subscription to its event).
pub fn outbox_table(outbox: &[OutboxRow], deliveries: &[Delivery]) -> Markup {
    html! {
        table.outbox {
            thead {
                tr {
                    th.num { "seq" } th { "outbound event" } th { "destination" }
                    th { "deliveries (status · attempts · last error)" }
                }
            }
            tbody {
                @for row in outbox {
                    tr {
                        td.num { a href={ "/console/events/" (row.seq) } { (row.seq) } }
                        td { (row.event) br; span.muted { (stream_link(&row.stream)) } }
                        td { (row.destination) }
                        td {
                            @let made: Vec<&Delivery> = deliveries.iter().filter(|d| d.outbox_id == row.id).collect();
                            @if made.is_empty() {
                                span.muted { "none (no configured endpoint takes it, or not expanded yet)" }
                            }
                            @for d in made {
                                div.delivery {
                                    a href={ "/console/deliveries/" (d.id) } { (d.endpoint) }
                                    " " (delivery_status(&d.status)) " · " (d.attempts)
                                    @if let Some(error) = &d.last_error { " · " span.muted { (error) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
