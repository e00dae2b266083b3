// Protocol edge cases the recorded session does not cover, driven frame by frame.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BoardroomClient } from '../connection';
import { backoffDelay } from '../util';
import { settle, socketFactory, type FakeSocket } from './fake-socket';

const T = 'board:0190b6d2-8f3c-7a41-9c2e-5d6f7a8b9c0d';
const welcome = (ref: unknown) => ({
  type: 'welcome',
  ref,
  session_id: 's',
  principal: { kind: 'user', id: 'u1', org_id: 'g', role: 'member', name: 'Ann' },
  heartbeat_ms: 25000,
  max_frame_bytes: 65536,
  server_time: '2026-01-02T03:04:05Z',
});
const snapshot = { id: 'B1', org_id: 'g', name: 'Jobs', columns: [], cards: [] };
const ev = (epoch: number, seq: number, extra: object = {}) => ({
  type: 'event',
  topic: T,
  epoch,
  seq,
  kind: 'column.created',
  data: { column: { id: `c${seq}`, name: `C${seq}`, position: `V${seq}`, is_done: false } },
  actor: { kind: 'user', id: 'u2', name: 'Bo' },
  op_id: `o${seq}`,
  at: '2026-01-02T03:04:05Z',
  ...extra,
});

function setup(opts: Partial<ConstructorParameters<typeof BoardroomClient>[0]> = {}) {
  const f = socketFactory();
  const client = new BoardroomClient({ url: 'ws://x/ws', token: 'tok', webSocket: f.make, random: () => 0, heartbeat: false, ...opts });
  return { f, client };
}

/** Opens the socket and answers hello. */
async function accept(s: FakeSocket) {
  s.open();
  await settle();
  const hello = s.sent.find((x) => x.type === 'hello');
  s.deliver(welcome(hello.ref));
  await settle();
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => vi.useRealTimers());

describe('recovery algorithm', () => {
  it('ignores duplicates, applies in order, and resubscribes with since on an epoch jump', async () => {
    const { f, client } = setup();
    const seen: number[] = [];
    client.subscribe(T, { event: (e) => seen.push(e.seq) });
    client.connect();
    const s = f.last();
    await accept(s);
    const sub = s.sent.find((x) => x.type === 'subscribe');
    expect(sub.since).toBeUndefined();
    s.deliver({ type: 'ok', ref: sub.ref, topic: T, epoch: 4, seq: 10, snapshot, presence: {} });
    s.deliver(ev(4, 11));
    s.deliver(ev(4, 11)); // duplicate
    s.deliver(ev(4, 9)); // old
    s.deliver(ev(4, 13)); // a filtered view may jump
    expect(seen).toEqual([11, 13]);
    // A newer epoch without a snapshot in between: missed failover -> subscribe with since.
    s.deliver(ev(5, 14));
    expect(seen).toEqual([11, 13]);
    const again = s.sent.filter((x) => x.type === 'subscribe');
    expect(again).toHaveLength(2);
    expect(again[1].since).toEqual({ epoch: 4, seq: 13 });
    s.deliver({ type: 'ok', ref: again[1].ref, topic: T, epoch: 5, seq: 20, snapshot, presence: {}, recovered: false });
    expect(client.position(T)).toEqual({ epoch: 5, seq: 20 });
    s.deliver(ev(5, 21));
    expect(seen).toEqual([11, 13, 21]);
    client.close();
  });

  it('a resync frame resubscribes with since and keeps the state when recovered', async () => {
    const { f, client } = setup();
    let snaps = 0;
    const seen: number[] = [];
    client.subscribe(T, { snapshot: () => snaps++, event: (e) => seen.push(e.seq) });
    client.connect();
    const s = f.last();
    await accept(s);
    const sub = s.sent.find((x) => x.type === 'subscribe');
    s.deliver({ type: 'ok', ref: sub.ref, topic: T, epoch: 1, seq: 3, snapshot, presence: {} });
    s.deliver({ type: 'resync', topic: T, reason: 'board restarted' });
    const re = s.sent.filter((x) => x.type === 'subscribe')[1];
    expect(re.since).toEqual({ epoch: 1, seq: 3 });
    s.deliver({ type: 'ok', ref: re.ref, topic: T, epoch: 1, seq: 5, recovered: true });
    s.deliver(ev(1, 4));
    s.deliver(ev(1, 5));
    expect(snaps).toBe(1);
    expect(seen).toEqual([4, 5]);
    client.close();
  });
});

describe('outbox', () => {
  it('retries rate_limited and unavailable ops after retry_after_ms with the same op_id', async () => {
    const { f, client } = setup({ newId: () => 'op-1' });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    const s = f.last();
    await accept(s);
    const p = client.op(T, 'card.archive', { card_id: 'k' });
    const first = s.sent.filter((x) => x.type === 'op');
    expect(first).toHaveLength(1);
    s.deliver({ type: 'error', ref: first[0].ref, code: 'rate_limited', message: 'too many ops; slow down', retry_after_ms: 200 });
    expect(errors).toEqual(['rate_limited']);
    expect(client.pendingCount).toBe(1);
    await vi.advanceTimersByTimeAsync(199);
    expect(s.sent.filter((x) => x.type === 'op')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    const second = s.sent.filter((x) => x.type === 'op');
    expect(second).toHaveLength(2);
    expect(second[1].op_id).toBe('op-1');
    s.deliver({ type: 'error', ref: second[1].ref, code: 'unavailable', message: 'the journal is full', retry_after_ms: 50 });
    await vi.advanceTimersByTimeAsync(50);
    const third = s.sent.filter((x) => x.type === 'op');
    expect(third[2].op_id).toBe('op-1');
    s.deliver({ type: 'ok', ref: third[2].ref, seq: 9 });
    await expect(p).resolves.toEqual({ seq: 9 });
    expect(client.pendingCount).toBe(0);
    client.close();
  });

  it('keeps ops made while offline and sends them after the subscription is back', async () => {
    const { f, client } = setup();
    client.subscribe(T, {});
    const p = client.op(T, 'card.archive', { card_id: 'k' });
    expect(client.pendingCount).toBe(1);
    client.connect();
    const s = f.last();
    await accept(s);
    // The op waits for the subscribe's answer.
    expect(s.sent.map((x) => x.type)).toEqual(['hello', 'subscribe']);
    const sub = s.sent[1];
    s.deliver({ type: 'ok', ref: sub.ref, topic: T, epoch: 1, seq: 1, snapshot, presence: {} });
    expect(s.sent.map((x) => x.type)).toEqual(['hello', 'subscribe', 'op']);
    s.deliver({ type: 'ok', ref: s.sent[2].ref, seq: 2 });
    await expect(p).resolves.toEqual({ seq: 2 });
    client.close();
  });

  it('fails an op refused for good and tells why', async () => {
    const { f, client } = setup();
    client.connect();
    const s = f.last();
    await accept(s);
    const p = client.op(T, 'card.move', { card_id: 'k', column_id: 'c', after: null });
    const op = s.sent.find((x) => x.type === 'op');
    s.deliver({ type: 'error', ref: op.ref, code: 'forbidden', message: 'workers may only move their own cards' });
    await expect(p).rejects.toMatchObject({ code: 'forbidden', message: 'workers may only move their own cards' });
    expect(client.pendingCount).toBe(0);
    client.close();
  });
});

describe('reconnecting', () => {
  it('backs off exponentially with jitter, up to the maximum', () => {
    const lo = (n: number) => backoffDelay(n, { initialMs: 100, maxMs: 1000 }, () => 0);
    const hi = (n: number) => backoffDelay(n, { initialMs: 100, maxMs: 1000 }, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5].map(lo)).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4, 5].map(hi)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('counts failed attempts: reconnecting, then offline, and live again after a welcome', async () => {
    const { f, client } = setup({ backoff: { initialMs: 100, maxMs: 1000 } });
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s));
    client.connect();
    await accept(f.last());
    f.last().serverClose(1006);
    for (const wait of [50, 100, 200]) {
      await vi.advanceTimersByTimeAsync(wait);
      f.last().serverClose(1006); // the server is still down
    }
    expect(statuses).toEqual(['connecting', 'live', 'reconnecting', 'offline']);
    await vi.advanceTimersByTimeAsync(400);
    await accept(f.last());
    expect(client.status).toBe('live');
    expect(f.sockets.length).toBe(5);
    client.close();
  });

  it('stops when the credential is refused at hello, with the server message', async () => {
    const { f, client } = setup();
    client.connect();
    const s = f.last();
    s.open();
    await settle();
    s.deliver({ type: 'error', code: 'unauthorized', message: 'this share link has been revoked' });
    s.serverClose(4001, 'authentication failed');
    expect(client.status).toBe('unauthorized');
    expect(client.lastError?.message).toBe('this share link has been revoked');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(f.sockets.length).toBe(1);
  });

  it('reconnects at once with a fresh token when a live session is closed with 4001/4003', async () => {
    let n = 0;
    const { f, client } = setup({ token: () => `tok${++n}` });
    client.connect();
    await settle();
    await accept(f.last());
    f.last().serverClose(4001, 'access token expired; reconnect with a fresh one');
    await vi.advanceTimersByTimeAsync(0);
    await settle();
    expect(f.sockets.length).toBe(2);
    f.last().open();
    await settle();
    expect(f.last().sent[0]).toMatchObject({ type: 'hello', token: 'tok2' });
    client.close();
  });

  it('drops a connection that stays silent for two heartbeat intervals', async () => {
    const { f, client } = setup({ heartbeat: true });
    client.connect();
    await accept(f.last());
    await vi.advanceTimersByTimeAsync(25_000);
    expect(f.last().sent.some((x) => x.type === 'ping')).toBe(true);
    await vi.advanceTimersByTimeAsync(50_001);
    expect(client.status).toBe('reconnecting');
    expect(f.sockets[0]!.closedByClient).toBe(4000);
    client.close();
  });
});
