#!/usr/bin/env node
// Records a real frame sequence from a running Boardroom server (demo seed) into
// src/client/__fixtures__/session.json, for the protocol client's replay tests.
//
//   node --experimental-websocket scripts/record-frames.mjs http://127.0.0.1:18080
//
// It speaks raw frames (not the SDK under test). Connections:
//   A1  member: hello, subscribe board, presence, move, create, comment with @mention of the
//       admin, a stale update (conflict), then an op sent right before the socket is dropped;
//   B   admin on the same board: sees A's presence, events and gets the mention notification;
//       makes a move while A is away;
//   A2  member again: subscribe with `since` (recovered: true + the missed events), and the
//       dropped op sent again with the same op_id (answered from the idempotency record);
//   A3  member: subscribe with a `since` from an old epoch -> the snapshot form.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const base = process.argv[2] ?? 'http://127.0.0.1:18080';
const wsUrl = base.replace(/^http/, 'ws') + '/ws';
const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'client', '__fixtures__', 'session.json');

async function login(email) {
  const r = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'boardroom-demo' }),
  });
  if (!r.ok) throw new Error(`login ${email}: ${r.status} ${await r.text()}`);
  return (await r.json()).access_token;
}

async function api(token, path) {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

/** A raw connection that logs every frame both ways. */
class Rec {
  constructor(name) {
    this.name = name;
    this.steps = [];
    this.inbox = [];
    this.waiters = [];
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(wsUrl, ['boardroom.v1.json']);
      this.ws.onopen = () => resolve();
      this.ws.onerror = (e) => reject(e);
      this.ws.onmessage = (ev) => {
        const f = JSON.parse(ev.data);
        this.steps.push({ in: f });
        this.inbox.push(f);
        this.waiters = this.waiters.filter((w) => !w());
      };
      this.ws.onclose = (ev) => this.steps.push({ closed: ev.code });
    });
  }
  send(f) {
    this.steps.push({ out: f });
    this.ws.send(JSON.stringify(f));
  }
  /** Waits for a received frame matching `pred` (consumed from the inbox). */
  wait(pred, what = 'frame', ms = 5000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: timed out waiting for ${what}`)), ms);
      const check = () => {
        const i = this.inbox.findIndex(pred);
        if (i < 0) return false;
        const [f] = this.inbox.splice(i, 1);
        clearTimeout(t);
        resolve(f);
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }
  reply(ref) {
    return this.wait((f) => (f.type === 'ok' || f.type === 'error' || f.type === 'welcome' || f.type === 'pong') && f.ref === ref, `reply to ${ref}`);
  }
  drop() {
    // The socket goes away with the op unanswered, like a network cut.
    this.ws.onmessage = null;
    this.ws.close();
    this.steps.push({ dropped: true });
  }
  close() {
    this.ws.close(1000);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const member = await login('member@demo.boardroom');
const admin = await login('admin@demo.boardroom');
const me = await api(member, '/api/v1/me');
const adminMe = await api(admin, '/api/v1/me');
const org = me.memberships[0].org_id;
const boards = (await api(member, `/api/v1/orgs/${org}/boards`)).boards;
const board = boards.find((b) => b.name === 'Product roadmap');
const topic = `board:${board.id}`;

const A1 = new Rec('A1');
await A1.open();
A1.send({ type: 'hello', ref: 1, token: member, client: 'recorder/1' });
await A1.reply(1);
A1.send({ type: 'subscribe', ref: 2, topic });
const sub = await A1.reply(2);
const snap = sub.snapshot;
const cols = [...snap.columns].sort((a, b) => (a.position < b.position ? -1 : 1));
const inCol = (c) => snap.cards.filter((k) => k.column_id === c.id).sort((a, b) => (a.position < b.position ? -1 : 1));
const backups = snap.cards.find((k) => k.title === 'Nightly backups');

const B = new Rec('B');
await B.open();
B.send({ type: 'hello', ref: 1, token: admin, client: 'recorder/1' });
await B.reply(1);
B.send({ type: 'subscribe', ref: 2, topic });
await B.reply(2);

A1.send({ type: 'presence.set', ref: 3, topic, state: { focus: backups.id, editing: false } });
await A1.reply(3);
await B.wait((f) => f.type === 'presence' && Object.keys(f.joins).length > 0, 'presence');

// Move "Nightly backups" to the top of the second column.
A1.send({ type: 'op', ref: 4, topic, op_id: randomUUID(), kind: 'card.move', data: { card_id: backups.id, column_id: cols[1].id, after: null } });
await A1.reply(4);
const newCard = randomUUID();
A1.send({ type: 'op', ref: 5, topic, op_id: randomUUID(), kind: 'card.create', data: { column_id: cols[0].id, title: '  Write the release notes ', card_id: newCard, labels: ['docs'] } });
await A1.reply(5);
A1.send({
  type: 'op',
  ref: 6,
  topic,
  op_id: randomUUID(),
  kind: 'comment.add',
  data: { card_id: newCard, body: `@${adminMe.user.name} can you review?`, mentions: [adminMe.user.id] },
});
await A1.reply(6);
await B.wait((f) => f.type === 'notification', 'notification');
A1.send({ type: 'op', ref: 7, topic, op_id: randomUUID(), kind: 'card.update', data: { card_id: newCard, title: 'x', expected_version: 99 } });
await A1.reply(7);
A1.send({ type: 'op', ref: 8, topic, op_id: randomUUID(), kind: 'checklist.add', data: { card_id: newCard, title: 'Draft', item_id: randomUUID() } });
await A1.reply(8);
await sleep(200);
// The last position A1 applied.
const lastA1 = [...A1.steps].reverse().find((s) => s.in?.type === 'event').in;
// An op goes out and the connection drops before its answer.
const droppedOp = { type: 'op', ref: 9, topic, op_id: randomUUID(), kind: 'card.move', data: { card_id: newCard, column_id: cols[2].id, after: null } };
A1.send(droppedOp);
A1.drop();
await sleep(300);

// While A is away, the admin moves a card and ticks nothing else.
const drag = inCol(cols[1]).find((k) => k.title === 'Drag-and-drop cards');
B.send({ type: 'op', ref: 3, topic, op_id: randomUUID(), kind: 'card.move', data: { card_id: drag.id, column_id: cols[2].id, after: null } });
await B.reply(3);
await sleep(200);

const A2 = new Rec('A2');
await A2.open();
A2.send({ type: 'hello', ref: 10, token: member, client: 'recorder/1' });
await A2.reply(10);
A2.send({ type: 'subscribe', ref: 11, topic, since: { epoch: lastA1.epoch, seq: lastA1.seq } });
const rec = await A2.reply(11);
if (!rec.recovered) throw new Error('expected recovered: true');
await sleep(200);
// A client puts its presence back after a resubscribe, then sends its unanswered op again.
A2.send({ type: 'presence.set', ref: 12, topic, state: { focus: backups.id, editing: false } });
await A2.reply(12);
A2.send({ ...droppedOp, ref: 13 });
await A2.reply(13);
await sleep(200);
A2.close();
await sleep(200);

const A3 = new Rec('A3');
await A3.open();
A3.send({ type: 'hello', ref: 1, token: member, client: 'recorder/1' });
await A3.reply(1);
A3.send({ type: 'subscribe', ref: 2, topic, since: { epoch: Math.max(0, lastA1.epoch - 1), seq: 1 } });
const snapReply = await A3.reply(2);
if (snapReply.recovered !== false) throw new Error('expected recovered: false');
A3.close();
await sleep(200);
B.close();
await sleep(300);

mkdirSync(dirname(out), { recursive: true });
const fixture = {
  recorded_with: 'scripts/record-frames.mjs against the demo seed',
  board_id: board.id,
  topic,
  member: { id: me.user.id, name: me.user.name },
  admin: { id: adminMe.user.id, name: adminMe.user.name },
  connections: { A1: A1.steps, B: B.steps, A2: A2.steps, A3: A3.steps },
};
// Tokens are not kept in the fixture.
const scrub = (s) => (s.out?.type === 'hello' ? { out: { ...s.out, token: '<token>' } } : s);
for (const k of Object.keys(fixture.connections)) fixture.connections[k] = fixture.connections[k].map(scrub);
writeFileSync(out, JSON.stringify(fixture, null, 1) + '\n');
console.log(`recorded ${Object.values(fixture.connections).reduce((n, c) => n + c.length, 0)} frames into ${out}`);
process.exit(0);
