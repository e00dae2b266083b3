// Small helpers with no DOM dependency: ids, backoff, a typed emitter.

/** A random (v4) UUID. Uses `crypto.getRandomValues`, which, unlike `crypto.randomUUID`,
 * also exists on pages served over plain http from a LAN address. */
export function uuid(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface BackoffOptions {
  /** Delay before the first retry, before jitter (default 500 ms). */
  initialMs?: number;
  /** Upper bound of the delay (default 15 s). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
}

/** Exponential backoff with "equal jitter": attempt n (0-based) waits a random time in
 * [d/2, d] where d = min(max, initial * factor^n). Never 0, never more than `maxMs`, and
 * clients that lost the same server do not come back in lockstep. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 15_000;
  const factor = opts.factor ?? 2;
  const d = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(d / 2 + random() * (d / 2));
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** A minimal typed event emitter (no Node `events`, no DOM `EventTarget`). */
export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private listeners: { [K in keyof Events]?: Set<Listener<Events[K]>> } = {};

  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    (this.listeners[event] ??= new Set()).add(fn);
    return () => this.off(event, fn);
  }

  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    this.listeners[event]?.delete(fn);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const fn of [...(this.listeners[event] ?? [])]) {
      try {
        fn(...args);
      } catch (e) {
        // A listener's bug must not break the protocol state machine.
        console.error(`boardroom client: ${String(event)} listener failed`, e);
      }
    }
  }
}

/** Compares two `(epoch, seq)` pairs: negative if a < b, 0 if equal, positive if a > b. */
export function compareSince(a: { epoch: number; seq: number }, b: { epoch: number; seq: number }): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.seq - b.seq;
}

/** Bytewise comparison of fractional-index positions (the server's order). */
export function comparePositions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
