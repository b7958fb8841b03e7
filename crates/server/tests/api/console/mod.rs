//! The web console: sign-in and sessions, the auditor's refusal, CSRF, the chain badge over
//! HTTP (`http`), and the flows in a real headless Chromium (`in_a_browser`).

pub mod browser;
mod http;
mod in_a_browser;
pub mod seed;
