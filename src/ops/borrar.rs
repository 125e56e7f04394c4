//! `borrar`: deletes a file. Downloads already under way finish: they hold the file open,
//! and on Unix an open file lives on until its last reader closes it.

use super::{args, Caller, Context, Reply};
use crate::message::Request;
use crate::pickle::Data;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    let name = args::name_or_dict(&req.data)?;
    ctx.check_free(name, caller.id)?;
    ctx.storage.remove(name)?;
    ctx.changed();
    log::info!("{}: deleted {name:?}", caller.peer);
    Ok(Data::dict([("nombre", Data::str(name))]))
}
