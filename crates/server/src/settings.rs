//! Settings, layered: defaults < TOML file < environment < command-line flags.
//!
//! Every setting has one name in each layer: the TOML key (`body_limit_bytes`), its environment
//! variable (`HOOKLEDGER_BODY_LIMIT_BYTES`, or the seeds' own names for secrets and URLs) and,
//! for the few that have one, a flag. A bad value is a one-line [`ConfigError`] naming the
//! setting; the binary prints it and exits 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::Currency;
use ingest::Secret;
use store::Durability;

/// The default database path, relative to the working directory.
pub const DEFAULT_DB: &str = "./data/hookledger.db";
/// On PostgreSQL, where a node keeps its working copy by default.
pub const DEFAULT_NODE_DIR: &str = "./data";
/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8001";

/// Everything `serve` (and the offline commands) need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db: PathBuf,
    pub bind: String,
    /// Inbound bodies larger than this are answered 413.
    pub body_limit_bytes: usize,
    pub writer_batch_max: usize,
    pub writer_queue_max: usize,
    pub durability: Durability,
    pub ingest: ingest::Settings,
    /// Seed 003's `CUSTOMER_WEBHOOK_URL`: where `order.status_changed` callbacks go.
    pub customer_webhook_url: Option<String>,
    /// Seed 002's `ZAPIER_WEBHOOK_URL`: where `shopOrder.*` events go.
    pub zapier_webhook_url: Option<String>,
    /// Hosts or CIDRs that API-supplied URLs may target although private or loopback.
    pub allow_private_urls: Vec<String>,
    /// The default tenant's admin bearer token; generated on first start when unset.
    pub admin_token: Option<Secret>,
    /// Rows the request log keeps at most (oldest dropped first).
    pub request_log_rows_max: u64,
    /// Delays before each retry of a failed delivery (seed 003: 1 s, 2 s, 3 s).
    pub retry_delays: Vec<Duration>,
    /// Each retry delay moves by up to this percentage either way (0: exact delays).
    pub retry_jitter_percent: u32,
    /// Timeout of one delivery attempt.
    pub delivery_timeout: Duration,
    /// Delivery attempts in flight at most, over all endpoints.
    pub delivery_concurrency_max: usize,
    /// Delivery attempts in flight at most per endpoint (subscription, customer, zapier).
    pub delivery_endpoint_concurrency_max: usize,
    /// A subscription whose every attempt failed for longer than this is disabled.
    pub subscription_failing_max: Duration,
    /// Open connections at most; beyond, new ones wait in the kernel's accept queue.
    pub connections_max: usize,
    /// Inbound webhook requests per second per source (dialect), with bursts of twice as many;
    /// beyond, 429 with `Retry-After`. 0 switches the limit off.
    pub source_rate_per_second: u32,
    /// How long reading a request's body may take at most (a client trickling it gets 408).
    pub body_read_timeout: Duration,
    /// Pending deliveries per failing endpoint at most; a new delivery beyond is recorded dead.
    pub outbox_backlog_max: u64,
    /// How often the console's chain badge walks the whole chain again from seq 1 (between
    /// passes it verifies only the events appended since its last verified head).
    pub console_full_verify_interval: Duration,
    /// On PostgreSQL: the folder where this node keeps its working copy of the log, its
    /// request log and its lock (one folder per node).
    pub node_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            db: PathBuf::from(DEFAULT_DB),
            bind: DEFAULT_BIND.to_owned(),
            body_limit_bytes: 1024 * 1024,
            writer_batch_max: 256,
            writer_queue_max: 8192,
            durability: Durability::Full,
            ingest: ingest::Settings::default(),
            customer_webhook_url: None,
            zapier_webhook_url: None,
            allow_private_urls: Vec::new(),
            admin_token: None,
            request_log_rows_max: 100_000,
            retry_delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3),
            ],
            retry_jitter_percent: 0,
            delivery_timeout: Duration::from_secs(10),
            delivery_concurrency_max: 64,
            delivery_endpoint_concurrency_max: 4,
            subscription_failing_max: Duration::from_secs(5 * 24 * 3600),
            connections_max: 4096,
            source_rate_per_second: 50_000,
            body_read_timeout: Duration::from_secs(10),
            outbox_backlog_max: 100_000,
            console_full_verify_interval: Duration::from_secs(600),
            node_dir: PathBuf::from(DEFAULT_NODE_DIR),
        }
    }
}

/// A bad setting: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// Values given as command-line flags (the top layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub db: Option<PathBuf>,
    pub bind: Option<String>,
    pub config: Option<PathBuf>,
}

/// One setting: its TOML key and its environment variable.
struct Key {
    toml: &'static str,
    env: &'static str,
}

const KEYS: &[Key] = &[
    Key {
        toml: "db",
        env: "HOOKLEDGER_DB",
    },
    Key {
        toml: "bind",
        env: "HOOKLEDGER_BIND",
    },
    Key {
        toml: "body_limit_bytes",
        env: "HOOKLEDGER_BODY_LIMIT_BYTES",
    },
    Key {
        toml: "writer_batch_max",
        env: "HOOKLEDGER_WRITER_BATCH_MAX",
    },
    Key {
        toml: "writer_queue_max",
        env: "HOOKLEDGER_WRITER_QUEUE_MAX",
    },
    Key {
        toml: "durability",
        env: "HOOKLEDGER_DURABILITY",
    },
    Key {
        toml: "default_currency",
        env: "HOOKLEDGER_DEFAULT_CURRENCY",
    },
    Key {
        toml: "accounting_webhook_secret",
        env: "ACCOUNTING_WEBHOOK_SECRET",
    },
    Key {
        toml: "webhook_secret",
        env: "WEBHOOK_SECRET",
    },
    Key {
        toml: "exact_webhook_secret",
        env: "EXACT_WEBHOOK_SECRET",
    },
    Key {
        toml: "customer_server_secret",
        env: "CUSTOMER_SERVER_SECRET",
    },
    Key {
        toml: "stripe_webhook_secret",
        env: "STRIPE_WEBHOOK_SECRET",
    },
    Key {
        toml: "customer_webhook_url",
        env: "CUSTOMER_WEBHOOK_URL",
    },
    Key {
        toml: "zapier_webhook_url",
        env: "ZAPIER_WEBHOOK_URL",
    },
    Key {
        toml: "allow_private_urls",
        env: "HOOKLEDGER_ALLOW_PRIVATE_URLS",
    },
    Key {
        toml: "admin_token",
        env: "HOOKLEDGER_ADMIN_TOKEN",
    },
    Key {
        toml: "request_log_rows_max",
        env: "HOOKLEDGER_REQUEST_LOG_ROWS_MAX",
    },
    Key {
        toml: "retry_delays_ms",
        env: "HOOKLEDGER_RETRY_DELAYS_MS",
    },
    Key {
        toml: "delivery_timeout_ms",
        env: "HOOKLEDGER_DELIVERY_TIMEOUT_MS",
    },
    Key {
        toml: "retry_jitter_percent",
        env: "HOOKLEDGER_RETRY_JITTER_PERCENT",
    },
    Key {
        toml: "delivery_concurrency_max",
        env: "HOOKLEDGER_DELIVERY_CONCURRENCY_MAX",
    },
    Key {
        toml: "delivery_endpoint_concurrency_max",
        env: "HOOKLEDGER_DELIVERY_ENDPOINT_CONCURRENCY_MAX",
    },
    Key {
        toml: "subscription_failing_ms_max",
        env: "HOOKLEDGER_SUBSCRIPTION_FAILING_MS_MAX",
    },
    Key {
        toml: "connections_max",
        env: "HOOKLEDGER_CONNECTIONS_MAX",
    },
    Key {
        toml: "source_rate_per_second",
        env: "HOOKLEDGER_SOURCE_RATE_PER_SECOND",
    },
    Key {
        toml: "body_read_timeout_ms",
        env: "HOOKLEDGER_BODY_READ_TIMEOUT_MS",
    },
    Key {
        toml: "outbox_backlog_max",
        env: "HOOKLEDGER_OUTBOX_BACKLOG_MAX",
    },
    Key {
        toml: "console_full_verify_ms",
        env: "HOOKLEDGER_CONSOLE_FULL_VERIFY_MS",
    },
    Key {
        toml: "node_dir",
        env: "HOOKLEDGER_NODE_DIR",
    },
];

impl Settings {
    /// Loads the settings from the process environment, an optional TOML file and `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Settings, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Settings::load_from(overrides, &env)
    }

    /// [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(
        overrides: &Overrides,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let config_path = overrides
            .config
            .clone()
            .or_else(|| env.get("HOOKLEDGER_CONFIG").map(PathBuf::from));
        let mut values: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        if let Some(path) = &config_path {
            for (key, value) in read_toml(path)? {
                values.insert(key, (format!("{key} (in {})", path.display()), value));
            }
        }
        for key in KEYS {
            if let Some(value) = env.get(key.env) {
                values.insert(key.toml, (key.env.to_owned(), value.clone()));
            }
        }
        if let Some(db) = &overrides.db {
            values.insert("db", ("--db".into(), db.display().to_string()));
        }
        if let Some(bind) = &overrides.bind {
            values.insert("bind", ("--bind".into(), bind.clone()));
        }
        let mut settings = Settings::default();
        for (key, (name, value)) in values {
            settings.apply(key, &name, &value)?;
        }
        Ok(settings)
    }

    fn apply(&mut self, key: &str, name: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::new(name, message);
        let secret = |value: &str| (!value.is_empty()).then(|| Secret::new(value.to_owned()));
        let url = |value: &str| -> Result<Option<String>, ConfigError> {
            if value.is_empty() {
                return Ok(None);
            }
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                return Err(bad(format!("{value:?} is not an http(s) URL")));
            }
            Ok(Some(value.to_owned()))
        };
        match key {
            "db" => {
                if value.is_empty() {
                    return Err(bad("the database path is empty".into()));
                }
                self.db = PathBuf::from(value);
            }
            "bind" => {
                value.parse::<std::net::SocketAddr>().map_err(|e| {
                    bad(format!(
                        "{value:?} is not an address like 127.0.0.1:8001 ({e})"
                    ))
                })?;
                self.bind = value.to_owned();
            }
            "body_limit_bytes" => self.body_limit_bytes = positive(value).map_err(bad)?,
            "writer_batch_max" => self.writer_batch_max = positive(value).map_err(bad)?,
            "writer_queue_max" => self.writer_queue_max = positive(value).map_err(bad)?,
            "request_log_rows_max" => {
                self.request_log_rows_max = positive(value).map_err(bad)? as u64
            }
            "durability" => {
                self.durability = match value {
                    "full" => Durability::Full,
                    "normal" => Durability::Normal,
                    _ => return Err(bad(format!("{value:?} is not one of full, normal"))),
                }
            }
            "default_currency" => {
                self.ingest.default_currency =
                    Currency::parse(value).map_err(|e| bad(e.to_string()))?
            }
            "accounting_webhook_secret" => self.ingest.accounting_webhook_secret = secret(value),
            "webhook_secret" => self.ingest.webhook_secret = secret(value),
            "exact_webhook_secret" => self.ingest.exact_webhook_secret = secret(value),
            "customer_server_secret" => self.ingest.customer_server_secret = secret(value),
            "stripe_webhook_secret" => self.ingest.stripe_webhook_secret = secret(value),
            "admin_token" => self.admin_token = secret(value),
            "customer_webhook_url" => self.customer_webhook_url = url(value)?,
            "zapier_webhook_url" => self.zapier_webhook_url = url(value)?,
            "allow_private_urls" => {
                self.allow_private_urls = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "retry_delays_ms" => self.retry_delays = retry_delays(value).map_err(bad)?,
            "delivery_timeout_ms" => {
                self.delivery_timeout = Duration::from_millis(positive(value).map_err(bad)? as u64)
            }
            "retry_jitter_percent" => {
                self.retry_jitter_percent = match value.trim().parse::<u32>() {
                    Ok(n) if n <= 100 => n,
                    _ => return Err(bad(format!("{value:?} is not a percentage (0 to 100)"))),
                }
            }
            "delivery_concurrency_max" => {
                self.delivery_concurrency_max = positive(value).map_err(bad)?
            }
            "delivery_endpoint_concurrency_max" => {
                self.delivery_endpoint_concurrency_max = positive(value).map_err(bad)?
            }
            "subscription_failing_ms_max" => {
                self.subscription_failing_max =
                    Duration::from_millis(positive(value).map_err(bad)? as u64)
            }
            "connections_max" => self.connections_max = positive(value).map_err(bad)?,
            "source_rate_per_second" => {
                self.source_rate_per_second = value.trim().parse::<u32>().map_err(|_| {
                    bad(format!(
                        "{value:?} is not a whole number (0 switches the limit off)"
                    ))
                })?
            }
            "body_read_timeout_ms" => {
                self.body_read_timeout = Duration::from_millis(positive(value).map_err(bad)? as u64)
            }
            "outbox_backlog_max" => self.outbox_backlog_max = positive(value).map_err(bad)? as u64,
            "console_full_verify_ms" => {
                self.console_full_verify_interval =
                    Duration::from_millis(positive(value).map_err(bad)? as u64)
            }
            "node_dir" => {
                if value.is_empty() {
                    return Err(bad("the node folder is empty".into()));
                }
                self.node_dir = PathBuf::from(value);
            }
            other => return Err(ConfigError::new(other, "unknown setting")),
        }
        Ok(())
    }

    /// The delivery worker's configuration. Seed 002's Zapier requests are signed with
    /// `EXACT_WEBHOOK_SECRET`, the secret shared with that integration, when it is set.
    pub fn outbound_config(&self) -> outbound::Config {
        let expose = |secret: &Option<Secret>| secret.as_ref().map(|s| s.expose().to_owned());
        outbound::Config {
            tenant: outbound::default_tenant(),
            customer_url: self.customer_webhook_url.clone(),
            customer_secret: expose(&self.ingest.customer_server_secret),
            zapier_url: self.zapier_webhook_url.clone(),
            zapier_secret: expose(&self.ingest.exact_webhook_secret),
            guard: outbound::AddressGuard::new(&self.allow_private_urls),
            policy: outbound::RetryPolicy {
                delays: self.retry_delays.clone(),
                jitter_percent: self.retry_jitter_percent,
            },
            timeout: self.delivery_timeout,
            concurrency_max: self.delivery_concurrency_max,
            endpoint_concurrency_max: self.delivery_endpoint_concurrency_max,
            failing_span_max: self.subscription_failing_max,
            backlog_max: self.outbox_backlog_max,
            ..outbound::Config::default()
        }
    }

    /// The PostgreSQL URL when `db` names one (`postgres://` or `postgresql://`).
    pub fn postgres_url(&self) -> Option<&str> {
        self.db
            .to_str()
            .filter(|text| text.starts_with("postgres://") || text.starts_with("postgresql://"))
    }

    /// On PostgreSQL, this node's working copy of the log: in `node_dir`, named after the
    /// database's URL, so that one folder may serve several databases in turn.
    pub fn working_copy_path(&self, url: &str) -> PathBuf {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(url.as_bytes());
        self.node_dir
            .join(format!("postgres-{}.db", hex::encode(&digest[..6])))
    }

    /// Where the request log lives: beside the database, `NAME.requests.db`.
    pub fn request_log_path(&self) -> PathBuf {
        sibling(&self.db, "requests.db")
    }

    /// Where a generated admin token is kept: beside the database, `NAME.admin-token`.
    pub fn admin_token_path(&self) -> PathBuf {
        sibling(&self.db, "admin-token")
    }
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hookledger".into());
    db.with_file_name(format!("{stem}.{suffix}"))
}

/// The retry schedule: a comma-separated list of milliseconds (`1000,2000,3000`), or
/// `exponential:BASE_MS:COUNT[:MAX_MS]` (`COUNT` delays doubling from `BASE_MS`, each at most
/// `MAX_MS`, default one day).
fn retry_delays(value: &str) -> Result<Vec<Duration>, String> {
    let value = value.trim();
    if let Some(spec) = value.strip_prefix("exponential:") {
        let parts: Vec<&str> = spec.split(':').map(str::trim).collect();
        let number = |idx: usize| parts.get(idx).and_then(|p| p.parse::<u64>().ok());
        let valid = matches!(parts.len(), 2 | 3) && number(0).is_some_and(|b| b > 0);
        let count = number(1).filter(|c| (1..=100).contains(c));
        let max_ms = if parts.len() == 3 {
            number(2)
        } else {
            Some(86_400_000)
        };
        return match (valid, count, max_ms) {
            (true, Some(count), Some(max_ms)) => Ok(outbound::RetryPolicy::exponential(
                Duration::from_millis(number(0).unwrap_or(1)),
                count as u32,
                Duration::from_millis(max_ms),
            )
            .delays),
            _ => Err(format!(
                "{value:?} is not exponential:BASE_MS:COUNT[:MAX_MS] (COUNT 1 to 100)"
            )),
        };
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map(Duration::from_millis))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("{value:?} is not a comma-separated list of milliseconds, nor exponential:BASE_MS:COUNT[:MAX_MS]")
        })
}

fn positive(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{value:?} is not a positive whole number")),
    }
}

/// Reads a flat TOML file into (key, value-as-text) pairs, refusing unknown keys.
fn read_toml(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let name = format!("--config {}", path.display());
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&name, format!("cannot read the file: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new(&name, e.message().to_owned()))?;
    let mut values = Vec::new();
    for (key, value) in table {
        let Some(known) = KEYS.iter().find(|k| k.toml == key) else {
            return Err(ConfigError::new(
                format!("{key} (in {})", path.display()),
                "unknown setting",
            ));
        };
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        values.push((known.toml, text));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hookledger.toml");
        std::fs::write(
            &file,
            "db = \"from-file.db\"\nbind = \"127.0.0.1:9000\"\nbody_limit_bytes = 2048\n",
        )
        .expect("write");
        let overrides = Overrides {
            config: Some(file),
            db: Some("from-flag.db".into()),
            ..Default::default()
        };
        let settings = Settings::load_from(
            &overrides,
            &env(&[
                ("HOOKLEDGER_DB", "from-env.db"),
                ("HOOKLEDGER_BIND", "127.0.0.1:9001"),
            ]),
        )
        .expect("valid");
        assert_eq!(settings.db, PathBuf::from("from-flag.db"));
        assert_eq!(settings.bind, "127.0.0.1:9001");
        assert_eq!(settings.body_limit_bytes, 2048);
        let defaults = Settings::load_from(&Overrides::default(), &env(&[])).expect("valid");
        assert_eq!(defaults.db, PathBuf::from(DEFAULT_DB));
        assert_eq!(defaults.bind, DEFAULT_BIND);
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let err = Settings::load_from(
            &Overrides::default(),
            &env(&[("HOOKLEDGER_DEFAULT_CURRENCY", "dollars")]),
        )
        .expect_err("invalid");
        assert_eq!(err.setting, "HOOKLEDGER_DEFAULT_CURRENCY");
        let err = Settings::load_from(
            &Overrides {
                bind: Some("nowhere".into()),
                ..Default::default()
            },
            &env(&[]),
        )
        .expect_err("invalid");
        assert_eq!(err.setting, "--bind");
        assert!(err.to_string().starts_with("--bind: "));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bodylimit = 5\n").expect("write");
        let err = Settings::load_from(
            &Overrides {
                config: Some(file),
                ..Default::default()
            },
            &env(&[]),
        )
        .expect_err("invalid");
        assert!(err.setting.starts_with("bodylimit"));
    }

    #[test]
    fn secrets_are_never_printed() {
        let settings = Settings::load_from(
            &Overrides::default(),
            &env(&[("WEBHOOK_SECRET", "hunter2")]),
        )
        .expect("valid");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn retry_schedules_are_lists_or_exponential() {
        let list = Settings::load_from(
            &Overrides::default(),
            &env(&[("HOOKLEDGER_RETRY_DELAYS_MS", "50, 100,150")]),
        )
        .expect("valid");
        assert_eq!(
            list.retry_delays,
            [50, 100, 150].map(Duration::from_millis).to_vec()
        );
        let exponential = Settings::load_from(
            &Overrides::default(),
            &env(&[("HOOKLEDGER_RETRY_DELAYS_MS", "exponential:1000:5:5000")]),
        )
        .expect("valid");
        assert_eq!(
            exponential.retry_delays,
            [1, 2, 4, 5, 5].map(Duration::from_secs).to_vec()
        );
        for bad in ["exponential:0:5", "exponential:1000", "1s,2s"] {
            let err = Settings::load_from(
                &Overrides::default(),
                &env(&[("HOOKLEDGER_RETRY_DELAYS_MS", bad)]),
            )
            .expect_err(bad);
            assert_eq!(err.setting, "HOOKLEDGER_RETRY_DELAYS_MS");
        }
    }

    #[test]
    fn side_files_sit_beside_the_database() {
        let settings = Settings {
            db: PathBuf::from("/x/data/ledger.db"),
            ..Default::default()
        };
        assert_eq!(
            settings.request_log_path(),
            PathBuf::from("/x/data/ledger.requests.db")
        );
        assert_eq!(
            settings.admin_token_path(),
            PathBuf::from("/x/data/ledger.admin-token")
        );
    }
}
