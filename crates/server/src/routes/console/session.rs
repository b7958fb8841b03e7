//! Console sessions: signing in with a bearer token gives the browser a random session id in
//! an `HttpOnly`, `SameSite=Strict` cookie; the token itself is never stored in the browser.
//!
//! Sessions live in memory only (a restart signs everyone out), bounded in number and idle
//! time. The map is keyed by the SHA-256 of the session id, so that the ids themselves are not
//! kept. Each session carries a CSRF token that every form that changes something must echo
//! (the cookie's `SameSite=Strict` already keeps other sites' forms out; the token is the
//! second lock).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::auth::{generate_token, Role};

/// The cookie that carries the session id.
pub const COOKIE_NAME: &str = "hookledger_session";
/// Sessions kept at most; signing in beyond it ends the longest-idle one.
pub const SESSIONS_MAX: usize = 10_000;
/// A session unused this long is ended; the browser signs in again.
pub const SESSION_IDLE_MAX: Duration = Duration::from_secs(8 * 3600);

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: Role,
    /// Echoed by every form that changes something.
    pub csrf: String,
}

struct Entry {
    session: Session,
    last_seen: Instant,
}

/// The live sessions.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// Starts a session for `role`; returns its id (for the cookie) and the session.
    pub fn start(&self, role: Role) -> (String, Session) {
        let id = generate_token();
        let session = Session {
            role,
            csrf: generate_token(),
        };
        let now = Instant::now();
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| now.duration_since(e.last_seen) < SESSION_IDLE_MAX);
            if entries.len() >= SESSIONS_MAX {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_seen)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
            entries.insert(
                key(&id),
                Entry {
                    session: session.clone(),
                    last_seen: now,
                },
            );
        }
        (id, session)
    }

    /// The session of `id`, if it is live (and marks it used).
    pub fn find(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut entries = self.entries.lock().ok()?;
        let key = key(id);
        let entry = entries.get_mut(&key)?;
        if now.duration_since(entry.last_seen) >= SESSION_IDLE_MAX {
            entries.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends the session of `id` (signing out).
    pub fn end(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key(id));
        }
    }
}

/// Whether `given` equals the session's CSRF token (in constant time).
pub fn csrf_matches(session: &Session, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    session.csrf.as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start(Role::Auditor);
        assert_eq!(sessions.find(&id), Some(session.clone()));
        assert_eq!(sessions.find("hl_forged"), None);
        assert!(csrf_matches(&session, &session.csrf));
        assert!(!csrf_matches(&session, "other"));
        sessions.end(&id);
        assert_eq!(sessions.find(&id), None);
    }

    #[test]
    fn the_number_of_sessions_is_bounded() {
        let sessions = Sessions::default();
        let (first, _) = sessions.start(Role::Admin);
        for _ in 0..SESSIONS_MAX {
            sessions.start(Role::Auditor);
        }
        assert_eq!(
            sessions.find(&first),
            None,
            "the longest-idle session ended"
        );
        let count = sessions.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert_eq!(count, SESSIONS_MAX);
    }
}
