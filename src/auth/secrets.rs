//! Opaque secrets handed to clients (refresh tokens, API keys, share tokens). Only their
//! SHA-256 is stored, so a leaked database does not leak usable credentials; 256 random bits
//! make a plain hash (no salt, no slow KDF) safe and let us look a token up by its hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "br_";
pub const SHARE_TOKEN_PREFIX: &str = "brs_";
pub const REFRESH_TOKEN_PREFIX: &str = "brr_";

/// A new secret: the prefix followed by 32 random bytes, base64url.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_unique_and_hash_stably() {
        let a = generate(API_KEY_PREFIX);
        let b = generate(API_KEY_PREFIX);
        assert!(a.starts_with("br_") && a.len() == 3 + 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert!(generate(SHARE_TOKEN_PREFIX).starts_with("brs_"));
    }
}
