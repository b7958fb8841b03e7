//! placeholder
use crate::{Ingested, Rejection, Request, Settings};
pub const PATH: &str = "/";
pub fn parse(_req: &Request<'_>, _settings: &Settings) -> Result<Ingested, Rejection> {
    Err(Rejection::invalid("todo"))
}
