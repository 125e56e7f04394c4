//! Reading the fields of a request's `data`, with a Spanish error for each way it can be
//! wrong. A Python `None` counts as "not given", so optional fields may be sent as None.

use crate::message::Request;
use crate::pickle::decode::get;
use crate::pickle::Value;
use crate::protocol::ReplyTo;
use crate::storage::{self, check_name, Refusal};

/// A field that is present and not None.
pub fn field<'v>(data: &'v Value, key: &str) -> Option<&'v Value> {
    get(data, key).filter(|v| !matches!(v, Value::None))
}

/// `data` must be a dict.
pub fn dict(data: &Value, what: &str) -> Result<(), String> {
    match data {
        Value::Dict(_) => Ok(()),
        _ => Err(format!("se esperaba un diccionario con {what}")),
    }
}

/// A required file name under `key`, checked as a name.
pub fn name<'v>(data: &'v Value, key: &str) -> Result<&'v str, String> {
    match field(data, key) {
        Some(Value::String(s)) => {
            check_name(s)?;
            Ok(s)
        }
        Some(_) => Err(format!("{key} debe ser un texto (str)")),
        None => Err(format!("falta {key} (str)")),
    }
}

/// `data` is either a name, or a dict holding one under `nombre`.
pub fn name_or_dict(data: &Value) -> Result<&str, String> {
    match data {
        Value::String(s) => {
            check_name(s)?;
            Ok(s)
        }
        Value::Dict(_) => name(data, "nombre"),
        _ => Err("se esperaba el nombre del archivo (str)".into()),
    }
}

/// An optional bool (default when absent).
pub fn flag(data: &Value, key: &str, default: bool) -> Result<bool, String> {
    match field(data, key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{key} debe ser True o False")),
    }
}

/// An optional non-negative int.
pub fn count(data: &Value, key: &str) -> Result<Option<u64>, String> {
    match field(data, key) {
        None => Ok(None),
        Some(Value::I64(n)) if *n >= 0 => Ok(Some(*n as u64)),
        Some(_) => Err(format!("{key} debe ser un entero no negativo")),
    }
}

/// An optional SHA-256 digest, as 64 hex digits.
pub fn sha256(data: &Value, key: &str) -> Result<Option<crate::digest::Sum>, String> {
    match field(data, key) {
        None => Ok(None),
        Some(Value::String(text)) => crate::digest::parse_hex(text)
            .map(Some)
            .map_err(|_| format!("{key} debe ser un texto de 64 dígitos hexadecimales")),
        Some(_) => Err(format!("{key} debe ser un texto (str)")),
    }
}

/// The refusal for a name already taken, saying how to overwrite it on purpose, spelled
/// as the client's protocol spells it (a Python `True` means nothing in JSON).
pub fn exists_hint(name: &str, to: &ReplyTo) -> Refusal {
    let taken = storage::exists(name).mensaje;
    let flag = match to {
        ReplyTo::Course(_) => "reemplazar=True",
        #[cfg(feature = "proto2")]
        ReplyTo::V2 { .. } => "\"reemplazar\": true",
    };
    Refusal::new(format!("{taken}; para sobrescribirlo envíe {flag}"))
}

/// Required bytes under `key` of the request's `data` (the payload's own bytes, when the
/// decoder left a large value where it was).
pub fn bytes<'v>(req: &'v Request<'_>, key: &str) -> Result<&'v [u8], String> {
    match field(&req.data, key) {
        Some(v) => req.bytes_of(v).ok_or_else(|| format!("{key} debe ser bytes")),
        None => Err(format!("falta {key} (bytes)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_pickle::HashableValue;
    use std::collections::BTreeMap;

    fn d(pairs: Vec<(&str, Value)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (HashableValue::String(k.into()), v))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    /// Missing, None and wrongly typed fields each get their own message.
    #[test]
    fn fields_are_typed_and_none_means_absent() {
        let v = d(vec![
            ("nombre", Value::String("a.txt".into())),
            ("desde", Value::None),
            ("fin", Value::I64(1)),
            ("malo", Value::String("../x".into())),
        ]);
        assert_eq!(name(&v, "nombre").unwrap(), "a.txt");
        assert_eq!(count(&v, "desde").unwrap(), None);
        assert!(flag(&v, "fin", false).unwrap_err().contains("True o False"));
        assert!(name(&v, "malo").is_err());
        assert_eq!(name(&v, "nuevo").unwrap_err(), "falta nuevo (str)");
        let req = Request {
            envelope: crate::pickle::Envelope::Dict,
            operacion: "subir".into(),
            data: v.clone(),
            estado: Value::None,
            blob: None,
        };
        assert!(bytes(&req, "contenido").unwrap_err().contains("falta"));
        assert!(name_or_dict(&Value::I64(3)).is_err());
        assert_eq!(name_or_dict(&Value::String("b".into())).unwrap(), "b");
    }
}
