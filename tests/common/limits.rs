//! Server settings (environment) that tests share: limits set out of the way, or low enough
//! to reach.

/// No op budget per connection: for tests about something else than one client's rate.
pub const UNLIMITED_OPS: [(&str, &str); 2] = [
    ("BOARDROOM_LIMITS__OPS_PER_SECOND_PER_CONNECTION", "1000000"),
    ("BOARDROOM_LIMITS__OPS_BURST_PER_CONNECTION", "1000000"),
];

/// Login attempts a minute: `per_account` for one account from one address, `per_address` for
/// one address whatever the account.
pub fn login_limits<'a>(
    per_account: &'a str,
    per_address: &'a str,
) -> [(&'static str, &'a str); 2] {
    [
        (
            "BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT_IP_PER_MINUTE",
            per_account,
        ),
        (
            "BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_IP_PER_MINUTE",
            per_address,
        ),
    ]
}
