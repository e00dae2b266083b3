//! Finding cards on a board: the filter behind `GET /api/v1/boards/{board}/cards` (admins
//! looking for a job by status, title or customer). It runs over the snapshot the caller is
//! allowed to see, so it needs no visibility rule of its own: a worker's search finds only
//! the worker's jobs because the snapshot holds only those.

use boardroom_protocol::{BoardSnapshot, Card, Column};
use uuid::Uuid;

/// What to look for; every given part must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardFilter {
    /// A column (a job's status on a jobs board), by id or by name (case-insensitive).
    pub status: Option<String>,
    /// Words that must all occur in the title or the description (case-insensitive).
    pub text: Option<String>,
    pub customer_id: Option<Uuid>,
}

/// Where a card sits in the board's order: its column's position, then its own, then its id
/// (positions are unique per column, the id only breaks ties of corrupt data). A page ends
/// at a key, and the next page starts after it, so a card moved between two page reads is
/// neither skipped twice nor lost from both pages unless it moved backwards past the cursor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    pub column_position: String,
    pub card_position: String,
    pub card_id: Uuid,
}

/// One page of matches.
#[derive(Debug, Clone, PartialEq)]
pub struct CardPage<'a> {
    pub cards: Vec<&'a Card>,
    /// All matches, on every page.
    pub total: usize,
    /// Where the next page starts; None on the last page.
    pub next: Option<SortKey>,
}

impl CardFilter {
    fn column_matches(&self, column: &Column) -> bool {
        match &self.status {
            None => true,
            Some(s) => match s.parse::<Uuid>() {
                Ok(id) => column.id == id,
                Err(_) => column.name.eq_ignore_ascii_case(s.trim()),
            },
        }
    }

    fn card_matches(&self, card: &Card) -> bool {
        // A board snapshot holds no archived card; a state that did would not show them.
        if card.archived {
            return false;
        }
        if self.customer_id.is_some() && card.customer_id != self.customer_id {
            return false;
        }
        match &self.text {
            None => true,
            Some(text) => {
                let title = card.title.to_lowercase();
                let description = card.description.as_deref().unwrap_or("").to_lowercase();
                text.split_whitespace().all(|word| {
                    let word = word.to_lowercase();
                    title.contains(&word) || description.contains(&word)
                })
            }
        }
    }
}

/// The cards of `board` matching `filter`, in board order, `limit` of them after `after`.
pub fn find_cards<'a>(
    board: &'a BoardSnapshot,
    filter: &CardFilter,
    after: Option<&SortKey>,
    limit: usize,
) -> CardPage<'a> {
    let mut found: Vec<(SortKey, &Card)> = board
        .cards
        .iter()
        .filter_map(|card| {
            let column = board.columns.iter().find(|c| c.id == card.column_id)?;
            (filter.column_matches(column) && filter.card_matches(card)).then(|| {
                (
                    SortKey {
                        column_position: column.position.clone(),
                        card_position: card.position.clone(),
                        card_id: card.id,
                    },
                    card,
                )
            })
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let total = found.len();
    let start = match after {
        Some(key) => found.partition_point(|(k, _)| k <= key),
        None => 0,
    };
    let rest = &found[start..];
    let page = &rest[..rest.len().min(limit)];
    let next = (rest.len() > page.len())
        .then(|| page.last().map(|(k, _)| k.clone()))
        .flatten();
    CardPage {
        cards: page.iter().map(|(_, c)| *c).collect(),
        total,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn column(n: u128, name: &str, position: &str) -> Column {
        Column {
            id: Uuid::from_u128(n),
            name: name.into(),
            position: position.into(),
            is_done: false,
            color: None,
        }
    }

    fn card(n: u128, column: u128, position: &str, title: &str, customer: Option<u128>) -> Card {
        Card {
            customer_id: customer.map(Uuid::from_u128),
            ..Card::new(Uuid::from_u128(n), Uuid::from_u128(column), position, title)
        }
    }

    fn board(cards: Vec<Card>) -> BoardSnapshot {
        BoardSnapshot {
            id: Uuid::from_u128(1),
            org_id: Uuid::from_u128(2),
            name: "Jobs".into(),
            // Listed out of order: the search orders by position, not by list order.
            columns: vec![column(11, "Done", "c"), column(10, "Scheduled", "a")],
            cards,
        }
    }

    fn titles(page: &CardPage) -> Vec<String> {
        page.cards.iter().map(|c| c.title.clone()).collect()
    }

    #[test]
    fn filters_by_status_name_or_id_text_and_customer() {
        let b = board(vec![
            card(100, 11, "a", "Boiler service", Some(50)),
            card(101, 10, "b", "Fix the boiler", Some(51)),
            card(102, 10, "a", "Paint the fence", Some(50)),
        ]);
        let all = find_cards(&b, &CardFilter::default(), None, 10);
        assert_eq!(
            titles(&all),
            ["Paint the fence", "Fix the boiler", "Boiler service"]
        );
        let f = CardFilter {
            status: Some("scheduled".into()),
            ..CardFilter::default()
        };
        assert_eq!(
            titles(&find_cards(&b, &f, None, 10)),
            ["Paint the fence", "Fix the boiler"]
        );
        let f = CardFilter {
            status: Some(Uuid::from_u128(11).to_string()),
            ..CardFilter::default()
        };
        assert_eq!(titles(&find_cards(&b, &f, None, 10)), ["Boiler service"]);
        let f = CardFilter {
            text: Some("BOILER".into()),
            customer_id: Some(Uuid::from_u128(50)),
            ..CardFilter::default()
        };
        let page = find_cards(&b, &f, None, 10);
        assert_eq!(titles(&page), ["Boiler service"]);
        assert_eq!(page.total, 1);
        let f = CardFilter {
            text: Some("fix boiler".into()),
            ..CardFilter::default()
        };
        assert_eq!(titles(&find_cards(&b, &f, None, 10)), ["Fix the boiler"]);
        let mut archived = b.clone();
        archived.cards[0].archived = true;
        let f = CardFilter::default();
        assert_eq!(find_cards(&archived, &f, None, 10).total, 2);
        let f = CardFilter {
            status: Some("Cancelled".into()),
            ..CardFilter::default()
        };
        assert_eq!(find_cards(&b, &f, None, 10).total, 0);
    }

    proptest! {
        /// Reading page after page returns every match exactly once, in order, and each page
        /// says the same total.
        #[test]
        fn pages_cover_every_match_once(
            cards in proptest::collection::vec((0u8..3, "[a-e]{1,3}", 0u8..3), 0..40),
            limit in 1usize..7,
        ) {
            let cards: Vec<Card> = cards
                .into_iter()
                .enumerate()
                .map(|(i, (col, pos, cust))| {
                    card(1000 + i as u128, 10 + u128::from(col % 2), &pos, "t", Some(u128::from(cust)))
                })
                .collect();
            let b = board(cards);
            let f = CardFilter { customer_id: Some(Uuid::from_u128(1)), ..CardFilter::default() };
            let whole = find_cards(&b, &f, None, usize::MAX);
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = find_cards(&b, &f, after.as_ref(), limit);
                prop_assert_eq!(page.total, whole.total);
                prop_assert!(page.cards.len() <= limit);
                seen.extend(page.cards.iter().map(|c| c.id));
                match page.next {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
            let expected: Vec<Uuid> = whole.cards.iter().map(|c| c.id).collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
