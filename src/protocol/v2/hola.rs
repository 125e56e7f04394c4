//! Negotiation: a client asks for a protocol with `hola`, in the course's protocol.
//!
//! `Mensaje("hola", {"version": 2})` is answered, still in the course's protocol, with
//! `{"version": 2, "operaciones": [...], "limites": {...}}`; from the next frame on the
//! connection speaks protocol 2 both ways. Version 1 is the course's protocol itself:
//! asking for it is answered the same way and changes nothing. Any other version gets an
//! error naming the supported ones, and the connection stays as it was. A client that
//! never says `hola` (the course's) never notices any of this.

use crate::message::Request;
use crate::pickle::decode::get;
use crate::pickle::{Data, Value};
use crate::protocol::{Codec, Limits, Negotiated, ReplyTo};

/// The `operacion` that negotiates.
pub(crate) const OPERACION: &str = "hola";

/// The protocols a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The course's protocol (pickles).
    Course = 1,
    /// JSON header + raw bytes.
    V2 = 2,
}

/// Every version, in order, as `hola`'s error lists them.
pub(crate) const SUPPORTED: [Version; 2] = [Version::Course, Version::V2];

impl Version {
    /// The codec a connection reads with after agreeing on this version.
    pub(crate) fn codec(self) -> Codec {
        match self {
            Version::Course => Codec::Course,
            Version::V2 => Codec::V2,
        }
    }

    pub(crate) fn number(self) -> i64 {
        self as i64
    }
}

/// `Some` when `req` is a `hola`: the version agreed, or the Spanish error to reply with
/// (the connection then keeps its protocol).
pub fn recognise(req: &Request) -> Option<Result<Version, String>> {
    (req.operacion == OPERACION).then(|| version(&req.data))
}

/// Answers a `hola` on a connection that reads with `codec`: the reply goes out in the
/// protocol spoken so far (`to`), and names the version the connection speaks from the
/// next frame on. Version 2 switches a course connection; version 1 changes nothing; and a
/// protocol-2 connection stays in protocol 2 whatever it asks, as there is no way back
/// (a client that asked for 1 learns from `"version": 2` that nothing changed). A bad or
/// unknown version gets an error, and the connection stays as it was.
pub(crate) fn answer(
    codec: Codec,
    req: &Request,
    to: &ReplyTo,
    operaciones: &[&str],
    limits: &Limits,
) -> Negotiated {
    let asked = match version(&req.data) {
        Ok(v) => v,
        Err(mensaje) => {
            return Negotiated {
                reply: to.error(OPERACION, &mensaje),
                next: codec,
            }
        }
    };
    let agreed = match (codec, asked) {
        (Codec::V2, _) => Version::V2,
        (Codec::Course, v) => v,
    };
    Negotiated {
        reply: to.ok(OPERACION, &reply_data(agreed, operaciones, limits)),
        next: agreed.codec(),
    }
}

/// The version a `hola`'s `data` asks for: `{"version": N}`.
pub fn version(data: &Value) -> Result<Version, String> {
    let asked = match (data, get(data, "version")) {
        (Value::Dict(_), Some(Value::I64(n))) => *n,
        (Value::Dict(_), None | Some(Value::None)) => return Err("falta version (int)".into()),
        (Value::Dict(_), Some(_)) => return Err("version debe ser un entero".into()),
        _ => return Err("se esperaba un diccionario con version".into()),
    };
    SUPPORTED
        .into_iter()
        .find(|v| v.number() == asked)
        .ok_or_else(|| {
            let list: Vec<String> = SUPPORTED.iter().map(|v| v.number().to_string()).collect();
            format!(
                "versión de protocolo no soportada: {asked}; el servidor habla las versiones {}",
                list.join(" y ")
            )
        })
}

/// The `ok` reply's data: the version agreed, the operations the server knows, and the
/// limits a client must keep to (sizes in bytes).
pub fn reply_data(version: Version, operaciones: &[&str], limits: &Limits) -> Data {
    let int = |n: usize| Data::Int(i64::try_from(n).unwrap_or(i64::MAX));
    Data::dict([
        ("version", Data::Int(version.number())),
        (
            "operaciones",
            Data::List(operaciones.iter().map(|op| Data::str(*op)).collect()),
        ),
        (
            "limites",
            Data::dict([
                // The most raw bytes after the JSON (in the course's protocol: the most
                // bytes of one pickle).
                ("bytes", int(limits.max_frame)),
                ("json", int(limits.max_json)),
                ("profundidad", int(limits.pickle.max_depth)),
                ("elementos", int(limits.pickle.max_items)),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message;
    use crate::pickle::Envelope;

    /// The pickled request a course-style client sends.
    fn hola(data: Data) -> Request<'static> {
        let frame = message::frame_request(&Envelope::course(), "hola", &data);
        message::parse(&frame[4..], Default::default())
            .unwrap()
            .into_owned()
    }

    /// `hola` with version 2 (or 1) is agreed; other operations are not negotiation.
    #[test]
    fn hola_version_2_is_agreed_and_other_operations_are_ignored() {
        let asked = hola(Data::dict([("version", Data::Int(2))]));
        assert_eq!(recognise(&asked), Some(Ok(Version::V2)));
        assert_eq!(Version::V2.codec(), Codec::V2);
        let course = hola(Data::dict([("version", Data::Int(1))]));
        assert_eq!(recognise(&course), Some(Ok(Version::Course)));
        let frame = message::frame_request(&Envelope::course(), "listar", &Data::None);
        let listar = message::parse(&frame[4..], Default::default()).unwrap();
        assert_eq!(recognise(&listar), None);
    }

    /// An unknown version gets an error listing the supported ones; bad shapes get theirs.
    #[test]
    fn unknown_versions_get_an_error_listing_the_supported_ones() {
        let err = |data| recognise(&hola(data)).unwrap().unwrap_err();
        assert_eq!(
            err(Data::dict([("version", Data::Int(3))])),
            "versión de protocolo no soportada: 3; el servidor habla las versiones 1 y 2"
        );
        assert_eq!(
            err(Data::dict([("version", Data::str("2"))])),
            "version debe ser un entero"
        );
        assert_eq!(err(Data::dict([("otra", Data::Int(2))])), "falta version (int)");
        assert_eq!(err(Data::Int(2)), "se esperaba un diccionario con version");
    }

    /// The reply names the version, the operations and the limits, as the docs show.
    #[test]
    fn the_reply_lists_operations_and_limits() {
        let data = reply_data(Version::V2, &["listar", "descargar"], &Limits::new(16 << 20));
        let frame = message::ok(&Envelope::course(), OPERACION, &data);
        let back = message::parse(&frame[4..], Default::default())
            .unwrap()
            .into_owned();
        let limites = get(&back.data, "limites").unwrap();
        assert_eq!(get(&back.data, "version"), Some(&Value::I64(2)));
        assert_eq!(
            get(&back.data, "operaciones"),
            Some(&Value::List(vec![
                Value::String("listar".into()),
                Value::String("descargar".into())
            ]))
        );
        assert_eq!(get(limites, "bytes"), Some(&Value::I64(16 << 20)));
        assert_eq!(get(limites, "json"), Some(&Value::I64(1 << 20)));
        assert_eq!(get(limites, "profundidad"), Some(&Value::I64(32)));
        assert_eq!(get(limites, "elementos"), Some(&Value::I64(100_000)));
    }

    /// A protocol-2 connection that asks for version 1 stays in protocol 2: no way back.
    #[test]
    fn hola_version_1_on_protocol_2_changes_nothing() {
        let back = hola(Data::dict([("version", Data::Int(1))]));
        let to = ReplyTo::V2 { id: Some(7) };
        let answered = answer(Codec::V2, &back, &to, &["listar"], &Limits::default());
        assert_eq!(answered.next, Codec::V2);
        let course = answer(
            Codec::Course,
            &back,
            &ReplyTo::Course(Envelope::course()),
            &[],
            &Limits::default(),
        );
        assert_eq!(course.next, Codec::Course);
        let forward = hola(Data::dict([("version", Data::Int(2))]));
        let switched = answer(
            Codec::Course,
            &forward,
            &ReplyTo::Course(Envelope::course()),
            &[],
            &Limits::default(),
        );
        assert_eq!(switched.next, Codec::V2);
    }
}
