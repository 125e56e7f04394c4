//! The server's operations as typed calls, and how their results are shown. Shared by
//! the subcommands and the menu, so both speak to the server the same way.

use super::call::{Call, Failure};
use super::text::{human, printable};
use almacen::pickle::decode::get;
use almacen::pickle::{Data, Value};
use std::fmt::Write as _;

/// One row of `listar_detalle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
    pub modified: i64,
}

/// One row of `clientes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: i64,
    pub address: String,
    pub alias: Option<String>,
    pub subscribed: bool,
}

/// A reply whose shape is not what the protocol promises.
fn odd(operacion: &str) -> Failure {
    Failure::Link(format!("respuesta inesperada del servidor a {operacion}"))
}

fn text(v: &Value, key: &str) -> Option<String> {
    match get(v, key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

pub fn int(v: &Value, key: &str) -> Option<i64> {
    match get(v, key) {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

fn items(v: Value, operacion: &str) -> Result<Vec<Value>, Failure> {
    match v {
        Value::List(items) => Ok(items),
        _ => Err(odd(operacion)),
    }
}

pub fn listar(link: &mut dyn Call) -> Result<Vec<String>, Failure> {
    items(link.ask("listar", Data::None)?, "listar")?
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(odd("listar")),
        })
        .collect()
}

pub fn listar_detalle(link: &mut dyn Call) -> Result<Vec<Entry>, Failure> {
    items(link.ask("listar_detalle", Data::None)?, "listar_detalle")?
        .iter()
        .map(|v| {
            let entry = || {
                Some(Entry {
                    name: text(v, "nombre")?,
                    bytes: u64::try_from(int(v, "bytes")?).ok()?,
                    modified: int(v, "modificado")?,
                })
            };
            entry().ok_or_else(|| odd("listar_detalle"))
        })
        .collect()
}

pub fn clientes(link: &mut dyn Call) -> Result<Vec<Peer>, Failure> {
    items(link.ask("clientes", Data::None)?, "clientes")?
        .iter()
        .map(|v| {
            let peer = || {
                Some(Peer {
                    id: int(v, "id")?,
                    address: text(v, "direccion")?,
                    alias: text(v, "alias"),
                    subscribed: matches!(get(v, "suscrito"), Some(Value::Bool(true))),
                })
            };
            peer().ok_or_else(|| odd("clientes"))
        })
        .collect()
}

/// Subscribes; returns our id.
pub fn suscribir(link: &mut dyn Call, alias: Option<&str>) -> Result<i64, Failure> {
    let data = match alias {
        Some(a) => Data::dict([("alias", Data::str(a))]),
        None => Data::None,
    };
    int(&link.ask("suscribir", data)?, "id").ok_or_else(|| odd("suscribir"))
}

/// The dict form of a write request, with the write key when we have one. Every write
/// goes in this form, so a server that asks for a key finds it in the same place.
pub fn write_request<'a>(link: &dyn Call, fields: impl IntoIterator<Item = (&'a str, Data)>) -> Data {
    let mut pairs: Vec<(String, Data)> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if let Some(k) = link.clave() {
        pairs.push(("clave".to_string(), Data::str(k)));
    }
    Data::Dict(pairs)
}

/// Copies `name`; returns the copy's name (chosen by the server when `new` is None).
pub fn duplicar(link: &mut dyn Call, name: &str, new: Option<&str>) -> Result<String, Failure> {
    let mut fields = vec![("nombre", Data::str(name))];
    if let Some(n) = new {
        fields.push(("nuevo", Data::str(n)));
    }
    let data = write_request(link, fields);
    text(&link.ask("duplicar", data)?, "nombre").ok_or_else(|| odd("duplicar"))
}

pub fn borrar(link: &mut dyn Call, name: &str) -> Result<(), Failure> {
    let data = write_request(link, [("nombre", Data::str(name))]);
    link.ask("borrar", data).map(drop)
}

/// Renames; returns the new name.
pub fn renombrar(link: &mut dyn Call, name: &str, new: &str) -> Result<String, Failure> {
    let data = write_request(link, [("nombre", Data::str(name)), ("nuevo", Data::str(new))]);
    text(&link.ask("renombrar", data)?, "nombre").ok_or_else(|| odd("renombrar"))
}

/// The server's refusal of a write for want of the key, or for a wrong one, said once in
/// cliente's terms: the server's own text tells a protocol reader to send `data` as a
/// dict with "clave", which someone at cliente's prompt can do nothing with.
pub fn key_hint(failure: Failure, have_key: bool) -> Failure {
    let env = almacen::config::CLAVE_ENV;
    match failure {
        Failure::Server(m) if !have_key && (m.contains("pide una clave") || m.contains("falta la clave")) => {
            Failure::Server(format!(
                "este servidor pide una clave para escribir: use --clave CLAVE o la variable {env}"
            ))
        }
        Failure::Server(m) if have_key && m.contains("clave incorrecta") => Failure::Server(format!(
            "la clave no es la de este servidor: revise --clave CLAVE o la variable {env}"
        )),
        other => other,
    }
}

/// The server's "a file with that name exists" refusal, without its "; para
/// sobrescribirlo envíe reemplazar=True" tail (written for protocol readers), so each
/// mode can say what to do in its words.
pub fn already_exists(failure: &Failure) -> Option<&str> {
    match failure {
        Failure::Server(m) if m.contains("ya existe") => Some(m.split("; ").next().unwrap_or(m)),
        _ => None,
    }
}

/// Sends a file to every other subscriber; returns how many got it.
pub fn difundir(link: &mut dyn Call, name: &str) -> Result<i64, Failure> {
    int(&link.ask("difundir", Data::str(name))?, "enviado_a").ok_or_else(|| odd("difundir"))
}

/// Who a message is for, as typed by a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Todos,
    Id(i64),
    Alias(String),
}

/// Reads what a person typed: `todos`, an id, or an alias.
pub fn recipient(typed: &str) -> Result<Recipient, Failure> {
    let typed = typed.trim();
    if typed.eq_ignore_ascii_case("todos") {
        return Ok(Recipient::Todos);
    }
    if typed.is_empty() {
        return Err(Failure::Local(
            "falta el destinatario: un id, un alias o todos".into(),
        ));
    }
    if typed.bytes().all(|b| b.is_ascii_digit()) {
        return match typed.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Recipient::Id(id)),
            _ => Err(Failure::Local(format!(
                "destinatario inválido «{typed}»: use el id de un cliente, su alias, o todos"
            ))),
        };
    }
    Ok(Recipient::Alias(typed.to_string()))
}

/// The protocol's `para`: an alias is looked up with `clientes` (the protocol only
/// knows ids). An exact match wins; otherwise case is ignored; two holders are ambiguous.
pub fn resolve(link: &mut dyn Call, to: &Recipient) -> Result<Data, Failure> {
    let alias = match to {
        Recipient::Todos => return Ok(Data::str("todos")),
        Recipient::Id(id) => return Ok(Data::Int(*id)),
        Recipient::Alias(a) => a,
    };
    let peers = clientes(link)?;
    let named = |exact: bool| -> Vec<i64> {
        peers
            .iter()
            .filter(|p| match &p.alias {
                Some(a) if exact => a == alias,
                Some(a) => a.to_lowercase() == alias.to_lowercase(),
                None => false,
            })
            .map(|p| p.id)
            .collect()
    };
    let mut ids = named(true);
    if ids.is_empty() {
        ids = named(false);
    }
    // Not found, or found twice: what the server's list of clients says, so exit 1, as
    // when the server itself answers that no client has an id.
    match ids.as_slice() {
        [id] => Ok(Data::Int(*id)),
        [] => Err(Failure::Server(format!(
            "no hay un cliente con alias «{}» (vea quién está con clientes)",
            printable(alias)
        ))),
        many => Err(Failure::Server(format!(
            "hay {} clientes con alias «{}» (ids {}): use el id",
            many.len(),
            printable(alias),
            many.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Sends a text; returns how many got it.
pub fn mensaje(link: &mut dyn Call, to: &Recipient, texto: &str) -> Result<i64, Failure> {
    let to = resolve(link, to)?;
    let data = Data::dict([("para", to), ("texto", Data::str(texto))]);
    int(&link.ask("mensaje", data)?, "entregado_a").ok_or_else(|| odd("mensaje"))
}

/// Right-aligned sizes (human-readable, or exact bytes), local dates, names.
pub fn render_entries(entries: &[Entry], exact: bool) -> String {
    let size = |e: &Entry| {
        if exact {
            e.bytes.to_string()
        } else {
            human(e.bytes)
        }
    };
    let width = entries.iter().map(|e| size(e).len()).max().unwrap_or(0);
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(out, "{:>width$}  {}  {}", size(e), local_time(e.modified), e.name);
    }
    out
}

pub fn render_peers(peers: &[Peer]) -> String {
    let mut out = String::from("id  dirección              suscrito  alias\n");
    for p in peers {
        let alias = p.alias.as_deref().map(printable);
        let subscribed = if p.subscribed { "sí" } else { "no" };
        let row = format!(
            "{:<3} {:<22} {:<9} {}",
            p.id,
            p.address,
            subscribed,
            alias.unwrap_or_default()
        );
        let _ = writeln!(out, "{}", row.trim_end());
    }
    out
}

/// `2026-11-25 09:24` in the local time zone (jiff reads the system's zone on every OS;
/// a time it cannot place is shown in UTC).
fn local_time(unix: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_second(unix) else {
        return unix.to_string();
    };
    t.to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `todos` (any case), a positive id, or an alias; 0 and nothing are refused.
    #[test]
    fn recipients_are_ids_aliases_or_todos() {
        assert_eq!(recipient("todos").unwrap(), Recipient::Todos);
        assert_eq!(recipient(" TODOS ").unwrap(), Recipient::Todos);
        assert_eq!(recipient("12").unwrap(), Recipient::Id(12));
        assert_eq!(recipient("ana").unwrap(), Recipient::Alias("ana".into()));
        assert!(recipient("0").is_err());
        assert!(recipient(" ").is_err());
    }

    /// Dates come out as year-month-day hour:minute, whatever the zone.
    #[test]
    fn dates_are_local_and_short() {
        let text = local_time(1_700_000_000);
        assert_eq!(text.len(), "2023-11-14 22:13".len(), "{text}");
        assert!(text.starts_with("2023-11-1"), "{text}");
    }

    /// Sizes line up on the right, whatever their width.
    #[test]
    fn detailed_listing_aligns_sizes() {
        let rows = [
            Entry {
                name: "a".into(),
                bytes: 5,
                modified: 0,
            },
            Entry {
                name: "b".into(),
                bytes: 12345,
                modified: 0,
            },
        ];
        let text = render_entries(&rows, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("    5  "), "{text}");
        assert!(lines[1].starts_with("12345  "), "{text}");
        assert!(lines[1].ends_with("  b"));
        let text = render_entries(&rows, false);
        assert!(text.starts_with("     5 B  "), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("12.1 KiB  "), "{text}");
    }
}
