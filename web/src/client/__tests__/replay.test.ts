// The protocol client against a recorded real session (scripts/record-frames.mjs).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fixture from '../__fixtures__/session.json';
import { BoardModel, boardView } from '../board';
import { BoardroomClient } from '../connection';
import { BoardroomError } from '../errors';
import type { OpKind, PresenceMap } from '../types';
import { Replayer, settle, socketFactory, type Step } from './fake-socket';

const conns = fixture.connections as unknown as Record<string, Step[]>;
const topic = fixture.topic;
const outs = (name: string, type: string) => conns[name]!.filter((s): s is { out: any } => 'out' in s && s.out.type === type).map((s) => s.out);
const ins = (name: string, type: string) => conns[name]!.filter((s): s is { in: any } => 'in' in s && s.in.type === type).map((s) => s.in);
const okFor = (name: string, ref: unknown) => ins(name, 'ok').find((f) => f.ref === ref) ?? ins(name, 'error').find((f) => f.ref === ref);

function makeClient(make: ReturnType<typeof socketFactory>['make'], extra: Partial<ConstructorParameters<typeof BoardroomClient>[0]> = {}) {
  return new BoardroomClient({
    url: 'ws://server/ws',
    token: 'tok',
    webSocket: make,
    random: () => 0.5,
    heartbeat: false,
    ...extra,
  });
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a recorded session', () => {
  it('says hello with the JSON subprotocol, subscribes, applies ops and events, recovers after a drop', async () => {
    const f = socketFactory();
    const client = makeClient(f.make);
    const model = new BoardModel();
    let snapshots = 0;
    let presence: PresenceMap = {};
    const statuses: string[] = [];
    const pendingCounts: number[] = [];
    client.on('status', (s) => statuses.push(s));
    client.on('pending', (n) => pendingCounts.push(n));
    client.subscribe(topic, {
      snapshot(s) {
        snapshots++;
        model.reset(s);
      },
      event(ev) {
        expect(model.apply(ev)).toBe(true);
      },
      presenceReset: (p) => (presence = { ...p }),
      presence: (fr) => {
        for (const id of Object.keys(fr.leaves)) delete presence[id];
        Object.assign(presence, fr.joins);
      },
    });
    const opIds = new Map<string, string>();
    client.connect();
    const s1 = f.last();
    expect(s1.protocols).toEqual(['boardroom.v1.json']);
    const a1 = new Replayer(conns.A1!, opIds);
    a1.attach(s1);
    await settle();
    expect(s1.sent[0]).toMatchObject({ type: 'hello', token: 'tok' });
    expect(client.status).toBe('live');
    expect(client.principal?.id).toBe(fixture.member.id);
    expect(snapshots).toBe(1);

    // Presence, then the recorded ops, each answered as the server answered it.
    const ops = outs('A1', 'op');
    const dropped = ops.pop()!; // the last one is sent just before the socket drops
    client.setPresence(topic, outs('A1', 'presence.set')[0].state);
    for (const op of ops) {
      const p = client.op(topic, op.kind as OpKind, op.data);
      expect(client.pendingCount).toBe(1);
      await settle();
      const answer = okFor('A1', op.ref);
      if (answer.type === 'ok') {
        await expect(p).resolves.toEqual({ seq: answer.seq, ...(answer.id ? { id: answer.id } : {}) });
      } else {
        const err = await p.catch((e) => e);
        expect(err).toBeInstanceOf(BoardroomError);
        expect(err.code).toBe(answer.code);
        expect(err.message).toBe(answer.message);
      }
      expect(client.pendingCount).toBe(0);
    }
    expect(a1.errors).toEqual([]);
    // The subscribe's presence lists the others; our own entry (with the focus we set) and
    // the admin's arrive as presence frames.
    expect(presence[fixture.member.id]).toEqual({ name: fixture.member.name, state: outs('A1', 'presence.set')[0].state });
    expect(presence[fixture.admin.id]?.name).toBe(fixture.admin.name);

    // The state is the server's: the moved card is on top of the second column, the new card
    // has the server-trimmed title, a comment with its mention, and a checklist item.
    const cols = model.orderedColumns();
    const backups = [...model.cards.values()].find((c) => c.title === 'Nightly backups')!;
    expect(backups.column_id).toBe(cols[1]!.id);
    expect(model.cardsIn(cols[1]!.id)[0]!.id).toBe(backups.id);
    const created = model.cards.get(ops.find((o) => o.kind === 'card.create').data.card_id)!;
    expect(created.title).toBe('Write the release notes');
    expect(created.comments[0]!.mentions).toEqual([fixture.admin.id]);
    expect(created.checklist.map((i) => i.title)).toEqual(['Draft']);
    const lastA1 = client.position(topic)!;
    const lastEvent = ins('A1', 'event').pop();
    expect(lastA1).toEqual({ epoch: lastEvent.epoch, seq: lastEvent.seq });

    // An op goes out and the connection drops before its answer: it stays in the outbox.
    const p = client.op(topic, dropped.kind, dropped.data);
    await settle();
    expect(client.status).toBe('reconnecting');
    expect(client.pendingCount).toBe(1);
    expect(client.pendingOps()[0]!.opId).toBe(p.opId);

    // Backoff: attempt 0 waits between 250 and 500 ms (random 0.5 -> 375).
    await vi.advanceTimersByTimeAsync(374);
    expect(f.sockets.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(f.sockets.length).toBe(2);
    const a2 = new Replayer(conns.A2!, opIds);
    a2.attach(f.last());
    await settle();
    await settle();
    // The replayer checked: subscribe carried `since` = the last applied event, and the
    // dropped op went out again with its first op_id.
    const sub2 = f.last().sent.find((x) => x.type === 'subscribe');
    expect(sub2.since).toEqual(lastA1);
    const resent = f.last().sent.find((x) => x.type === 'op');
    expect(resent.op_id).toBe(p.opId);
    const answer = okFor('A2', outs('A2', 'op')[0].ref);
    await expect(p).resolves.toMatchObject({ seq: answer.seq });
    expect(client.pendingCount).toBe(0);
    expect(a2.errors).toEqual([]);
    // Recovered, not re-snapshotted; the missed events (the admin's move and the dropped op's
    // own event) were applied once each.
    expect(snapshots).toBe(1);
    const missed = ins('A2', 'event');
    expect(missed.length).toBeGreaterThanOrEqual(2);
    expect(client.position(topic)).toEqual({ epoch: missed.at(-1).epoch, seq: missed.at(-1).seq });
    expect(model.cards.get(dropped.data.card_id)!.column_id).toBe(dropped.data.column_id);
    const drag = [...model.cards.values()].find((c) => c.title === 'Drag-and-drop cards')!;
    expect(drag.column_id).toBe(cols[2]!.id);
    expect(statuses).toEqual(['connecting', 'live', 'reconnecting', 'live']);
    expect(pendingCounts.at(-1)).toBe(0);
    client.close();
  });

  it('replaces the state with the snapshot when the server cannot recover (recovered: false)', async () => {
    const f = socketFactory();
    const client = makeClient(f.make);
    const sub = outs('A3', 'subscribe')[0];
    const model = new BoardModel();
    model.reset({ id: fixture.board_id, org_id: 'x', name: 'stale', columns: [], cards: [] });
    let snap = 0;
    let recovered = 0;
    client.subscribe(topic, { snapshot: (s) => (snap++, model.reset(s)), recovered: () => recovered++ }, sub.since);
    client.connect();
    const r = new Replayer(conns.A3!, new Map());
    r.attach(f.last());
    await settle();
    expect(r.errors).toEqual([]);
    expect(snap).toBe(1);
    expect(recovered).toBe(0);
    expect(model.name).toBe('Product roadmap');
    const ok = ins('A3', 'ok').find((x) => x.recovered === false);
    expect(client.position(topic)).toEqual({ epoch: ok.epoch, seq: ok.seq });
    client.close();
  });

  it('delivers presence changes and notifications with the unread count', async () => {
    const f = socketFactory();
    const client = makeClient(f.make);
    let presence: PresenceMap = {};
    const notes: [string, number][] = [];
    client.on('notification', (n, unread) => notes.push([n.kind, unread]));
    const joined: string[] = [];
    const focus: (string | null | undefined)[] = [];
    const left: string[] = [];
    client.subscribe(topic, {
      presenceReset: (p) => (presence = { ...p }),
      presence: (fr) => {
        joined.push(...Object.keys(fr.joins));
        left.push(...Object.keys(fr.leaves));
        if (fr.joins[fixture.member.id]) focus.push(fr.joins[fixture.member.id]!.state.focus);
        for (const id of Object.keys(fr.leaves)) delete presence[id];
        Object.assign(presence, fr.joins);
      },
    });
    client.connect();
    // Only the admin's connection up to its own move (the rest needs the member's socket).
    const r = new Replayer(conns.B!, new Map());
    r.attach(f.last());
    await settle();
    expect(client.principal?.id).toBe(fixture.admin.id);
    expect(joined).toContain(fixture.member.id);
    // The member opened a card (focus), then her connection dropped (leave).
    expect(focus.some((f) => typeof f === 'string')).toBe(true);
    expect(left).toContain(fixture.member.id);
    expect(presence[fixture.member.id]).toBeUndefined();
    expect(presence[fixture.admin.id]?.name).toBe(fixture.admin.name);
    const recorded = ins('B', 'notification');
    expect(recorded.length).toBeGreaterThan(0);
    expect(notes).toEqual(recorded.map((n) => [n.notification.kind, n.unread]));
    expect(notes[0]![0]).toBe('mention');
    expect(client.unread).toBe(recorded.at(-1).unread);
    client.close();
  });
});

describe('optimistic layer over the recorded board', () => {
  it('draws a pending move at once and the server order once its event arrives', () => {
    const snapshot = ins('A1', 'ok').find((x) => x.snapshot).snapshot;
    const m = BoardModel.from(snapshot);
    const cols = m.orderedColumns();
    const card = m.cardsIn(cols[0]!.id)[0]!;
    const pending = [{ opId: 'o1', kind: 'card.move' as const, data: { card_id: card.id, column_id: cols[2]!.id, after: null } }];
    const v = boardView(m, pending);
    expect(v[2]!.cards[0]!.id).toBe(card.id);
    expect(v[0]!.cards.some((c) => c.id === card.id)).toBe(false);
    // The server's event for that op: applied to the model, the pending entry dropped.
    const moved = { ...card, column_id: cols[2]!.id, position: '0V' };
    m.apply({ kind: 'card.moved', data: { card: moved, from_column_id: cols[0]!.id } });
    const v2 = boardView(m, []);
    expect(v2[2]!.cards[0]!.id).toBe(card.id);
  });
});
