//! The JSON object of a protocol-2 frame, decoded into a typed [`Header`].
//!
//! A hostile client controls every byte, so the text is looked at twice: a pre-scan that
//! only counts brackets and separators (cheap, no allocation) refuses deep nesting and
//! floods of items before the parser runs, then serde_json parses it straight into the
//! pickle side's `Value`, checking what JSON allows and we do not: duplicate keys,
//! numbers that do not fit their field, and fractions (the pickle side refuses floats
//! too, so operations see the same values whichever protocol a client speaks).
//!
//! Errors come in two kinds. When the JSON cannot be read, or `bytes` is unusable,
//! nobody knows where the frame ends, so the connection must close after its error
//! reply ([`Parsed`] is `Err`). Anything else (a duplicate key, a bad id, a missing
//! `operacion`) leaves the stream in step: [`Parsed::header`] is `Err`, the client gets
//! an error reply and the connection carries on.

use crate::pickle::Value;
use crate::protocol::{Bad, Limits, ReplyTo};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_pickle::HashableValue;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// A protocol-2 header: the JSON object in front of a frame's raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Requests carry one; replies echo it; pushes have none.
    pub id: Option<u64>,
    pub operacion: String,
    /// `null` (or absent) is `Value::None`, as a pickled `None` is.
    pub data: Value,
    /// Requests leave it out; replies say "ok" or "error".
    pub estado: Value,
    /// How many raw bytes follow the JSON.
    pub bytes: Option<u64>,
    /// True on pushes.
    pub aviso: bool,
}

/// A JSON object that was read: where its frame ends, and what it asks.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The `bytes` field: the raw bytes after the JSON.
    pub bytes: Option<u64>,
    pub header: Result<Header, Bad>,
}

impl Parsed {
    /// The id and `operacion` to echo in an error about this frame.
    pub(crate) fn who(&self) -> (Option<u64>, String) {
        match &self.header {
            Ok(h) => (h.id, h.operacion.clone()),
            Err(b) => (
                match b.to {
                    ReplyTo::V2 { id } => id,
                    ReplyTo::Course(_) => None,
                },
                b.operacion.clone(),
            ),
        }
    }
}

/// A protocol-2 error about a frame whose id (if any) could not be read.
pub(crate) fn bad(mensaje: impl Into<String>, detail: impl Into<String>) -> Bad {
    Bad {
        to: ReplyTo::V2 { id: None },
        operacion: String::new(),
        mensaje: mensaje.into(),
        detail: detail.into(),
    }
}

/// Reads one frame's JSON. `Err` means the frame's end is unknown: reply, then close.
pub fn parse(json: &[u8], limits: &Limits) -> Result<Parsed, Bad> {
    prescan(json, limits)?;
    let text = std::str::from_utf8(json).map_err(|e| {
        bad(
            "mensaje inválido: el JSON no es UTF-8 válido",
            format!("invalid UTF-8 at byte {} of the JSON", e.valid_up_to()),
        )
    })?;
    let notes = Notes::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let top = de
        .deserialize_any(TopVisitor { notes: &notes })
        .and_then(|top| de.end().map(|()| top));
    let top = match top {
        Ok(top) => top,
        Err(e) => {
            if let Some((mensaje, detail)) = notes.fatal.into_inner() {
                return Err(bad(mensaje, detail));
            }
            let mensaje = if e.is_eof() {
                "mensaje inválido: el JSON termina antes de tiempo".to_string()
            } else {
                format!(
                    "mensaje inválido: JSON mal formado (línea {}, columna {})",
                    e.line(),
                    e.column()
                )
            };
            return Err(bad(mensaje, format!("malformed JSON: {e}")));
        }
    };
    let Top::Object(fields) = top else {
        return Ok(Parsed {
            bytes: None,
            header: Err(bad(
                "mensaje inválido: se esperaba un objeto JSON",
                "the JSON root is not an object",
            )),
        });
    };
    let bytes = fields.bytes;
    Ok(Parsed {
        bytes,
        header: fields.into_header(notes.soft.into_inner()),
    })
}

/// Refuses, from brackets and separators alone, JSON nested deeper than `max_depth` or
/// holding more than `max_items` values. Every value but the root follows a `[`, `,` or
/// `:` outside strings, so counting those (and `{`) bounds the values the parser would
/// build, before it builds any.
fn prescan(json: &[u8], limits: &Limits) -> Result<(), Bad> {
    let (max_depth, max_items) = (limits.pickle.max_depth, limits.pickle.max_items);
    let (mut depth, mut items) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for (at, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                items += 1;
                if depth > max_depth {
                    return Err(bad(
                        format!("mensaje inválido: anidación demasiado profunda (máximo {max_depth})"),
                        format!("JSON nested deeper than {max_depth} at byte {at}"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' | b':' => items += 1,
            _ => {}
        }
        if items > max_items {
            return Err(bad(
                format!("mensaje inválido: demasiados elementos (máximo {max_items})"),
                format!("JSON with more than {max_items} items"),
            ));
        }
    }
    Ok(())
}

/// What went wrong while parsing, in Spanish and English. `soft`: the first problem that
/// leaves the frame's end known. `fatal`: `bytes` is unusable, so parsing stopped.
#[derive(Default)]
struct Notes {
    soft: RefCell<Option<(String, String)>>,
    fatal: RefCell<Option<(String, String)>>,
}

impl Notes {
    fn soft(&self, mensaje: String, detail: String) {
        self.soft.borrow_mut().get_or_insert((mensaje, detail));
    }
}

enum Top {
    Object(Fields),
    NotObject,
}

/// The top-level fields as they were found.
#[derive(Default)]
struct Fields {
    /// `Err` holds a description of what was there instead of a u64.
    id: Option<Result<u64, String>>,
    operacion: Option<Value>,
    data: Option<Value>,
    estado: Option<Value>,
    bytes: Option<u64>,
    aviso: Option<Result<bool, ()>>,
}

impl Fields {
    fn into_header(self, soft: Option<(String, String)>) -> Result<Header, Bad> {
        let id = match &self.id {
            Some(Ok(n)) => Some(*n),
            _ => None,
        };
        let operacion = match &self.operacion {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let fail = |mensaje: String, detail: String| Bad {
            to: ReplyTo::V2 { id },
            operacion: operacion.clone().unwrap_or_default(),
            mensaje,
            detail,
        };
        if let Some((mensaje, detail)) = soft {
            return Err(fail(mensaje, detail));
        }
        if let Some(Err(what)) = &self.id {
            return Err(fail(
                "mensaje inválido: id debe ser un entero entre 0 y 18446744073709551615".into(),
                format!("id is {what}"),
            ));
        }
        let Some(operacion) = operacion.clone() else {
            let (mensaje, detail) = match self.operacion {
                None | Some(Value::None) => ("mensaje inválido: falta operacion", "no operacion"),
                Some(_) => (
                    "mensaje inválido: operacion debe ser un str",
                    "operacion is not a str",
                ),
            };
            return Err(fail(mensaje.into(), detail.into()));
        };
        if let Some(Err(())) = self.aviso {
            return Err(fail(
                "mensaje inválido: aviso debe ser true o false".into(),
                "aviso is not a bool".into(),
            ));
        }
        Ok(Header {
            id,
            operacion,
            data: self.data.unwrap_or(Value::None),
            estado: self.estado.unwrap_or(Value::None),
            bytes: self.bytes,
            aviso: matches!(self.aviso, Some(Ok(true))),
        })
    }
}

/// Up to this many characters of a client's key or number go into a message.
const ECHO: usize = 40;

fn short(s: &str) -> &str {
    match s.char_indices().nth(ECHO) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The top-level keys with a meaning.
const KEYS: [&str; 6] = ["id", "operacion", "data", "estado", "bytes", "aviso"];

struct TopVisitor<'n> {
    notes: &'n Notes,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let notes = self.notes;
        let mut f = Fields::default();
        // Known keys are remembered by a bit each; only unknown ones cost an allocation.
        let (mut known, mut others) = (0u8, HashSet::new());
        while let Some(key) = map.next_key::<String>()? {
            let repeated = match KEYS.iter().position(|k| *k == key) {
                Some(bit) => {
                    let seen = known & 1 << bit != 0;
                    known |= 1 << bit;
                    seen
                }
                None => !others.insert(key.clone()),
            };
            if repeated {
                if key == "bytes" {
                    return Err(fatal(notes, "la clave bytes se repite", "bytes appears twice"));
                }
                notes.soft(
                    format!("mensaje inválido: la clave {} se repite", short(&key)),
                    format!("duplicate key {:?}", short(&key)),
                );
            }
            match key.as_str() {
                "id" => f.id = Some(id(map.next_value::<serde_json::Value>()?)),
                "operacion" => f.operacion = Some(map.next_value_seed(ValueSeed { notes })?),
                "data" => f.data = Some(map.next_value_seed(ValueSeed { notes })?),
                "estado" => f.estado = Some(map.next_value_seed(ValueSeed { notes })?),
                "bytes" => match map.next_value::<serde_json::Value>()?.as_u64() {
                    Some(n) => f.bytes = Some(n),
                    None => {
                        return Err(fatal(
                            notes,
                            "bytes debe ser un entero no negativo",
                            "bytes is not a u64",
                        ))
                    }
                },
                "aviso" => f.aviso = Some(map.next_value::<serde_json::Value>()?.as_bool().ok_or(())),
                // Unknown keys are skipped, so a later version may add some.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Top::Object(f))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::NotObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
        Ok(Top::NotObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
        Ok(Top::NotObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
        Ok(Top::NotObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
        Ok(Top::NotObject)
    }

    fn visit_str<E>(self, _: &str) -> Result<Top, E> {
        Ok(Top::NotObject)
    }

    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::NotObject)
    }
}

/// Notes a problem that stops the parse (the frame's end is unknown) and returns the
/// error that stops it.
fn fatal<E: de::Error>(notes: &Notes, what: &str, detail: &str) -> E {
    *notes.fatal.borrow_mut() = Some((format!("mensaje inválido: {what}"), detail.to_string()));
    E::custom(detail)
}

/// An id is an integer from 0 to 2^64 - 1. serde_json reads larger integers as floats,
/// so they land in `Err` too.
fn id(v: serde_json::Value) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| match v {
        serde_json::Value::Number(n) => format!("the number {}", short(&n.to_string())),
        serde_json::Value::String(_) => "a string".into(),
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(_) => "a bool".into(),
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    })
}

/// Builds a pickle-side `Value` straight from the parser's events.
#[derive(Clone, Copy)]
struct ValueSeed<'n> {
    notes: &'n Notes,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::None)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::I64(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        match i64::try_from(n) {
            Ok(n) => Ok(Value::I64(n)),
            Err(_) => {
                self.notes.soft(
                    format!(
                        "mensaje inválido: número demasiado grande: {n} (máximo {})",
                        i64::MAX
                    ),
                    format!("integer {n} does not fit in i64"),
                );
                Ok(Value::None)
            }
        }
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        // serde_json gives integers beyond u64 as floats too: say which it was.
        let mensaje = if x.fract() == 0.0 && x.abs() >= 9.2e18 {
            format!("mensaje inválido: número demasiado grande (máximo {})", i64::MAX)
        } else {
            "mensaje inválido: los números deben ser enteros".to_string()
        };
        self.notes
            .soft(mensaje, format!("non-integer or huge number {x}"));
        Ok(Value::None)
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut dict = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            let key = HashableValue::String(key);
            if let (true, HashableValue::String(k)) = (dict.contains_key(&key), &key) {
                self.notes.soft(
                    format!("mensaje inválido: la clave {} se repite", short(k)),
                    format!("duplicate key {:?} in a nested object", short(k)),
                );
            }
            dict.insert(key, value);
        }
        Ok(Value::Dict(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(1 << 20)
    }

    fn header(json: &str) -> Result<Header, Bad> {
        parse(json.as_bytes(), &limits())
            .expect("the frame's end is known")
            .header
    }

    fn fatal_text(json: &[u8]) -> String {
        parse(json, &limits())
            .expect_err("the frame's end is unknown")
            .mensaje
    }

    fn soft_text(json: &str) -> String {
        header(json).expect_err("a soft error").mensaje
    }

    /// A full request decodes into its typed fields, nested values mapped to pickle values.
    #[test]
    fn a_full_request_decodes_into_typed_fields() {
        let h = header(
            r#"{"id": 7, "operacion": "subir", "data": {"nombre": "ñ.txt", "reemplazar": true,
                "lista": [1, -2, null, "x"]}, "bytes": 5, "otra": {"a": [1]}}"#,
        )
        .unwrap();
        assert_eq!(h.id, Some(7));
        assert_eq!(h.operacion, "subir");
        assert_eq!(h.bytes, Some(5));
        assert!(!h.aviso);
        assert_eq!(h.estado, Value::None);
        let get = |k: &str| crate::pickle::decode::get(&h.data, k).cloned();
        assert_eq!(get("nombre"), Some(Value::String("ñ.txt".into())));
        assert_eq!(get("reemplazar"), Some(Value::Bool(true)));
        assert_eq!(
            get("lista"),
            Some(Value::List(vec![
                Value::I64(1),
                Value::I64(-2),
                Value::None,
                Value::String("x".into())
            ]))
        );
    }

    /// A push decodes with `aviso` and no id; a reply keeps its `estado`.
    #[test]
    fn pushes_and_replies_decode_too() {
        let h = header(
            r#"{"aviso": true, "operacion": "archivo", "data": {"nombre": "a", "de": 2}, "bytes": 0}"#,
        )
        .unwrap();
        assert!(h.aviso);
        assert_eq!((h.id, h.bytes), (None, Some(0)));
        let h = header(r#"{"id": 1, "operacion": "listar", "estado": "ok", "data": []}"#).unwrap();
        assert_eq!(h.estado, Value::String("ok".into()));
        assert_eq!(h.data, Value::List(vec![]));
    }

    /// Broken JSON, bad UTF-8 and a bad `bytes` leave the frame's end unknown: fatal.
    #[test]
    fn unreadable_json_and_bad_bytes_are_fatal() {
        assert!(fatal_text(b"").contains("termina antes de tiempo"));
        assert!(fatal_text(b"{\"operacion\": ").contains("termina antes de tiempo"));
        assert!(fatal_text(b"{\"operacion\" \"x\"}").contains("JSON mal formado (línea 1, columna"));
        assert!(fatal_text(b"{} {}").contains("mal formado"));
        assert!(fatal_text(b"{\"operacion\": \"\xff\"}").contains("UTF-8"));
        for bytes in [
            "-1",
            "1.5",
            "\"5\"",
            "null",
            "true",
            "1e3",
            "18446744073709551616",
            "[]",
        ] {
            let json = format!(r#"{{"operacion": "subir", "bytes": {bytes}}}"#);
            assert_eq!(
                fatal_text(json.as_bytes()),
                "mensaje inválido: bytes debe ser un entero no negativo",
                "{bytes}"
            );
        }
        assert!(fatal_text(br#"{"bytes": 1, "operacion": "x", "bytes": 1}"#).contains("bytes se repite"));
    }

    /// Deep nesting and item floods are refused by the pre-scan, before any parsing.
    #[test]
    fn deep_nesting_and_item_floods_are_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let json = format!(r#"{{"operacion": "x", "data": {deep}}}"#);
        assert!(fatal_text(json.as_bytes()).contains("anidación demasiado profunda (máximo 32)"));
        // Unclosed brackets are refused just the same: the parser never sees them.
        assert!(fatal_text("[".repeat(100_000).as_bytes()).contains("anidación"));
        let at_limit = format!("{}{}", "[".repeat(31), "]".repeat(31));
        assert!(header(&format!(r#"{{"operacion": "x", "data": {at_limit}}}"#)).is_ok());
        let flood = format!(r#"{{"operacion": "x", "data": [{}0]}}"#, "0,".repeat(100_001));
        assert!(fatal_text(flood.as_bytes()).contains("demasiados elementos"));
        // Brackets and commas inside strings are text, not structure.
        let text = format!(
            r#"{{"operacion": "x", "data": "{}\"{}"}}"#,
            "[,".repeat(60_000),
            "{:"
        );
        assert!(header(&text).is_ok());
    }

    /// A root that is not an object, duplicate keys, floats and numbers too big for their
    /// field are soft: the frame's end is known, so the client gets an error and goes on.
    #[test]
    fn shape_errors_are_soft_and_echo_what_could_be_read() {
        assert_eq!(
            soft_text("[1, 2]"),
            "mensaje inválido: se esperaba un objeto JSON"
        );
        assert_eq!(
            soft_text("\"hola\""),
            "mensaje inválido: se esperaba un objeto JSON"
        );
        let b = header(r#"{"id": 3, "operacion": "x", "operacion": "y"}"#).unwrap_err();
        assert_eq!(b.mensaje, "mensaje inválido: la clave operacion se repite");
        assert_eq!(b.to, ReplyTo::V2 { id: Some(3) });
        assert!(soft_text(r#"{"operacion": "x", "data": {"a": 1, "a": 2}}"#).contains("la clave a se repite"));
        assert!(soft_text(r#"{"operacion": "x", "data": {"desde": 1.5}}"#).contains("deben ser enteros"));
        assert!(soft_text(r#"{"operacion": "x", "data": 9223372036854775808}"#).contains("demasiado grande"));
        assert!(soft_text(r#"{"operacion": "x", "data": 1e300}"#).contains("demasiado grande"));
        assert!(
            soft_text(r#"{"operacion": "x", "data": 123456789012345678901234567890}"#)
                .contains("demasiado grande")
        );
        assert_eq!(
            header(r#"{"operacion": "x", "data": -9223372036854775808}"#)
                .unwrap()
                .data,
            Value::I64(i64::MIN)
        );
    }

    /// Ids are integers from 0 to 2^64 - 1; anything else is refused without an echo.
    #[test]
    fn ids_must_be_unsigned_64_bit_integers() {
        assert_eq!(
            header(r#"{"id": 18446744073709551615, "operacion": "x"}"#)
                .unwrap()
                .id,
            Some(u64::MAX)
        );
        assert_eq!(header(r#"{"operacion": "x"}"#).unwrap().id, None);
        for id in ["-1", "1.0", "18446744073709551616", "\"1\"", "null", "[1]"] {
            let b = header(&format!(r#"{{"id": {id}, "operacion": "x"}}"#)).unwrap_err();
            assert!(b.mensaje.contains("id debe ser un entero"), "{id}: {}", b.mensaje);
            assert_eq!(b.to, ReplyTo::V2 { id: None });
            assert_eq!(b.operacion, "x", "the operacion is still echoed");
        }
    }

    /// A missing or non-str `operacion`, or a non-bool `aviso`, gets the course's texts.
    #[test]
    fn operacion_is_required_and_must_be_a_str() {
        assert_eq!(soft_text(r#"{"id": 1}"#), "mensaje inválido: falta operacion");
        assert_eq!(
            soft_text(r#"{"operacion": null}"#),
            "mensaje inválido: falta operacion"
        );
        assert_eq!(
            soft_text(r#"{"operacion": 5}"#),
            "mensaje inválido: operacion debe ser un str"
        );
        assert!(soft_text(r#"{"operacion": "x", "aviso": 1}"#).contains("aviso"));
    }

    /// Escapes decode, including surrogate pairs; a lone surrogate is malformed, not a panic.
    #[test]
    fn string_escapes_decode_and_lone_surrogates_are_refused() {
        let h = header(r#"{"operacion": "a\u00f1\ud83d\ude00\n\"\\"}"#).unwrap();
        assert_eq!(h.operacion, "añ😀\n\"\\");
        assert!(fatal_text(br#"{"operacion": "\ud800"}"#).contains("mal formado"));
    }
}
