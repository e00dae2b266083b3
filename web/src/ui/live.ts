// Hooks that hold a live topic: the board model with its optimistic layer, and presence.
import { useEffect, useReducer, useRef, useState } from 'preact/hooks';
import {
  BoardModel,
  BoardroomClient,
  BoardroomError,
  boardView,
  describeError,
  type BoardInfo,
  type ColumnView,
  type OpData,
  type OpKind,
  type PendingChange,
  type PresenceFrame,
  type PresenceMap,
} from '../client';
import { app } from './app-state';

export function mergePresence(prev: PresenceMap, f: PresenceFrame): PresenceMap {
  const next = { ...prev };
  for (const id of Object.keys(f.leaves)) delete next[id];
  for (const [id, e] of Object.entries(f.joins)) next[id] = e;
  return next;
}

/** Ops whose result the UI draws before the server confirms them. */
const OPTIMISTIC: ReadonlySet<OpKind> = new Set<OpKind>([
  'card.move',
  'card.create',
  'card.update',
  'card.assign',
  'card.archive',
  'checklist.toggle',
  'column.move',
  'column.update',
]);

export interface LiveBoard {
  model: BoardModel | null;
  view: ColumnView[];
  /** Cards with a change not yet confirmed by the server. */
  pendingCards: Set<string>;
  presence: PresenceMap;
  error: string | null;
  /** Sends an op; optimistic kinds show at once. Resolves with the server's answer, or
   * null after showing the failure. */
  send<K extends OpKind>(kind: K, data: OpData[K], what?: string): Promise<{ seq: number; id?: string } | null>;
  setFocus(cardId: string | null): void;
}

export function useBoard(boardId: string, client: BoardroomClient | null): LiveBoard {
  const topic = `board:${boardId}`;
  const modelRef = useRef<BoardModel | null>(null);
  const pendingRef = useRef<PendingChange[]>([]);
  const [, render] = useReducer((n: number) => n + 1, 0);
  const [presence, setPresence] = useState<PresenceMap>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!client) return;
    modelRef.current = null;
    pendingRef.current = [];
    setError(null);
    const m = new BoardModel();
    const unsub = client.subscribe(topic, {
      snapshot(s) {
        m.reset(s);
        modelRef.current = m;
        render(0);
      },
      event(ev) {
        m.apply(ev);
        // The server's version of our own change is in: the optimistic copy goes.
        pendingRef.current = pendingRef.current.filter((p) => p.opId !== ev.op_id);
        render(0);
      },
      presenceReset: (p) => setPresence(p),
      presence: (f) => setPresence((prev) => mergePresence(prev, f)),
      error(e) {
        setError(describeError(e, 'This board'));
      },
    });
    return () => {
      unsub();
      setPresence({});
    };
  }, [topic, client]);

  const drop = (opId: string) => {
    const before = pendingRef.current.length;
    pendingRef.current = pendingRef.current.filter((p) => p.opId !== opId);
    if (pendingRef.current.length !== before) render(0);
  };

  return {
    model: modelRef.current,
    view: modelRef.current ? boardView(modelRef.current, pendingRef.current) : [],
    pendingCards: new Set(pendingRef.current.map((p) => (p.data as { card_id?: string }).card_id).filter((x): x is string => !!x)),
    presence,
    error,
    async send(kind, data, what) {
      if (!client) return null;
      const p = client.op(topic, kind, data);
      if (OPTIMISTIC.has(kind)) {
        pendingRef.current = [...pendingRef.current, { opId: p.opId, kind, data } as PendingChange];
        render(0);
      }
      try {
        const r = await p;
        drop(p.opId);
        return r;
      } catch (e) {
        drop(p.opId);
        if (!(e instanceof BoardroomError && e.code === 'offline' && client.status === 'closed')) app.fail(e, what);
        return null;
      }
    },
    setFocus(cardId) {
      client?.setPresence(topic, { focus: cardId, editing: false });
    },
  };
}

/** Follows several boards at once, one model per board: the lists that span boards (a worker's
 * or a customer's jobs) need every board's cards, not one board with its optimistic layer.
 * The returned map is stable across renders, so callers may also look boards up in effects.
 * `clearOnReset` drops every model when the boards or the client change, so a board no longer
 * listed stops showing; without it, the old models stay until their new snapshot arrives. */
export function useBoardModels(
  boards: BoardInfo[] | null,
  client: BoardroomClient | null,
  opts: { onError?: (e: BoardroomError, board: BoardInfo) => void; clearOnReset?: boolean } = {},
): Map<string, BoardModel> {
  const models = useRef(new Map<string, BoardModel>());
  const [, render] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!client || !boards) return;
    const offs = boards.map((b) => {
      const m = new BoardModel();
      return client.subscribe(`board:${b.id}`, {
        snapshot(s) {
          m.reset(s);
          models.current.set(b.id, m);
          render(0);
        },
        event(ev) {
          m.apply(ev);
          render(0);
        },
        ...(opts.onError && { error: (e: BoardroomError) => opts.onError!(e, b) }),
      });
    });
    return () => {
      offs.forEach((off) => off());
      if (opts.clearOnReset) models.current.clear();
    };
  }, [boards, client]);
  return models.current;
}
