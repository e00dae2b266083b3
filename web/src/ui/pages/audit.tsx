// The audit log for owners and admins: who changed what, when, from where; filters by person
// or key, kind, board and time; "Load more" pages with the server's cursor; CSV download of
// the filtered rows.
import { useEffect, useState } from 'preact/hooks';
import type { AuditEntry, AuditFilter, BoardInfo, Member } from '../../client';
import { app, useApp } from '../app-state';
import { FilterSelect, NamedOptions, Table, ValueOptions } from '../components';

const KINDS = [
  'member.created',
  'member.role_changed',
  'member.deactivated',
  'api_key.created',
  'api_key.revoked',
  'share_link.created',
  'share_link.revoked',
  'board.created',
  'board.archived',
  'org.updated',
  'login.succeeded',
  'login.failed',
  'card.created',
  'card.updated',
  'card.moved',
  'card.assigned',
  'card.archived',
  'checklist.added',
  'checklist.toggled',
  'checklist.removed',
  'comment.added',
  'column.created',
  'column.updated',
  'column.moved',
  'column.deleted',
];

const PAGE = 50;

/** `<input type=datetime-local>` (local time) to RFC 3339 (UTC), or undefined when empty. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

/** A short, readable form of an old/new value. */
function show(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'card' in v) return `“${(v as { card: { title: string } }).card.title}”`;
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

export function AuditLog({ org }: { org: string }) {
  const a = useApp();
  const [members, setMembers] = useState<Member[]>([]);
  const [boards, setBoards] = useState<BoardInfo[]>([]);
  const [form, setForm] = useState({ actor: '', kind: '', board: '', since: '', until: '' });
  const [rows, setRows] = useState<AuditEntry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const filter = (): AuditFilter => ({
    actor: form.actor || undefined,
    kind: form.kind || undefined,
    board: form.board || undefined,
    since: toIso(form.since),
    until: toIso(form.until),
  });
  const load = async (more: boolean) => {
    setBusy(true);
    try {
      const page = await a.http.audit(org, { ...filter(), limit: PAGE, cursor: more ? (next ?? undefined) : undefined });
      setRows(more ? [...(rows ?? []), ...page.entries] : page.entries);
      setNext(page.next_cursor);
    } catch (e) {
      app.fail(e, 'The audit log');
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    a.http.members(org).then(setMembers).catch((e) => app.fail(e, 'The member list'));
    a.http.boards(org).then(setBoards).catch((e) => app.fail(e, 'The boards'));
    void load(false);
  }, []);

  const download = async () => {
    try {
      const csv = await a.http.auditCsv(org, filter());
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = 'audit.csv';
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      app.fail(e, 'The CSV export');
    }
  };
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const boardName = (id: string | null) => (id ? (boards.find((b) => b.id === id)?.name ?? id.slice(0, 8)) : '');

  return (
    <section data-testid="audit-log">
      <h2>Audit log</h2>
      <form
        class="filters row"
        aria-label="Audit log filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load(false);
        }}
      >
        <FilterSelect label="Who" any="Anyone" value={form.actor} onChange={set('actor')}>
          <NamedOptions items={members} />
        </FilterSelect>
        <FilterSelect label="Kind" any="Any kind" value={form.kind} onChange={set('kind')}>
          <ValueOptions values={KINDS} />
        </FilterSelect>
        <FilterSelect label="Board" any="Any board" value={form.board} onChange={set('board')}>
          <NamedOptions items={boards} />
        </FilterSelect>
        <label class="field">
          <span>From</span>
          <input type="datetime-local" aria-label="From" value={form.since} onInput={set('since')} />
        </label>
        <label class="field">
          <span>Until</span>
          <input type="datetime-local" aria-label="Until" value={form.until} onInput={set('until')} />
        </label>
        <button type="submit" disabled={busy}>
          Apply filters
        </button>
        <button type="button" onClick={() => void download()}>
          Download CSV
        </button>
      </form>
      {rows && rows.length === 0 && <p class="muted">Nothing recorded matches these filters.</p>}
      {rows && rows.length > 0 && (
        <Table cols={['When', 'Who', 'What', 'Board', 'Before', 'After', 'IP']} extraClass="audit">
          {rows.map((r, i) => (
            <tr key={`${r.at}-${i}`} data-kind={r.kind}>
              <td>{new Date(r.at).toLocaleString()}</td>
              <td>
                {r.actor.name || r.actor.kind}
                {r.actor.kind === 'api_key' && <span class="muted small"> (API key)</span>}
              </td>
              <td>{r.kind}</td>
              <td>{boardName(r.board_id)}</td>
              <td class="small">{show(r.old)}</td>
              <td class="small">{show(r.new)}</td>
              <td class="small muted">{r.ip ?? ''}</td>
            </tr>
          ))}
        </Table>
      )}
      {next && (
        <button type="button" disabled={busy} onClick={() => void load(true)}>
          Load more
        </button>
      )}
    </section>
  );
}
