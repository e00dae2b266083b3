// The signed-in session shared by all screens: tokens, the live connection, the people of
// the organization, notifications and messages. Screens re-render on `changed()`.
import { useEffect, useReducer } from 'preact/hooks';
import {
  AuthSession,
  BoardroomClient,
  BoardroomError,
  BoardroomHttp,
  describeError,
  type ConnectionStatus,
  type Me,
  type Notification,
  type Person,
  type Role,
  type TokenPair,
  type TokenStore,
} from '../client';

const KEY = 'boardroom.session';

/** Per-tab storage: two windows can be signed in as two different people (and never race
 * each other's rotating refresh token). */
const tabStore: TokenStore = {
  load() {
    try {
      const raw = sessionStorage.getItem(KEY);
      return raw ? (JSON.parse(raw) as TokenPair & { obtained_at: number }) : null;
    } catch {
      return null;
    }
  },
  save(t) {
    try {
      if (t) sessionStorage.setItem(KEY, JSON.stringify(t));
      else sessionStorage.removeItem(KEY);
    } catch {
      /* storage disabled: the session lasts as long as the page */
    }
  },
};

export interface Toast {
  id: number;
  text: string;
  kind: 'error' | 'info';
}

export interface Org {
  id: string;
  name: string;
  role: Role;
}

export function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

class AppState {
  readonly http: BoardroomHttp;
  readonly auth: AuthSession;
  me: Me | null = null;
  org: Org | null = null;
  client: BoardroomClient | null = null;
  people = new Map<string, Person>();
  status: ConnectionStatus = 'idle';
  pending = 0;
  unread = 0;
  notifications: Notification[] = [];
  toasts: Toast[] = [];
  private listeners = new Set<() => void>();
  private toastId = 0;
  private renewTimer: ReturnType<typeof setTimeout> | null = null;
  private networkHooked = false;

  constructor() {
    this.http = new BoardroomHttp({ token: () => this.auth.accessToken().catch(() => null) });
    this.auth = new AuthSession(new BoardroomHttp(), tabStore);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  changed(): void {
    for (const l of [...this.listeners]) l();
  }

  toast(text: string, kind: Toast['kind'] = 'error'): void {
    const id = ++this.toastId;
    this.toasts = [...this.toasts.slice(-3), { id, text, kind }];
    this.changed();
    setTimeout(() => this.dismiss(id), kind === 'error' ? 8000 : 4000);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
    this.changed();
  }

  /** Shows a failed action as a message a person can act on. */
  fail(e: unknown, action?: string): void {
    this.toast(describeError(e, action));
  }

  async login(email: string, password: string): Promise<void> {
    await this.auth.login(email, password);
    await this.start();
  }

  /** Loads who we are and opens the live connection. False when not signed in. */
  async start(): Promise<boolean> {
    if (!this.auth.signedIn) return false;
    try {
      this.me = await this.http.me();
    } catch (e) {
      if (e instanceof BoardroomError && e.code === 'unauthorized') {
        await this.auth.logout();
        return false;
      }
      throw e;
    }
    const m = this.me.memberships[0];
    this.org = m ? { id: m.org_id, name: m.org_name, role: m.role } : null;
    this.connect();
    void this.loadPeople();
    void this.loadNotifications();
    this.scheduleRenew();
    this.changed();
    return true;
  }

  private connect(): void {
    this.client?.close();
    const c = new BoardroomClient({
      url: wsUrl(),
      token: () => this.auth.accessToken(),
      clientName: 'boardroom-web/0.1',
    });
    c.on('status', (s) => {
      this.status = s;
      if (s === 'unauthorized') {
        this.toast(describeError(c.lastError ?? new BoardroomError('unauthorized', 'signed out')));
      }
      this.changed();
    });
    c.on('pending', (n) => {
      this.pending = n;
      this.changed();
    });
    c.on('notification', (n, unread) => {
      this.unread = unread;
      this.notifications = [n, ...this.notifications.filter((x) => x.id !== n.id)].slice(0, 50);
      this.changed();
    });
    c.on('error', (e) => {
      if (e.code === 'rate_limited' || e.code === 'unavailable') this.fail(e);
    });
    if (!this.networkHooked) {
      // The browser knows when the network goes: skip the backoff when it comes back.
      this.networkHooked = true;
      window.addEventListener('online', () => this.client?.setNetworkOnline(true));
      window.addEventListener('offline', () => this.client?.setNetworkOnline(false));
    }
    this.client = c;
    c.connect();
  }

  private scheduleRenew(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    const wait = this.auth.renewIn();
    if (!isFinite(wait)) return;
    this.renewTimer = setTimeout(async () => {
      try {
        const t = await this.auth.refresh();
        await this.client?.renew(t).catch(() => {});
        this.scheduleRenew();
      } catch (e) {
        if (e instanceof BoardroomError && e.code === 'unauthorized') {
          this.toast('Your session has ended. Please sign in again.');
          void this.logout();
        } else {
          // Network trouble: try again shortly.
          this.renewTimer = setTimeout(() => this.scheduleRenew(), 5000);
        }
      }
    }, wait);
  }

  async loadPeople(): Promise<void> {
    if (!this.org || this.org.role === 'customer') return;
    try {
      const list = await this.http.people(this.org.id);
      this.people = new Map(list.map((p) => [p.id, p]));
      this.changed();
    } catch (e) {
      this.fail(e, 'The member list');
    }
  }

  async loadNotifications(): Promise<void> {
    try {
      const r = await this.http.notifications(false, 30);
      this.notifications = r.notifications;
      this.unread = r.unread;
      this.client?.setUnread(r.unread);
      this.changed();
    } catch {
      /* shown as 0 until the first push */
    }
  }

  async markRead(ids: string[] | 'all'): Promise<void> {
    try {
      const unread = this.client && this.status === 'live' ? await this.client.markRead(ids) : (await this.http.markRead(ids)).unread;
      this.unread = unread;
      this.notifications = this.notifications.map((n) => (ids === 'all' || ids.includes(n.id) ? { ...n, read: true } : n));
      this.changed();
    } catch (e) {
      this.fail(e, 'Marking read');
    }
  }

  nameOf(id: string | null | undefined): string {
    if (!id) return '';
    if (id === this.me?.user.id) return this.me.user.name;
    return this.people.get(id)?.name ?? 'Someone';
  }

  async logout(): Promise<void> {
    this.client?.close();
    this.client = null;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    await this.auth.logout();
    this.me = null;
    this.org = null;
    this.people = new Map();
    this.notifications = [];
    this.unread = 0;
    this.status = 'idle';
    this.changed();
  }
}

export const app = new AppState();

/** Re-renders the calling component whenever the app state changes. */
export function useApp(): AppState {
  const [, bump] = useReducer((n: number, _: number) => n + 1, 0);
  useEffect(() => app.subscribe(() => bump(0)), []);
  return app;
}

export function canEdit(role: Role | undefined): boolean {
  return role === 'owner' || role === 'admin' || role === 'member';
}

export function isAdmin(role: Role | undefined): boolean {
  return role === 'owner' || role === 'admin';
}
