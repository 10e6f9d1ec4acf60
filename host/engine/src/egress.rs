//! Where the service may send requests: the egress policy.
//!
//! Callback URLs and Autotask server URLs are typed by API callers, so without
//! a policy the service would be a way into the network it runs in (the cloud
//! metadata address, an internal admin page). By default a request may not
//! reach a loopback, private or link-local address; the operator allows each
//! range by name (`[egress] allow = ["loopback"]`). The check runs twice: on
//! the URL when an instance is read (an IP literal or `localhost` is refused
//! with a 400 before anything is sent), and on every address a host name
//! resolves to when a connection is made (so a name that resolves to an
//! internal address, now or later, reaches nothing).
//!
//! Separately, [`AutotaskHosts`] says which hosts are Autotask: only those get
//! the host's own integration code and have their error texts quoted.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A range of addresses the policy refuses unless allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// 127.0.0.0/8, ::1, 0.0.0.0 and `localhost`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), fc00::/7.
    Private,
    /// 169.254/16 (the cloud metadata address) and fe80::/10.
    LinkLocal,
}

impl Range {
    /// The name an operator allows it by.
    pub fn name(self) -> &'static str {
        match self {
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local",
        }
    }

    const ALL: [Range; 3] = [Range::Loopback, Range::Private, Range::LinkLocal];

    /// The range named `name`, as `[egress] allow` lists it.
    pub fn parse(name: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|range| range.name() == name)
    }

    /// The refusable range `ip` is in, if any.
    pub fn of(ip: IpAddr) -> Option<Range> {
        match ip {
            IpAddr::V4(v4) => range_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => range_v4(v4),
                None => range_v6(v6),
            },
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn range_v4(ip: Ipv4Addr) -> Option<Range> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() || ip.is_unspecified() {
        Some(Range::Loopback)
    } else if ip.is_link_local() {
        Some(Range::LinkLocal)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some(Range::Private)
    } else {
        None
    }
}

fn range_v6(ip: Ipv6Addr) -> Option<Range> {
    let first = ip.segments()[0];
    if ip.is_loopback() || ip.is_unspecified() {
        Some(Range::Loopback)
    } else if first & 0xffc0 == 0xfe80 {
        Some(Range::LinkLocal)
    } else if first & 0xfe00 == 0xfc00 {
        Some(Range::Private)
    } else {
        None
    }
}

/// Which address ranges requests may reach besides the public internet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Egress {
    allowed: Vec<Range>,
}

impl Egress {
    /// A policy allowing `ranges` (and the public internet).
    pub fn allowing(ranges: impl IntoIterator<Item = Range>) -> Self {
        let mut allowed: Vec<Range> = ranges.into_iter().collect();
        allowed.dedup();
        Egress { allowed }
    }

    /// The ranges allowed, by name.
    pub fn allowed(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.allowed.iter().map(|range| range.name())
    }

    /// The refused range `ip` is in, if it is refused.
    pub fn refuses(&self, ip: IpAddr) -> Option<Range> {
        Range::of(ip).filter(|range| !self.allowed.contains(range))
    }

    /// Whether `url` may be sent to, as far as its text shows: an IP literal
    /// or a `localhost` name in a refused range is an error naming it. Other
    /// names are checked when they are resolved ([`Egress::resolver`]).
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let refused = match bare.parse::<IpAddr>() {
            Ok(ip) => self.refuses(ip),
            Err(_) => {
                let name = bare.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost");
                (local && !self.allowed.contains(&Range::Loopback)).then_some(Range::Loopback)
            }
        };
        match refused {
            Some(range) => Err(refusal(host, range)),
            None => Ok(()),
        }
    }

    /// A DNS resolver for an HTTP client that drops refused addresses, so a
    /// host name cannot lead into a refused range either.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { egress: self.clone() })
    }
}

/// Why a request to `host` is refused.
fn refusal(host: &str, range: Range) -> String {
    format!(
        "`{host}` is a {range} address, which this service does not send to; the operator can allow it with \
         `[egress] allow = [\"{range}\"]`"
    )
}

/// Resolves names with the system resolver and keeps only the addresses the
/// egress policy allows.
#[derive(Debug)]
pub struct GuardedResolver {
    egress: Egress,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.egress.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match egress.refuses(addr.ip()) {
                    Some(range) => {
                        refused = Some(range);
                        false
                    }
                    None => true,
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(range)) => Err(refusal(&host, range).into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The hosts that are Autotask: `*.autotask.net`, and those the operator
/// names (`[server] allowed_autotask_hosts`, e.g. a simulator's `127.0.0.1:8081`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutotaskHosts {
    /// Lower-case `host` or `host:port`.
    extra: Vec<String>,
}

impl AutotaskHosts {
    /// Autotask's own hosts and `extra` (each `host` or `host:port`).
    pub fn with(extra: impl IntoIterator<Item = String>) -> Self {
        AutotaskHosts { extra: extra.into_iter().map(|host| host.trim().to_ascii_lowercase()).collect() }
    }

    /// Whether `url` is on an Autotask host.
    pub fn trusts(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return false };
        if url.scheme() == "https" && (host == "autotask.net" || host.ends_with(".autotask.net")) {
            return true;
        }
        let with_port = url.port_or_known_default().map(|port| format!("{host}:{port}"));
        self.extra.iter().any(|allowed| *allowed == host || Some(allowed) == with_port.as_ref())
    }

    /// Whether `url` (text) is on an Autotask host.
    pub fn trusts_text(&self, url: &str) -> bool {
        Url::parse(url.trim()).is_ok_and(|url| self.trusts(&url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn ranges_are_recognised() {
        for (ip, range) in [
            ("127.0.0.1", Some(Range::Loopback)),
            ("0.0.0.0", Some(Range::Loopback)),
            ("::1", Some(Range::Loopback)),
            ("::ffff:127.0.0.1", Some(Range::Loopback)),
            ("169.254.169.254", Some(Range::LinkLocal)),
            ("fe80::1", Some(Range::LinkLocal)),
            ("10.1.2.3", Some(Range::Private)),
            ("172.16.0.1", Some(Range::Private)),
            ("192.168.1.1", Some(Range::Private)),
            ("100.64.0.1", Some(Range::Private)),
            ("fd00::1", Some(Range::Private)),
            ("::ffff:10.0.0.1", Some(Range::Private)),
            ("8.8.8.8", None),
            ("2001:4860:4860::8888", None),
        ] {
            assert_eq!(Range::of(ip.parse().unwrap()), range, "{ip}");
        }
    }

    #[test]
    fn refused_urls_name_the_range_and_the_setting() {
        let closed = Egress::default();
        for (text, range) in [
            ("http://127.0.0.1:9/x", "loopback"),
            ("http://localhost/x", "loopback"),
            ("http://api.localhost./x", "loopback"),
            ("http://[::1]/x", "loopback"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://10.0.0.5/hook", "private"),
        ] {
            let error = closed.check_url(&url(text)).unwrap_err();
            assert!(error.contains(range) && error.contains("[egress] allow"), "{text}: {error}");
        }
        assert!(closed.check_url(&url("https://hooks.example.com/x")).is_ok());
        assert!(closed.check_url(&url("https://8.8.8.8/x")).is_ok());

        let loopback = Egress::allowing([Range::Loopback]);
        assert!(loopback.check_url(&url("http://127.0.0.1:9/x")).is_ok());
        assert!(loopback.check_url(&url("http://localhost/x")).is_ok());
        assert!(loopback.check_url(&url("http://169.254.169.254/")).is_err());
        assert!(loopback.check_url(&url("http://192.168.0.1/")).is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let error = match Egress::default().resolver().resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved under a closed policy"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("loopback"), "{error}");
        let addrs: Vec<SocketAddr> = Egress::allowing([Range::Loopback])
            .resolver()
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|addr| addr.ip().is_loopback()), "{addrs:?}");
    }

    #[test]
    fn autotask_hosts_are_its_own_and_the_allowed_ones() {
        let hosts = AutotaskHosts::with(["127.0.0.1:8081".to_owned(), "sim.test".to_owned()]);
        assert!(hosts.trusts(&url("https://ww2.autotask.net")));
        assert!(hosts.trusts(&url("https://webservices15.autotask.net/atservicesrest/")));
        assert!(!hosts.trusts(&url("http://ww2.autotask.net")), "plain HTTP is not Autotask");
        assert!(!hosts.trusts(&url("https://autotask.net.evil.example/")));
        assert!(hosts.trusts(&url("http://127.0.0.1:8081/")));
        assert!(!hosts.trusts(&url("http://127.0.0.1:8082/")));
        assert!(hosts.trusts(&url("http://sim.test:9999/")));
        assert!(!AutotaskHosts::default().trusts(&url("http://127.0.0.1:8081/")));
    }
}
