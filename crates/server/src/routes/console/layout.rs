//! The page shell (header, navigation, chain badge) and the small formatting helpers every
//! console page uses. maud escapes every interpolated value; nothing here builds HTML by hand.

use maud::{html, Markup, DOCTYPE};

use super::chain::ChainStatus;
use super::session::Session;
use crate::auth::Role;
use crate::state::AppState;

/// The order sources the lookup form offers (the read API's).
pub const ORDER_SOURCES: [&str; 4] = ["accounting", "roms", "vendor", "stripe"];

/// The whole page: `<head>`, the header with navigation and the chain badge, then `body`.
/// Without a session (the sign-in page, errors before sign-in) only the title bar shows.
pub fn shell(state: &AppState, session: Option<&Session>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hookledger" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "hookledger" }
                    @if let Some(session) = session {
                        (navigation(session))
                    }
                }
                @if session.is_some() {
                    (badge(&state.console.chain.status()))
                }
                main { (body) }
            }
        }
    }
}

fn navigation(session: &Session) -> Markup {
    html! {
        nav {
            a href="/console/events" { "Timeline" }
            a href="/console/ledger" { "Ledger" }
            a href="/console/deliveries" { "Deliveries" }
            form.lookup method="get" action="/console/find" {
                select name="source" aria-label="order source" {
                    @for source in ORDER_SOURCES {
                        option value=(source) { (source) }
                    }
                    option value="work-order" { "work order" }
                }
                input type="text" name="ref" placeholder="order ref or work order id"
                    aria-label="reference" required;
                button type="submit" { "Open" }
            }
        }
        div.who {
            span.role.(session.role.as_str()) data-role=(session.role.as_str()) {
                @match session.role {
                    Role::Admin => "admin",
                    Role::Auditor => "auditor · read-only",
                }
            }
            form method="post" action="/console/sign-out" {
                input type="hidden" name="csrf" value=(session.csrf);
                button.link type="submit" { "Sign out" }
            }
        }
    }
}

/// The chain badge: green with the verified head, red with the first bad `seq`.
pub fn badge(status: &ChainStatus) -> Markup {
    html! {
        @match status {
            ChainStatus::Intact { head_seq, head_hash, checked_at, full_pass_at } => {
                div #chain-badge.badge.ok data-state="intact" data-head-seq=(head_seq) {
                    strong { "Chain verified" }
                    " through seq "
                    a href={ "/console/events/" (head_seq) } { (head_seq) }
                    @if let Some(hash) = head_hash {
                        " · head hash " code title=(hash) { (short_hash(hash)) }
                    }
                    span.when { " · checked " (checked_at) " · full pass from seq 1 " (full_pass_at) }
                }
            }
            ChainStatus::Verifying { through_seq } => {
                div #chain-badge.badge.pending data-state="verifying" data-head-seq=(through_seq) {
                    strong { "Verifying the chain" }
                    " … through seq " (through_seq) " so far"
                }
            }
            ChainStatus::Broken { first_bad_seq, reason, checked_at } => {
                div #chain-badge.badge.broken data-state="broken" data-first-bad-seq=(first_bad_seq) {
                    strong { "Chain BROKEN" }
                    " at seq "
                    a href={ "/console/events/" (first_bad_seq) } { (first_bad_seq) }
                    ": " (reason)
                    span.when { " · checked " (checked_at) }
                }
            }
        }
    }
}

/// The first 12 hex digits of a hash, for tables (the full hash is in the title).
pub fn short_hash(hash: &str) -> String {
    let head: String = hash.chars().take(12).collect();
    if head.len() < hash.len() {
        format!("{head}…")
    } else {
        head
    }
}

/// Percent-encodes `text` for a path segment or a query value (everything but the unreserved
/// characters of RFC 3986).
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A query string from the pairs whose value is set (`?a=1&b=2`, or empty).
pub fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={}", encode_component(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The console page of a stream's aggregate, when it has one: an order, a Stripe payment, a
/// work order.
pub fn stream_page(stream: &str) -> Option<String> {
    let mut parts = stream.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("order"), Some(source), Some(reference)) => Some(order_page(source, reference)),
        (Some("payment"), Some("stripe"), Some(id)) => Some(order_page("stripe", id)),
        (Some("work_order"), Some(id), None) => Some(work_order_page(id)),
        _ => None,
    }
}

pub fn order_page(source: &str, reference: &str) -> String {
    format!(
        "/console/orders/{}/{}",
        encode_component(source),
        encode_component(reference)
    )
}

pub fn work_order_page(id: &str) -> String {
    format!("/console/work-orders/{}", encode_component(id))
}

pub fn account_page(account: &str) -> String {
    format!("/console/ledger/accounts/{}", encode_component(account))
}

/// A stream, linked to its aggregate's page when it has one, else to the timeline filtered
/// by it.
pub fn stream_link(stream: &str) -> Markup {
    let href = stream_page(stream).unwrap_or_else(|| {
        format!(
            "/console/events{}",
            query_string(&[("stream", Some(stream.to_owned()))])
        )
    });
    html! { a.stream href=(href) { (stream) } }
}

/// `minor` units of `currency` as a decimal (`12000`, `USD` → `120.00`).
pub fn money(minor: i64, currency: &str) -> String {
    reports::decimal(minor, currency)
}

/// Re-indents JSON text for reading, two spaces a level, without parsing it: every byte of
/// every string and number stays as stored (numbers keep their exact text). Text that is not
/// JSON comes back re-indented as far as its brackets go, which is harmless for display.
pub fn json_pretty(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_reindented_with_every_number_and_string_as_stored() {
        let text = r#"{"a":[1.10,{"b":"x,{y}:\"z\""}],"c":{},"d":[]}"#;
        let pretty = json_pretty(text);
        assert_eq!(
            pretty,
            "{\n  \"a\": [\n    1.10,\n    {\n      \"b\": \"x,{y}:\\\"z\\\"\"\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}"
        );
        let compact: String = pretty
            .lines()
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("");
        assert_eq!(compact.replace(": ", ":"), text);
    }

    #[test]
    fn components_are_percent_encoded_and_streams_link_to_their_pages() {
        assert_eq!(encode_component("ORD 1/2?&"), "ORD%201%2F2%3F%26");
        assert_eq!(
            stream_page("order:roms:ORD-1"),
            Some("/console/orders/roms/ORD-1".into())
        );
        assert_eq!(
            stream_page("payment:stripe:pi_1"),
            Some("/console/orders/stripe/pi_1".into())
        );
        assert_eq!(stream_page("catalog:exact"), None);
        assert_eq!(
            query_string(&[
                ("a", Some("1".into())),
                ("b", None),
                ("c", Some(String::new()))
            ]),
            "?a=1"
        );
    }
}
