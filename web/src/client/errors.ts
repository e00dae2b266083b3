import type { ErrorCode } from './types';

/** Codes of the protocol, plus two the client makes itself: `offline` (the request could not
 * be sent or its answer was lost with the connection) and `timeout`. */
export type ClientErrorCode = ErrorCode | 'offline' | 'timeout';

/** A refused request: the server's `error` frame or HTTP error body, or a client-side failure. */
export class BoardroomError extends Error {
  readonly code: ClientErrorCode;
  readonly field?: string;
  readonly retryAfterMs?: number;
  readonly status?: number;

  constructor(code: ClientErrorCode, message: string, extra: { field?: string; retryAfterMs?: number; status?: number } = {}) {
    super(message);
    this.name = 'BoardroomError';
    this.code = code;
    this.field = extra.field;
    this.retryAfterMs = extra.retryAfterMs;
    this.status = extra.status;
  }
}

/** One sentence a person can act on, for any failure (used by the UI's error messages). */
export function describeError(e: unknown, action = 'That'): string {
  if (e instanceof BoardroomError) {
    switch (e.code) {
      case 'rate_limited': {
        const s = e.retryAfterMs ? Math.max(1, Math.ceil(e.retryAfterMs / 1000)) : undefined;
        return `Slow down: too many changes at once.${s ? ` Try again in ${s} s.` : ''}`;
      }
      case 'forbidden':
        return `Not allowed: ${e.message}.`;
      case 'not_found':
        return `${action} no longer exists or is not visible to you.`;
      case 'unauthorized':
        return `Your session has ended (${e.message}). Please sign in again.`;
      case 'conflict':
        return `Conflict: ${e.message}`;
      case 'offline':
        return 'You are offline. The change is kept and will be sent when the connection is back.';
      case 'unavailable':
        return 'The server is busy; the change will be retried.';
      case 'timeout':
        return 'The server did not answer in time. Check your connection and try again.';
      case 'too_large':
        return `Too large: ${e.message}`;
      case 'bad_request':
        return `Invalid input${e.field ? ` (${e.field})` : ''}: ${e.message}`;
      default:
        return `Something went wrong on the server: ${e.message}`;
    }
  }
  if (e instanceof TypeError) return 'Cannot reach the server. Check your connection.';
  return e instanceof Error ? e.message : String(e);
}
