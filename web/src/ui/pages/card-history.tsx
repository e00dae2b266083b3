// A card's history in its detail: who changed what, old → new, newest first. For the roles
// that see the whole board (owner, admin, member); the server refuses workers and customers,
// whose view of the board is filtered. Reloaded whenever the card's version changes.
import { useEffect, useState } from 'preact/hooks';
import type { Card, CardHistory as History } from '../../client';
import { useApp } from '../app-state';

const FIELD_NAMES: Record<string, string> = {
  title: 'title',
  description: 'description',
  column: 'status',
  assignees: 'assignees',
  customer_id: 'customer',
  labels: 'labels',
  due_at: 'due date',
  archived: 'archived',
  checklist: 'task',
  comment: 'comment',
};

export function CardHistory({ boardId, card }: { boardId: string; card: Card }) {
  const a = useApp();
  const [history, setHistory] = useState<History | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    a.http
      .cardHistory(boardId, card.id)
      .then((h) => {
        setHistory(h);
        setError(null);
      })
      .catch((e) => setError(e?.message ?? 'The history could not be loaded.'));
  }, [boardId, card.id, card.version]);

  const people = a.people;
  const value = (field: string, v: unknown): string => {
    if (v === null || v === undefined || v === '') return '—';
    if (field === 'assignees' && Array.isArray(v)) return v.map((id) => people.get(id)?.name ?? 'someone').join(', ') || '—';
    if (field === 'due_at' && typeof v === 'string') return new Date(v).toLocaleDateString();
    if (Array.isArray(v)) return v.join(', ') || '—';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    return String(v);
  };
  const entries = [...(history?.entries ?? [])].reverse();
  return (
    <section class="history" aria-label="History" data-testid="card-history">
      <h3>History</h3>
      {error && <p class="muted small">{error}</p>}
      {history && entries.length === 0 && <p class="muted small">No changes yet.</p>}
      <ol class="plain">
        {entries.map((e) => (
          <li key={e.seq} class="small">
            <strong>{e.actor.name || 'Someone'}</strong> <span class="muted">{new Date(e.at).toLocaleString()}</span>
            {e.kind === 'card.created' ? (
              <span> created the card</span>
            ) : (
              e.changes.map((c, i) => {
                const name = FIELD_NAMES[c.field] ?? c.field;
                return (
                  <div key={i} data-field={c.field}>
                    {name}: <span class="old">{value(c.field, c.old)}</span> → <span class="new">{value(c.field, c.new)}</span>
                  </div>
                );
              })
            )}
          </li>
        ))}
      </ol>
      {history?.truncated && <p class="muted small">Only the oldest changes are shown.</p>}
    </section>
  );
}
