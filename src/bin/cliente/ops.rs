//! The server's operations as typed calls, and how their results are shown. Shared by
//! the subcommands and the menu, so both speak to the server the same way.

use super::conn::{Call, Failure};
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

/// Copies `name`; returns the copy's name (chosen by the server when `new` is None).
pub fn duplicar(link: &mut dyn Call, name: &str, new: Option<&str>) -> Result<String, Failure> {
    let data = match new {
        Some(n) => Data::dict([("nombre", Data::str(name)), ("nuevo", Data::str(n))]),
        None => Data::str(name),
    };
    text(&link.ask("duplicar", data)?, "nombre").ok_or_else(|| odd("duplicar"))
}

pub fn borrar(link: &mut dyn Call, name: &str) -> Result<(), Failure> {
    link.ask("borrar", Data::str(name)).map(drop)
}

/// Renames; returns the new name.
pub fn renombrar(link: &mut dyn Call, name: &str, new: &str) -> Result<String, Failure> {
    let data = Data::dict([("nombre", Data::str(name)), ("nuevo", Data::str(new))]);
    text(&link.ask("renombrar", data)?, "nombre").ok_or_else(|| odd("renombrar"))
}

/// Sends a file to every other subscriber; returns how many got it.
pub fn difundir(link: &mut dyn Call, name: &str) -> Result<i64, Failure> {
    int(&link.ask("difundir", Data::str(name))?, "enviado_a").ok_or_else(|| odd("difundir"))
}

/// Who a message is for, as typed by a person: an id, or `todos`.
pub fn recipient(typed: &str) -> Result<Data, Failure> {
    let typed = typed.trim();
    if typed.eq_ignore_ascii_case("todos") {
        return Ok(Data::str("todos"));
    }
    match typed.parse::<i64>() {
        Ok(id) if id > 0 => Ok(Data::Int(id)),
        _ => Err(Failure::Local(format!(
            "destinatario inválido {typed:?}: use el id de un cliente o todos"
        ))),
    }
}

/// Sends a text; returns how many got it.
pub fn mensaje(link: &mut dyn Call, to: Data, texto: &str) -> Result<i64, Failure> {
    let data = Data::dict([("para", to), ("texto", Data::str(texto))]);
    int(&link.ask("mensaje", data)?, "entregado_a").ok_or_else(|| odd("mensaje"))
}

/// Right-aligned sizes, local dates, names.
pub fn render_entries(entries: &[Entry]) -> String {
    let width = entries
        .iter()
        .map(|e| e.bytes.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(out, "{:>width$}  {}  {}", e.bytes, local_time(e.modified), e.name);
    }
    out
}

pub fn render_peers(peers: &[Peer]) -> String {
    let mut out = String::from("id  dirección              suscrito  alias\n");
    for p in peers {
        let alias = p.alias.as_deref().map(super::pushes::printable);
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

/// `2026-11-25 09:24` in the local time zone.
fn local_time(unix: i64) -> String {
    let t = unix as libc::time_t;
    // SAFETY: localtime_r only reads `t` and writes the `tm` we own; the zeroed struct is
    // a valid starting value, and a null return leaves us on the fallback.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return unix.to_string();
        }
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `todos` (any case) or a positive id; anything else is refused before sending.
    #[test]
    fn recipients_are_ids_or_todos() {
        assert_eq!(recipient("todos").unwrap(), Data::str("todos"));
        assert_eq!(recipient(" TODOS ").unwrap(), Data::str("todos"));
        assert_eq!(recipient("12").unwrap(), Data::Int(12));
        assert!(recipient("0").is_err());
        assert!(recipient("ana").is_err());
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
        let text = render_entries(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("    5  "), "{text}");
        assert!(lines[1].starts_with("12345  "), "{text}");
        assert!(lines[1].ends_with("  b"));
    }
}
