// A WebSocket stand-in for the client's tests, and a replayer that plays a recorded real
// session (src/client/__fixtures__/session.json) against whatever the client sends.
import { expect } from 'vitest';
import type { WebSocketLike } from '../connection';

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  protocol = 'boardroom.v1.json';
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  sent: any[] = [];
  onSend: ((f: any) => void) | null = null;
  closedByClient: number | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    const f = JSON.parse(data);
    this.sent.push(f);
    this.onSend?.(f);
  }
  close(code?: number): void {
    this.closedByClient = code ?? 1000;
    this.readyState = 3;
  }
  /** The server accepted the upgrade. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** The server (or the network) closed the socket. */
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** Collects the sockets a client makes. */
export function socketFactory() {
  const sockets: FakeSocket[] = [];
  const make = (url: string, protocols: string[]) => {
    const s = new FakeSocket(url, protocols);
    sockets.push(s);
    return s;
  };
  return { sockets, make, last: () => sockets[sockets.length - 1]! };
}

export type Step = { out: any } | { in: any } | { closed: number } | { dropped: true };

/** Lets queued microtasks and deliveries run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/**
 * Plays one recorded connection: each frame the client sends must match the next recorded
 * `out` (same type; same topic, since, kind and data), after which the recorded `in` frames
 * up to the next `out` are delivered, with the recorded refs and op ids rewritten to the
 * client's. Op ids are mapped across connections (`opIds` is shared), so an op the client
 * sends again after a reconnect must carry the op id it had the first time.
 */
export class Replayer {
  private i = 0;
  private refs = new Map<string, unknown>();
  readonly errors: string[] = [];

  constructor(
    private readonly steps: Step[],
    readonly opIds: Map<string, string>,
  ) {}

  get done(): boolean {
    return this.i >= this.steps.length;
  }

  /** Where the replay stands (the next recorded step). */
  get next(): Step | undefined {
    return this.steps[this.i];
  }

  attach(sock: FakeSocket): void {
    sock.onSend = (f) => {
      // Real sockets never answer inside send(): deliver on a later microtask.
      queueMicrotask(() => this.onClientFrame(sock, f));
    };
    sock.open();
    this.pump(sock);
  }

  private onClientFrame(sock: FakeSocket, f: any): void {
    const step = this.steps[this.i];
    if (!step || !('out' in step)) {
      // Heartbeat pings are not part of the recording.
      if (f.type === 'ping') return;
      this.errors.push(`unexpected ${JSON.stringify(f)} at step ${this.i}`);
      return;
    }
    const rec = step.out;
    expect(f.type, `frame type at step ${this.i}`).toBe(rec.type);
    if (rec.topic !== undefined) expect(f.topic).toBe(rec.topic);
    if (rec.type === 'subscribe') expect(f.since ?? null, 'subscribe since').toEqual(rec.since ?? null);
    if (rec.type === 'op') {
      expect(f.kind).toBe(rec.kind);
      expect(f.data).toEqual(rec.data);
      const known = this.opIds.get(rec.op_id);
      if (known !== undefined) expect(f.op_id, 'an op sent again keeps its op_id').toBe(known);
      else this.opIds.set(rec.op_id, f.op_id);
    }
    if (rec.type === 'presence.set') expect(f.state).toEqual(rec.state);
    if (rec.ref !== undefined) this.refs.set(JSON.stringify(rec.ref), f.ref);
    this.i++;
    this.pump(sock);
  }

  private pump(sock: FakeSocket): void {
    for (;;) {
      const step = this.steps[this.i];
      if (!step) return;
      if ('in' in step) {
        this.i++;
        sock.deliver(this.rewrite(step.in));
      } else if ('dropped' in step) {
        // A network cut in the middle of the session.
        this.i++;
        sock.serverClose(1006, '');
        return;
      } else if ('closed' in step) {
        // The recorder hung up at the end of the recording: nothing more to play.
        this.i++;
        return;
      } else return;
    }
  }

  private rewrite(frame: any): any {
    const f = { ...frame };
    if (f.ref !== undefined) {
      const mapped = this.refs.get(JSON.stringify(f.ref));
      if (mapped !== undefined) f.ref = mapped;
    }
    if (typeof f.op_id === 'string' && this.opIds.has(f.op_id)) f.op_id = this.opIds.get(f.op_id);
    return f;
  }
}
