//! Access tokens: HS256 JWTs. The algorithm is pinned on both sides, so a token that names
//! `none`, another HMAC size or an asymmetric algorithm is refused before its claims are read.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// Always "access": a refresh token is opaque and never a JWT, but the claim keeps any
    /// future token kind from being accepted as an access token.
    pub typ: String,
    /// The refresh-token family this token was issued from, so that revoking the family
    /// (logout, reuse detected) also closes the live sessions it opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<Uuid>,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("access token expired")]
    Expired,
    #[error("invalid access token")]
    Invalid,
}

impl JwtKeys {
    pub fn new(secret: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(&self, user_id: Uuid, family: Option<Uuid>) -> Result<(String, Claims), JwtError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            iat: now,
            exp: now + self.ttl_secs,
            typ: "access".into(),
            fam: family,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| JwtError::Invalid)?;
        Ok((token, claims))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
                    _ => JwtError::Invalid,
                }
            })?;
        if data.claims.typ != "access" {
            return Err(JwtError::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &str = "a-test-secret-of-some-length";

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    /// `claims` signed with the test secret by `alg`, bypassing `issue`'s own choices.
    fn sign(alg: Algorithm, claims: &Claims) -> String {
        encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn issued_token_verifies() {
        let keys = JwtKeys::new(SECRET, 60);
        let id = Uuid::now_v7();
        let (t, _) = keys.issue(id, None).unwrap();
        assert_eq!(keys.verify(&t).unwrap().sub, id);
    }

    #[test]
    fn other_secret_alg_none_and_tampering_are_refused() {
        let keys = JwtKeys::new(SECRET, 60);
        let other = JwtKeys::new("another-secret-of-some-length", 60);
        let id = Uuid::now_v7();
        let (t, claims) = other.issue(id, None).unwrap();
        assert!(matches!(keys.verify(&t), Err(JwtError::Invalid)));

        let payload = b64(&serde_json::to_string(&claims).unwrap());
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(matches!(keys.verify(&none), Err(JwtError::Invalid)));

        let hs512 = sign(Algorithm::HS512, &claims);
        assert!(matches!(keys.verify(&hs512), Err(JwtError::Invalid)));

        let (good, _) = keys.issue(id, None).unwrap();
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let forged = Claims {
            sub: Uuid::now_v7(),
            ..claims
        };
        parts[1] = b64(&serde_json::to_string(&forged).unwrap());
        assert!(matches!(
            keys.verify(&parts.join(".")),
            Err(JwtError::Invalid)
        ));
    }

    #[test]
    fn expired_token_is_refused_with_zero_leeway() {
        let keys = JwtKeys::new(SECRET, 60);
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::now_v7(),
            iat: now - 10,
            exp: now - 1,
            typ: "access".into(),
            fam: None,
        };
        let t = sign(Algorithm::HS256, &claims);
        assert!(matches!(keys.verify(&t), Err(JwtError::Expired)));
    }
}
