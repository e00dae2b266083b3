// The HTTP side of the protocol (protocol/README.md §11): login and token refresh, the REST
// resources, notifications. `fetch` is injectable; nothing here needs the DOM.

import { BoardroomError, type ClientErrorCode } from './errors';
import type { BoardSnapshot, Card, Column, Notification, NotificationKind, OpData, OpKind, OpResult, Role, Uuid } from './types';
import { uuid } from './util';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface Me {
  user: { id: Uuid; email: string; name: string };
  memberships: { org_id: Uuid; org_name: string; role: Role }[];
}

export interface BoardInfo {
  id: Uuid;
  org_id: Uuid;
  name: string;
  template: 'kanban' | 'jobs';
  archived: boolean;
  created_at: string;
  columns: Column[];
}

export interface Member {
  id: Uuid;
  email: string;
  name: string;
  role: Role;
  active: boolean;
  [k: string]: unknown;
}

export interface Person {
  id: Uuid;
  name: string;
  role: Role;
}

export interface Customer {
  id: Uuid;
  org_id: Uuid;
  name: string;
  email: string | null;
  phone: string | null;
  address?: string | null;
  user_id: Uuid | null;
  [k: string]: unknown;
}

export interface ApiKeyInfo {
  id: Uuid;
  name: string;
  role: Role;
  prefix: string;
  boards: Uuid[] | null;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  created_at: string;
  [k: string]: unknown;
}

/** A member's notification preferences in one org: the kinds wanted, the boards muted. */
export interface NotificationPrefs {
  kinds: NotificationKind[];
  available_kinds: NotificationKind[];
  muted_boards: Uuid[];
  updated_at: string | null;
}

export interface ShareLinkInfo {
  id: Uuid;
  card_id: Uuid;
  board_id: Uuid;
  card_title: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** What the customer job page needs besides the live card: the board's statuses and the
 * names of the people on the job. */
export interface JobInfo {
  card_id: Uuid;
  board_id: Uuid;
  org_name: string;
  statuses: Column[];
  workers: { id: Uuid; name: string }[];
  /** Who the job is for; signed-in callers only (null for a share link or no customer). */
  customer?: { id: Uuid; name: string; phone: string | null; email: string | null; address: string | null } | null;
}

/** One page of `GET /api/v1/boards/{board}/cards`. */
export interface CardSearchPage {
  cards: Card[];
  total: number;
  next_cursor: string | null;
  epoch: number;
  seq: number;
}

export interface CardSearch {
  status?: string;
  q?: string;
  customer?: Uuid;
  limit?: number;
  cursor?: string;
}

/** One row of an organization's audit log (`GET /api/v1/orgs/{org}/audit`). */
export interface AuditEntry {
  /** `log`: members, roles, keys, links, boards, settings, logins; `board_op`: a board's event. */
  source: 'log' | 'board_op';
  at: string;
  kind: string;
  actor: { kind: 'user' | 'api_key' | 'anonymous'; id: Uuid | null; name: string };
  ip: string | null;
  board_id: Uuid | null;
  target_id: Uuid | null;
  old: unknown;
  new: unknown;
}

/** Filters of the audit log; empty ones are left out. */
export interface AuditFilter {
  actor?: Uuid;
  kind?: string;
  board?: Uuid;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

/** A card's history, oldest first: who changed what, old → new. */
export interface CardHistory {
  card_id: Uuid;
  board_id: Uuid;
  truncated: boolean;
  entries: {
    seq: number;
    at: string;
    kind: string;
    actor: { kind: string; id: Uuid; name: string };
    changes: { field: string; old: unknown; new: unknown }[];
  }[];
}

function auditQuery(f: AuditFilter, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, ...extra })) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface HttpOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` ('' = same origin in a browser). */
  baseUrl?: string;
  /** The bearer token to send (access JWT, API key or share token), asked for each request. */
  token?: () => string | null | Promise<string | null>;
  fetch?: typeof fetch;
}

export class BoardroomHttp {
  constructor(private readonly opts: HttpOptions = {}) {}

  async call<T>(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<T> {
    const f = this.opts.fetch ?? globalThis.fetch.bind(globalThis);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (opts.auth !== false && this.opts.token) {
      const t = await this.opts.token();
      if (t) headers.authorization = `Bearer ${t}`;
    }
    const res = await f(`${this.opts.baseUrl ?? ''}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const e = json?.error;
      const retry = res.headers.get('retry-after');
      throw new BoardroomError((e?.code as ClientErrorCode) ?? statusCode(res.status), e?.message ?? `HTTP ${res.status}`, {
        field: e?.field,
        status: res.status,
        retryAfterMs: retry ? Number(retry) * 1000 : undefined,
      });
    }
    return json as T;
  }

  login(email: string, password: string): Promise<TokenPair> {
    return this.call('POST', '/api/v1/auth/login', { email, password }, { auth: false });
  }
  refresh(refresh_token: string): Promise<TokenPair> {
    return this.call('POST', '/api/v1/auth/refresh', { refresh_token }, { auth: false });
  }
  logout(refresh_token: string): Promise<void> {
    return this.call('POST', '/api/v1/auth/logout', { refresh_token });
  }
  me(): Promise<Me> {
    return this.call('GET', '/api/v1/me');
  }
  async boards(org: Uuid): Promise<BoardInfo[]> {
    return (await this.call<{ boards: BoardInfo[] }>('GET', `/api/v1/orgs/${org}/boards`)).boards;
  }
  createBoard(org: Uuid, name: string, template: 'kanban' | 'jobs'): Promise<BoardInfo> {
    return this.call('POST', `/api/v1/orgs/${org}/boards`, { name, template });
  }
  snapshot(board: Uuid): Promise<BoardSnapshot & { epoch: number; seq: number }> {
    return this.call('GET', `/api/v1/boards/${board}`);
  }
  applyOp<K extends OpKind>(board: Uuid, kind: K, data: OpData[K], op_id: string = uuid()): Promise<OpResult> {
    return this.call('POST', `/api/v1/boards/${board}/ops`, { op_id, kind, data });
  }
  async members(org: Uuid): Promise<Member[]> {
    return (await this.call<{ members: Member[] }>('GET', `/api/v1/orgs/${org}/members`)).members;
  }
  createMember(org: Uuid, m: { email: string; name: string; password: string; role: Role }): Promise<Member> {
    return this.call('POST', `/api/v1/orgs/${org}/members`, m);
  }
  setRole(org: Uuid, user: Uuid, role: Role): Promise<Member> {
    return this.call('PATCH', `/api/v1/orgs/${org}/members/${user}`, { role });
  }
  deactivate(org: Uuid, user: Uuid): Promise<void> {
    return this.call('DELETE', `/api/v1/orgs/${org}/members/${user}`);
  }
  /** Names and roles of the organization's active members (no emails). */
  async people(org: Uuid): Promise<Person[]> {
    return (await this.call<{ people: Person[] }>('GET', `/api/v1/orgs/${org}/people`)).people;
  }
  async customers(org: Uuid): Promise<Customer[]> {
    return (await this.call<{ customers: Customer[] }>('GET', `/api/v1/orgs/${org}/customers`)).customers;
  }
  createCustomer(org: Uuid, c: { name: string; email?: string; phone?: string; address?: string; user_id?: Uuid }): Promise<Customer> {
    return this.call('POST', `/api/v1/orgs/${org}/customers`, c);
  }
  updateCustomer(org: Uuid, id: Uuid, c: Partial<{ name: string; email: string | null; phone: string | null; address: string | null }>): Promise<Customer> {
    return this.call('PATCH', `/api/v1/orgs/${org}/customers/${id}`, c);
  }
  deleteCustomer(org: Uuid, id: Uuid): Promise<void> {
    return this.call('DELETE', `/api/v1/orgs/${org}/customers/${id}`);
  }
  async apiKeys(org: Uuid): Promise<ApiKeyInfo[]> {
    return (await this.call<{ api_keys: ApiKeyInfo[] }>('GET', `/api/v1/orgs/${org}/api-keys`)).api_keys;
  }
  createApiKey(
    org: Uuid,
    k: { name: string; role: Role; boards?: Uuid[]; expires_in_days?: number; expires_at?: string },
  ): Promise<{ id: Uuid; key: string }> {
    return this.call('POST', `/api/v1/orgs/${org}/api-keys`, k);
  }
  revokeApiKey(org: Uuid, id: Uuid): Promise<void> {
    return this.call('DELETE', `/api/v1/orgs/${org}/api-keys/${id}`);
  }
  createShareLink(card: Uuid, expires_in_days?: number): Promise<{ id: Uuid; token: string; url: string; expires_at: string | null }> {
    return this.call('POST', `/api/v1/cards/${card}/share-links`, expires_in_days ? { expires_in_days } : {});
  }
  async shareLinks(org: Uuid, card?: Uuid): Promise<ShareLinkInfo[]> {
    const q = card ? `?card=${card}` : '';
    return (await this.call<{ share_links: ShareLinkInfo[] }>('GET', `/api/v1/orgs/${org}/share-links${q}`)).share_links;
  }
  revokeShareLink(id: Uuid): Promise<void> {
    return this.call('DELETE', `/api/v1/share-links/${id}`);
  }
  /** Cards of a board matching `s`, as the caller may see them, one page at a time. */
  searchCards(board: Uuid, s: CardSearch = {}): Promise<CardSearchPage> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(s)) if (v !== undefined && v !== '') q.set(k, String(v));
    const qs = q.toString();
    return this.call('GET', `/api/v1/boards/${board}/cards${qs ? `?${qs}` : ''}`);
  }
  audit(org: Uuid, f: AuditFilter): Promise<{ entries: AuditEntry[]; next_cursor: string | null }> {
    return this.call('GET', `/api/v1/orgs/${org}/audit${auditQuery(f)}`);
  }
  /** The same rows as CSV (`format=csv`), as text: the page turns it into a download. */
  async auditCsv(org: Uuid, f: AuditFilter): Promise<string> {
    const f2 = { ...f, cursor: undefined, limit: undefined };
    const res = await this.raw('GET', `/api/v1/orgs/${org}/audit${auditQuery(f2, { format: 'csv' })}`);
    return res.text();
  }
  cardHistory(board: Uuid, card: Uuid): Promise<CardHistory> {
    return this.call('GET', `/api/v1/boards/${board}/cards/${card}/history`);
  }
  /** A request whose answer is not JSON; errors are thrown as by `call`. */
  private async raw(method: string, path: string): Promise<Response> {
    const f = this.opts.fetch ?? globalThis.fetch.bind(globalThis);
    const headers: Record<string, string> = {};
    const t = this.opts.token ? await this.opts.token() : null;
    if (t) headers.authorization = `Bearer ${t}`;
    const res = await f(`${this.opts.baseUrl ?? ''}${path}`, { method, headers });
    if (!res.ok) {
      let e: any = null;
      try {
        e = (await res.json())?.error;
      } catch {
        /* not JSON */
      }
      throw new BoardroomError((e?.code as ClientErrorCode) ?? statusCode(res.status), e?.message ?? `HTTP ${res.status}`, {
        field: e?.field,
        status: res.status,
      });
    }
    return res;
  }
  /** The job page's frame: statuses and workers' names. A share token names its own card. */
  job(card?: Uuid): Promise<JobInfo> {
    return this.call('GET', `/api/v1/job${card ? `?card=${card}` : ''}`);
  }
  notifications(unread = false, limit = 50): Promise<{ notifications: Notification[]; unread: number }> {
    return this.call('GET', `/api/v1/notifications?limit=${limit}${unread ? '&unread=true' : ''}`);
  }
  markRead(ids: Uuid[] | 'all'): Promise<{ unread: number }> {
    return this.call('POST', '/api/v1/notifications/read', ids === 'all' ? { all: true } : { ids });
  }
  notificationPrefs(org: Uuid): Promise<NotificationPrefs> {
    return this.call('GET', `/api/v1/orgs/${org}/me/notification-preferences`);
  }
  setNotificationPrefs(org: Uuid, p: { kinds: NotificationKind[]; muted_boards: Uuid[] }): Promise<NotificationPrefs> {
    return this.call('PUT', `/api/v1/orgs/${org}/me/notification-preferences`, p);
  }
}

function statusCode(status: number): ClientErrorCode {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'too_large';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'internal';
  }
}

/** Keeps a user signed in: holds the token pair, refreshes the access token a minute before
 * it expires (refresh tokens rotate; the old one is spent). Storage is injectable. */
export interface TokenStore {
  load(): TokenPair & { obtained_at: number } | null;
  save(t: (TokenPair & { obtained_at: number }) | null): void;
}

export class AuthSession {
  private tokens: (TokenPair & { obtained_at: number }) | null;
  private refreshing: Promise<string> | null = null;

  constructor(
    private readonly http: BoardroomHttp,
    private readonly store: TokenStore,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = store.load();
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  async login(email: string, password: string): Promise<void> {
    const t = await this.http.login(email, password);
    this.set(t);
  }

  async logout(): Promise<void> {
    const t = this.tokens;
    if (t) await this.http.logout(t.refresh_token).catch(() => {});
    this.set(null);
  }

  /** Milliseconds until the access token should be renewed. */
  renewIn(): number {
    if (!this.tokens) return Infinity;
    return Math.max(0, this.tokens.obtained_at + (this.tokens.expires_in - 60) * 1000 - this.now());
  }

  /** A valid access token (refreshed when close to expiry); throws `unauthorized` when the
   * session is gone. */
  async accessToken(): Promise<string> {
    if (!this.tokens) throw new BoardroomError('unauthorized', 'not signed in');
    if (this.renewIn() > 0) return this.tokens.access_token;
    return this.refresh();
  }

  /** Refreshes now (one refresh at a time; concurrent callers share it). */
  refresh(): Promise<string> {
    if (this.refreshing) return this.refreshing;
    const t = this.tokens;
    if (!t) return Promise.reject(new BoardroomError('unauthorized', 'not signed in'));
    this.refreshing = this.http
      .refresh(t.refresh_token)
      .then((fresh) => {
        this.set(fresh);
        return fresh.access_token;
      })
      .catch((e) => {
        if (e instanceof BoardroomError && (e.code === 'unauthorized' || e.code === 'bad_request')) this.set(null);
        throw e;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private set(t: TokenPair | null): void {
    this.tokens = t ? { ...t, obtained_at: this.now() } : null;
    this.store.save(this.tokens);
  }
}
