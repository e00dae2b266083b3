// Board state held by a client: the server's snapshot with its events applied (never re-run
// ops; events carry the resulting objects), and an optimistic layer of ops not yet confirmed
// that a UI draws on top and drops as soon as the server's event (or refusal) arrives.

import type { BoardSnapshot, Card, CardSnapshot, Column, ColumnRef, EventFrame, OpData, OpKind } from './types';
import { comparePositions } from './util';

const byPosition = (a: { position: string }, b: { position: string }) => comparePositions(a.position, b.position);

/** The confirmed state of a `board:` topic. */
export class BoardModel {
  id = '';
  orgId = '';
  name = '';
  columns = new Map<string, Column>();
  cards = new Map<string, Card>();

  static from(s: BoardSnapshot): BoardModel {
    const m = new BoardModel();
    m.reset(s);
    return m;
  }

  /** Replaces everything with a snapshot (first subscribe, or `recovered: false`). */
  reset(s: BoardSnapshot): void {
    this.id = s.id;
    this.orgId = s.org_id;
    this.name = s.name;
    this.columns = new Map(s.columns.map((c) => [c.id, { ...c }]));
    this.cards = new Map(s.cards.filter((c) => !c.archived).map((c) => [c.id, cloneCard(c)]));
  }

  orderedColumns(): Column[] {
    return [...this.columns.values()].sort(byPosition);
  }

  cardsIn(columnId: string): Card[] {
    return [...this.cards.values()].filter((c) => c.column_id === columnId).sort(byPosition);
  }

  /** Applies one event by replacing what it names. Returns false for kinds it does not know. */
  apply(ev: Pick<EventFrame, 'kind' | 'data'>): boolean {
    const d = ev.data;
    switch (ev.kind) {
      case 'column.created':
      case 'column.updated':
      case 'column.moved':
        this.columns.set(d.column.id, { ...d.column });
        return true;
      case 'column.deleted':
        this.columns.delete(d.column_id);
        for (const [id, c] of this.cards) if (c.column_id === d.column_id) this.cards.delete(id);
        return true;
      case 'card.created':
      case 'card.updated':
      case 'card.moved':
      case 'card.assigned':
      case 'card.visible':
        if (d.card.archived) this.cards.delete(d.card.id);
        else this.cards.set(d.card.id, cloneCard(d.card));
        return true;
      case 'card.archived':
        this.cards.delete(d.card.id);
        return true;
      case 'card.hidden':
        this.cards.delete(d.card_id);
        return true;
      case 'checklist.added':
      case 'checklist.toggled': {
        const c = this.cards.get(d.card_id);
        if (!c) return true;
        c.checklist = [...c.checklist.filter((i) => i.id !== d.item.id), { ...d.item }].sort(byPosition);
        c.version = d.version;
        return true;
      }
      case 'checklist.removed': {
        const c = this.cards.get(d.card_id);
        if (!c) return true;
        c.checklist = c.checklist.filter((i) => i.id !== d.item_id);
        c.version = d.version;
        return true;
      }
      case 'comment.added': {
        const c = this.cards.get(d.card_id);
        if (!c) return true;
        if (!c.comments.some((x) => x.id === d.comment.id)) c.comments = [...c.comments, { ...d.comment }];
        c.version = d.version;
        return true;
      }
      default:
        return false;
    }
  }
}

function cloneCard(c: Card): Card {
  return {
    ...c,
    assignees: [...(c.assignees ?? [])],
    labels: [...(c.labels ?? [])],
    checklist: [...(c.checklist ?? [])].sort(byPosition),
    comments: [...(c.comments ?? [])],
  };
}

/** The state of a `card:` topic (the customer's job page). */
export interface CardView {
  card: Card;
  column: ColumnRef;
  boardId: string;
}

export function cardViewFrom(s: CardSnapshot): CardView {
  return { card: cloneCard(s.card), column: { ...s.column }, boardId: s.board_id };
}

/** Applies a `card:` topic event; returns the new view (or the same one when unaffected). */
export function applyCardEvent(v: CardView, ev: Pick<EventFrame, 'kind' | 'data'>, columns?: Map<string, Column>): CardView {
  const d = ev.data;
  const m = new BoardModel();
  m.cards.set(v.card.id, cloneCard(v.card));
  m.apply(ev);
  let card = m.cards.get(v.card.id);
  if (!card && (ev.kind === 'card.archived' || (ev.kind === 'card.updated' && d.card?.archived))) {
    card = { ...v.card, archived: true };
  }
  if (!card) return v;
  let column = v.column;
  if (ev.kind === 'card.moved' && d.column) column = { ...d.column };
  else if (card.column_id !== v.column.id) {
    const c = columns?.get(card.column_id);
    if (c) column = { id: c.id, name: c.name, is_done: c.is_done };
  }
  return { ...v, card, column };
}

// ---- optimistic layer ---------------------------------------------------------------------

/** An op sent but not yet confirmed, drawn on top of the confirmed state. */
export interface PendingChange<K extends OpKind = OpKind> {
  opId: string;
  kind: K;
  data: OpData[K];
}

export interface ColumnView {
  column: Column;
  cards: Card[];
}

/** What to draw: the confirmed board with the pending changes applied in the order they were
 * made. Moves are placed right after the `after` card the user chose; when the server's event
 * arrives the change leaves the pending list and the server's order is drawn instead. */
export function boardView(model: BoardModel, pending: readonly PendingChange[] = []): ColumnView[] {
  let columns = model.orderedColumns();
  const lists = new Map<string, Card[]>(columns.map((c) => [c.id, model.cardsIn(c.id)]));
  const find = (cardId: string): [Card[], number] | null => {
    for (const l of lists.values()) {
      const i = l.findIndex((c) => c.id === cardId);
      if (i >= 0) return [l, i];
    }
    return null;
  };
  const place = (list: Card[], card: Card, after: string | null | undefined) => {
    if (after === null) list.unshift(card);
    else if (after === undefined) list.push(card);
    else {
      const i = list.findIndex((c) => c.id === after);
      if (i < 0) list.push(card);
      else list.splice(i + 1, 0, card);
    }
  };
  for (const p of pending) {
    switch (p.kind) {
      case 'card.move': {
        const d = p.data as OpData['card.move'];
        const at = find(d.card_id);
        const target = lists.get(d.column_id);
        if (!at || !target) break;
        const [card] = at[0].splice(at[1], 1);
        place(target, { ...card!, column_id: d.column_id }, d.after);
        break;
      }
      case 'card.create': {
        const d = p.data as OpData['card.create'];
        const target = lists.get(d.column_id);
        if (!target || !d.card_id || find(d.card_id)) break;
        place(
          target,
          {
            id: d.card_id,
            column_id: d.column_id,
            position: '',
            title: d.title.trim(),
            description: d.description ?? null,
            assignees: d.assignees ?? [],
            customer_id: d.customer_id ?? null,
            labels: d.labels ?? [],
            due_at: d.due_at ?? null,
            checklist: [],
            comments: [],
            version: 0,
            archived: false,
          },
          d.after,
        );
        break;
      }
      case 'card.update':
      case 'card.assign':
      case 'checklist.toggle':
      case 'card.archive': {
        const d = p.data as { card_id: string };
        const at = find(d.card_id);
        if (!at) break;
        const [list, i] = at;
        const card = { ...list[i]! };
        if (p.kind === 'card.archive') {
          list.splice(i, 1);
          break;
        }
        if (p.kind === 'card.update') {
          const u = p.data as OpData['card.update'];
          if (u.title != null) card.title = u.title.trim();
          if (u.description !== undefined) card.description = u.description;
          if (u.labels != null) card.labels = u.labels;
          if (u.due_at !== undefined) card.due_at = u.due_at;
          if (u.customer_id !== undefined) card.customer_id = u.customer_id;
          if (u.priority !== undefined) card.priority = u.priority;
          if (u.estimate_minutes !== undefined) card.estimate_minutes = u.estimate_minutes;
        } else if (p.kind === 'card.assign') {
          card.assignees = (p.data as OpData['card.assign']).assignees;
        } else {
          const t = p.data as OpData['checklist.toggle'];
          card.checklist = card.checklist.map((it) => (it.id === t.item_id ? { ...it, done: t.done } : it));
        }
        list[i] = card;
        break;
      }
      case 'column.move': {
        const d = p.data as OpData['column.move'];
        const i = columns.findIndex((c) => c.id === d.column_id);
        if (i < 0) break;
        columns = [...columns];
        const [col] = columns.splice(i, 1);
        if (d.after === null) columns.unshift(col!);
        else {
          const j = columns.findIndex((c) => c.id === d.after);
          columns.splice(j < 0 ? columns.length : j + 1, 0, col!);
        }
        break;
      }
      case 'column.update': {
        const d = p.data as OpData['column.update'];
        columns = columns.map((c) => (c.id === d.column_id ? { ...c, name: d.name ?? c.name, is_done: d.is_done ?? c.is_done, ...(d.color !== undefined ? { color: d.color } : {}) } : c));
        break;
      }
      default:
        break;
    }
  }
  return columns.map((column) => ({ column, cards: lists.get(column.id) ?? [] }));
}

/** The `after` to send for dropping a card at `index` of a column list that no longer holds
 * it (null = top). */
export function afterFor(list: readonly { id: string }[], index: number, movingId: string): string | null {
  const rest = list.filter((c) => c.id !== movingId);
  return index <= 0 ? null : (rest[Math.min(index, rest.length) - 1]?.id ?? null);
}
