//! The SSRF guard: a webhook may not make the server call itself, its neighbours on a private
//! network or a cloud metadata service. A target is checked when it is registered and again
//! at every delivery, on the very addresses the connection uses (a resolver that refuses
//! non-public answers), so a name that resolved to a public address at registration and to
//! 127.0.0.1 later (DNS rebinding) is still refused.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "{0} resolves to {1}, a loopback, private, link-local or otherwise non-public address"
    )]
    NotPublic(String, IpAddr),
    #[error("{0} does not resolve: {1}")]
    Unresolved(String, String),
}

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// unspecified, shared, multicast, documentation or reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || o[0] >= 240) // reserved
}

/// Parses and checks a target URL: http(s), a host, and (unless `allow_private`) only public
/// addresses for it, every one its name resolves to.
pub async fn check_target(url: &str, allow_private: bool) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(TargetError::Scheme);
    }
    let host = parsed.host().ok_or(TargetError::NoHost)?;
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    match host {
        url::Host::Ipv4(ip) => check_ip(url, IpAddr::V4(ip))?,
        url::Host::Ipv6(ip) => check_ip(url, IpAddr::V6(ip))?,
        url::Host::Domain(name) => {
            // A name server that never answers must not hold the request for long.
            let lookup = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tokio::net::lookup_host((name, port)),
            )
            .await
            .map_err(|_| TargetError::Unresolved(name.to_string(), "timed out".into()))?;
            let addrs: Vec<SocketAddr> = lookup
                .map_err(|e| TargetError::Unresolved(name.to_string(), e.to_string()))?
                .collect();
            if addrs.is_empty() {
                return Err(TargetError::Unresolved(
                    name.to_string(),
                    "no address".into(),
                ));
            }
            for a in addrs {
                check_ip(name, a.ip())?;
            }
        }
    }
    Ok(parsed)
}

/// At delivery time: a target whose host is an address literal (which no resolver sees) must
/// be public unless private targets are allowed.
pub fn check_literal(url: &str, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    let parsed = Url::parse(url).map_err(|e| TargetError::Invalid(e.to_string()))?;
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => check_ip(url, IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => check_ip(url, IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => Ok(()),
        None => Err(TargetError::NoHost),
    }
}

fn check_ip(what: &str, ip: IpAddr) -> Result<(), TargetError> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(TargetError::NotPublic(what.to_string(), ip))
    }
}

/// The resolver the delivery client uses when private targets are not allowed: it refuses
/// a name any of whose addresses is not public, at connection time.
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                check_ip(&host, a.ip())?;
            }
            let out: Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad} counted as public");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(
                is_public(good.parse().unwrap()),
                "{good} counted as private"
            );
        }
    }

    #[tokio::test]
    async fn targets_are_checked() {
        assert!(check_target("http://127.0.0.1:9/x", false).await.is_err());
        assert!(check_target("http://localhost:9/x", false).await.is_err());
        assert!(check_target("http://[::1]/x", false).await.is_err());
        assert!(check_target("ftp://example.com/", true).await.is_err());
        assert!(check_target("http://127.0.0.1:9/x", true).await.is_ok());
        assert!(check_target("http://93.184.216.34/x", false).await.is_ok());
    }
}
