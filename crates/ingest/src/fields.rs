//! Typed access to the fields of one JSON object, shared by every dialect.
//!
//! A [`Fields`] takes fields out of the object as it reads them, so that whatever is left at the
//! end is exactly the set of fields no typed field mapped: the payload's `extra`. Every error names
//! the field by its full path (`products[1].product_type`), and carries seed 002's code:
//! `MISSING_REQUIRED_FIELD` for a missing (or `null`, or empty) required field, `INVALID_STATUS`
//! for a value outside an enum, `INVALID_PAYLOAD` for a wrong type or an out-of-range value. The
//! other dialects show only the message.

use std::collections::BTreeMap;

use domain::{Currency, Json, Money, MoneyError};

use crate::{ErrorCode, Rejection};

/// The longest text accepted for an identifier (order numbers, ids): seed 001's 255.
pub const ID_CHARS_MAX: usize = 255;

/// The largest integer taken as an order number: 2^53, the largest integer every JSON parser
/// (JavaScript's included) holds exactly.
pub const ORDER_NUMBER_INTEGER_MAX: u64 = 1 << 53;

/// The largest magnitude of an amount, in minor units (10^15: ten trillion major units of a
/// two-decimal currency), so that sums of many amounts stay far from `i64` overflow. Beyond it: 400.
pub const AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000_000;

/// The fields of one JSON object, taken out as they are read.
#[derive(Debug)]
pub struct Fields {
    map: BTreeMap<String, Json>,
    /// The object's path in the body, with a trailing `.` (empty at the top level).
    prefix: String,
}

/// A missing required field.
pub fn missing(path: &str) -> Rejection {
    Rejection::coded(
        ErrorCode::MissingRequiredField,
        format!("Missing required field: {path}"),
    )
}

/// A field of the wrong type or out of range.
pub fn wrong(path: &str, expected: &str, got: &Json) -> Rejection {
    Rejection::invalid(format!(
        "Field {path} must be {expected}, got {}",
        got.kind()
    ))
}

impl Fields {
    /// The fields of `value`, which must be an object; `path` names it in errors.
    pub fn of(value: Json, path: &str) -> Result<Fields, Rejection> {
        match value {
            Json::Object(map) => Ok(Fields {
                map,
                prefix: if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}.")
                },
            }),
            other => Err(if path.is_empty() {
                Rejection::invalid(format!("Body must be a JSON object, got {}", other.kind()))
            } else {
                wrong(path, "an object", &other)
            }),
        }
    }

    /// The full path of a field, for messages.
    pub fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Takes a field out; `null` counts as absent.
    pub fn take(&mut self, key: &str) -> Option<Json> {
        match self.map.remove(key) {
            Some(Json::Null) | None => None,
            Some(value) => Some(value),
        }
    }

    /// Takes the first of several aliases that is present (not `null`); the others stay in the
    /// object and so end in `extra`. Returns the alias used, for messages.
    pub fn take_first(&mut self, aliases: &[&str]) -> Option<(String, Json)> {
        aliases
            .iter()
            .find(|alias| self.map.get(**alias).is_some_and(|v| !v.is_null()))
            .and_then(|alias| self.take(alias).map(|v| (self.path(alias), v)))
    }

    /// A required field.
    pub fn required(&mut self, key: &str) -> Result<Json, Rejection> {
        self.take(key).ok_or_else(|| missing(&self.path(key)))
    }

    /// A required non-empty string.
    pub fn required_str(&mut self, key: &str) -> Result<String, Rejection> {
        let path = self.path(key);
        let text = string(&path, self.required(key)?)?;
        if text.trim().is_empty() {
            return Err(missing(&path));
        }
        Ok(text)
    }

    /// An optional string.
    pub fn optional_str(&mut self, key: &str) -> Result<Option<String>, Rejection> {
        let path = self.path(key);
        self.take(key).map(|v| string(&path, v)).transpose()
    }

    /// An optional boolean, `default` when absent.
    pub fn bool_or(&mut self, key: &str, default: bool) -> Result<bool, Rejection> {
        match self.take(key) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(b),
            Some(other) => Err(wrong(&self.path(key), "a boolean", &other)),
        }
    }

    /// An optional object, kept exact.
    pub fn optional_object(&mut self, key: &str) -> Result<Option<Json>, Rejection> {
        match self.take(key) {
            None => Ok(None),
            Some(value @ Json::Object(_)) => Ok(Some(value)),
            Some(other) => Err(wrong(&self.path(key), "an object", &other)),
        }
    }

    /// A required array's items.
    pub fn required_array(&mut self, key: &str) -> Result<Vec<Json>, Rejection> {
        match self.required(key)? {
            Json::Array(items) => Ok(items),
            other => Err(wrong(&self.path(key), "an array", &other)),
        }
    }

    /// A required value of a string enum (`parse` gives the value, `expected` the choices).
    pub fn required_enum<T>(
        &mut self,
        key: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, Rejection> {
        let path = self.path(key);
        let value = self.required(key)?;
        enum_value(&path, value, parse, expected)
    }

    /// An optional value of a string enum.
    pub fn optional_enum<T>(
        &mut self,
        key: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, Rejection> {
        let path = self.path(key);
        self.take(key)
            .map(|value| enum_value(&path, value, parse, expected))
            .transpose()
    }

    /// Whether a field is present (and not `null`).
    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// The fields not yet taken, as an object (for a stored body without its secret field).
    pub fn snapshot(&self) -> Json {
        Json::Object(self.map.clone())
    }

    /// The fields not taken: the payload's `extra`.
    pub fn rest(self) -> BTreeMap<String, Json> {
        self.map
    }
}

/// A string value.
pub fn string(path: &str, value: Json) -> Result<String, Rejection> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(wrong(path, "a string", &other)),
    }
}

/// A free-text value: a string, or a number taken as its text (shops send references and
/// tracking numbers either way).
pub fn text(path: &str, value: Json) -> Result<String, Rejection> {
    match value {
        Json::String(s) => Ok(s),
        Json::Number(n) => Ok(n),
        other => Err(wrong(path, "a string", &other)),
    }
}

/// A value of a string enum.
pub fn enum_value<T>(
    path: &str,
    value: Json,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Result<T, Rejection> {
    let text = string(path, value)?;
    parse(&text).ok_or_else(|| {
        Rejection::coded(
            ErrorCode::InvalidStatus,
            format!("Invalid {path} {text:?}: must be one of {expected}"),
        )
    })
}

/// An integer in `min..=max`, from a JSON number without fraction or exponent.
pub fn integer(path: &str, value: &Json, min: i64, max: i64) -> Result<i64, Rejection> {
    let expected = format!("an integer from {min} to {max}");
    match value {
        Json::Number(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                Rejection::invalid(format!("Field {path} must be {expected}, got {text}"))
            }),
        other => Err(wrong(path, &expected, other)),
    }
}

/// An order reference: a non-empty string of at most [`ID_CHARS_MAX`] characters, or an integer
/// from 0 to [`ORDER_NUMBER_INTEGER_MAX`] taken as its decimal text.
pub fn order_ref(path: &str, value: Option<Json>) -> Result<String, Rejection> {
    match value {
        None => Err(missing(path)),
        Some(Json::String(s)) if s.trim().is_empty() => Err(missing(path)),
        Some(Json::String(s)) if s.chars().count() > ID_CHARS_MAX => Err(Rejection::invalid(
            format!("Field {path} must be at most {ID_CHARS_MAX} characters"),
        )),
        Some(Json::String(s)) => Ok(s),
        Some(Json::Number(text)) => text
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= ORDER_NUMBER_INTEGER_MAX && text.bytes().all(|b| b.is_ascii_digit()))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                Rejection::invalid(format!(
                    "Field {path} must be a string or an integer from 0 to 2^53, got {text}"
                ))
            }),
        Some(other) => Err(wrong(path, "a string or an integer", &other)),
    }
}

/// A currency code.
pub fn currency(path: &str, value: Json) -> Result<Currency, Rejection> {
    let code = string(path, value)?;
    Currency::parse(&code).map_err(|e| Rejection::invalid(format!("Field {path}: {e}")))
}

/// An amount in major units (a JSON number, or a numeric string as Shopify sends) as exact minor
/// units of `currency`. Negative amounts are refused unless `negative_ok`.
pub fn amount(
    path: &str,
    value: Json,
    currency: Currency,
    negative_ok: bool,
) -> Result<i64, Rejection> {
    let text = match value {
        Json::Number(text) | Json::String(text) => text,
        other => return Err(wrong(path, "a decimal amount", &other)),
    };
    let money = Money::parse_major(&text, currency).map_err(|e| {
        Rejection::invalid(match e {
            MoneyError::TooPrecise { .. } => format!(
                "Field {path}: {text} has more decimals than {currency} allows ({})",
                currency.exponent()
            ),
            _ => format!("Field {path}: {e}"),
        })
    })?;
    if money.minor.abs() > AMOUNT_MINOR_MAX {
        return Err(Rejection::invalid(format!(
            "Field {path}: {text} is too large"
        )));
    }
    if money.minor < 0 && !negative_ok {
        return Err(Rejection::invalid(format!(
            "Field {path} must not be negative, got {text}"
        )));
    }
    Ok(money.minor)
}

/// The items of an array field, each an object, with their paths (`products[0]`).
pub fn objects(path: &str, items: Vec<Json>) -> Result<Vec<Fields>, Rejection> {
    items
        .into_iter()
        .enumerate()
        .map(|(idx, item)| Fields::of(item, &format!("{path}[{idx}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Fields {
        Fields::of(Json::parse(text.as_bytes()).expect("valid"), "").expect("object")
    }

    #[test]
    fn the_first_present_alias_wins_and_the_others_stay_extra() {
        let mut f = fields(r#"{"item":"b","product":null,"product_name":"a"}"#);
        let (path, value) = f
            .take_first(&["product", "product_name", "item"])
            .expect("present");
        assert_eq!((path.as_str(), value), ("product_name", Json::str("a")));
        assert_eq!(f.rest().keys().collect::<Vec<_>>(), ["item", "product"]);
    }

    #[test]
    fn order_refs_accept_strings_and_safe_integers() {
        assert_eq!(order_ref("n", Some(Json::int(12345))), Ok("12345".into()));
        assert_eq!(
            order_ref("n", Some(Json::Number("9007199254740992".into()))),
            Ok("9007199254740992".into())
        );
        for bad in ["9007199254740993", "-1", "1.0", "1e3"] {
            assert!(
                order_ref("n", Some(Json::Number(bad.into()))).is_err(),
                "{bad}"
            );
        }
        assert_eq!(order_ref("n", Some(Json::str(" "))), Err(missing("n")));
        assert!(order_ref("n", Some(Json::str("x".repeat(256)))).is_err());
        assert!(order_ref("n", Some(Json::str("é".repeat(255)))).is_ok());
    }

    #[test]
    fn amounts_are_exact_bounded_and_signed_on_request() {
        let usd = Currency::USD;
        assert_eq!(
            amount("p", Json::Number("99.99".into()), usd, false),
            Ok(9999)
        );
        assert_eq!(amount("p", Json::str("120.00"), usd, false), Ok(12000));
        assert!(amount("p", Json::Number("0.001".into()), usd, false).is_err());
        assert!(amount("p", Json::Number("-1".into()), usd, false).is_err());
        assert_eq!(amount("p", Json::Number("-1".into()), usd, true), Ok(-100));
        assert!(amount("p", Json::Number("1e14".into()), usd, false).is_err());
        assert!(amount("p", Json::Bool(true), usd, false).is_err());
    }
}
