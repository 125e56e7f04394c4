//! `suscribir`: from now on this connection also receives pushes (files and messages from
//! other clients). Only subscribers get them, so a client that never asked (the course's)
//! keeps its strict request-and-reply rhythm.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::peers::check_alias;
use crate::pickle::{Data, Value};
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

pub struct Suscribir {
    alias: Option<String>,
}

impl fmt::Display for Suscribir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(a) => write!(f, "como {a:?}"),
            None => Ok(()),
        }
    }
}

impl Operation<'_> for Suscribir {
    fn parse(req: &Request<'_>) -> Result<Self, Refusal> {
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
        Ok(Suscribir { alias })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let Some(peer) = ctx.peers.get_mut(caller.id) else {
            return Outcome::refused("conexión desconocida");
        };
        if self.alias.is_some() {
            peer.alias = self.alias;
        }
        peer.subscribed = Some(caller.to.clone());
        log::info!("{}: subscribed as id {}", caller.peer, caller.id);
        Outcome::Ok(Data::dict([("id", Data::Int(caller.id as i64))]))
    }
}
