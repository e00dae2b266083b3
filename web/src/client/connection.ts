// The Boardroom protocol client: one WebSocket session that survives reconnects.
//
// - connects with the `boardroom.v1.json` subprotocol and sends `hello`;
// - keeps every topic subscribed across reconnects, resubscribing with `since` (the last
//   applied `(epoch, seq)`) and handling `recovered: true` (missed events follow) and the
//   snapshot form (replace the state), duplicates, epoch jumps and `resync`;
// - keeps ops in an outbox until their `ok` (or a final `error`); after a reconnect they are
//   sent again with the same `op_id`, so the server applies each exactly once;
// - reconnects with exponential backoff and jitter;
// - carries presence (re-sent after a reconnect) and notifications.
//
// No DOM: the WebSocket constructor is injected (browsers and Node >= 22 have a global one;
// Node 20 with `--experimental-websocket`, or pass the `ws` package).

import { BoardroomError } from './errors';
import {
  Close,
  SUBPROTOCOL_JSON,
  type EventFrame,
  type Notification,
  type OkFrame,
  type OpData,
  type OpKind,
  type OpResult,
  type PresenceFrame,
  type PresenceMap,
  type PresenceState,
  type PrincipalInfo,
  type Ref,
  type ServerFrame,
  type Since,
  type WelcomeFrame,
  type ErrorFrame,
} from './types';
import { backoffDelay, compareSince, Emitter, uuid, type BackoffOptions } from './util';

/** The part of a WebSocket the client uses (the browser's, Node's, `ws`'s, or a test fake). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol?: string;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export type ConnectionStatus =
  /** Not started yet (`connect()` not called). */
  | 'idle'
  /** First connection attempt under way. */
  | 'connecting'
  /** Authenticated; subscriptions are (being) restored. */
  | 'live'
  /** The connection dropped; retrying (a few attempts). */
  | 'reconnecting'
  /** Several attempts failed, or the network is down; still retrying in the background. */
  | 'offline'
  /** The server refused the credential (bad, expired or revoked); no more retries. */
  | 'unauthorized'
  /** `close()` was called. */
  | 'closed';

export interface ClientOptions {
  /** `ws://host/ws` or `wss://host/ws`. */
  url: string;
  /** Access JWT, API key (`br_…`) or share token (`brs_…`); a function is asked again on every
   * (re)connect, so it can hand out a refreshed access token. */
  token: string | (() => string | Promise<string>);
  /** Free-form name sent in `hello` (for the server's logs). */
  clientName?: string;
  /** Makes the socket; default: `new globalThis.WebSocket(url, protocols)`. */
  webSocket?: WebSocketFactory;
  backoff?: BackoffOptions;
  /** Failed attempts in a row after which the status reads `offline` (default 3). */
  offlineAfter?: number;
  /** Random source for jitter (tests make it deterministic). */
  random?: () => number;
  /** Op id generator (default: random UUIDs). */
  newId?: () => string;
  /** Send `ping` frames and drop a connection that stays silent for two heartbeat intervals
   * (default true). */
  heartbeat?: boolean;
}

/** What a subscriber gets for one topic. */
export interface TopicHandler {
  /** A full state for the topic: the first subscribe, or a recovery that could not replay
   * the missed events (`recovered: false`). Replace whatever was held. */
  snapshot?(snapshot: any, at: Since): void;
  /** An event, in order, never twice. */
  event?(ev: EventFrame): void;
  /** The full presence of the topic (on each subscribe) — replace. */
  presenceReset?(presence: PresenceMap): void;
  /** A presence change — merge. */
  presence?(frame: PresenceFrame): void;
  /** The subscription was refused (`not_found`, `forbidden`, …). */
  error?(err: BoardroomError): void;
  /** `(epoch, seq)` recovery was possible and the held state is kept. */
  recovered?(at: Since): void;
}

interface Sub {
  topic: string;
  handler: TopicHandler;
  since: Since | null;
  /** Subscribe sent on the current socket and not yet answered. */
  inflight: boolean;
  /** Answered ok on the current socket. */
  active: boolean;
  presence: PresenceState | null;
  retryTimer?: ReturnType<typeof setTimeout>;
}

interface OutboxEntry {
  opId: string;
  topic: string;
  kind: OpKind;
  data: unknown;
  /** The ref of the frame on the current socket, when sent. */
  ref: Ref | null;
  resolve: (r: OpResult) => void;
  reject: (e: BoardroomError) => void;
  retryTimer?: ReturnType<typeof setTimeout>;
  attempts: number;
}

interface PendingRequest {
  resolve: (f: OkFrame | any) => void;
  reject: (e: BoardroomError) => void;
}

export interface ClientEvents {
  status: [ConnectionStatus];
  welcome: [WelcomeFrame];
  /** Number of ops not yet acknowledged. */
  pending: [number];
  notification: [Notification, number];
  /** An error the client could not attribute to a request (e.g. authentication failed). */
  error: [BoardroomError];
  /** Every frame received (for logging and recording). */
  frame: [ServerFrame];
  /** Every frame sent. */
  sent: [Record<string, unknown>];
  /** The socket closed (before any reconnect). */
  disconnected: [{ code: number; reason: string }];
}

const OPEN = 1;

export class BoardroomClient extends Emitter<ClientEvents> {
  private readonly opts: ClientOptions;
  private ws: WebSocketLike | null = null;
  private nextRef = 1;
  private requests = new Map<Ref, PendingRequest>();
  private subs = new Map<string, Sub>();
  private outbox = new Map<string, OutboxEntry>();
  private opRefs = new Map<Ref, string>();
  private subRefs = new Map<Ref, string>();
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private authFailures = 0;
  private networkDown = false;
  private stopped = false;
  private welcomed = false;
  private helloRef: Ref | null = null;
  private _status: ConnectionStatus = 'idle';
  private _welcome: WelcomeFrame | null = null;
  private _lastError: BoardroomError | null = null;
  private _unread: number | null = null;

  constructor(opts: ClientOptions) {
    super();
    this.opts = opts;
  }

  get status(): ConnectionStatus {
    return this._status;
  }
  /** The `welcome` of the current (or last) session. */
  get welcome(): WelcomeFrame | null {
    return this._welcome;
  }
  get principal(): PrincipalInfo | null {
    return this._welcome?.principal ?? null;
  }
  /** Ops sent or waiting to be sent, not yet acknowledged. */
  get pendingCount(): number {
    return this.outbox.size;
  }
  /** The last error that stopped the client (`unauthorized`) or broke a connection. */
  get lastError(): BoardroomError | null {
    return this._lastError;
  }
  /** Unread notifications, as last told by the server (null until known). */
  get unread(): number | null {
    return this._unread;
  }
  /** The last applied `(epoch, seq)` of a topic. */
  position(topic: string): Since | null {
    return this.subs.get(topic)?.since ?? null;
  }
  pendingOps(): { opId: string; topic: string; kind: OpKind; data: unknown }[] {
    return [...this.outbox.values()].map(({ opId, topic, kind, data }) => ({ opId, topic, kind, data }));
  }

  /** Opens the connection (and keeps it open until `close()`). */
  connect(): void {
    if (this.stopped) throw new Error('this client was closed');
    if (this.ws || this.reconnectTimer) return;
    this.setStatus(this._status === 'idle' ? 'connecting' : 'reconnecting');
    void this.open();
  }

  /** Closes for good: no reconnect; pending ops and requests fail with `offline`. */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000, 'client closed');
      } catch {
        /* already closed */
      }
    }
    const err = new BoardroomError('offline', 'the client was closed');
    for (const e of this.outbox.values()) {
      if (e.retryTimer) clearTimeout(e.retryTimer);
      e.reject(err);
    }
    this.outbox.clear();
    this.failRequests(err);
    for (const s of this.subs.values()) if (s.retryTimer) clearTimeout(s.retryTimer);
    this.emit('pending', 0);
    this.setStatus('closed');
  }

  /** Tells the client whether the network is up (browsers: `online`/`offline` events). Going
   * up retries at once instead of waiting for the backoff. */
  setNetworkOnline(online: boolean): void {
    this.networkDown = !online;
    if (!online && this._status !== 'live') this.setStatus('offline');
    if (online) this.reconnectNow();
  }

  /** Skips the current backoff wait. */
  reconnectNow(): void {
    if (this.stopped || this.ws || this._status === 'unauthorized') return;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    void this.open();
  }

  /** Subscribes to a topic and keeps it subscribed across reconnects. `since` resumes from a
   * known position. Returns a function that unsubscribes. */
  subscribe(topic: string, handler: TopicHandler, since: Since | null = null): () => void {
    const existing = this.subs.get(topic);
    if (existing?.retryTimer) clearTimeout(existing.retryTimer);
    const sub: Sub = { topic, handler, since, inflight: false, active: false, presence: existing?.presence ?? null };
    this.subs.set(topic, sub);
    if (this.welcomed) this.sendSubscribe(sub);
    return () => this.unsubscribe(topic, sub);
  }

  private unsubscribe(topic: string, sub: Sub): void {
    if (this.subs.get(topic) !== sub) return;
    if (sub.retryTimer) clearTimeout(sub.retryTimer);
    this.subs.delete(topic);
    if (this.welcomed) this.request({ type: 'unsubscribe', topic }).catch(() => {});
  }

  /** Forces a resubscribe with `since` (what a `resync` frame does). */
  resync(topic: string): void {
    const sub = this.subs.get(topic);
    if (sub && this.welcomed) this.sendSubscribe(sub);
  }

  /** Sends an op. It stays in the outbox until the server's `ok` (resolve) or a final error
   * (reject); dropped connections and `unavailable`/`rate_limited` answers are retried with the
   * same `op_id`. The op id is returned synchronously through `opId` for optimistic UIs. */
  op<K extends OpKind>(topic: string, kind: K, data: OpData[K], opId: string = (this.opts.newId ?? uuid)()): Promise<OpResult> & { opId: string } {
    let entry!: OutboxEntry;
    const p = new Promise<OpResult>((resolve, reject) => {
      entry = { opId, topic, kind, data, ref: null, resolve, reject, attempts: 0 };
    }) as Promise<OpResult> & { opId: string };
    p.opId = opId;
    this.outbox.set(opId, entry);
    this.emit('pending', this.outbox.size);
    this.trySendOp(entry);
    return p;
  }

  /** Sets this user's presence on a topic (kept and re-sent after reconnects). */
  setPresence(topic: string, state: PresenceState): void {
    const sub = this.subs.get(topic);
    if (sub) sub.presence = state;
    if (this.welcomed && (!sub || sub.active)) {
      this.request({ type: 'presence.set', topic, state }).catch(() => {});
    }
  }

  /** Marks notifications read (`'all'` or ids); resolves with the unread count. */
  async markRead(ids: string[] | 'all'): Promise<number> {
    const f = ids === 'all' ? { type: 'notifications.read', all: true } : { type: 'notifications.read', ids };
    const ok: OkFrame = await this.request(f);
    if (typeof ok.unread === 'number') this.setUnread(ok.unread);
    return ok.unread ?? 0;
  }

  /** Hands the session a fresh access token before the old one expires. */
  async renew(token: string): Promise<void> {
    if (typeof this.opts.token === 'string') this.opts.token = token;
    if (this.welcomed) await this.request({ type: 'auth', token });
  }

  /** Round trip to the server. */
  async ping(): Promise<void> {
    await this.request({ type: 'ping' });
  }

  /** The server told an unread count another way (e.g. the HTTP list). */
  setUnread(n: number): void {
    this._unread = n;
  }

  // ---- internals --------------------------------------------------------------------------

  private setStatus(s: ConnectionStatus): void {
    if (this._status === s) return;
    this._status = s;
    this.emit('status', s);
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private async open(): Promise<void> {
    this.reconnectTimer = null;
    let token: string;
    try {
      token = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
    } catch (e) {
      const err = e instanceof BoardroomError ? e : new BoardroomError('unauthorized', e instanceof Error ? e.message : String(e));
      if (err.code === 'unauthorized') return this.stopUnauthorized(err);
      return this.scheduleReconnect();
    }
    if (this.stopped || this.ws) return;
    const make: WebSocketFactory =
      this.opts.webSocket ??
      ((url, protocols) => {
        const WS = (globalThis as any).WebSocket;
        if (!WS) throw new Error('no WebSocket implementation: pass `webSocket` (e.g. the ws package)');
        return new WS(url, protocols) as WebSocketLike;
      });
    let ws: WebSocketLike;
    try {
      ws = make(this.opts.url, [SUBPROTOCOL_JSON]);
    } catch (e) {
      this._lastError = new BoardroomError('offline', e instanceof Error ? e.message : String(e));
      return this.scheduleReconnect();
    }
    this.ws = ws;
    this.welcomed = false;
    ws.onopen = () => {
      this.helloRef = this.nextRef++;
      this.sendRaw({ type: 'hello', ref: this.helloRef, token, client: this.opts.clientName ?? 'boardroom-js/0.1' });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data));
      } catch {
        return;
      }
      this.lastFrameAt = Date.now();
      this.emit('frame', frame);
      this.onFrame(frame);
    };
    ws.onerror = () => {
      /* followed by onclose */
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.onClose(ev.code, ev.reason ?? '');
    };
  }

  private onClose(code: number, reason: string): void {
    const wasWelcomed = this.welcomed;
    this.ws = null;
    this.welcomed = false;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.emit('disconnected', { code, reason });
    // Requests in flight are lost with the socket; ops stay in the outbox to be sent again.
    this.failRequests(new BoardroomError('offline', 'the connection was lost'));
    this.opRefs.clear();
    this.subRefs.clear();
    for (const e of this.outbox.values()) e.ref = null;
    for (const s of this.subs.values()) {
      s.inflight = false;
      s.active = false;
    }
    if (this.stopped) return;
    if (code === Close.NOT_AUTHENTICATED || code === Close.REVOKED) {
      if (!wasWelcomed) {
        // The credential was refused at hello. A token function may have a fresher one, so
        // try once more; a second refusal in a row is final.
        this.authFailures++;
        if (typeof this.opts.token !== 'function' || this.authFailures >= 2) {
          return this.stopUnauthorized(this._lastError ?? new BoardroomError('unauthorized', reason || 'not authenticated'));
        }
      }
      // Expired or revoked during a live session: reconnect at once with a fresh token; if
      // the credential is really gone, the next hello says so.
      this.setStatus('reconnecting');
      this.reconnectTimer = setTimeout(() => void this.open(), 0);
      return;
    }
    this._lastError = new BoardroomError('offline', reason || `connection closed (${code})`);
    this.scheduleReconnect();
  }

  private stopUnauthorized(err: BoardroomError): void {
    this._lastError = err;
    this.stopped = true;
    this.clearTimers();
    this.emit('error', err);
    this.setStatus('unauthorized');
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.opts.backoff, this.opts.random);
    this.attempt++;
    this.setStatus(this.networkDown || this.attempt >= (this.opts.offlineAfter ?? 3) ? 'offline' : 'reconnecting');
    this.reconnectTimer = setTimeout(() => void this.open(), delay);
  }

  private failRequests(err: BoardroomError): void {
    const reqs = [...this.requests.values()];
    this.requests.clear();
    for (const r of reqs) r.reject(err);
  }

  private sendRaw(frame: Record<string, unknown>): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      return false;
    }
    this.emit('sent', frame);
    return true;
  }

  private request<T = OkFrame>(frame: Record<string, unknown>): Promise<T> {
    if (!this.welcomed) return Promise.reject(new BoardroomError('offline', 'not connected'));
    const ref = this.nextRef++;
    return new Promise<T>((resolve, reject) => {
      this.requests.set(ref, { resolve, reject });
      if (!this.sendRaw({ ...frame, ref })) {
        this.requests.delete(ref);
        reject(new BoardroomError('offline', 'not connected'));
      }
    });
  }

  private sendSubscribe(sub: Sub): void {
    if (sub.retryTimer) {
      clearTimeout(sub.retryTimer);
      sub.retryTimer = undefined;
    }
    const ref = this.nextRef++;
    const frame: Record<string, unknown> = { type: 'subscribe', ref, topic: sub.topic };
    if (sub.since) frame.since = { epoch: sub.since.epoch, seq: sub.since.seq };
    sub.inflight = true;
    sub.active = false;
    this.subRefs.set(ref, sub.topic);
    this.sendRaw(frame);
  }

  private trySendOp(e: OutboxEntry): void {
    if (!this.welcomed || e.ref !== null) return;
    // Wait for the topic's subscription to be restored first, so the op's event is not
    // mistaken for a gap (it is sent right after the subscribe's answer).
    const sub = this.subs.get(e.topic);
    if (sub && sub.inflight) return;
    const ref = this.nextRef++;
    e.ref = ref;
    e.attempts++;
    this.opRefs.set(ref, e.opId);
    if (!this.sendRaw({ type: 'op', ref, topic: e.topic, op_id: e.opId, kind: e.kind, data: e.data })) {
      e.ref = null;
      this.opRefs.delete(ref);
    }
  }

  private flushOutbox(topic?: string): void {
    for (const e of this.outbox.values()) {
      if (topic === undefined || e.topic === topic) this.trySendOp(e);
    }
  }

  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case 'welcome':
        return this.onWelcome(f);
      case 'ok':
        return this.onOk(f);
      case 'error':
        return this.onError(f);
      case 'event':
        return this.onEvent(f);
      case 'presence': {
        const sub = this.subs.get(f.topic);
        sub?.handler.presence?.(f);
        return;
      }
      case 'notification':
        this._unread = f.unread;
        this.emit('notification', f.notification, f.unread);
        return;
      case 'resync':
        return this.resync(f.topic);
      case 'pong': {
        if (f.ref !== undefined) this.takeRequest(f.ref)?.resolve(f);
        return;
      }
    }
  }

  private onWelcome(f: WelcomeFrame): void {
    this.welcomed = true;
    this._welcome = f;
    this.attempt = 0;
    this.authFailures = 0;
    this._lastError = null;
    this.setStatus('live');
    this.emit('welcome', f);
    this.startHeartbeat(f.heartbeat_ms);
    for (const sub of this.subs.values()) this.sendSubscribe(sub);
    this.flushOutbox();
  }

  private startHeartbeat(ms: number): void {
    if (this.opts.heartbeat === false || !ms) return;
    this.lastFrameAt = Date.now();
    this.heartbeatTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws || !this.welcomed) return;
      if (Date.now() - this.lastFrameAt > 2 * ms) {
        // Silent too long: the connection is dead even if the socket does not know it yet.
        this.ws = null;
        ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
        try {
          ws.close(4000, 'heartbeat timeout');
        } catch {
          /* ignore */
        }
        this.onClose(1006, 'no answer from the server');
        return;
      }
      this.request({ type: 'ping' }).catch(() => {});
    }, ms);
  }

  private onOk(f: OkFrame): void {
    if (f.ref === undefined) return;
    const op = this.takeOp(f.ref);
    if (op !== undefined) {
      if (op) {
        this.dropOp(op);
        op.resolve({ seq: f.seq ?? 0, ...(f.id ? { id: f.id } : {}) });
      }
      return;
    }
    const sub = this.takeSub(f.ref);
    if (sub !== undefined) {
      if (!sub) return;
      sub.active = true;
      if (f.recovered === true && sub.since) {
        // The missed events follow this frame, in order; the held state stays.
        sub.handler.recovered?.({ epoch: sub.since.epoch, seq: sub.since.seq });
      } else if (f.snapshot !== undefined || f.epoch !== undefined) {
        sub.since = f.epoch !== undefined ? { epoch: f.epoch, seq: f.seq ?? 0 } : null;
        sub.handler.snapshot?.(f.snapshot, sub.since ?? { epoch: 0, seq: 0 });
      } else {
        // org: topics answer with presence only.
        sub.handler.snapshot?.(f.snapshot ?? null, { epoch: 0, seq: 0 });
      }
      if (f.presence) sub.handler.presenceReset?.(f.presence);
      if (sub.presence) this.setPresence(sub.topic, sub.presence);
      this.flushOutbox(sub.topic);
      return;
    }
    if (f.ref === this.helloRef) return;
    this.takeRequest(f.ref)?.resolve(f);
  }

  private onError(f: ErrorFrame): void {
    const err = new BoardroomError(f.code, f.message, { field: f.field, retryAfterMs: f.retry_after_ms });
    if (!this.welcomed && (f.ref === undefined || f.ref === this.helloRef)) {
      // The hello was refused; the server closes with 4001 next.
      this._lastError = err;
      return;
    }
    if (f.ref === undefined) {
      this.emit('error', err);
      return;
    }
    const op = this.takeOp(f.ref);
    if (op !== undefined) {
      if (!op) return;
      op.ref = null;
      if (retryable(f)) {
        // Not applied: try again later with the same op_id.
        retryLater(op, f.retry_after_ms ?? backoffDelay(op.attempts, this.opts.backoff, this.opts.random), () => this.trySendOp(op));
        // Still tell the caller (the UI shows "rate limited") without failing the op.
        this.emit('error', err);
        return;
      }
      this.dropOp(op);
      op.reject(err);
      return;
    }
    const sub = this.takeSub(f.ref);
    if (sub !== undefined) {
      if (!sub) return;
      if (retryable(f)) {
        retryLater(sub, f.retry_after_ms ?? 1000, () => {
          if (this.welcomed && this.subs.get(sub.topic) === sub) this.sendSubscribe(sub);
        });
      } else {
        sub.handler.error?.(err);
        // Ops waiting for this subscription go out anyway and get their own answer.
        this.flushOutbox(sub.topic);
      }
      return;
    }
    this.takeRequest(f.ref)?.reject(err);
  }

  /** The op an answer's `ref` was sent for, taken off the socket's books: its outbox entry,
   * `null` when it has left the outbox since, `undefined` when `ref` is not an op's. */
  private takeOp(ref: Ref): OutboxEntry | null | undefined {
    const opId = this.opRefs.get(ref);
    if (opId === undefined) return undefined;
    this.opRefs.delete(ref);
    return this.outbox.get(opId) ?? null;
  }

  /** An op that has its final answer leaves the outbox (and the pending count). */
  private dropOp(e: OutboxEntry): void {
    this.outbox.delete(e.opId);
    this.emit('pending', this.outbox.size);
  }

  /** The subscription an answer's `ref` was sent for, no longer in flight: `null` when it was
   * dropped since, `undefined` when `ref` is not a subscribe's. */
  private takeSub(ref: Ref): Sub | null | undefined {
    const topic = this.subRefs.get(ref);
    if (topic === undefined) return undefined;
    this.subRefs.delete(ref);
    const sub = this.subs.get(topic);
    if (!sub) return null;
    sub.inflight = false;
    return sub;
  }

  /** The plain request (ping, presence, notifications.read, …) an answer's `ref` settles. */
  private takeRequest(ref: Ref): PendingRequest | undefined {
    const r = this.requests.get(ref);
    this.requests.delete(ref);
    return r;
  }

  private onEvent(f: EventFrame): void {
    const sub = this.subs.get(f.topic);
    if (!sub) return;
    const at = { epoch: f.epoch, seq: f.seq };
    if (!sub.since) return; // before the subscribe's snapshot: it will include this
    if (compareSince(at, sub.since) <= 0) return; // a duplicate around a reconnect
    if (f.epoch > sub.since.epoch) {
      // A new epoch with no snapshot in between: we missed a failover. Recover (unless a
      // subscribe is already under way, whose answer settles it).
      if (!sub.inflight) this.sendSubscribe(sub);
      return;
    }
    sub.since = at;
    sub.handler.event?.(f);
  }
}

/** `unavailable` and `rate_limited` mean the request was not applied: it may go again as is. */
function retryable(f: ErrorFrame): boolean {
  return f.code === 'unavailable' || f.code === 'rate_limited';
}

/** Runs `again` after `wait` ms; the timer is kept on `holder` so closing or unsubscribing
 *  can cancel it. */
function retryLater(holder: { retryTimer?: ReturnType<typeof setTimeout> }, wait: number, again: () => void): void {
  holder.retryTimer = setTimeout(() => {
    holder.retryTimer = undefined;
    again();
  }, wait);
}
