//! The address guard: URLs that arrive through the API (subscriptions, seed 003's
//! `webhookUrl`) may not target private, loopback, link-local, unique-local, multicast or
//! unspecified addresses, unless the operator allow-listed the host or a CIDR
//! (`HOOKLEDGER_ALLOW_PRIVATE_URLS`).
//!
//! The check runs when a URL is set ([`AddressGuard::check_url`]) and again at every connection:
//! IP-literal hosts are re-checked before each request ([`AddressGuard::check_literal`]), and
//! names go through [`GuardedResolver`], a `reqwest` DNS resolver that drops forbidden
//! addresses after resolution, so that a name re-pointed at `169.254.169.254` after it was
//! accepted is still refused (DNS rebinding).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;

/// How long the check at set time waits for DNS.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// URLs longer than this are refused.
pub const URL_BYTES_MAX: usize = 2048;

/// Why a URL was refused. Handling: 400 with the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("{0:?} is not a valid URL")]
    Invalid(String),
    #[error("the URL must be http or https, not {0:?}")]
    Scheme(String),
    #[error("the URL must not carry credentials (user:password@)")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL is longer than {URL_BYTES_MAX} bytes")]
    TooLong,
    #[error("{host} is a {kind} address; webhooks may only target public addresses (allow it with HOOKLEDGER_ALLOW_PRIVATE_URLS)")]
    Forbidden { host: String, kind: &'static str },
}

/// One allow-list entry: a host name (or IP literal as written) or a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Host(String),
    Net(IpNet),
}

/// A name's addresses, as a resolver finds them.
pub type Lookup = Arc<
    dyn Fn(&str) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The allow-list and the rules. Cheap to clone.
#[derive(Clone, Default)]
pub struct AddressGuard {
    allowed: Arc<Vec<Allowed>>,
    /// How names are resolved: the system resolver unless a test scripts one (to show that a
    /// name re-pointed between the check and the connection is still refused).
    lookup: Option<Lookup>,
}

impl std::fmt::Debug for AddressGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressGuard")
            .field("allowed", &self.allowed)
            .field("scripted_lookup", &self.lookup.is_some())
            .finish()
    }
}

impl AddressGuard {
    /// Builds the guard from the allow-list entries (hosts, IPs or CIDRs).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> AddressGuard {
        let allowed = entries
            .iter()
            .map(|e| e.as_ref().trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .map(|e| {
                if let Ok(net) = e.parse::<IpNet>() {
                    Allowed::Net(net)
                } else if let Ok(ip) = e.trim_matches(['[', ']']).parse::<IpAddr>() {
                    Allowed::Net(IpNet::from(ip))
                } else {
                    Allowed::Host(e)
                }
            })
            .collect();
        AddressGuard {
            allowed: Arc::new(allowed),
            lookup: None,
        }
    }

    /// The same guard resolving names with `lookup` instead of the system resolver.
    pub fn with_lookup(mut self, lookup: Lookup) -> AddressGuard {
        self.lookup = Some(lookup);
        self
    }

    /// The addresses of `name`, by the scripted lookup or the system resolver.
    async fn resolve(&self, name: &str) -> std::io::Result<Vec<SocketAddr>> {
        match &self.lookup {
            Some(lookup) => lookup(name).await,
            None => Ok(tokio::net::lookup_host((name, 0)).await?.collect()),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.allowed
            .iter()
            .any(|a| matches!(a, Allowed::Net(net) if net.contains(&ip)))
    }

    /// Whether a connection to `ip` is allowed (for the host name `host`).
    pub fn allows(&self, host: &str, ip: IpAddr) -> Result<(), GuardError> {
        match forbidden_kind(ip) {
            None => Ok(()),
            Some(_) if self.host_allowed(host) || self.ip_allowed(ip) => Ok(()),
            Some(kind) => Err(GuardError::Forbidden {
                host: host.to_owned(),
                kind,
            }),
        }
    }

    /// Parses and checks a URL without DNS: scheme, credentials, and an IP-literal host (or
    /// `localhost`). Used before every request; names are checked by [`GuardedResolver`].
    pub fn check_literal(&self, text: &str) -> Result<Url, GuardError> {
        if text.len() > URL_BYTES_MAX {
            return Err(GuardError::TooLong);
        }
        let url = Url::parse(text.trim()).map_err(|_| GuardError::Invalid(text.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(GuardError::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GuardError::Credentials);
        }
        let host = url
            .host_str()
            .ok_or(GuardError::NoHost)?
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(GuardError::NoHost);
        }
        // `Url` normalises IPv4 hosts (`2130706433` is `127.0.0.1`) and brackets IPv6 ones.
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            self.allows(&host, ip)?;
        } else {
            let name = host.trim_end_matches('.');
            if (name == "localhost" || name.ends_with(".localhost")) && !self.host_allowed(name) {
                return Err(GuardError::Forbidden {
                    host: name.to_owned(),
                    kind: "loopback",
                });
            }
        }
        Ok(url)
    }

    /// The full check when a URL is set: [`AddressGuard::check_literal`], then the host name's
    /// current DNS answers. A name that does not resolve now is accepted; it is checked again
    /// at every connection.
    pub async fn check_url(&self, text: &str) -> Result<Url, GuardError> {
        let url = self.check_literal(text)?;
        let name = url.host_str().unwrap_or_default();
        let literal = name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok();
        if !literal && !self.host_allowed(name) {
            let lookup = self.resolve(name);
            if let Ok(Ok(addrs)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                for addr in addrs {
                    self.allows(name, addr.ip())?;
                }
            }
        }
        Ok(url)
    }
}

/// What kind of non-public address `ip` is, if it is one.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if ip.segments()[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) addresses embed an IPv4 address.
        let o = ip.octets();
        forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix: the embedded IPv4 address decides.
        let o = ip.octets();
        forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        None
    }
}

/// A `reqwest` DNS resolver that resolves with the system resolver and keeps only addresses
/// the guard allows; a name left with none fails the connection.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: AddressGuard,
}

impl GuardedResolver {
    pub fn new(guard: AddressGuard) -> GuardedResolver {
        GuardedResolver { guard }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = guard.resolve(&host).await?;
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match guard.allows(&host, addr.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match refused {
                    Some(e) => Box::new(e),
                    None => format!("{host} has no addresses").into(),
                };
                return Err(error);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &AddressGuard, url: &str) -> GuardError {
        guard.check_literal(url).expect_err(url)
    }

    #[test]
    fn private_loopback_link_local_and_odd_urls_are_refused() {
        let guard = AddressGuard::default();
        for url in [
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0.0.0.0/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:10.1.2.3]/",
            "http://224.0.0.1/",
            "http://localhost:3000/",
            "http://192.168.1.10/",
            "http://100.64.0.1/",
            // Spellings of loopback and metadata addresses the URL parser normalises.
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://127.1/",
            "http://0/",
            "http://3232235777/",
            "http://0251.0376.0251.0376/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://localhost./",
            "http://api.localhost/",
        ] {
            assert!(
                matches!(refused(&guard, url), GuardError::Forbidden { .. }),
                "{url}"
            );
        }
        assert_eq!(
            refused(&guard, "https://user:pass@example.com/"),
            GuardError::Credentials
        );
        assert_eq!(
            refused(&guard, "ftp://example.com/"),
            GuardError::Scheme("ftp".into())
        );
        assert!(matches!(
            refused(&guard, "not a url"),
            GuardError::Invalid(_)
        ));
        assert!(guard.check_literal("https://example.com/hook").is_ok());
        assert!(guard.check_literal("http://93.184.216.34/").is_ok());
    }

    #[test]
    fn the_allow_list_admits_hosts_and_cidrs() {
        let guard = AddressGuard::new(&["127.0.0.1", "10.1.0.0/16", "LocalHost", "[::1]"]);
        assert!(guard.check_literal("http://127.0.0.1:9000/").is_ok());
        assert!(guard.check_literal("http://10.1.2.3/").is_ok());
        assert!(guard.check_literal("http://localhost/").is_ok());
        assert!(guard.check_literal("http://[::1]/").is_ok());
        assert!(guard.check_literal("http://10.2.0.1/").is_err());
        assert!(guard.check_literal("http://127.0.0.2/").is_err());
    }

    /// A lookup that answers `first` once, then `then` (a name re-pointed after the check).
    fn rebinding(first: IpAddr, then: IpAddr) -> Lookup {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Arc::new(move |_name: &str| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let ip = if n == 0 { first } else { then };
            Box::pin(async move { Ok(vec![SocketAddr::new(ip, 0)]) })
        })
    }

    #[tokio::test]
    async fn a_name_re_pointed_at_a_metadata_address_after_the_check_is_refused_at_connect() {
        use reqwest::dns::Resolve;
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let metadata: IpAddr = "169.254.169.254".parse().expect("ip");
        let guard = AddressGuard::default().with_lookup(rebinding(public, metadata));
        assert!(guard.check_url("http://rebind.example/hook").await.is_ok());
        let resolver = GuardedResolver::new(guard);
        let name: reqwest::dns::Name = "rebind.example".parse().expect("name");
        let refused = resolver.resolve(name).await.err().expect("refused");
        assert!(refused.to_string().contains("link-local"), "{refused}");
        // The control: the same lookup, allow-listed, connects.
        let allowed =
            AddressGuard::new(&["169.254.0.0/16"]).with_lookup(rebinding(public, metadata));
        let resolver = GuardedResolver::new(allowed);
        let name: reqwest::dns::Name = "rebind.example".parse().expect("name");
        assert!(resolver.resolve(name).await.is_ok());
    }

    /// Sends one guarded attempt to `http://rebind.example:PORT/` through the real sender,
    /// the name resolving to a public address at the check and to loopback at the connection;
    /// returns whether the loopback receiver got a request.
    async fn rebound_send(allow: &[&str]) -> (bool, crate::send::AttemptResult) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let guard = AddressGuard::new(allow).with_lookup(rebinding(public, loopback));
        let url = format!("http://rebind.example:{port}/hook");
        assert!(guard.check_url(&url).await.is_ok(), "accepted when set");
        let sender = crate::send::Sender::new(guard).expect("sender");
        let result = sender
            .send(&crate::send::Outgoing {
                url: &url,
                guarded: true,
                webhook_id: "id",
                event: "payment.received",
                body: "{}",
                signing_secrets: vec!["s3cret"],
                vendor_secret: None,
                timeout: Duration::from_secs(5),
            })
            .await;
        (reached.load(std::sync::atomic::Ordering::SeqCst), result)
    }

    #[tokio::test]
    async fn the_real_sender_refuses_a_name_re_pointed_at_loopback_after_the_check() {
        let (reached, result) = rebound_send(&[]).await;
        assert!(!reached, "the connection was made: {result:?}");
        assert!(result.status_code.is_none());
        assert!(
            result
                .error
                .as_deref()
                .is_some_and(|e| e.contains("loopback")),
            "{result:?}"
        );
        // The control: allow-listed, the same re-pointed name is reached.
        let (reached, result) = rebound_send(&["127.0.0.1"]).await;
        assert!(reached, "{result:?}");
        assert_eq!(result.status_code, Some(200));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused_when_set() {
        let private: IpAddr = "10.0.0.7".parse().expect("ip");
        let guard = AddressGuard::default().with_lookup(rebinding(private, private));
        let refused = guard.check_url("http://internal.example/").await.err();
        assert!(matches!(
            refused,
            Some(GuardError::Forbidden {
                kind: "private",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        use reqwest::dns::Resolve;
        let resolver = GuardedResolver::new(AddressGuard::default());
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        assert!(resolver.resolve(name).await.is_err());
        let allowed = GuardedResolver::new(AddressGuard::new(&["localhost"]));
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        assert!(allowed.resolve(name).await.is_ok());
    }
}
