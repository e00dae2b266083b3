//! The client's address behind trusted proxies, for per-IP limits and the audit log, the
//! same for HTTP requests, WebSocket upgrades and SSE streams.

use crate::config::Config;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The address a request came from, for per-IP limits. The TCP peer, unless the peer is one of
/// `trusted_proxies`: then the nearest address in `X-Forwarded-For` that is not a trusted
/// proxy (proxies append, so everything left of the last untrusted hop could be made up by
/// the client). With no trusted proxies the header is ignored: any client can write it.
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let config = Arc::<Config>::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(ApiError::internal)?;
        if config.trusted_proxies.is_empty() {
            return Ok(ClientIp(peer));
        }
        let trusted = config.trusted_proxy_nets();
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientIp(client_ip(peer, forwarded, &trusted)))
    }
}

/// Walks from the peer back along `X-Forwarded-For` (right to left) while the hop is a trusted
/// proxy; the first untrusted hop is the client. A malformed entry ends the walk at the last
/// hop that could be believed.
fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let nets: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not from a proxy: the header is the client's own words.
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &nets),
            ip("203.0.113.9")
        );
        // From a proxy: the last hop it saw.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["1.2.3.4, 198.51.100.7"].into_iter(), &nets),
            ip("198.51.100.7")
        );
        // Through two proxies, and split over two headers.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["198.51.100.7", "10.0.0.3"].into_iter(),
                &nets
            ),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last believable hop.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["nonsense"].into_iter(), &nets),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), std::iter::empty(), &nets),
            ip("10.0.0.2")
        );
    }
}
