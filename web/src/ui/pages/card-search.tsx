import { useState } from 'preact/hooks';
import type { Card, CardSearch, Column } from '../../client';
import { app } from '../app-state';
import { FilterSelect, NamedOptions } from '../components';
import { linkHandler } from '../router';
import { useCustomers } from './card-detail';

/** Finding jobs on a board by status, words and customer: the board's own search
 * (`GET /api/v1/boards/{board}/cards`), paged, for the people who run the board. */
export function CardSearchPanel({ boardId, columns }: { boardId: string; columns: Column[] }) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('');
  const [customer, setCustomer] = useState('');
  const [found, setFound] = useState<{ cards: Card[]; total: number; next: string | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const customers = useCustomers(open);

  const run = async (cursor?: string) => {
    const s: CardSearch = { q, status, customer: customer || undefined, limit: 20, cursor };
    setBusy(true);
    try {
      const page = await app.http.searchCards(boardId, s);
      setFound((prev) => ({
        cards: cursor && prev ? [...prev.cards, ...page.cards] : page.cards,
        total: page.total,
        next: page.next_cursor,
      }));
    } catch (e) {
      app.fail(e, 'The search');
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return (
      <button class="search-toggle" onClick={() => setOpen(true)}>
        Find cards
      </button>
    );
  }
  const columnName = (id: string) => columns.find((c) => c.id === id)?.name ?? '';
  return (
    <section class="card-search" aria-label="Find cards">
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label>
          <span class="sr-only">Words in the title or description</span>
          <input name="q" placeholder="Title or description" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </label>
        <FilterSelect label="Status" any="Any status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)} compact={{ name: 'status' }}>
          <NamedOptions items={columns} />
        </FilterSelect>
        <FilterSelect label="Customer" any="Any customer" value={customer} onChange={(e) => setCustomer((e.target as HTMLSelectElement).value)} compact={{ name: 'customer' }}>
          <NamedOptions items={customers} />
        </FilterSelect>
        <button type="submit" class="primary" disabled={busy}>
          Search
        </button>
        <button type="button" onClick={() => (setOpen(false), setFound(null))}>
          Close
        </button>
      </form>
      {found && (
        <div class="search-results">
          <p class="muted small" data-testid="search-total" aria-live="polite">
            {found.total === 1 ? '1 card' : `${found.total} cards`}
          </p>
          <ul>
            {found.cards.map((c) => {
              const href = `/boards/${boardId}/cards/${c.id}`;
              return (
                <li key={c.id}>
                  <a href={href} onClick={linkHandler(href)}>
                    {c.title}
                  </a>{' '}
                  <span class="muted small">{columnName(c.column_id)}</span>
                </li>
              );
            })}
          </ul>
          {found.next && (
            <button type="button" disabled={busy} onClick={() => void run(found.next ?? undefined)}>
              More
            </button>
          )}
        </div>
      )}
    </section>
  );
}
