//! `renombrar`: gives a file a new name, never over an existing one.

use super::{args, Caller, Context, Reply};
use crate::message::Request;
use crate::pickle::Data;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    args::dict(&req.data, "nombre y nuevo")?;
    let name = args::name(&req.data, "nombre")?;
    let new = args::name(&req.data, "nuevo")?;
    ctx.check_free(name, caller.id)?;
    ctx.check_free(new, caller.id)?;
    ctx.storage.rename(name, new)?;
    ctx.changed();
    log::info!("{}: renamed {name:?} to {new:?}", caller.peer);
    Ok(Data::dict([("nombre", Data::str(new))]))
}
