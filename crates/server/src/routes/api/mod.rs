//! `/api/...`: the read APIs (bearer token), the tenant administration, and the outbound
//! webhooks' subscriptions, deliveries and seed 003's test endpoint.

pub mod deliveries;
pub mod digest;
pub mod events;
pub mod ledger;
pub mod orders;
pub mod subscriptions;
pub mod tokens;
pub mod verify;
pub mod webhook_test;

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
        .service(orders::work_order)
        .configure(subscriptions::configure)
        .configure(deliveries::configure)
        .configure(webhook_test::configure);
}
