import Sortable from 'sortablejs';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { afterFor, uuid, type Card, type ColumnView, type PresenceMap } from '../../client';
import { app, canEdit, useApp } from '../app-state';
import { announce, Avatar, fmtDate, fmtMinutes, Header, Icon, PresenceBar } from '../components';
import { useBoard, type LiveBoard } from '../live';
import { linkHandler, navigate } from '../router';
import { CardDetail } from './card-detail';
import { CardSearchPanel } from './card-search';

export function BoardPage({ boardId, cardId }: { boardId: string; cardId?: string }) {
  const a = useApp();
  const live = useBoard(boardId, a.client);
  const editable = canEdit(a.org?.role);
  const selfId = a.me?.user.id;
  const [focusAfterRender, setFocusAfterRender] = useState<string | null>(null);

  // Tell the others which card we have open.
  useEffect(() => {
    live.setFocus(cardId ?? null);
  }, [cardId, a.client, live.model !== null]);

  useLayoutEffect(() => {
    if (!focusAfterRender) return;
    document.querySelector<HTMLElement>(`[data-card="${focusAfterRender}"]`)?.focus();
    setFocusAfterRender(null);
  });

  const moveCard = (card: Card, columnId: string, after: string | null, say?: string) => {
    void live.send('card.move', { card_id: card.id, column_id: columnId, after }, 'The card');
    if (say) announce(say);
  };

  const onKey = (e: KeyboardEvent, card: Card, col: number, idx: number) => {
    const view = live.view;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      navigate(`/boards/${boardId}/cards/${card.id}`);
      return;
    }
    if (!editable) return;
    const list = view[col]!.cards;
    let target: { col: number; index: number } | null = null;
    if (e.key === 'ArrowUp' && idx > 0) target = { col, index: idx - 1 };
    else if (e.key === 'ArrowDown' && idx < list.length - 1) target = { col, index: idx + 1 };
    else if (e.key === 'ArrowLeft' && col > 0) target = { col: col - 1, index: Math.min(idx, view[col - 1]!.cards.length) };
    else if (e.key === 'ArrowRight' && col < view.length - 1) target = { col: col + 1, index: Math.min(idx, view[col + 1]!.cards.length) };
    if (!target) return;
    e.preventDefault();
    const dest = view[target.col]!;
    // The list the card lands in, without the card, and where it goes in it.
    const rest = dest.cards.filter((c) => c.id !== card.id);
    const after = target.index <= 0 ? null : (rest[target.index - 1]?.id ?? null);
    moveCard(card, dest.column.id, after, `${card.title} moved to ${dest.column.name}, position ${target.index + 1} of ${rest.length + 1}`);
    setFocusAfterRender(card.id);
  };

  if (live.error) {
    return (
      <>
        <Header />
        <main class="page">
          <p class="error-box" role="alert">
            {live.error}
          </p>
          <a href="/boards" onClick={linkHandler('/boards')}>
            Back to boards
          </a>
        </main>
      </>
    );
  }
  const model = live.model;
  // The open card as drawn (with this user's unconfirmed changes), like the tiles.
  const open = cardId && model ? (live.view.flatMap((c) => c.cards).find((c) => c.id === cardId) ?? null) : null;
  return (
    <>
      <Header>
        <PresenceBar presence={live.presence} selfId={selfId} />
      </Header>
      <main class="board-page">
        <div class="board-head">
          <h1>{model?.name ?? 'Loading…'}</h1>
          <p class="muted small hint">
            {editable ? 'Drag cards and columns, or focus a card and use the arrow keys to move it. Enter opens it.' : 'Read-only view.'}
          </p>
        </div>
        {model && editable && <CardSearchPanel boardId={boardId} columns={model.orderedColumns()} />}
        {model && (
          <Columns
            live={live}
            boardId={boardId}
            editable={editable}
            presence={live.presence}
            selfId={selfId}
            onKey={onKey}
          />
        )}
      </main>
      {cardId && model && (
        <CardDetail
          boardId={boardId}
          card={open}
          live={live}
          editable={editable}
          onClose={() => navigate(`/boards/${boardId}`)}
        />
      )}
    </>
  );
}

function Columns({
  live,
  boardId,
  editable,
  presence,
  selfId,
  onKey,
}: {
  live: LiveBoard;
  boardId: string;
  editable: boolean;
  presence: PresenceMap;
  selfId?: string;
  onKey: (e: KeyboardEvent, card: Card, col: number, idx: number) => void;
}) {
  const view = live.view;
  const viewRef = useRef<ColumnView[]>(view);
  viewRef.current = view;
  const rowRef = useRef<HTMLDivElement>(null);

  // Who has which card open (others only).
  const focusOf = new Map<string, { id: string; name: string }[]>();
  for (const [id, p] of Object.entries(presence)) {
    const f = p.state?.focus;
    if (f && id !== selfId) focusOf.set(f, [...(focusOf.get(f) ?? []), { id, name: p.name }]);
  }

  // Columns reorder by dragging their header.
  useEffect(() => {
    if (!editable || !rowRef.current) return;
    const s = Sortable.create(rowRef.current, {
      animation: 150,
      handle: '.col-handle',
      draggable: '.column',
      forceFallback: true,
      onEnd(evt) {
        const { item, from, oldIndex, newIndex } = evt;
        if (oldIndex === undefined || newIndex === undefined || oldIndex === newIndex) return;
        // Put the node back: Preact draws the new order from the state.
        from.removeChild(item);
        from.insertBefore(item, from.children[oldIndex] ?? null);
        const cols = viewRef.current.map((c) => c.column);
        const moving = cols[oldIndex]!;
        const rest = cols.filter((c) => c.id !== moving.id);
        const after = newIndex <= 0 ? null : rest[newIndex - 1]!.id;
        void live.send('column.move', { column_id: moving.id, after }, 'The column');
      },
    });
    return () => s.destroy();
  }, [editable]);

  return (
    <div class="columns" ref={rowRef}>
      {view.map((cv, ci) => (
        <ColumnBox
          key={cv.column.id}
          cv={cv}
          ci={ci}
          live={live}
          viewRef={viewRef}
          boardId={boardId}
          editable={editable}
          focusOf={focusOf}
          onKey={onKey}
        />
      ))}
    </div>
  );
}

function ColumnBox({
  cv,
  ci,
  live,
  viewRef,
  boardId,
  editable,
  focusOf,
  onKey,
}: {
  cv: ColumnView;
  ci: number;
  live: LiveBoard;
  viewRef: { current: ColumnView[] };
  boardId: string;
  editable: boolean;
  focusOf: Map<string, { id: string; name: string }[]>;
  onKey: (e: KeyboardEvent, card: Card, col: number, idx: number) => void;
}) {
  const listRef = useRef<HTMLDivElement>(null);
  const [adding, setAdding] = useState(false);
  const [title, setTitle] = useState('');

  useEffect(() => {
    if (!editable || !listRef.current) return;
    const s = Sortable.create(listRef.current, {
      group: 'cards',
      animation: 150,
      draggable: '.card',
      forceFallback: true,
      fallbackTolerance: 4,
      ghostClass: 'ghost',
      onEnd(evt) {
        const { item, from, to, oldIndex, newIndex } = evt;
        if (oldIndex === undefined || newIndex === undefined) return;
        if (from === to && oldIndex === newIndex) return;
        to.removeChild(item);
        from.insertBefore(item, from.children[oldIndex] ?? null);
        const cardId = item.dataset.card!;
        const toCol = viewRef.current.find((c) => c.column.id === to.dataset.column);
        const fromCol = viewRef.current.find((c) => c.column.id === from.dataset.column);
        const card = fromCol?.cards.find((c) => c.id === cardId);
        if (!toCol || !card) return;
        const after = afterFor(toCol.cards, newIndex, cardId);
        void live.send('card.move', { card_id: cardId, column_id: toCol.column.id, after }, 'The card');
      },
    });
    return () => s.destroy();
  }, [editable]);

  const create = (e: Event) => {
    e.preventDefault();
    const t = title.trim();
    if (!t) return;
    setTitle('');
    void live.send('card.create', { column_id: cv.column.id, title: t, card_id: uuid() }, 'The new card');
  };

  return (
    <section
      class={`column${cv.column.is_done ? ' done' : ''}`}
      aria-label={`${cv.column.name}, ${cv.cards.length} cards`}
      data-column-box={cv.column.id}
      style={cv.column.color ? { borderTop: `4px solid ${cv.column.color}` } : undefined}
    >
      <div class="col-head">
        {editable && (
          <span class="col-handle" title="Drag to reorder the column" aria-hidden="true">
            ⠿
          </span>
        )}
        <h2>{cv.column.name}</h2>
        <span class="count" aria-hidden="true">
          {cv.cards.length}
        </span>
        {editable && (
          <input
            type="color"
            class="col-color"
            aria-label={`Colour of ${cv.column.name}`}
            title="Column colour"
            value={cv.column.color ?? '#cccccc'}
            onChange={(e) =>
              void live.send('column.update', { column_id: cv.column.id, color: (e.target as HTMLInputElement).value }, 'The column colour')
            }
          />
        )}
      </div>
      <div class="cards" ref={listRef} data-column={cv.column.id}>
        {cv.cards.map((card, i) => (
          <CardTile
            key={card.id}
            card={card}
            boardId={boardId}
            viewers={focusOf.get(card.id) ?? []}
            pending={live.pendingCards.has(card.id)}
            onKeyDown={(e) => onKey(e, card, ci, i)}
          />
        ))}
      </div>
      {editable &&
        (adding ? (
          <form class="add-card" onSubmit={create}>
            <label class="sr-only" for={`new-${cv.column.id}`}>
              Title of the new card in {cv.column.name}
            </label>
            <input
              id={`new-${cv.column.id}`}
              value={title}
              maxLength={200}
              placeholder="Card title"
              autoFocus
              onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => e.key === 'Escape' && setAdding(false)}
            />
            <div class="row">
              <button type="submit" class="primary">
                Add
              </button>
              <button type="button" onClick={() => setAdding(false)}>
                Cancel
              </button>
            </div>
          </form>
        ) : (
          <button class="add-btn" onClick={() => setAdding(true)} aria-label={`Add a card to ${cv.column.name}`}>
            + Add card
          </button>
        ))}
    </section>
  );
}

function CardTile({
  card,
  boardId,
  viewers,
  pending,
  onKeyDown,
}: {
  card: Card;
  boardId: string;
  viewers: { id: string; name: string }[];
  pending: boolean;
  onKeyDown: (e: KeyboardEvent) => void;
}) {
  const done = card.checklist.filter((i) => i.done).length;
  const href = `/boards/${boardId}/cards/${card.id}`;
  return (
    <article
      class={`card${pending ? ' pending' : ''}${viewers.length ? ' viewed' : ''}`}
      data-card={card.id}
      data-pending={pending ? 'true' : undefined}
      title={pending ? 'Not saved yet: waiting for the server' : undefined}
      tabIndex={0}
      aria-label={`${card.title}${viewers.length ? `, open by ${viewers.map((v) => v.name).join(', ')}` : ''}`}
      onKeyDown={onKeyDown}
      onClick={(e) => {
        if ((e.target as HTMLElement).closest('a,button')) return;
        navigate(href);
      }}
    >
      {viewers.length > 0 && (
        <span class="viewers" data-testid="viewers">
          {viewers.map((v) => (
            <Avatar key={v.id} id={v.id} name={v.name} label={`${v.name} has this open`} small />
          ))}
        </span>
      )}
      <a class="card-title" href={href} onClick={linkHandler(href)} tabIndex={-1}>
        {card.title}
      </a>
      {card.labels.length > 0 && (
        <div class="labels">
          {card.labels.map((l) => (
            <span key={l} class="label">
              {l}
            </span>
          ))}
        </div>
      )}
      <div class="meta">
        {card.priority && card.priority !== 'normal' && (
          <span class={`priority priority-${card.priority}`} data-testid="priority">
            {card.priority}
          </span>
        )}
        {card.estimate_minutes != null && <span aria-label={`estimated ${fmtMinutes(card.estimate_minutes)}`}>⏱ {fmtMinutes(card.estimate_minutes)}</span>}
        {card.due_at && <span class={`due${Date.parse(card.due_at) < Date.now() ? ' late' : ''}`}>Due {fmtDate(card.due_at)}</span>}
        {card.checklist.length > 0 && (
          <span aria-label={`${done} of ${card.checklist.length} tasks done`}>
            <Icon name="check" /> {done}/{card.checklist.length}
          </span>
        )}
        {card.comments.length > 0 && (
          <span aria-label={`${card.comments.length} comments`}>
            <Icon name="comment" /> {card.comments.length}
          </span>
        )}
        <span class="spacer" />
        {card.assignees.map((id) => (
          <Avatar key={id} id={id} name={app.nameOf(id)} small />
        ))}
      </div>
    </article>
  );
}
