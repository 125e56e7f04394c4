//! `suscribir`: from now on this connection also receives pushes (files and messages from
//! other clients). Only subscribers get them, so a client that never asked (the course's)
//! keeps its strict request-and-reply rhythm.

use super::{args, Caller, Context, Reply};
use crate::message::Request;
use crate::peers::check_alias;
use crate::pickle::{Data, Value};

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    let alias = match &req.data {
        Value::None => None,
        Value::Dict(_) => match args::field(&req.data, "alias") {
            None => None,
            Some(Value::String(a)) => {
                check_alias(a)?;
                Some(a.clone())
            }
            Some(_) => return Err("alias debe ser un texto (str)".into()),
        },
        _ => return Err("se esperaba nada, o un diccionario con alias".into()),
    };
    let peer = ctx.peers.get_mut(caller.id).ok_or("conexión desconocida")?;
    if alias.is_some() {
        peer.alias = alias;
    }
    peer.subscribed = Some(req.envelope.clone());
    log::info!("{}: subscribed as id {}", caller.peer, caller.id);
    Ok(Data::dict([("id", Data::Int(caller.id as i64))]))
}
