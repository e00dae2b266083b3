import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { PRIORITIES, uuid, type Card, type Customer, type JobInfo, type Person, type Priority, type ShareLinkInfo } from '../../client';
import { app, useApp } from '../app-state';
import { Avatar, fmtDate, Modal, OneLineForm, useList } from '../components';
import type { LiveBoard } from '../live';
import { CardHistory } from './card-history';

/** Customers of the org, loaded once per page (members and up may list them). */
let customersCache: Promise<Customer[]> | null = null;
export function useCustomers(enabled: boolean): Customer[] {
  const [list, setList] = useState<Customer[]>([]);
  useEffect(() => {
    if (!enabled || !app.org) return;
    customersCache ??= app.http.customers(app.org.id).catch((e) => {
      customersCache = null;
      app.fail(e, 'The customer list');
      return [];
    });
    void customersCache.then(setList);
  }, [enabled]);
  return list;
}
/** Roles that see the whole board, and so a card's unfiltered history. */
function fullView(role: string | undefined): boolean {
  return role === 'owner' || role === 'admin' || role === 'member';
}

export function forgetCustomers(): void {
  customersCache = null;
}

export function CardDetail({
  boardId,
  card,
  live,
  editable,
  onClose,
}: {
  boardId: string;
  card: Card | null;
  live: LiveBoard;
  editable: boolean;
  onClose: () => void;
}) {
  if (!card) {
    return (
      <Modal title="Card" onClose={onClose}>
        <p role="alert">This card was archived, moved out of your view or does not exist.</p>
      </Modal>
    );
  }
  return <CardDetailBody boardId={boardId} card={card} live={live} editable={editable} onClose={onClose} />;
}

function CardDetailBody({ boardId, card, live, editable, onClose }: { boardId: string; card: Card; live: LiveBoard; editable: boolean; onClose: () => void }) {
  const a = useApp();
  const customers = useCustomers(editable);
  const columns = live.model?.orderedColumns() ?? [];
  const staff = [...a.people.values()].filter((p) => p.role !== 'customer');
  const send = live.send;

  const saveTitle = (title: string) => {
    const t = title.trim();
    if (!t) return false;
    if (t !== card.title) void send('card.update', { card_id: card.id, title: t, expected_version: card.version }, 'The card');
  };
  const saveDesc = (desc: string) => {
    const d = desc.trim() ? desc : null;
    if (d !== (card.description ?? null)) void send('card.update', { card_id: card.id, description: d, expected_version: card.version }, 'The card');
  };
  const saveLabels = (labels: string) => {
    const l = [...new Set(labels.split(',').map((s) => s.trim()).filter(Boolean))];
    if (l.join('\u0000') !== card.labels.join('\u0000')) void send('card.update', { card_id: card.id, labels: l }, 'The card');
  };
  const saveEstimate = (estimate: string) => {
    const raw = estimate.trim();
    const v = raw === '' ? null : Math.max(0, Math.round(Number(raw)));
    if (v !== null && !Number.isFinite(v)) return false;
    if (v !== (card.estimate_minutes ?? null)) void send('card.update', { card_id: card.id, estimate_minutes: v }, 'The card');
  };
  const column = columns.find((c) => c.id === card.column_id);

  return (
    <Modal title={card.title} onClose={onClose} wide>
      <div class="detail" data-testid="card-detail">
        <div class="detail-main">
          <label class="field">
            <span>Title</span>
            <DraftField value={card.title} save={saveTitle} maxLength={200} disabled={!editable} />
          </label>
          <label class="field">
            <span>Description</span>
            <DraftField value={card.description ?? ''} save={saveDesc} rows={4} maxLength={10000} disabled={!editable} />
          </label>
          <Checklist card={card} live={live} editable={editable} />
          <Comments card={card} live={live} people={staff} />
          {fullView(a.org?.role) && <CardHistory boardId={boardId} card={card} />}
        </div>
        <aside class="detail-side">
          <label class="field">
            <span>Move to…</span>
            <select
              aria-label="Move to…"
              value={card.column_id}
              disabled={!editable}
              data-testid="move-to"
              onChange={(e) => {
                const to = (e.target as HTMLSelectElement).value;
                if (to !== card.column_id) void send('card.move', { card_id: card.id, column_id: to, after: null }, 'The card');
              }}
            >
              {columns.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                  {c.is_done ? ' (done)' : ''}
                </option>
              ))}
            </select>
          </label>
          <fieldset class="field">
            <legend>Assignees</legend>
            {staff.length === 0 && <p class="muted small">No one to assign.</p>}
            <div class="checks">
              {staff.map((p) => (
                <label key={p.id} class="check">
                  <input
                    type="checkbox"
                    checked={card.assignees.includes(p.id)}
                    disabled={!editable}
                    onChange={(e) => {
                      const on = (e.target as HTMLInputElement).checked;
                      const next = on ? [...card.assignees, p.id] : card.assignees.filter((x) => x !== p.id);
                      void send('card.assign', { card_id: card.id, assignees: next }, 'The card');
                    }}
                  />
                  <Avatar id={p.id} name={p.name} small /> {p.name} <span class="muted small">{p.role}</span>
                </label>
              ))}
            </div>
          </fieldset>
          <label class="field">
            <span>Customer</span>
            <select
              aria-label="Customer"
              value={card.customer_id ?? ''}
              disabled={!editable}
              onChange={(e) => {
                const v = (e.target as HTMLSelectElement).value || null;
                void send('card.update', { card_id: card.id, customer_id: v }, 'The card');
              }}
            >
              <option value="">None</option>
              {customers.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
              {card.customer_id && !customers.some((c) => c.id === card.customer_id) && <option value={card.customer_id}>(a customer)</option>}
            </select>
          </label>
          {card.customer_id && a.org?.role !== 'customer' && <CustomerContact cardId={card.id} customerId={card.customer_id} />}
          <label class="field">
            <span>Priority</span>
            <select
              aria-label="Priority"
              data-testid="priority-select"
              value={card.priority ?? ''}
              disabled={!editable}
              onChange={(e) => {
                const v = ((e.target as HTMLSelectElement).value || null) as Priority | null;
                void send('card.update', { card_id: card.id, priority: v }, 'The card');
              }}
            >
              <option value="">Not set</option>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>Estimate (minutes)</span>
            <DraftField
              value={String(card.estimate_minutes ?? '')}
              save={saveEstimate}
              type="number"
              min={0}
              max={525600}
              aria-label="Estimate in minutes"
              disabled={!editable}
            />
          </label>
          <label class="field">
            <span>Due date</span>
            <div class="row">
              <input
                type="date"
                value={card.due_at ? card.due_at.slice(0, 10) : ''}
                disabled={!editable}
                onChange={(e) => {
                  const v = (e.target as HTMLInputElement).value;
                  void send('card.update', { card_id: card.id, due_at: v ? `${v}T12:00:00Z` : null }, 'The card');
                }}
              />
              {card.due_at && editable && (
                <button type="button" onClick={() => void send('card.update', { card_id: card.id, due_at: null }, 'The card')}>
                  Clear
                </button>
              )}
            </div>
          </label>
          <label class="field">
            <span>Labels (comma separated)</span>
            <DraftField value={card.labels.join(', ')} save={saveLabels} disabled={!editable} />
          </label>
          <p class="muted small">
            In <strong>{column?.name ?? '…'}</strong> · version {card.version}
            {card.due_at ? ` · due ${fmtDate(card.due_at)}` : ''}
          </p>
          {editable && <ShareLinks card={card} />}
          {editable && (
            <button
              class="danger"
              onClick={() => {
                if (!confirm(`Archive "${card.title}"? It disappears from the board.`)) return;
                void send('card.archive', { card_id: card.id }, 'The card');
                onClose();
              }}
            >
              Archive card
            </button>
          )}
        </aside>
      </div>
    </Modal>
  );
}

/** A card's field edited as text: it follows the card (changes made by others) except while it
 * has the focus, and `save` gets the text when the focus leaves (Enter leaves a one-line field);
 * `save` returns false for a text it refuses, which puts the card's value back. `rows` makes
 * it a textarea. */
function DraftField({
  value,
  save,
  rows,
  ...input
}: {
  value: string;
  save: (text: string) => boolean | void;
  rows?: number;
} & Omit<JSX.IntrinsicElements['input'], 'value' | 'rows' | 'onFocus' | 'onInput' | 'onBlur' | 'onKeyDown'>) {
  const [text, setText] = useState(value);
  const editing = useRef(false);
  useEffect(() => {
    if (!editing.current) setText(value);
  }, [value]);
  const edit = {
    value: text,
    onFocus: () => (editing.current = true),
    onInput: (e: Event) => setText((e.target as HTMLInputElement | HTMLTextAreaElement).value),
    onBlur: () => {
      editing.current = false;
      if (save(text) === false) setText(value);
    },
  };
  if (rows !== undefined) return <textarea rows={rows} {...(input as JSX.IntrinsicElements['textarea'])} {...edit} />;
  return <input {...input} {...edit} onKeyDown={(e) => e.key === 'Enter' && (e.target as HTMLInputElement).blur()} />;
}

function Checklist({ card, live, editable }: { card: Card; live: LiveBoard; editable: boolean }) {
  const done = card.checklist.filter((i) => i.done).length;
  return (
    <section class="checklist" aria-label="Checklist">
      <h3>
        Checklist{' '}
        <span class="muted small">
          {done}/{card.checklist.length}
        </span>
      </h3>
      <ul>
        {card.checklist.map((it) => (
          <li key={it.id}>
            <label class="check">
              <input
                type="checkbox"
                checked={it.done}
                onChange={(e) => void live.send('checklist.toggle', { card_id: card.id, item_id: it.id, done: (e.target as HTMLInputElement).checked }, 'The task')}
              />
              <span class={it.done ? 'struck' : ''}>{it.title}</span>
            </label>
            {editable && (
              <button class="icon-btn" aria-label={`Remove task ${it.title}`} onClick={() => void live.send('checklist.remove', { card_id: card.id, item_id: it.id }, 'The task')}>
                ×
              </button>
            )}
          </li>
        ))}
      </ul>
      {editable && (
        <OneLineForm
          id="new-task"
          label="New task"
          placeholder="Add a task"
          maxLength={200}
          submit="Add"
          onAdd={(title) => void live.send('checklist.add', { card_id: card.id, title, item_id: uuid() }, 'The task')}
        />
      )}
    </section>
  );
}

/** Turns `@Name` in a comment into the ids of the people named. */
export function mentionsIn(body: string, people: Person[]): string[] {
  const ids = new Set<string>();
  const lower = body.toLowerCase();
  for (const p of people) if (lower.includes(`@${p.name.toLowerCase()}`)) ids.add(p.id);
  return [...ids];
}

function renderBody(body: string, people: Person[]) {
  const names = people.map((p) => p.name).sort((x, y) => y.length - x.length);
  if (names.length === 0) return body;
  const esc = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(@(?:${esc.join('|')}))`, 'gi');
  return body.split(re).map((part, i) => (i % 2 === 1 ? <mark key={i} class="mention">{part}</mark> : part));
}

function Comments({ card, live, people }: { card: Card; live: LiveBoard; people: Person[] }) {
  const a = useApp();
  const [body, setBody] = useState('');
  const [query, setQuery] = useState<string | null>(null);
  const [sel, setSel] = useState(0);
  const ta = useRef<HTMLTextAreaElement>(null);
  const suggestions = useMemo(
    () => (query === null ? [] : people.filter((p) => p.name.toLowerCase().includes(query.toLowerCase())).slice(0, 6)),
    [query, people],
  );
  const onInput = (v: string) => {
    setBody(v);
    const caret = ta.current?.selectionStart ?? v.length;
    const m = /@([\p{L}\p{N} ]{0,30})$/u.exec(v.slice(0, caret));
    setQuery(m ? m[1]! : null);
    setSel(0);
  };
  const pick = (p: Person) => {
    const caret = ta.current?.selectionStart ?? body.length;
    const before = body.slice(0, caret).replace(/@([\p{L}\p{N} ]{0,30})$/u, `@${p.name} `);
    const next = before + body.slice(caret);
    setBody(next);
    setQuery(null);
    ta.current?.focus();
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const b = body.trim();
    if (!b) return;
    setBody('');
    setQuery(null);
    void live.send('comment.add', { card_id: card.id, body: b, mentions: mentionsIn(b, people) }, 'The comment');
  };
  return (
    <section class="comments" aria-label="Comments">
      <h3>Comments</h3>
      <ul>
        {card.comments.map((c) => (
          <li key={c.id}>
            <Avatar id={c.author_id} name={a.nameOf(c.author_id)} small />
            <div>
              <strong>{a.nameOf(c.author_id)}</strong> <span class="muted small">{new Date(c.created_at).toLocaleString()}</span>
              <p>{renderBody(c.body, people)}</p>
            </div>
          </li>
        ))}
      </ul>
      <form onSubmit={submit} class="comment-form">
        <label class="sr-only" for="comment-body">
          Write a comment; type @ to mention someone
        </label>
        <textarea
          id="comment-body"
          ref={ta}
          rows={2}
          maxLength={5000}
          placeholder="Write a comment… (@ to mention)"
          value={body}
          onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (suggestions.length && query !== null) {
              if (e.key === 'ArrowDown') {
                e.preventDefault();
                setSel((sel + 1) % suggestions.length);
              } else if (e.key === 'ArrowUp') {
                e.preventDefault();
                setSel((sel - 1 + suggestions.length) % suggestions.length);
              } else if (e.key === 'Enter' || e.key === 'Tab') {
                e.preventDefault();
                pick(suggestions[sel]!);
              } else if (e.key === 'Escape') {
                e.stopPropagation();
                setQuery(null);
              }
            } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
          }}
        />
        {query !== null && suggestions.length > 0 && (
          <ul class="suggest" role="listbox" aria-label="People to mention">
            {suggestions.map((p, i) => (
              <li key={p.id} role="option" aria-selected={i === sel}>
                <button type="button" onMouseDown={(e) => (e.preventDefault(), pick(p))}>
                  <Avatar id={p.id} name={p.name} small /> {p.name}
                </button>
              </li>
            ))}
          </ul>
        )}
        <button type="submit" class="primary" disabled={!body.trim()}>
          Comment
        </button>
      </form>
    </section>
  );
}

function ShareLinks({ card }: { card: Card }) {
  const a = useApp();
  const [links, load] = useList<ShareLinkInfo>(() => (a.org ? a.http.shareLinks(a.org.id, card.id) : null), 'The share links', [card.id]);
  const [fresh, setFresh] = useState<string | null>(null);
  const live = (links ?? []).filter((l) => !l.revoked_at);
  return (
    <section class="share" aria-label="Share with the customer">
      <h3>Customer link</h3>
      {fresh && (
        <div class="secret" data-testid="share-url">
          <label class="field">
            <span>Send this link to the customer:</span>
            <input readOnly value={fresh} onFocus={(e) => (e.target as HTMLInputElement).select()} />
          </label>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(fresh).then(() => a.toast('Link copied', 'info'))}>
            Copy
          </button>
        </div>
      )}
      <button
        type="button"
        onClick={async () => {
          try {
            const l = await a.http.createShareLink(card.id);
            setFresh(new URL(`/j/${l.token}`, location.origin).toString());
            load();
          } catch (e) {
            a.fail(e, 'The card');
          }
        }}
      >
        Create share link
      </button>
      {live.length > 0 && (
        <ul class="plain">
          {live.map((l) => (
            <li key={l.id} class="row">
              <span class="small muted">
                Link from {fmtDate(l.created_at)}
                {l.expires_at ? `, expires ${fmtDate(l.expires_at)}` : ''}
              </span>
              <button
                type="button"
                class="link"
                onClick={async () => {
                  try {
                    await a.http.revokeShareLink(l.id);
                    load();
                  } catch (e) {
                    a.fail(e, 'The link');
                  }
                }}
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** Who the job is for, with what a worker on the road needs: the number and the address.
 * Read from `GET /api/v1/job`, which gives the contact to signed-in staff who may see the card. */
export function CustomerContact({ cardId, customerId }: { cardId: string; customerId: string }) {
  const [info, setInfo] = useState<JobInfo['customer'] | undefined>(undefined);
  useEffect(() => {
    let live = true;
    app.http
      .job(cardId)
      .then((j) => live && setInfo(j.customer ?? null))
      .catch(() => live && setInfo(null));
    return () => {
      live = false;
    };
  }, [cardId, customerId]);
  if (!info) return null;
  return (
    <div class="field customer-contact" data-testid="customer-contact">
      <span>For</span>
      <p>
        <strong>{info.name}</strong>
        {info.phone && (
          <>
            <br />
            <a href={`tel:${info.phone}`}>{info.phone}</a>
          </>
        )}
        {info.address && (
          <>
            <br />
            {info.address}
          </>
        )}
      </p>
    </div>
  );
}
