//! Pushes: frames the server sends without being asked, once we subscribed.
//!
//! A pushed file comes from another client, so nothing in it is trusted: its name must
//! pass the same check the server applies to names before it is used as a path, it is
//! written under a hidden name and moved into place whole, and it never replaces a file
//! already in the downloads folder. Texts are printed with control characters escaped,
//! so a message cannot move the cursor or recolour the terminal.

use super::call::{local_io, Failure, Msg};
use super::ops::Peer;
use super::text::{human, printable};
use almacen::pickle::decode::get;
use almacen::pickle::Value;
use almacen::storage::check_name;
use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Whether a frame is a push rather than the reply to our request. Protocol 2 says so
/// (`"aviso": true`). In the course's protocol the shape tells: files and the server's
/// goodbye (`cierre`) always are; a `mensaje` is a push when it carries a text (our own
/// request's reply carries `entregado_a`, and an error reply carries a plain str).
pub fn is_push(msg: &Msg) -> bool {
    if let Some(aviso) = msg.aviso {
        return aviso;
    }
    match msg.operacion.as_str() {
        "archivo" | "cierre" => true,
        "mensaje" => get(&msg.data, "texto").is_some(),
        _ => false,
    }
}

/// Handles pushes: prints messages on stdout and saves files into `dir`.
pub struct Pushes {
    dir: PathBuf,
    /// Numbers the hidden files used while saving a small pushed file.
    saved: u64,
    /// The server said it is shutting down.
    closing: bool,
    /// Aliases of other clients, learned from their messages and from `clientes`, so a
    /// pushed file (which carries only the sender's id) names its sender as a message does.
    aliases: HashMap<i64, String>,
    /// Ids already looked up with `clientes`, found with or without an alias.
    looked_up: HashSet<i64>,
}

impl Pushes {
    pub fn new(dir: &Path) -> Pushes {
        Pushes {
            dir: dir.to_path_buf(),
            saved: 0,
            closing: false,
            aliases: HashMap::new(),
            looked_up: HashSet::new(),
        }
    }

    /// Remembers who is who from a `clientes` listing.
    pub fn learn(&mut self, peers: &[Peer]) {
        for p in peers {
            self.looked_up.insert(p.id);
            if let Some(a) = &p.alias {
                self.aliases.insert(p.id, a.clone());
            }
        }
    }

    /// True when this push names a sender whose alias we do not know and have not looked
    /// up yet: worth one `clientes` before showing it.
    pub fn needs_lookup(&self, msg: &Msg) -> bool {
        match sender_id(&msg.data) {
            Some(id) => {
                get(&msg.data, "alias").is_none()
                    && !self.aliases.contains_key(&id)
                    && !self.looked_up.contains(&id)
            }
            None => false,
        }
    }

    /// Routes one push. Problems are reported on stderr: a bad push must not end the
    /// session that received it.
    pub fn handle(&mut self, msg: Msg) {
        let line = match msg.operacion.as_str() {
            "mensaje" => Ok(self.describe_message(&msg.data)),
            "cierre" => {
                self.closing = true;
                Ok("[servidor] se está cerrando".to_string())
            }
            _ => self.save_file(msg),
        };
        match line {
            Ok(text) => outln!("{text}"),
            Err(text) => eprintln!("{text}"),
        }
    }

    /// True once the server has said it is shutting down.
    pub fn server_closing(&self) -> bool {
        self.closing
    }

    fn save_file(&mut self, msg: Msg) -> Result<String, String> {
        let from = self.sender(&msg.data);
        let name = match get(&msg.data, "nombre") {
            Some(Value::String(n)) => n.clone(),
            _ => return Err(format!("[archivo de {from}] rechazado: no trae nombre")),
        };
        if let Err(why) = check_name(&name) {
            return Err(format!(
                "[archivo de {from}] rechazado: {} ({why})",
                printable(&name)
            ));
        }
        let staged = match (msg.spill, get(&msg.data, "contenido")) {
            (Some(spill), _) => spill.keep(),
            (None, Some(Value::Bytes(bytes))) => self.stage(bytes).map_err(|e| e.to_string())?,
            _ => return Err(format!("[archivo de {from}] rechazado: {name} no trae contenido")),
        };
        let size = fs::metadata(&staged).map_or(0, |m| m.len());
        let placed = place(&staged, &self.dir, &name);
        let _ = fs::remove_file(&staged);
        let path = placed.map_err(|e| e.to_string())?;
        Ok(format!(
            "[archivo de {from}] {name} guardado en {} ({})",
            path.display(),
            human(size)
        ))
    }

    /// Writes a small pushed file's bytes to a hidden file in the downloads folder.
    fn stage(&mut self, bytes: &[u8]) -> Result<PathBuf, Failure> {
        fs::create_dir_all(&self.dir).map_err(|e| local_io(&self.dir, &e))?;
        loop {
            self.saved += 1;
            let path = self
                .dir
                .join(format!(".guardando-{}-{}", std::process::id(), self.saved));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    return match f.write_all(bytes) {
                        Ok(()) => Ok(path),
                        Err(e) => {
                            let _ = fs::remove_file(&path);
                            Err(local_io(&path, &e))
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(local_io(&path, &e)),
            }
        }
    }
}

/// Gives the staged file a visible name in `dir`: `name`, or `name (2)`, `name (3)`...
/// when taken. A hard link claims a name only if nobody holds it, in one step, so two
/// pushes of one name (or a file the user made meanwhile) are never overwritten.
pub fn place(staged: &Path, dir: &Path, name: &str) -> Result<PathBuf, Failure> {
    for n in 1..1000 {
        let candidate = dir.join(numbered(name, n));
        match fs::hard_link(staged, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(local_io(&candidate, &e)),
        }
    }
    Err(Failure::Local(format!("hay demasiados archivos llamados {name}")))
}

/// `foto.png`, then `foto (2).png`, `foto (3).png`...
fn numbered(name: &str, n: u32) -> String {
    if n == 1 {
        return name.to_string();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

fn sender_id(data: &Value) -> Option<i64> {
    match get(data, "de") {
        Some(Value::I64(id)) => Some(*id),
        _ => None,
    }
}

impl Pushes {
    /// `3` or `3 (ana)`: who sent a push, the same way for files and messages.
    fn sender(&mut self, data: &Value) -> String {
        let Some(id) = sender_id(data) else {
            return "?".to_string();
        };
        if let Some(Value::String(alias)) = get(data, "alias") {
            self.aliases.insert(id, alias.clone());
        }
        match self.aliases.get(&id) {
            Some(alias) => format!("{id} ({})", printable(alias)),
            None => id.to_string(),
        }
    }

    fn describe_message(&mut self, data: &Value) -> String {
        let text = match get(data, "texto") {
            Some(Value::String(t)) => printable(t),
            _ => String::new(),
        };
        format!("[mensaje de {}] {text}", self.sender(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use almacen::pickle::decode::HashableValue;

    fn msg(operacion: &str, pairs: Vec<(&str, Value)>) -> Msg {
        Msg {
            operacion: operacion.into(),
            data: Value::Dict(
                pairs
                    .into_iter()
                    .map(|(k, v)| (HashableValue::String(k.into()), v))
                    .collect(),
            ),
            estado: "ok".into(),
            spill: None,
            aviso: None,
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cliente-pushes-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// A message with a text is a push; the reply to our own `mensaje` is not.
    #[test]
    fn pushes_are_told_from_replies() {
        let push = msg("mensaje", vec![("texto", Value::String("hola".into()))]);
        let reply = msg("mensaje", vec![("entregado_a", Value::I64(2))]);
        assert!(is_push(&push));
        assert!(!is_push(&reply));
        assert!(is_push(&msg("archivo", vec![])));
        assert!(!is_push(&msg("listar", vec![])));
    }

    /// In protocol 2 the `aviso` flag decides, whatever the frame's shape.
    #[test]
    fn protocol_2_pushes_are_told_by_their_flag() {
        let mut reply = msg("mensaje", vec![("texto", Value::String("hola".into()))]);
        reply.aviso = Some(false);
        assert!(!is_push(&reply));
        let mut push = msg("listar", vec![]);
        push.aviso = Some(true);
        assert!(is_push(&push));
    }

    /// Names that could escape the folder or hide are refused; nothing is written.
    #[test]
    fn pushed_files_with_unsafe_names_are_refused() {
        let dir = scratch("bad");
        let mut pushes = Pushes::new(&dir);
        for bad in ["../fuera.txt", "/etc/passwd", ".bashrc", "a/b", ""] {
            let m = msg(
                "archivo",
                vec![
                    ("nombre", Value::String(bad.into())),
                    ("de", Value::I64(4)),
                    ("contenido", Value::Bytes(b"x".to_vec())),
                ],
            );
            let err = pushes.save_file(m).unwrap_err();
            assert!(err.contains("rechazado"), "{err}");
        }
        assert!(!dir.exists() || fs::read_dir(&dir).unwrap().next().is_none());
    }

    /// A second push of one name is kept beside the first, never over it.
    #[test]
    fn pushed_files_never_overwrite() {
        let dir = scratch("twice");
        let mut pushes = Pushes::new(&dir);
        for body in [b"uno".to_vec(), b"dos".to_vec()] {
            let m = msg(
                "archivo",
                vec![
                    ("nombre", Value::String("nota.txt".into())),
                    ("de", Value::I64(4)),
                    ("contenido", Value::Bytes(body)),
                ],
            );
            pushes.save_file(m).unwrap();
        }
        assert_eq!(fs::read(dir.join("nota.txt")).unwrap(), b"uno");
        assert_eq!(fs::read(dir.join("nota (2).txt")).unwrap(), b"dos");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no hidden leftovers");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A file from a sender whose alias came with an earlier message names it the same way.
    #[test]
    fn files_and_messages_name_their_sender_alike() {
        let dir = scratch("alias");
        let mut pushes = Pushes::new(&dir);
        let text = msg(
            "mensaje",
            vec![
                ("de", Value::I64(4)),
                ("alias", Value::String("beto".into())),
                ("texto", Value::String("hola".into())),
            ],
        );
        assert_eq!(pushes.describe_message(&text.data), "[mensaje de 4 (beto)] hola");
        let file = |from: i64| {
            msg(
                "archivo",
                vec![
                    ("nombre", Value::String("nota.txt".into())),
                    ("de", Value::I64(from)),
                    ("contenido", Value::Bytes(b"x".to_vec())),
                ],
            )
        };
        assert!(!pushes.needs_lookup(&file(4)));
        assert!(pushes
            .save_file(file(4))
            .unwrap()
            .starts_with("[archivo de 4 (beto)] nota.txt"));
        assert!(pushes.needs_lookup(&file(9)));
        pushes.learn(&[Peer {
            id: 9,
            address: "x".into(),
            alias: Some("ana".into()),
            subscribed: true,
        }]);
        assert!(pushes
            .save_file(file(9))
            .unwrap()
            .starts_with("[archivo de 9 (ana)]"));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A taken name gets a number before its extension, or at its end without one.
    #[test]
    fn taken_names_get_a_number() {
        assert_eq!(numbered("foto.png", 3), "foto (3).png");
        assert_eq!(numbered("LEEME", 2), "LEEME (2)");
    }
}
