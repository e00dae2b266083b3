//! Pages of list endpoints: `?limit=&cursor=` in, `total` and `next_cursor` out.
//!
//! The lists an organization holds (members, customers, boards, keys, links) are read whole
//! from the store and paged here; they are small next to a board's event log, and paging in
//! one place keeps every list's cursor rule the same. A cursor is the sort key of the last
//! item of a page, not an offset, so an item added or removed before it does not shift the
//! next page by one.

use crate::error::{ApiError, ApiResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// `limit` and `cursor`, for list endpoints whose query holds nothing else.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The order of a list, by its sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    /// Newest first.
    Descending,
}

/// One page and where the next one starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub next_cursor: Option<String>,
}

/// Checks `limit` (1..=`max`, default `max`) and decodes `cursor` into the sort key it holds.
pub fn parse(
    limit: Option<usize>,
    cursor: Option<&str>,
    max: usize,
) -> ApiResult<(usize, Option<String>)> {
    let limit = match limit {
        None => max,
        Some(0) => return Err(ApiError::bad_field("limit", "must be at least 1")),
        Some(n) if n > max => {
            return Err(ApiError::bad_field(
                "limit",
                format!("at most {max} (limits.max_page_items)"),
            ))
        }
        Some(n) => n,
    };
    let after = cursor.map(decode).transpose()?;
    Ok((limit, after))
}

pub fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

pub fn decode(cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this list gave out"))
}

/// Sorts `items` by `key` in `order` and returns the page after the cursor. Keys must be
/// unique (end them with the item's id) and compare as strings the way the list is ordered.
pub fn paginate<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    order: Order,
    limit: Option<usize>,
    cursor: Option<&str>,
    max: usize,
) -> ApiResult<Page<T>> {
    let (limit, after) = parse(limit, cursor, max)?;
    let mut keyed: Vec<(String, T)> = items.drain(..).map(|t| (key(&t), t)).collect();
    keyed.sort_by(|a, b| match order {
        Order::Ascending => a.0.cmp(&b.0),
        Order::Descending => b.0.cmp(&a.0),
    });
    let total = keyed.len();
    let start = match &after {
        None => 0,
        Some(k) => keyed.partition_point(|(x, _)| match order {
            Order::Ascending => x <= k,
            Order::Descending => x >= k,
        }),
    };
    let mut rest: Vec<(String, T)> = keyed.into_iter().skip(start).collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next_cursor = if more {
        rest.last().map(|(k, _)| encode(k))
    } else {
        None
    };
    Ok(Page {
        items: rest.into_iter().map(|(_, t)| t).collect(),
        total,
        next_cursor,
    })
}

impl<T: serde::Serialize> Page<T> {
    /// `{"<name>": [...], "total": n, "next_cursor": "…" | null}`.
    pub fn to_json(&self, name: &str) -> serde_json::Value {
        self.to_json_with(name, |t| serde_json::json!(t))
    }
}

impl<T> Page<T> {
    /// Like `to_json`, each item shown by `show` (the fields a list hands out).
    pub fn to_json_with(
        &self,
        name: &str,
        show: impl Fn(&T) -> serde_json::Value,
    ) -> serde_json::Value {
        let mut v = serde_json::json!({ "total": self.total, "next_cursor": self.next_cursor });
        v[name] = self.items.iter().map(show).collect();
        v
    }
}

/// A row of the org's lists that are shown oldest first: its `(created_at, id)`.
pub trait Created {
    fn created(&self) -> (&chrono::DateTime<chrono::Utc>, uuid::Uuid);
}

macro_rules! created_by_fields {
    ($($t:ty),*) => {$(
        impl Created for $t {
            fn created(&self) -> (&chrono::DateTime<chrono::Utc>, uuid::Uuid) {
                (&self.created_at, self.id)
            }
        }
    )*};
}

created_by_fields!(
    crate::store::Member,
    crate::store::Board,
    crate::store::ApiKey
);

impl PageQuery {
    /// The page of `items` oldest first by `(created_at, id)`: see `by_creation`.
    pub fn oldest_first<T: Created>(&self, items: Vec<T>, max: usize) -> ApiResult<Page<T>> {
        by_creation(items, |t| t.created(), Order::Ascending, self, max)
    }
}

/// The page of `items` listed oldest first by `(created_at, id)`, the order of the org's
/// lists (members, boards, keys); `at` names the two fields.
pub fn by_creation<T>(
    items: Vec<T>,
    at: impl Fn(&T) -> (&chrono::DateTime<chrono::Utc>, uuid::Uuid),
    order: Order,
    q: &PageQuery,
    max: usize,
) -> ApiResult<Page<T>> {
    let key = |t: &T| {
        let (created, id) = at(t);
        format!("{}{id}", time_key(created))
    };
    paginate(items, key, order, q.limit, q.cursor.as_deref(), max)
}

/// A time as a key that sorts as the time does (fixed width, UTC).
pub fn time_key(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &Page<u32>) -> Vec<u32> {
        p.items.clone()
    }

    #[test]
    fn pages_in_both_orders_cover_everything_once() {
        let items: Vec<u32> = (0..10).rev().collect();
        for order in [Order::Ascending, Order::Descending] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let p = paginate(
                    items.clone(),
                    |n| format!("{n:04}"),
                    order,
                    Some(3),
                    cursor.as_deref(),
                    100,
                )
                .expect("a page");
                assert_eq!(p.total, 10);
                seen.extend(keys(&p));
                match p.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            let mut expected: Vec<u32> = (0..10).collect();
            if order == Order::Descending {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{order:?}");
        }
    }

    #[test]
    fn a_removed_item_does_not_shift_the_next_page() {
        let p = paginate(
            (0..6).collect::<Vec<u32>>(),
            |n| n.to_string(),
            Order::Ascending,
            Some(2),
            None,
            10,
        )
        .expect("a page");
        let cursor = p.next_cursor.expect("more");
        // Item 0 goes away between the two reads.
        let p = paginate(
            (1..6).collect::<Vec<u32>>(),
            |n| n.to_string(),
            Order::Ascending,
            Some(2),
            Some(&cursor),
            10,
        )
        .expect("a page");
        assert_eq!(p.items, [2, 3]);
        assert_eq!(p.total, 5);
    }

    #[test]
    fn bad_limits_and_cursors_are_named() {
        let cases = [
            (Some(0), None, "limit", "limit 0"),
            (Some(11), None, "limit", "limit over max"),
            (None, Some("%%%"), "cursor", "a cursor that is not base64"),
        ];
        for (limit, cursor, field, why) in cases {
            let e = paginate(
                vec![1u32],
                |n| n.to_string(),
                Order::Ascending,
                limit,
                cursor,
                10,
            )
            .expect_err(why);
            assert_eq!(e.field.as_deref(), Some(field), "{why}");
        }
    }
}
