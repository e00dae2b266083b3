//! `X-Boardroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
//! time is inside the signed text, so a receiver that refuses old `t` refuses replays too.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header value for `body` sent at unix time `t` with `secret`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

fn mac(secret: &str, t: i64, body: &str) -> Vec<u8> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Checks a signature header the way a receiver should (what the tests and the docs do).
pub fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    m.update(format!("{t}.{body}").as_bytes());
    m.verify_slice(&v1).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let s = signature("whsec_x", 1_700_000_000, "{\"a\":1}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_x", &s, "{\"a\":1}"));
        assert!(!verify("whsec_y", &s, "{\"a\":1}"));
        assert!(!verify("whsec_x", &s, "{\"a\":2}"));
    }
}
