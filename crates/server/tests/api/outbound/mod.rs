//! The outbound half: subscriptions, deliveries, signatures, retries, seed 003's callbacks and
//! test endpoint, against real receivers on 127.0.0.1 with short retry delays (real time:
//! paused time would fire the timeouts of real sockets at once).

mod backlog;
mod destinations;
mod durability;
mod ordering;
mod receiver;
mod retries;
mod signatures;
mod subscriptions_api;
mod support;
