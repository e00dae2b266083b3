//! The columns a new board starts with. A jobs board's columns are a job's statuses, the last
//! one flagged `is_done` so that "complete a job" means "move it there".

use crate::store::{new_id, Column, Template};

/// Positions spread evenly over the fractional-index alphabet, leaving room on every side for
/// columns inserted later.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn spread_positions(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let idx = (i + 1) * ALPHABET.len() / (n + 1);
            (ALPHABET[idx.min(ALPHABET.len() - 1)] as char).to_string()
        })
        .collect()
}

pub fn default_columns(template: Template) -> Vec<Column> {
    let names: &[(&str, bool)] = match template {
        Template::Kanban => &[("To do", false), ("Doing", false), ("Done", true)],
        Template::Jobs => &[
            ("New", false),
            ("Scheduled", false),
            ("In progress", false),
            ("Done", true),
        ],
    };
    names
        .iter()
        .zip(spread_positions(names.len()))
        .map(|(&(name, is_done), position)| Column {
            id: new_id(),
            name: name.into(),
            position,
            is_done,
            color: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_strictly_increasing_and_unique() {
        for n in 1..40 {
            let p = spread_positions(n);
            assert!(p.windows(2).all(|w| w[0] < w[1]), "n={n}: {p:?}");
        }
    }

    #[test]
    fn jobs_board_ends_in_a_done_status() {
        let cols = default_columns(Template::Jobs);
        let names: Vec<_> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["New", "Scheduled", "In progress", "Done"]);
        assert!(cols.last().unwrap().is_done && cols.iter().filter(|c| c.is_done).count() == 1);
    }
}
