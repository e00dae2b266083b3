//! Field checks shared by the handlers. Each failure names its field.

use crate::error::{ApiError, ApiResult};

/// Trimmed, non-empty, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(ApiError::bad_field(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(v.to_string())
}

/// A list of 1 to `max` entries; `what` completes "{field} must list 1 to {max} …" (what the
/// entries are, and what to send instead of an empty list).
pub fn list_len<T>(field: &str, items: &[T], max: usize, what: &str) -> ApiResult<()> {
    if items.is_empty() || items.len() > max {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must list 1 to {max} {what}"),
        ));
    }
    Ok(())
}

/// Like `text` but empty means "none".
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

pub fn email(field: &str, value: &str) -> ApiResult<String> {
    let v = text(field, value, 254)?.to_lowercase();
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !v.contains(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        return Err(ApiError::bad_field(
            field,
            format!("{field} is not an email address"),
        ));
    }
    Ok(v)
}

pub fn password(field: &str, value: &str) -> ApiResult<()> {
    let n = value.chars().count();
    if !(8..=256).contains(&n) {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must be 8 to 256 characters"),
        ));
    }
    Ok(())
}

pub fn days(field: &str, value: Option<u32>) -> ApiResult<Option<u32>> {
    match value {
        Some(d) if !(1..=3650).contains(&d) => Err(ApiError::bad_field(
            field,
            format!("{field} must be between 1 and 3650"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_field() {
        assert_eq!(text("name", "  Ada ", 10).unwrap(), "Ada");
        assert_eq!(
            text("name", " ", 10).unwrap_err().field.as_deref(),
            Some("name")
        );
        assert!(text("name", &"x".repeat(11), 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
        assert_eq!(
            email("email", "Ada@Example.COM").unwrap(),
            "ada@example.com"
        );
        assert!(email("email", "nope").is_err());
        assert!(email("email", "@x").is_err());
        assert!(password("password", "short").is_err());
        assert!(password("password", "long enough").is_ok());
        assert!(days("expires_in_days", Some(0)).is_err());
        assert_eq!(days("expires_in_days", Some(7)).unwrap(), Some(7));
    }
}
