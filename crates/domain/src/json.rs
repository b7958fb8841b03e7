//! An exact JSON value: numbers keep their original text, object keys are sorted.
//!
//! Upstream bodies are parsed into [`Json`] once, at the edge. Keeping the number's text means an
//! amount such as `99.99` is never rounded through `f64`, and the canonical form that the event log
//! stores (keys sorted, no insignificant whitespace, numbers as sent) is a pure function of the
//! value, so the same body always hashes to the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How deeply arrays and objects may nest in an inbound body. A client that sends deeper
/// nesting is answered 400; no upstream document comes near it.
pub const JSON_DEPTH_MAX: usize = 32;

/// A JSON value whose numbers are kept as their original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number exactly as it was written, e.g. `120.00` or `-1e3`.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

/// Why a body is not acceptable JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    /// Not well-formed JSON (or not UTF-8). Handling: 400 with this text.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// Nested deeper than [`JSON_DEPTH_MAX`]. Handling: 400.
    #[error("JSON nested deeper than {JSON_DEPTH_MAX} levels")]
    TooDeep,
    /// The same key twice in one object: ambiguous, so refused. Handling: 400.
    #[error("duplicate key {0:?} in a JSON object")]
    DuplicateKey(String),
}

/// An object's entries in the order they were written, so that duplicates can be seen.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

impl Json {
    /// Parses a complete JSON document.
    pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| JsonError::Syntax(format!("body is not UTF-8: {e}")))?;
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
        Self::from_raw(raw, 0)
    }

    fn from_raw(raw: &RawValue, depth: usize) -> Result<Json, JsonError> {
        let text = raw.get();
        let syntax = |e: serde_json::Error| JsonError::Syntax(e.to_string());
        match text.as_bytes().first() {
            Some(b'{') => {
                if depth >= JSON_DEPTH_MAX {
                    return Err(JsonError::TooDeep);
                }
                let Entries(entries) = serde_json::from_str(text).map_err(syntax)?;
                let mut object = BTreeMap::new();
                for (key, value) in entries {
                    let value = Self::from_raw(value, depth + 1)?;
                    if object.contains_key(&key) {
                        return Err(JsonError::DuplicateKey(key));
                    }
                    object.insert(key, value);
                }
                Ok(Json::Object(object))
            }
            Some(b'[') => {
                if depth >= JSON_DEPTH_MAX {
                    return Err(JsonError::TooDeep);
                }
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(syntax)?;
                let items = items
                    .into_iter()
                    .map(|item| Self::from_raw(item, depth + 1))
                    .collect::<Result<_, _>>()?;
                Ok(Json::Array(items))
            }
            Some(b'"') => Ok(Json::String(serde_json::from_str(text).map_err(syntax)?)),
            Some(b't') => Ok(Json::Bool(true)),
            Some(b'f') => Ok(Json::Bool(false)),
            Some(b'n') => Ok(Json::Null),
            Some(_) => Ok(Json::Number(text.to_owned())),
            None => Err(JsonError::Syntax("empty value".into())),
        }
    }

    /// The canonical text: keys sorted, no insignificant whitespace, numbers as written.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(text) => out.push_str(text),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (idx, item) in items.iter().enumerate() {
                    if idx > 0 {
                        out.push(',');
                    }
                    item.write_canonical(out);
                }
                out.push(']');
            }
            Json::Object(map) => {
                out.push('{');
                for (idx, (key, value)) in map.iter().enumerate() {
                    if idx > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    value.write_canonical(out);
                }
                out.push('}');
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Object(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The JSON type's name, for error messages ("expected a string, got a number").
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::String(s.into())
    }

    /// An integer value.
    pub fn int(n: i64) -> Json {
        Json::Number(n.to_string())
    }

    /// An object from pairs; later pairs replace earlier ones with the same key.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Converts to a `serde_json::Value` (numbers that do not fit an `f64` exactly lose precision:
    /// use this only for display, never for money).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.canonical()).unwrap_or(serde_json::Value::Null)
    }
}

impl From<Option<Json>> for Json {
    fn from(value: Option<Json>) -> Self {
        value.unwrap_or(Json::Null)
    }
}

fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of bytes that need no escape are copied whole; only `"`, `\` and control characters
    // (all ASCII, so every cut is on a character boundary) are escaped.
    let bytes = s.as_bytes();
    let mut start = 0;
    for (idx, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&s[start..idx]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = idx + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl serde::Serialize for Json {
    /// Structurally, so that serde_json writes the canonical text itself (keys in order, the
    /// same escapes) without a second parse; a number goes out as its own text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(text) => {
                let raw = RawValue::from_string(text.clone()).map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
            Json::String(text) => serializer.serialize_str(text),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    /// Works with `serde_json` deserializers (it reads the value's raw text).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Json::from_raw(&raw, 0).map_err(serde::de::Error::custom)
    }
}

/// Canonicalises a JSON text (keys sorted, whitespace removed, numbers kept as written).
pub fn canonicalize(text: &str) -> Result<String, JsonError> {
    Ok(Json::parse(text.as_bytes())?.canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            "-?(0|[1-9][0-9]{0,6})(\\.[0-9]{1,4})?([eE][-+]?[0-9]{1,2})?".prop_map(Json::Number),
            any::<String>().prop_map(Json::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6).prop_map(Json::Object),
            ]
        })
    }

    proptest! {
        /// Documents are written by serde (`Serialize` for [`Json`]) and events by
        /// `canonical`: the two must give the same bytes, or the digest would depend on the path.
        #[test]
        fn serde_writes_the_canonical_text(json in any_json()) {
            let by_serde = serde_json::to_string(&json).expect("serialise");
            prop_assert_eq!(&by_serde, &json.canonical());
            prop_assert_eq!(Json::parse(by_serde.as_bytes()).expect("parse"), json);
        }
    }

    #[test]
    fn canonical_form_sorts_keys_and_keeps_number_text() {
        let json = Json::parse(br#" { "b": 120.00, "a": [1, -0.5e3, "x\ny"], "c": null } "#)
            .expect("valid");
        assert_eq!(
            json.canonical(),
            r#"{"a":[1,-0.5e3,"x\ny"],"b":120.00,"c":null}"#
        );
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        let text = r#"{"z":{"y":[true,false,{"k":"\u00e9\"\\"}]},"a":1.10}"#;
        let once = canonicalize(text).expect("valid");
        assert_eq!(canonicalize(&once).expect("valid"), once);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert_eq!(
            Json::parse(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let deep = "[".repeat(200_000) + &"]".repeat(200_000);
        assert!(Json::parse(deep.as_bytes()).is_err());
        let ok = "[".repeat(JSON_DEPTH_MAX) + &"]".repeat(JSON_DEPTH_MAX);
        assert!(Json::parse(ok.as_bytes()).is_ok());
        let too_deep = "[".repeat(JSON_DEPTH_MAX + 1) + &"]".repeat(JSON_DEPTH_MAX + 1);
        assert_eq!(Json::parse(too_deep.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn invalid_utf8_and_trailing_garbage_are_syntax_errors() {
        assert!(matches!(
            Json::parse(b"\"\xff\""),
            Err(JsonError::Syntax(_))
        ));
        assert!(matches!(Json::parse(b"{} x"), Err(JsonError::Syntax(_))));
        assert!(matches!(Json::parse(b""), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn control_characters_are_escaped() {
        let json = Json::str("a\u{1}b");
        assert_eq!(json.canonical(), "\"a\\u0001b\"");
        assert_eq!(
            Json::parse(json.canonical().as_bytes()).expect("valid"),
            json
        );
    }

    #[test]
    fn json_inside_a_typed_struct_keeps_number_text() {
        #[derive(Deserialize, serde::Serialize)]
        struct Wrapper {
            extra: Json,
        }
        let wrapper: Wrapper =
            serde_json::from_str(r#"{"extra":{"b":1.10,"a":2}}"#).expect("valid");
        assert_eq!(wrapper.extra.canonical(), r#"{"a":2,"b":1.10}"#);
        assert_eq!(
            serde_json::to_string(&wrapper).expect("serializable"),
            r#"{"extra":{"a":2,"b":1.10}}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = Json::parse(&bytes);
        }

        #[test]
        fn canonical_text_parses_back_to_the_same_value(s in "\\PC*", n in proptest::num::i64::ANY) {
            let json = Json::object([("s", Json::str(s)), ("n", Json::int(n))]);
            proptest::prop_assert_eq!(Json::parse(json.canonical().as_bytes()).expect("valid"), json);
        }
    }
}
