//! Fractional-index positions for columns, cards and checklist items.
//!
//! Order is kept in strings that compare bytewise, and a new position is always made
//! *between* two neighbours. Moving one card therefore rewrites one row, and two people
//! moving different cards at the same moment can never fight over a shared integer index.
//!
//! Keys are digits of a base-62 alphabet whose ASCII order is its numeric order
//! (`0-9`, `A-Z`, `a-z`), read as a fraction `0.d1d2d3…`. A key never ends in `0`, the
//! smallest digit, so there is always room before any key (the same reason `0.1` has room
//! before it and `0.10` would not add any). This is David Greenspan's "fractional-indexing"
//! midpoint without the integer part.

/// The alphabet, in ascending byte order.
pub const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const BASE: usize = DIGITS.len();

fn digit(b: u8) -> usize {
    match b {
        b'0'..=b'9' => (b - b'0') as usize,
        b'A'..=b'Z' => (b - b'A') as usize + 10,
        b'a'..=b'z' => (b - b'a') as usize + 36,
        // Never produced by `between`; treated as the smallest digit so foreign input cannot
        // panic. Ordering is only guaranteed for valid keys.
        _ => 0,
    }
}

/// Whether `key` could have come from [`between`]: non-empty, only alphabet bytes, not
/// ending in `0`.
pub fn is_valid(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty() && b.iter().all(u8::is_ascii_alphanumeric) && b.last() != Some(&b'0')
}

/// A key strictly between `a` and `b` (`None` = before everything / after everything).
///
/// Requires valid keys with `a < b`. Violating that never panics and still yields a valid
/// key: an invalid neighbour is ignored and an `a >= b` pair is treated as if `b` were
/// absent (the result sorts after `a`), so a corrupt neighbour degrades ordering instead of
/// failing an op.
pub fn between(a: Option<&str>, b: Option<&str>) -> String {
    let a = a.filter(|a| is_valid(a)).unwrap_or("").as_bytes();
    let b = b
        .filter(|b| is_valid(b))
        .map(str::as_bytes)
        .filter(|b| a < *b);
    let mut out = Vec::with_capacity(a.len().max(b.map_or(0, <[u8]>::len)) + 1);
    match (a.is_empty(), b) {
        (true, None) => out.push(DIGITS[BASE / 2]),
        (false, None) => after(a, &mut out),
        (true, Some(b)) => before(b, &mut out),
        (false, Some(b)) => midpoint(a, Some(b), &mut out),
    }
    out.into_iter().map(char::from).collect()
}

/// The next key after `a` with nothing above it: the smallest step up at the first digit
/// that has room. Appending at the bottom of a column is the most common insert, and
/// stepping by one (instead of halving the space up to the end) keeps keys short: ~30
/// appends per extra character instead of ~6.
fn after(a: &[u8], out: &mut Vec<u8>) {
    match a.iter().position(|&c| digit(c) < BASE - 1) {
        Some(i) => {
            out.extend_from_slice(&a[..i]);
            out.push(DIGITS[digit(a[i]) + 1]);
        }
        None => {
            out.extend_from_slice(a);
            out.push(DIGITS[BASE / 2]);
        }
    }
}

/// The key just below `b` with nothing beneath it: the mirror image of [`after`]. A digit
/// is only lowered if it stays above `0`, so the key never ends in `0`.
fn before(b: &[u8], out: &mut Vec<u8>) {
    match b.iter().position(|&c| digit(c) > 1) {
        Some(i) => {
            out.extend_from_slice(&b[..i]);
            out.push(DIGITS[digit(b[i]) - 1]);
        }
        None => {
            // `b` is all `0`s and `1`s ending in `1`: replace that last `1` by `0z`.
            out.extend_from_slice(&b[..b.len().saturating_sub(1)]);
            out.extend_from_slice(b"0z");
        }
    }
}

/// `count` keys in ascending order, evenly spread: for building a board from a template or
/// renumbering a list, where keys made one by one would grow longer than needed.
pub fn spread(count: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(count);
    let mut prev: Option<String> = None;
    // Aim for an even split of the first digit so later inserts have room everywhere.
    let step = BASE / (count + 1).max(1);
    for i in 1..=count {
        let key = if step >= 1 && count < BASE {
            let d = DIGITS[(i * step).min(BASE - 1)];
            let k = char::from(d).to_string();
            if prev.as_deref().is_some_and(|p| p >= k.as_str()) {
                between(prev.as_deref(), None)
            } else {
                k
            }
        } else {
            between(prev.as_deref(), None)
        };
        prev = Some(key.clone());
        keys.push(key);
    }
    keys
}

fn midpoint(mut a: &[u8], mut b: Option<&[u8]>, out: &mut Vec<u8>) {
    loop {
        if let Some(bb) = b {
            // Copy the common prefix, reading `a` as padded with zeros.
            let mut n = 0;
            while n < bb.len() && a.get(n).copied().unwrap_or(b'0') == bb[n] {
                n += 1;
            }
            out.extend_from_slice(&bb[..n]);
            a = a.get(n..).unwrap_or(&[]);
            let rest = &bb[n..];
            // An empty rest means `b` was `a` plus trailing zeros: invalid, ignore `b`.
            b = (!rest.is_empty()).then_some(rest);
        }
        let da = a.first().map_or(0, |&c| digit(c));
        let db = b.and_then(|bb| bb.first()).map_or(BASE, |&c| digit(c));
        if db > da + 1 {
            // Room for a digit strictly between: done.
            out.push(DIGITS[(da + db).div_ceil(2)]);
            return;
        }
        if let Some(bb) = b {
            if db > da && bb.len() > 1 {
                // `b` = d… with more digits after: `d` alone is below `b` and above `a`.
                out.push(bb[0]);
                return;
            }
        }
        // Consecutive digits: keep `a`'s digit and find room after the rest of `a`.
        out.push(DIGITS[da.min(BASE - 1)]);
        a = a.get(1..).unwrap_or(&[]);
        b = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_key_is_the_middle() {
        assert_eq!(between(None, None), "V");
    }

    #[test]
    fn known_cases() {
        assert_eq!(between(Some("V"), None), "W");
        assert_eq!(between(Some("Vz"), None), "W");
        assert_eq!(between(Some("z"), None), "zV");
        assert_eq!(between(Some("zzk"), None), "zzl");
        assert_eq!(between(None, Some("V")), "U");
        assert_eq!(between(None, Some("2")), "1");
        assert_eq!(between(None, Some("1")), "0z");
        assert_eq!(between(None, Some("0z")), "0y");
        assert_eq!(between(None, Some("011")), "010z");
        assert_eq!(between(Some("a"), Some("b")), "aV");
        assert_eq!(between(Some("a"), Some("c")), "b");
        assert_eq!(between(Some("a"), Some("aV")), "aG");
        assert_eq!(between(Some("a0V"), Some("b")), "aV");
        assert_eq!(between(Some("0V"), Some("1")), "0l");
    }

    #[test]
    fn invalid_neighbours_do_not_panic() {
        for (a, b) in [
            (Some("b"), Some("a")),
            (Some("a"), Some("a")),
            (Some(""), Some("")),
            (Some("a"), Some("a0")),
            (Some("é!"), Some("~~")),
            (None, Some("0")),
            (None, Some("")),
        ] {
            let k = between(a, b);
            assert!(is_valid(&k), "{a:?} {b:?} -> {k:?}");
        }
    }

    #[test]
    fn repeated_inserts_at_the_front_and_back_stay_ordered() {
        let mut front = between(None, None);
        let mut back = front.clone();
        for _ in 0..500 {
            let f = between(None, Some(&front));
            assert!(f < front && is_valid(&f));
            front = f;
            let b = between(Some(&back), None);
            assert!(b > back && is_valid(&b));
            back = b;
        }
        // About one character per 30 inserts at either end.
        assert!(
            front.len() <= 20 && back.len() <= 20,
            "{} {}",
            front.len(),
            back.len()
        );
    }

    #[test]
    fn spread_is_ordered_and_valid() {
        for n in [0, 1, 2, 5, 30, 61, 62, 100] {
            let keys = spread(n);
            assert_eq!(keys.len(), n);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{n}: {keys:?}");
            assert!(keys.iter().all(|k| is_valid(k)));
        }
    }

    fn valid_key() -> impl Strategy<Value = String> {
        "[0-9A-Za-z]{0,6}[1-9A-Za-z]"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn strictly_between_any_valid_pair(x in valid_key(), y in valid_key()) {
            prop_assume!(x != y);
            let (a, b) = if x < y { (x, y) } else { (y, x) };
            let m = between(Some(&a), Some(&b));
            prop_assert!(a < m && m < b, "{} < {} < {}", a, m, b);
            prop_assert!(is_valid(&m));
            let lo = between(None, Some(&a));
            prop_assert!(lo < a && is_valid(&lo));
            let hi = between(Some(&b), None);
            prop_assert!(hi > b && is_valid(&hi));
        }

        /// Random insertion sequences (like users dropping cards anywhere) keep a sorted list
        /// of unique keys.
        #[test]
        fn random_insert_sequences(slots in proptest::collection::vec(any::<prop::sample::Index>(), 1..200)) {
            let mut keys: Vec<String> = Vec::new();
            for slot in slots {
                let i = slot.index(keys.len() + 1);
                let a = if i == 0 { None } else { Some(keys[i - 1].as_str()) };
                let b = keys.get(i).map(String::as_str);
                let k = between(a, b);
                prop_assert!(is_valid(&k));
                keys.insert(i, k);
            }
            prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        }

        #[test]
        fn never_panics_on_arbitrary_strings(a in proptest::option::of(".{0,8}"), b in proptest::option::of(".{0,8}")) {
            let k = between(a.as_deref(), b.as_deref());
            prop_assert!(is_valid(&k));
        }
    }
}
