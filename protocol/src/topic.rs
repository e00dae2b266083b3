//! Topics: what a subscription, an op or an event is about.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// `org:<uuid>`, `board:<uuid>`, `card:<uuid>` or `user:<uuid>`.
///
/// Parsed once at the edge so the rest of the server never handles topic strings; the
/// canonical form (lowercase hyphenated uuid) is what `Display` writes, which makes topics
/// usable as broker channel names and map keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Org(Uuid),
    Board(Uuid),
    Card(Uuid),
    User(Uuid),
}

impl Topic {
    /// The id after the colon.
    pub fn id(&self) -> Uuid {
        match self {
            Topic::Org(id) | Topic::Board(id) | Topic::Card(id) | Topic::User(id) => *id,
        }
    }

    /// The prefix before the colon.
    pub fn prefix(&self) -> &'static str {
        match self {
            Topic::Org(_) => "org",
            Topic::Board(_) => "board",
            Topic::Card(_) => "card",
            Topic::User(_) => "user",
        }
    }
}

/// Why a topic string was refused; the message is shown to the client in a `bad_request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic {0:?} must look like <kind>:<uuid>")]
    Shape(String),
    #[error("topic {0:?} has an unknown kind (expected org, board, card or user)")]
    Kind(String),
    #[error("topic {0:?} does not end in a hyphenated uuid")]
    Id(String),
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, id) = s
            .split_once(':')
            .ok_or_else(|| TopicError::Shape(s.to_string()))?;
        // Only the hyphenated form: one spelling per topic keeps channel names unique.
        if id.len() != 36 {
            return Err(TopicError::Id(s.to_string()));
        }
        let id = Uuid::parse_str(id).map_err(|_| TopicError::Id(s.to_string()))?;
        match kind {
            "org" => Ok(Topic::Org(id)),
            "board" => Ok(Topic::Board(id)),
            "card" => Ok(Topic::Card(id)),
            "user" => Ok(Topic::User(id)),
            _ => Err(TopicError::Kind(s.to_string())),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.prefix(), self.id().hyphenated())
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_every_kind() {
        let id = Uuid::now_v7();
        for (t, p) in [
            (Topic::Org(id), "org"),
            (Topic::Board(id), "board"),
            (Topic::Card(id), "card"),
            (Topic::User(id), "user"),
        ] {
            let s = format!("{p}:{id}");
            assert_eq!(s.parse::<Topic>(), Ok(t));
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_topics() {
        let id = Uuid::now_v7();
        for bad in [
            String::new(),
            "board".into(),
            format!("boards:{id}"),
            format!("board:{}", id.simple()),
            "board:not-a-uuid-at-all-but-36-chars-xx".into(),
            format!("board:{id}x"),
            format!(":{id}"),
        ] {
            assert!(bad.parse::<Topic>().is_err(), "{bad}");
        }
    }

    #[test]
    fn uppercase_uuid_is_accepted_and_canonicalised() {
        let id = Uuid::now_v7();
        let t: Topic = format!("card:{}", id.to_string().to_uppercase())
            .parse()
            .unwrap();
        assert_eq!(t.to_string(), format!("card:{id}"));
    }
}
