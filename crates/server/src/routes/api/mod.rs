//! `/api/...`: the read APIs (bearer token) and the tenant administration.

pub mod digest;
pub mod events;
pub mod ledger;
pub mod orders;
pub mod tokens;
pub mod verify;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(events::list)
        .service(events::one)
        .service(verify::verify)
        .service(digest::digest)
        .service(tokens::create)
        .service(ledger::trial_balance)
        .service(ledger::journal)
        .service(ledger::register)
        .service(orders::order)
        .service(orders::work_order);
}
