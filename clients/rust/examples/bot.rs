//! The review bot: watches one board with an API key and, when a card's checklist becomes
//! complete, moves the card to the top of the column named "Needs review" (creating that
//! column at the end of the board if there is none) and says so in a comment.
//!
//! ```text
//! cargo run -p boardroom-client --example bot -- \
//!     --url http://127.0.0.1:8080 --board <board id> [--column "Needs review"]
//! ```
//! The API key comes from `BOARDROOM_API_KEY` (keys do not belong on command lines), e.g. one
//! made with `POST /api/v1/orgs/{org}/api-keys` `{"name":"review bot","role":"member"}`.
//!
//! It acts on the change, not on the state: a card that was already complete when the bot
//! started, or that a person moves back out of review, is left alone until its checklist goes
//! from incomplete to complete again. Connection losses are the client's business: it
//! reconnects, resumes the board with `since` and resends unacknowledged ops.

use boardroom_client::protocol::event::EventBody;
use boardroom_client::protocol::op::{CardMove, ColumnCreate, CommentAdd};
use boardroom_client::protocol::{Op, Snapshot, Topic};
use boardroom_client::{checklist_complete, BoardState, Client, Error, Event, Events, Options};
use futures_util::StreamExt;
use uuid::Uuid;

/// What the bot needs to run.
#[derive(Debug, Clone)]
pub struct BotConfig {
    pub url: String,
    pub api_key: String,
    pub board: Uuid,
    /// The column cards go to.
    pub column: String,
}

const COMMENT: &str = "Checklist complete: moved to review.";

/// A bot that is connected and subscribed: every change from now on reaches it.
pub struct Bot {
    client: Client,
    events: Events,
    cfg: BotConfig,
}

/// Connects and subscribes to the board (a refused key or an unknown board is an error here).
pub async fn start(cfg: BotConfig) -> Result<Bot, Error> {
    let opts = Options::new(&cfg.url, &cfg.api_key).client_name("review-bot/1.0");
    let (client, events) = Client::connect(opts).await?;
    client.subscribe(Topic::Board(cfg.board)).await?;
    Ok(Bot {
        client,
        events,
        cfg,
    })
}

/// Runs the bot until the session ends for good (revoked key, deleted board).
pub async fn run(cfg: BotConfig) -> Result<(), Error> {
    start(cfg).await?.run().await
}

impl Bot {
    pub async fn run(self) -> Result<(), Error> {
        let Bot {
            client,
            mut events,
            cfg,
        } = self;
        let topic = Topic::Board(cfg.board);
        let mut board: Option<BoardState> = None;
        // The review column this bot made, until its `column.created` event is applied: the
        // events of other cards completed meanwhile come first and must not make another.
        let mut made: Option<Uuid> = None;
        while let Some(ev) = events.next().await {
            match ev {
                Event::Subscribed { reply, .. } => {
                    // A recovered subscription keeps what we hold; a snapshot replaces it.
                    if let Some(Snapshot::Board(s)) = reply.snapshot {
                        board = Some(BoardState::from(s));
                    }
                }
                Event::Event(e) if e.topic == topic => {
                    let Some(b) = board.as_mut() else { continue };
                    let card_id = e.body.card_id();
                    let was = card_id
                        .and_then(|id| b.card(id))
                        .is_some_and(checklist_complete);
                    b.apply(&e.body);
                    let checklist_change = matches!(
                        e.body,
                        EventBody::ChecklistToggled(_)
                            | EventBody::ChecklistAdded(_)
                            | EventBody::ChecklistRemoved(_)
                    );
                    let Some(card) = card_id.and_then(|id| b.card(id)) else {
                        continue;
                    };
                    if checklist_change && !was && checklist_complete(card) {
                        let card_id = card.id;
                        send_to_review(&client, b, &cfg, card_id, &mut made).await?;
                    }
                }
                Event::Stopped(why) => {
                    return Err(Error::Closed {
                        code: None,
                        reason: why,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Moves the card to the review column and comments. A refusal (the card was archived
/// meanwhile, the key lost its rights) is reported and the bot carries on with other cards.
async fn send_to_review(
    client: &Client,
    board: &BoardState,
    cfg: &BotConfig,
    card_id: Uuid,
    made: &mut Option<Uuid>,
) -> Result<(), Error> {
    let topic = Topic::Board(board.id);
    let known = board.column_named(&cfg.column).map(|c| c.id).or(*made);
    let column_id = match known {
        Some(c) if board.card(card_id).is_some_and(|k| k.column_id == c) => return Ok(()),
        Some(c) => c,
        None => {
            let id = Uuid::now_v7();
            let create = Op::ColumnCreate(ColumnCreate {
                name: cfg.column.clone(),
                after: None,
                is_done: None,
                column_id: Some(id),
                color: None,
            });
            match client.op(topic, create).await {
                Ok(ack) => *made.insert(ack.id.unwrap_or(id)),
                Err(e) => return refused("create the review column", e),
            }
        }
    };
    let mv = Op::CardMove(CardMove {
        card_id,
        column_id,
        after: None,
    });
    if let Err(e) = client.op(topic, mv).await {
        // Perhaps someone deleted the column: look for it (or make it) again next time.
        *made = None;
        return refused("move the card", e);
    }
    let comment = Op::CommentAdd(CommentAdd {
        card_id,
        body: COMMENT.into(),
        mentions: vec![],
    });
    if let Err(e) = client.op(topic, comment).await {
        return refused("comment", e);
    }
    eprintln!("review-bot: card {card_id} moved to {:?}", cfg.column);
    Ok(())
}

/// A server refusal is logged and skipped; anything else (the session stopped) ends the bot.
fn refused(what: &str, e: Error) -> Result<(), Error> {
    match e {
        Error::Server(r) => {
            eprintln!(
                "review-bot: could not {what}: {}: {}",
                r.code.as_str(),
                r.message
            );
            Ok(())
        }
        other => Err(other),
    }
}

#[allow(dead_code)] // the integration test includes this file as a module and calls `run`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = "http://127.0.0.1:8080".to_string();
    let mut board = None;
    let mut column = "Needs review".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = value()?,
            "--board" => board = Some(value()?.parse::<Uuid>()?),
            "--column" => column = value()?,
            _ => {
                return Err(format!("unknown argument {a}; see the top of examples/bot.rs").into())
            }
        }
    }
    let api_key = std::env::var("BOARDROOM_API_KEY")
        .map_err(|_| "set BOARDROOM_API_KEY to an API key (br_…)")?;
    let board = board.ok_or("--board <board id> is required")?;
    run(BotConfig {
        url,
        api_key,
        board,
        column,
    })
    .await?;
    Ok(())
}
