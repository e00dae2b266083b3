import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConnectionStatus, Notification, PresenceMap } from '../client';
import { app, isAdmin, useApp } from './app-state';
import { NotificationPrefsPanel } from './notification-prefs';
import { linkHandler, navigate } from './router';

// ---- avatars -----------------------------------------------------------------------------

const HUES = [210, 340, 150, 30, 270, 190, 0, 90, 240, 310, 120, 20];

/** A stable colour per person (FNV-1a of the name, so it is the same on every screen). */
export function hueOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return HUES[h % HUES.length]!;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[parts.length - 1]![0] : '')).toUpperCase();
}

export function Avatar({ id, name, label, small }: { id: string; name: string; label?: string; small?: boolean }) {
  return (
    <span
      class={`avatar${small ? ' small' : ''}`}
      style={{ background: `hsl(${hueOf(name)} 60% 32%)` }}
      title={label ?? name}
      aria-label={label ?? name}
      role="img"
      data-user={id}
    >
      {initials(name)}
    </span>
  );
}

export function PresenceBar({ presence, selfId }: { presence: PresenceMap; selfId?: string }) {
  const entries = Object.entries(presence);
  return (
    <div class="presence" aria-label={`${entries.length} on this board`} data-testid="presence">
      {entries.map(([id, p]) => (
        <span key={id} class={id === selfId ? 'me' : ''}>
          <Avatar id={id} name={p.name} label={id === selfId ? `${p.name} (you)` : `${p.name} is here`} />
        </span>
      ))}
    </div>
  );
}

// ---- connection ----------------------------------------------------------------------------

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  unauthorized: 'Signed out',
  closed: 'Disconnected',
};

export function ConnectionIndicator({ status, pending }: { status: ConnectionStatus; pending: number }) {
  const cls = status === 'live' ? 'live' : status === 'connecting' || status === 'reconnecting' ? 'warn' : 'bad';
  const waiting = pending > 0 ? ` · ${pending} change${pending === 1 ? '' : 's'} ${status === 'live' ? 'saving' : 'waiting'}` : '';
  return (
    <span class={`conn ${cls}`} role="status" aria-live="polite" data-testid="connection" data-status={status} data-pending={pending}>
      <span class="dot" aria-hidden="true" />
      {STATUS_TEXT[status]}
      {waiting}
    </span>
  );
}

// ---- notifications ----------------------------------------------------------------------------

function timeAgo(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function Bell() {
  const a = useApp();
  const [open, setOpen] = useState(false);
  const [prefs, setPrefs] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    void a.loadNotifications();
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('mousedown', close);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('mousedown', close);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);
  const go = (n: Notification) => {
    setOpen(false);
    if (!n.read) void a.markRead([n.id]);
    const role = a.org?.role;
    navigate(role === 'worker' ? '/my-jobs' : role === 'customer' ? `/jobs/${n.card_id}` : `/boards/${n.board_id}/cards/${n.card_id}`);
  };
  return (
    <div class="bell" ref={ref}>
      <button
        class="icon-btn"
        aria-label={`Notifications, ${a.unread} unread`}
        aria-expanded={open}
        aria-haspopup="true"
        data-testid="bell"
        onClick={() => setOpen(!open)}
      >
        <svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true">
          <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z" />
        </svg>
        {a.unread > 0 && (
          <span class="badge" data-testid="unread">
            {a.unread > 99 ? '99+' : a.unread}
          </span>
        )}
      </button>
      {open && (
        <div class="popover notif-list" role="dialog" aria-label="Notifications">
          <div class="popover-head">
            <strong>Notifications</strong>
            <button class="link" onClick={() => void a.markRead('all')} disabled={a.unread === 0}>
              Mark all read
            </button>
            <button class="link" aria-expanded={prefs} onClick={() => setPrefs(!prefs)}>
              Preferences
            </button>
          </div>
          {prefs && <NotificationPrefsPanel onDone={() => setPrefs(false)} />}
          {a.notifications.length === 0 && <p class="muted pad">Nothing yet.</p>}
          <ul>
            {a.notifications.map((n) => (
              <li key={n.id} class={n.read ? '' : 'unread'}>
                <button class="notif" onClick={() => go(n)}>
                  <span class="notif-title">
                    {n.kind === 'mention' ? `${n.actor.name} mentioned you` : n.kind === 'card.assigned' ? `${n.actor.name} assigned you` : 'Job status changed'}
                    {' · '}
                    <em>{n.title}</em>
                  </span>
                  <span class="notif-body">{n.body}</span>
                  <span class="muted small">{timeAgo(n.created_at)}</span>
                </button>
                {!n.read && (
                  <button class="link small" aria-label={`Mark "${n.title}" read`} onClick={() => void a.markRead([n.id])}>
                    Mark read
                  </button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

// ---- layout ----------------------------------------------------------------------------

export function Header({ children }: { children?: ComponentChildren }) {
  const a = useApp();
  const role = a.org?.role;
  const nav: [string, string][] =
    role === 'worker'
      ? [['/my-jobs', 'My jobs']]
      : role === 'customer'
        ? [['/jobs', 'My jobs']]
        : [['/boards', 'Boards'], ...(isAdmin(role) || role === 'member' ? ([['/admin', 'Admin']] as [string, string][]) : [])];
  return (
    <header class="top">
      <a href="/" class="brand" onClick={linkHandler('/')}>
        Boardroom
      </a>
      <span class="org muted">{a.org?.name}</span>
      <nav aria-label="Main">
        {nav.map(([href, label]) => (
          <a key={href} href={href} onClick={linkHandler(href)} aria-current={location.pathname.startsWith(href) ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      <div class="spacer" />
      {children}
      <ConnectionIndicator status={a.status} pending={a.pending} />
      {role !== 'customer' || a.me ? <Bell /> : null}
      {a.me && (
        <span class="me">
          <Avatar id={a.me.user.id} name={a.me.user.name} />
          <button class="link" onClick={() => void a.logout().then(() => navigate('/login'))}>
            Sign out
          </button>
        </span>
      )}
    </header>
  );
}

export function Toasts() {
  const a = useApp();
  return (
    <div class="toasts" role="alert" aria-live="assertive">
      {a.toasts.map((t) => (
        <div key={t.id} class={`toast ${t.kind}`} data-testid="toast">
          <span>{t.text}</span>
          <button class="icon-btn" aria-label="Dismiss" onClick={() => app.dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    ref.current?.querySelector<HTMLElement>('[autofocus], input, textarea, select, button')?.focus();
    const esc = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('keydown', esc);
      prev?.focus?.();
    };
  }, []);
  return (
    <div class="backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div class={`modal${wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <div class="modal-head">
          <h2>{title}</h2>
          <button class="icon-btn" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

/** Announces keyboard moves and other changes to screen readers. */
let announceEl: HTMLElement | null = null;
export function announce(text: string): void {
  announceEl ??= document.getElementById('announce');
  if (announceEl) {
    announceEl.textContent = '';
    setTimeout(() => announceEl && (announceEl.textContent = text), 30);
  }
}

export function fmtDate(iso: string | null): string {
  if (!iso) return '';
  return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

/** Small inline icons (no icon font, no emoji: they render the same everywhere). */
export function Icon({ name }: { name: 'check' | 'comment' }) {
  const d =
    name === 'check'
      ? 'M3 3h18v18H3zM5 5v14h14V5zm11.3 3.3 1.4 1.4-7.2 7.2-4.2-4.2 1.4-1.4 2.8 2.8z'
      : 'M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9l-5 4v-4H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1zm1 2v9h2v2l2.5-2H19V6z';
  return (
    <svg class="icon" width="14" height="14" viewBox="0 0 24 24" aria-hidden="true">
      <path fill="currentColor" d={d} />
    </svg>
  );
}

/** `90` -> `1h 30m`. */
export function fmtMinutes(m: number): string {
  const h = Math.floor(m / 60);
  const r = m % 60;
  return h === 0 ? `${r}m` : r === 0 ? `${h}h` : `${h}h ${r}m`;
}

/** A table of records: one header row (`cols`, then a column for the row's buttons, named only
 *  for screen readers, when `actions`) and the rows; every list of the admin pages is one. */
export function Table({
  cols,
  actions,
  testid,
  extraClass,
  children,
}: {
  cols: string[];
  actions?: boolean;
  testid?: string;
  extraClass?: string;
  children: ComponentChildren;
}) {
  return (
    <table class={extraClass ? `table ${extraClass}` : 'table'} data-testid={testid}>
      <thead>
        <tr>
          {cols.map((c) => (
            <th key={c} scope="col">
              {c}
            </th>
          ))}
          {actions && (
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

// ---- pickers and row actions ----------------------------------------------------------------

/** The choices of a picker over named records (boards, columns, people): the id is the value. */
export function NamedOptions({ items }: { items: readonly { id: string; name: string }[] }) {
  return (
    <>
      {items.map((x) => (
        <option key={x.id} value={x.id}>
          {x.name}
        </option>
      ))}
    </>
  );
}

/** The choices of a picker over plain words (roles, kinds, priorities): shown as sent. */
export function ValueOptions({ values }: { values: readonly string[] }) {
  return (
    <>
      {values.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </>
  );
}

/** A row's button that asks the server for something: a failure is shown as `what` failing,
 *  and the list reloads either way, since only the server knows what the row is now. */
export function ActionButton({
  class: cls,
  what,
  run,
  then,
  children,
}: {
  class: string;
  what: string;
  /** The request; may return false to do nothing at all (a declined confirmation). */
  run: () => Promise<unknown>;
  then: () => void;
  children: ComponentChildren;
}) {
  return (
    <button
      class={cls}
      onClick={async () => {
        try {
          if ((await run()) === false) return;
        } catch (err) {
          app.fail(err, what);
        }
        then();
      }}
    >
      {children}
    </button>
  );
}

/** A labelled text input bound to one field of a form's state: the admin forms hold their
 *  inputs in one object, and each input reads and replaces its own field of it. */
export function FormField<F extends object>({
  label,
  form,
  set,
  field,
  ...input
}: {
  label: string;
  form: F;
  set: (next: F) => void;
  field: keyof F & string;
} & Omit<JSX.IntrinsicElements['input'], 'value' | 'onInput' | 'label' | 'form'>) {
  return (
    <label class="field">
      <span>{label}</span>
      <input {...input} value={form[field] as string} onInput={(e) => set({ ...form, [field]: (e.target as HTMLInputElement).value })} />
    </label>
  );
}

/** A filter's picker: its first choice, `any`, means "do not filter". `compact` (the search bar)
 *  keeps the label for screen readers only and names the field for the form instead. */
export function FilterSelect({
  label,
  any,
  value,
  onChange,
  compact,
  children,
}: {
  label: string;
  any: string;
  value: string;
  onChange: (e: Event) => void;
  compact?: { name: string };
  children: ComponentChildren;
}) {
  return (
    <label class={compact ? undefined : 'field'}>
      <span class={compact ? 'sr-only' : undefined}>{label}</span>
      <select name={compact?.name} aria-label={compact ? undefined : label} value={value} onChange={onChange}>
        <option value="">{any}</option>
        {children}
      </select>
    </label>
  );
}

// ---- lists and forms ----------------------------------------------------------------------------

/** A list the server holds, loaded when `deps` change and again on `reload()` (after a change
 *  made through it); a failure is shown as `what` failing. `load` returns null while there is
 *  nothing to ask yet (no org chosen). */
export function useList<T>(load: () => Promise<T[]> | null, what: string, deps: readonly unknown[] = []): [T[] | null, () => void] {
  const [list, setList] = useState<T[] | null>(null);
  const reload = () => {
    load()
      ?.then(setList)
      .catch((e) => app.fail(e, what));
  };
  useEffect(reload, deps);
  return [list, reload];
}

/** A form that adds a record to a list (a member, a customer, a key, a webhook, a board): the
 *  request runs on submit, and a failure is shown as `what` failing, the form keeping what was
 *  typed so that it can be corrected. */
export function AddForm({
  title,
  submit,
  what,
  onSubmit,
  children,
}: {
  /** The form's heading, an `h3` under the page's `h2`s. */
  title: string;
  submit: string;
  what: string;
  onSubmit: () => Promise<unknown>;
  children: ComponentChildren;
}) {
  return (
    <form
      class="inline-form"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await onSubmit();
        } catch (err) {
          app.fail(err, what);
        }
      }}
    >
      <h3>{title}</h3>
      {children}
      <button type="submit" class="primary">
        {submit}
      </button>
    </form>
  );
}

/** A form of one short text that adds something (a status, a task, a note): an empty text is not
 *  sent, and the field clears as soon as one is. The label is for screen readers. */
export function OneLineForm({
  id,
  label,
  placeholder,
  maxLength,
  submit,
  formClass = 'row',
  buttonClass,
  onAdd,
}: {
  id: string;
  label: ComponentChildren;
  placeholder: string;
  maxLength: number;
  submit: string;
  formClass?: string;
  buttonClass?: string;
  onAdd: (text: string) => void;
}) {
  const [text, setText] = useState('');
  return (
    <form
      class={formClass}
      onSubmit={(e) => {
        e.preventDefault();
        const t = text.trim();
        if (!t) return;
        setText('');
        onAdd(t);
      }}
    >
      <label class="sr-only" for={id}>
        {label}
      </label>
      <input id={id} placeholder={placeholder} maxLength={maxLength} value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
      <button type="submit" class={buttonClass}>
        {submit}
      </button>
    </form>
  );
}

/** A secret the server shows only once (an API key, a webhook's signing secret): selectable and
 *  copyable, and on screen until the person says it is stored. */
export function ShownOnce({
  testid,
  what,
  label,
  value,
  copied,
  onDone,
}: {
  testid: string;
  /** What to copy, in the sentence "Copy … now". */
  what: string;
  label: string;
  value: string;
  /** The toast once copied. */
  copied: string;
  onDone: () => void;
}) {
  return (
    <div class="secret" role="status" data-testid={testid}>
      <p>
        <strong>Copy {what} now</strong>; it will not be shown again.
      </p>
      <input readOnly aria-label={label} value={value} onFocus={(e) => (e.target as HTMLInputElement).select()} />
      <div class="row">
        <button onClick={() => void navigator.clipboard?.writeText(value).then(() => app.toast(copied, 'info'))}>Copy</button>
        <button onClick={onDone}>I have stored it</button>
      </div>
    </div>
  );
}
