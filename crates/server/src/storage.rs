//! Storage faults: a full disk, a read-only file, a failing write or fsync. SQLite reports
//! them as error codes; here they become a 503 with `Retry-After` (the request was not
//! recorded and may be sent again once the disk is back) instead of a 500, with one clear log
//! line when a fault starts, one every [`LOG_INTERVAL`] while it lasts, and one when writes
//! succeed again. Nothing restarts: the writer's next batch simply tries again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::ErrorCode;
use store::{StoreError, WriteError};

/// Seconds a client is asked to wait after a storage fault.
pub const RETRY_AFTER_SECONDS: u32 = 5;
/// How often a lasting fault is logged again.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What went wrong with the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// `SQLITE_FULL`: no space left (or a quota).
    DiskFull,
    /// `SQLITE_READONLY`, or a write refused as read-only.
    ReadOnly,
    /// `SQLITE_IOERR`: a write, fsync or read failed.
    Io,
    /// `SQLITE_CANTOPEN`, `SQLITE_BUSY`, `SQLITE_LOCKED`: the file cannot be used just now.
    Unavailable,
}

impl StorageFault {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageFault::DiskFull => "disk_full",
            StorageFault::ReadOnly => "read_only",
            StorageFault::Io => "io_error",
            StorageFault::Unavailable => "unavailable",
        }
    }

    /// The client's message.
    pub fn message(self) -> &'static str {
        match self {
            StorageFault::DiskFull => {
                "The ledger's disk is full; nothing was recorded, retry later"
            }
            StorageFault::ReadOnly => {
                "The ledger's database is read-only; nothing was recorded, retry later"
            }
            StorageFault::Io => {
                "The ledger could not write to its disk; nothing was recorded, retry later"
            }
            StorageFault::Unavailable => {
                "The ledger's database is unavailable; nothing was recorded, retry later"
            }
        }
    }
}

/// The storage fault behind a store error, if it is one.
pub fn classify(error: &StoreError) -> Option<StorageFault> {
    if let StoreError::Shared(_) = error {
        // PostgreSQL failed or cannot be reached: nothing was acknowledged.
        return Some(StorageFault::Unavailable);
    }
    let StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) = error else {
        return None;
    };
    match failure.code {
        ErrorCode::DiskFull => Some(StorageFault::DiskFull),
        ErrorCode::ReadOnly => Some(StorageFault::ReadOnly),
        ErrorCode::SystemIoFailure => Some(StorageFault::Io),
        ErrorCode::CannotOpen | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            Some(StorageFault::Unavailable)
        }
        _ => None,
    }
}

/// The storage fault behind a writer error (a commit that failed on the disk).
pub fn classify_write(error: &WriteError) -> Option<StorageFault> {
    match error {
        WriteError::Commit(store_error) => classify(store_error),
        _ => None,
    }
}

/// Whether a fault is going on, for the log lines (shared by every handler).
#[derive(Clone, Default)]
pub struct StorageHealth {
    faulty: Arc<AtomicBool>,
    last_logged: Arc<Mutex<Option<Instant>>>,
}

impl StorageHealth {
    /// A write failed with `fault`: logs it when the fault is new, or every [`LOG_INTERVAL`].
    pub fn fault(&self, fault: StorageFault, error: &dyn std::fmt::Display) {
        let started = !self.faulty.swap(true, Ordering::Relaxed);
        let due = {
            let Ok(mut last) = self.last_logged.lock() else {
                return;
            };
            let due = started || last.is_none_or(|at| at.elapsed() >= LOG_INTERVAL);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            tracing::error!(
                fault = fault.as_str(),
                %error,
                retry_after_seconds = RETRY_AFTER_SECONDS,
                "storage fault: writes fail ({}); answering 503 with Retry-After until they succeed again",
                fault.as_str()
            );
        }
    }

    /// A write succeeded: logs the recovery if a fault was going on.
    pub fn ok(&self) {
        if self.faulty.swap(false, Ordering::Relaxed) {
            tracing::warn!("storage recovered: writes succeed again");
            if let Ok(mut last) = self.last_logged.lock() {
                *last = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn disk_errors_are_storage_faults_and_others_are_not() {
        assert_eq!(
            classify(&sqlite(rusqlite::ffi::SQLITE_FULL)),
            Some(StorageFault::DiskFull)
        );
        assert_eq!(
            classify(&sqlite(rusqlite::ffi::SQLITE_IOERR_FSYNC)),
            Some(StorageFault::Io)
        );
        assert_eq!(
            classify(&sqlite(rusqlite::ffi::SQLITE_READONLY)),
            Some(StorageFault::ReadOnly)
        );
        assert_eq!(classify(&sqlite(rusqlite::ffi::SQLITE_CONSTRAINT)), None);
        assert_eq!(classify(&StoreError::Corrupt("x".into())), None);
        assert_eq!(
            classify(&StoreError::Shared("connection refused".into())),
            Some(StorageFault::Unavailable)
        );
        let commit = WriteError::Commit(Arc::new(sqlite(rusqlite::ffi::SQLITE_FULL)));
        assert_eq!(classify_write(&commit), Some(StorageFault::DiskFull));
        assert_eq!(classify_write(&WriteError::Busy), None);
    }
}
