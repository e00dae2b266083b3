// The HTTP side: error bodies become BoardroomErrors, access tokens are refreshed before they
// expire (one refresh for concurrent callers), and every failure reads as a sentence.
import { describe, expect, it } from 'vitest';
import { BoardroomError, describeError } from '../errors';
import { AuthSession, BoardroomHttp, type TokenPair, type TokenStore } from '../http';

function fakeFetch(handler: (url: string, init: RequestInit) => { status: number; body?: unknown; headers?: Record<string, string> }) {
  const calls: { url: string; init: RequestInit }[] = [];
  const f = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const r = handler(url, init);
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status, headers: r.headers });
  }) as unknown as typeof fetch;
  return { f, calls };
}

const pair = (n: number): TokenPair => ({ access_token: `a${n}`, refresh_token: `r${n}`, token_type: 'Bearer', expires_in: 900 });

function memoryStore(): TokenStore & { saved: unknown } {
  return {
    saved: null,
    load() {
      return null;
    },
    save(t) {
      this.saved = t;
    },
  };
}

describe('BoardroomHttp', () => {
  it('turns the error body into a BoardroomError with field and Retry-After', async () => {
    const { f, calls } = fakeFetch(() => ({
      status: 429,
      body: { error: { code: 'rate_limited', message: 'too many attempts; try again later' } },
      headers: { 'retry-after': '3' },
    }));
    const http = new BoardroomHttp({ baseUrl: 'http://x', token: () => 'tok', fetch: f });
    const e = await http.login('a@b', 'pw').catch((x) => x);
    expect(e).toBeInstanceOf(BoardroomError);
    expect(e.code).toBe('rate_limited');
    expect(e.retryAfterMs).toBe(3000);
    // Login never sends a token.
    expect((calls[0]!.init.headers as Record<string, string>).authorization).toBeUndefined();
    const { f: f2, calls: c2 } = fakeFetch(() => ({ status: 400, body: { error: { code: 'bad_request', message: 'too long', field: 'name' } } }));
    const e2 = await new BoardroomHttp({ token: () => 'tok', fetch: f2 }).createBoard('o', 'x', 'kanban').catch((x) => x);
    expect([e2.code, e2.field]).toEqual(['bad_request', 'name']);
    expect((c2[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer tok');
  });
});

describe('AuthSession', () => {
  it('refreshes a minute before expiry, once for concurrent callers, and forgets a dead session', async () => {
    let now = 0;
    let refreshes = 0;
    const { f } = fakeFetch((url, init) => {
      if (url.endsWith('/auth/login')) return { status: 200, body: pair(1) };
      if (url.endsWith('/auth/refresh')) {
        refreshes++;
        const body = JSON.parse(String(init.body));
        if (body.refresh_token === 'r2') return { status: 401, body: { error: { code: 'unauthorized', message: 'refresh token reused' } } };
        return { status: 200, body: pair(refreshes + 1) };
      }
      return { status: 404 };
    });
    const store = memoryStore();
    const s = new AuthSession(new BoardroomHttp({ fetch: f }), store, () => now);
    await s.login('a@b', 'pw');
    expect(await s.accessToken()).toBe('a1');
    expect(s.renewIn()).toBe(840_000);
    now = 841_000;
    const [x, y] = await Promise.all([s.accessToken(), s.accessToken()]);
    expect([x, y, refreshes]).toEqual(['a2', 'a2', 1]);
    expect((store.saved as TokenPair).refresh_token).toBe('r2');
    now += 900_000;
    await expect(s.accessToken()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(s.signedIn).toBe(false);
    expect(store.saved).toBeNull();
  });
});

describe('describeError', () => {
  it('says what happened and what to do', () => {
    expect(describeError(new BoardroomError('rate_limited', 'too many ops; slow down', { retryAfterMs: 1200 }))).toBe(
      'Slow down: too many changes at once. Try again in 2 s.',
    );
    expect(describeError(new BoardroomError('forbidden', 'your role may not manage members'))).toBe('Not allowed: your role may not manage members.');
    expect(describeError(new BoardroomError('offline', 'not connected'))).toMatch(/offline.*sent when the connection is back/i);
    expect(describeError(new BoardroomError('not_found', 'card not found'), 'The card')).toBe('The card no longer exists or is not visible to you.');
    expect(describeError(new TypeError('Failed to fetch'))).toBe('Cannot reach the server. Check your connection.');
    expect(describeError(new BoardroomError('bad_request', 'too long', { field: 'data.title' }))).toBe('Invalid input (data.title): too long');
  });
});
