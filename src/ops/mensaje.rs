//! `mensaje`: a text from one client to another subscriber, or to all of them.
//!
//! The server builds each pushed frame itself from checked fields. It never forwards the
//! sender's pickle: Python clients unpickle what they receive, and a pickle can be made
//! to run code when it is loaded.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::outbox::Chunk;
use crate::pickle::{Data, Value};
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

/// Longest text, in bytes.
pub const MAX_TEXT: usize = 64 * 1024;

/// Who a message is for.
enum To<'r> {
    All,
    Id(u64),
    Alias(&'r str),
}

pub struct Mensaje<'r> {
    to: To<'r>,
    text: &'r str,
}

impl fmt::Display for Mensaje<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to {
            To::All => write!(f, "para todos")?,
            To::Id(id) => write!(f, "para {id}")?,
            To::Alias(a) => write!(f, "para {a:?}")?,
        }
        write!(f, " ({} B)", self.text.len())
    }
}

impl<'r> Operation<'r> for Mensaje<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        args::dict(&req.data, "para y texto")?;
        let text = match args::field(&req.data, "texto") {
            Some(Value::String(t)) if t.len() <= MAX_TEXT => t,
            Some(Value::String(_)) => return Err("texto demasiado largo (máximo 64 KiB)".into()),
            Some(_) => return Err("texto debe ser un texto (str)".into()),
            None => return Err("falta texto (str)".into()),
        };
        let to = match args::field(&req.data, "para") {
            Some(Value::String(s)) if s == "todos" => To::All,
            Some(Value::String(alias)) => To::Alias(alias),
            Some(Value::I64(id)) if *id > 0 => To::Id(*id as u64),
            _ => return Err("para debe ser el id de un cliente (int), su alias o \"todos\"".into()),
        };
        Ok(Mensaje { to, text })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let to = match self.recipients(ctx, caller.id) {
            Ok(to) => to,
            Err(refusal) => return Outcome::Refused(refusal),
        };
        let alias = ctx.peers.get(caller.id).and_then(|p| p.alias.clone());
        let data = Data::dict([
            ("de", Data::Int(caller.id as i64)),
            ("alias", alias.map_or(Data::None, Data::Str)),
            ("texto", Data::str(self.text)),
        ]);
        let delivered = ctx.fan_out(to, caller.peer, "mensaje", |to| {
            Ok(vec![Chunk::bytes(to.push("mensaje", &data))])
        });
        if let Ok(n) = delivered {
            log::info!("{}: message delivered to {n}", caller.peer);
        }
        delivered
            .map(|n| Data::dict([("entregado_a", Data::Int(n))]))
            .into()
    }
}

impl Mensaje<'_> {
    fn recipients(&self, ctx: &Context, me: u64) -> Result<Vec<u64>, Refusal> {
        let subscribed = |id: &u64| ctx.peers.get(*id).is_some_and(|p| p.subscribed.is_some());
        match self.to {
            To::All => Ok(ctx.peers.subscribers(me)),
            To::Id(id) if subscribed(&id) => Ok(vec![id]),
            To::Id(id) => Err(format!("no hay un cliente suscrito con id {id}").into()),
            To::Alias(alias) => {
                let ids: Vec<u64> = ctx
                    .peers
                    .iter()
                    .filter(|(id, p)| p.alias.as_deref() == Some(alias) && subscribed(id))
                    .map(|(id, _)| id)
                    .collect();
                if ids.is_empty() {
                    Err(format!("no hay un cliente suscrito con alias {alias:?}").into())
                } else {
                    Ok(ids)
                }
            }
        }
    }
}
