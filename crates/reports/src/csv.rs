//! CSV that opens cleanly in a spreadsheet: RFC 4180 quoting, and text cells that a spreadsheet
//! would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first) neutralised with a
//! leading `'` (OWASP's advice against CSV injection). Numbers are written as numbers.

/// A text cell: neutralised, then quoted when it needs it.
pub fn text(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    quote(&neutral)
}

/// Quotes a field when it holds a comma, a quote or a line break (RFC 4180).
pub fn quote(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// One CSV record from already-encoded cells, with the CRLF line end RFC 4180 names.
pub fn record(cells: &[String]) -> String {
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("a,b"), "\"a,b\"");
        assert_eq!(text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("+1"), "'+1");
        assert_eq!(text("-2"), "'-2");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("two\nlines"), "\"two\nlines\"");
        assert_eq!(record(&["a".into(), "1".into()]), "a,1\r\n");
    }
}
