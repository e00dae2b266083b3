// Administration: members and roles, customers, statuses (the columns of a board), API keys
// (the key is shown once), webhooks (admin-webhooks.tsx), share links.
import { useEffect, useState } from 'preact/hooks';
import type { ApiKeyInfo, BoardInfo, Customer, Member, Role, ShareLinkInfo } from '../../client';
import { app, isAdmin, useApp } from '../app-state';
import { ActionButton, AddForm, fmtDate, FormField, Header, NamedOptions, OneLineForm, ShownOnce, Table, useList, ValueOptions } from '../components';
import { useBoard } from '../live';
import { linkHandler } from '../router';
import { Webhooks } from './admin-webhooks';
import { AuditLog } from './audit';
import { forgetCustomers } from './card-detail';

const ROLES: Role[] = ['owner', 'admin', 'member', 'worker', 'customer'];

export function Admin({ tab }: { tab: string }) {
  const a = useApp();
  const admin = isAdmin(a.org?.role);
  const tabs: [string, string, boolean][] = [
    ['members', 'Members', admin],
    ['customers', 'Customers', true],
    ['statuses', 'Statuses', true],
    ['api-keys', 'API keys', admin],
    ['webhooks', 'Webhooks', admin],
    ['share-links', 'Share links', true],
    ['audit', 'Audit log', admin],
  ];
  const visible = tabs.filter((t) => t[2]);
  const current = visible.find((t) => t[0] === tab)?.[0] ?? visible[0]![0];
  // Every section works on the signed-in organization.
  const org = a.org!.id;
  return (
    <>
      <Header />
      <main class="page admin">
        <h1>Administration</h1>
        <nav class="tabs" aria-label="Administration sections">
          {visible.map(([id, label]) => (
            <a key={id} href={`/admin/${id}`} onClick={linkHandler(`/admin/${id}`)} aria-current={current === id ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        {current === 'members' && <Members org={org} />}
        {current === 'customers' && <Customers org={org} />}
        {current === 'statuses' && <Statuses org={org} />}
        {current === 'api-keys' && <ApiKeys org={org} />}
        {current === 'webhooks' && <Webhooks org={org} />}
        {current === 'share-links' && <ShareLinks org={org} />}
        {current === 'audit' && <AuditLog org={org} />}
      </main>
    </>
  );
}

function Members({ org }: { org: string }) {
  const a = useApp();
  const [list, reload] = useList<Member>(() => a.http.members(org), 'The member list');
  const [form, setForm] = useState({ email: '', name: '', password: '', role: 'member' as Role });
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const add = async () => {
    await a.http.createMember(org, { ...form, email: form.email.trim(), name: form.name.trim() });
    setForm({ email: '', name: '', password: '', role: 'member' });
    reload();
    void app.loadPeople();
  };
  return (
    <section>
      <h2>Members and roles</h2>
      <Table cols={['Name', 'Email', 'Role']} actions>
        {(list ?? []).map((m) => (
          <tr key={m.id} class={m.active ? '' : 'inactive'}>
            <td>{m.name}</td>
            <td>{m.email}</td>
            <td>
              <label class="sr-only" for={`role-${m.id}`}>
                Role of {m.name}
              </label>
              <select
                id={`role-${m.id}`}
                value={m.role}
                disabled={!m.active}
                onChange={async (e) => {
                  try {
                    await a.http.setRole(org, m.id, (e.target as HTMLSelectElement).value as Role);
                    app.toast(`${m.name} is now ${(e.target as HTMLSelectElement).value}`, 'info');
                    void app.loadPeople();
                  } catch (err) {
                    a.fail(err, 'The member');
                  }
                  reload();
                }}
              >
                <ValueOptions values={ROLES} />
              </select>
            </td>
            <td>
              {m.active ? (
                <button
                  class="link danger-text"
                  onClick={async () => {
                    if (!confirm(`Deactivate ${m.name}? They are signed out at once.`)) return;
                    try {
                      await a.http.deactivate(org, m.id);
                    } catch (err) {
                      a.fail(err, 'The member');
                    }
                    reload();
                  }}
                >
                  Deactivate
                </button>
              ) : (
                <span class="muted small">deactivated</span>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <AddForm title="Add a member" submit="Add member" what="The member" onSubmit={add}>
        <label class="field">
          <span>Email</span>
          <input type="email" required value={form.email} onInput={set('email')} />
        </label>
        <label class="field">
          <span>Name</span>
          <input required maxLength={100} value={form.name} onInput={set('name')} />
        </label>
        <label class="field">
          <span>First password (8+ characters)</span>
          <input type="password" required minLength={8} autoComplete="new-password" value={form.password} onInput={set('password')} />
        </label>
        <label class="field">
          <span>Role</span>
          <select aria-label="Role" value={form.role} onChange={set('role')}>
            <ValueOptions values={ROLES} />
          </select>
        </label>
      </AddForm>
    </section>
  );
}

function Customers({ org }: { org: string }) {
  const a = useApp();
  const [list, reload] = useList<Customer>(() => a.http.customers(org), 'The customer list');
  const [form, setForm] = useState({ name: '', email: '', phone: '', address: '' });
  const [editing, setEditing] = useState<string | null>(null);
  const [edit, setEdit] = useState({ name: '', email: '', phone: '', address: '' });
  const changed = () => {
    forgetCustomers();
    reload();
  };
  const add = async () => {
    await a.http.createCustomer(org, {
      name: form.name.trim(),
      ...(form.email.trim() ? { email: form.email.trim() } : {}),
      ...(form.phone.trim() ? { phone: form.phone.trim() } : {}),
      ...(form.address.trim() ? { address: form.address.trim() } : {}),
    });
    setForm({ name: '', email: '', phone: '', address: '' });
    changed();
  };
  return (
    <section>
      <h2>Customers</h2>
      <Table cols={['Name', 'Email', 'Phone', 'Address']} actions>
        {(list ?? []).map((c) =>
          editing === c.id ? (
            <tr key={c.id}>
              <td>
                <input aria-label="Name" value={edit.name} onInput={(e) => setEdit({ ...edit, name: (e.target as HTMLInputElement).value })} />
              </td>
              <td>
                <input aria-label="Email" type="email" value={edit.email} onInput={(e) => setEdit({ ...edit, email: (e.target as HTMLInputElement).value })} />
              </td>
              <td>
                <input aria-label="Phone" value={edit.phone} onInput={(e) => setEdit({ ...edit, phone: (e.target as HTMLInputElement).value })} />
              </td>
              <td>
                <input aria-label="Address" value={edit.address} onInput={(e) => setEdit({ ...edit, address: (e.target as HTMLInputElement).value })} />
              </td>
              <td class="row">
                <button
                  class="primary"
                  onClick={async () => {
                    try {
                      await a.http.updateCustomer(org, c.id, {
                        name: edit.name.trim(),
                        email: edit.email.trim() || null,
                        phone: edit.phone.trim() || null,
                        address: edit.address.trim() || null,
                      });
                      setEditing(null);
                      changed();
                    } catch (err) {
                      a.fail(err, 'The customer');
                    }
                  }}
                >
                  Save
                </button>
                <button onClick={() => setEditing(null)}>Cancel</button>
              </td>
            </tr>
          ) : (
            <tr key={c.id}>
              <td>{c.name}</td>
              <td>{c.email ?? ''}</td>
              <td>{c.phone ?? ''}</td>
              <td>{c.address ?? ''}</td>
              <td class="row">
                <button
                  class="link"
                  onClick={() => {
                    setEditing(c.id);
                    setEdit({ name: c.name, email: c.email ?? '', phone: c.phone ?? '', address: c.address ?? '' });
                  }}
                >
                  Edit
                </button>
                <ActionButton class="link danger-text" what="The customer" run={async () => confirm(`Delete customer ${c.name}?`) && a.http.deleteCustomer(org, c.id)} then={changed}>
                  Delete
                </ActionButton>
              </td>
            </tr>
          ),
        )}
      </Table>
      <AddForm title="Add a customer" submit="Add customer" what="The customer" onSubmit={add}>
        <FormField label="Name" form={form} set={setForm} field="name" required maxLength={100} />
        <FormField label="Email (optional)" form={form} set={setForm} field="email" type="email" />
        <FormField label="Phone (optional)" form={form} set={setForm} field="phone" />
        <FormField label="Address (optional)" form={form} set={setForm} field="address" maxLength={500} />
      </AddForm>
    </section>
  );
}

function Statuses({ org }: { org: string }) {
  const a = useApp();
  const [boards] = useList<BoardInfo>(() => a.http.boards(org), 'The board list');
  const [boardId, setBoardId] = useState<string | null>(null);
  useEffect(() => {
    if (boards && !boardId) setBoardId(boards.find((b) => b.template === 'jobs')?.id ?? boards[0]?.id ?? null);
  }, [boards]);
  return (
    <section>
      <h2>Statuses</h2>
      <p class="muted">The columns of a board are its statuses. A "done" status completes a job and tells the customer.</p>
      <label class="field inline">
        <span>Board</span>
        <select aria-label="Board" value={boardId ?? ''} onChange={(e) => setBoardId((e.target as HTMLSelectElement).value)}>
          <NamedOptions items={boards ?? []} />
        </select>
      </label>
      {boardId && <StatusEditor key={boardId} boardId={boardId} />}
    </section>
  );
}

function StatusEditor({ boardId }: { boardId: string }) {
  const a = useApp();
  const live = useBoard(boardId, a.client);
  const cols = live.view.map((v) => v.column);
  if (live.error) return <p class="error-box">{live.error}</p>;
  return (
    <div>
      <ol class="status-list">
        {cols.map((c, i) => {
          const count = live.view[i]!.cards.length;
          return (
            <li key={c.id}>
              <label class="sr-only" for={`col-${c.id}`}>
                Name of status {i + 1}
              </label>
              <input
                id={`col-${c.id}`}
                defaultValue={c.name}
                maxLength={100}
                onBlur={(e) => {
                  const v = (e.target as HTMLInputElement).value.trim();
                  if (v && v !== c.name) void live.send('column.update', { column_id: c.id, name: v }, 'The status');
                }}
              />
              <label class="check">
                <input type="checkbox" checked={c.is_done} onChange={(e) => void live.send('column.update', { column_id: c.id, is_done: (e.target as HTMLInputElement).checked }, 'The status')} />
                done
              </label>
              <button
                aria-label={`Move ${c.name} earlier`}
                disabled={i === 0}
                onClick={() => void live.send('column.move', { column_id: c.id, after: i >= 2 ? cols[i - 2]!.id : null }, 'The status')}
              >
                ↑
              </button>
              <button aria-label={`Move ${c.name} later`} disabled={i === cols.length - 1} onClick={() => void live.send('column.move', { column_id: c.id, after: cols[i + 1]!.id }, 'The status')}>
                ↓
              </button>
              <button
                class="danger-text link"
                disabled={count > 0}
                title={count > 0 ? 'Move or archive its cards first' : undefined}
                onClick={() => void live.send('column.delete', { column_id: c.id }, 'The status')}
              >
                Delete{count > 0 ? ` (${count} cards)` : ''}
              </button>
            </li>
          );
        })}
      </ol>
      <OneLineForm
        id="new-status"
        label="New status name"
        placeholder="New status"
        maxLength={100}
        submit="Add status"
        onAdd={(name) => void live.send('column.create', { name }, 'The status')}
      />
    </div>
  );
}

function ApiKeys({ org }: { org: string }) {
  const a = useApp();
  const [list, reload] = useList<ApiKeyInfo>(() => a.http.apiKeys(org), 'The API keys');
  const [boards] = useList<BoardInfo>(() => a.http.boards(org), 'The boards');
  const [form, setForm] = useState({ name: '', role: 'member' as Role, days: '', boards: [] as string[] });
  const boardName = (id: string) => boards?.find((b) => b.id === id)?.name ?? 'a removed board';
  // A key's role is at most its creator's, and no key is an owner: owners and admins (the
  // only ones here) may both issue admin keys and below.
  const roles = ROLES.filter((r) => r !== 'owner');
  const [shown, setShown] = useState<{ name: string; key: string } | null>(null);
  const add = async () => {
    const days = parseInt(form.days, 10);
    const r = await a.http.createApiKey(org, {
      name: form.name.trim(),
      role: form.role,
      ...(days > 0 ? { expires_in_days: days } : {}),
      ...(form.boards.length > 0 ? { boards: form.boards } : {}),
    });
    setShown({ name: form.name.trim(), key: r.key });
    setForm({ name: '', role: 'member', days: '', boards: [] });
    reload();
  };
  return (
    <section>
      <h2>API keys</h2>
      <p class="muted">Bots and integrations connect with an API key. The key is shown once, when it is created.</p>
      {shown && (
        <ShownOnce testid="api-key" what={`the key for "${shown.name}"`} label="New API key" value={shown.key} copied="Key copied" onDone={() => setShown(null)} />
      )}
      <Table cols={['Name', 'Role', 'Boards', 'Last used', 'Expires']} actions>
        {(list ?? []).map((k) => (
          <tr key={k.id} class={k.revoked_at ? 'inactive' : ''}>
            <td>
              {k.name} <code class="muted small">{k.prefix}…</code>
            </td>
            <td>{k.role}</td>
            <td data-testid="key-boards">{k.boards ? k.boards.map(boardName).join(', ') : 'all boards'}</td>
            <td>{k.last_used_at ? fmtDate(k.last_used_at) : 'never'}</td>
            <td>{k.expires_at ? fmtDate(k.expires_at) : 'never'}</td>
            <RevokeCell
              revoked={Boolean(k.revoked_at)}
              what="The key"
              run={async () => confirm(`Revoke the key "${k.name}"? Its connections close at once.`) && a.http.revokeApiKey(org, k.id)}
              then={reload}
            />
          </tr>
        ))}
      </Table>
      <AddForm title="New API key" submit="Create key" what="The key" onSubmit={add}>
        <FormField label="Name" form={form} set={setForm} field="name" required maxLength={100} />
        <label class="field">
          <span>Role</span>
          <select aria-label="Role" value={form.role} onChange={(e) => setForm({ ...form, role: (e.target as HTMLSelectElement).value as Role })}>
            <ValueOptions values={roles} />
          </select>
        </label>
        {boards && boards.length > 0 && (
          <fieldset class="field">
            <legend>Boards (none ticked = every board)</legend>
            {boards.map((b) => (
              <label key={b.id} class="check">
                <input
                  type="checkbox"
                  aria-label={`Key board ${b.name}`}
                  checked={form.boards.includes(b.id)}
                  onChange={(e) =>
                    setForm({
                      ...form,
                      boards: (e.target as HTMLInputElement).checked ? [...form.boards, b.id] : form.boards.filter((x) => x !== b.id),
                    })
                  }
                />{' '}
                {b.name}
              </label>
            ))}
          </fieldset>
        )}
        <FormField label="Expires in days (empty = never)" form={form} set={setForm} field="days" type="number" min={1} max={3650} />
      </AddForm>
    </section>
  );
}

function ShareLinks({ org }: { org: string }) {
  const a = useApp();
  const [list, reload] = useList<ShareLinkInfo>(() => a.http.shareLinks(org), 'The share links');
  return (
    <section>
      <h2>Share links</h2>
      <p class="muted">Customers follow one job through a link. Create links from a card ("Customer link"); revoke them here.</p>
      <Table cols={['Job', 'Created', 'Expires']} actions>
        {(list ?? []).map((l) => (
          <tr key={l.id} class={l.revoked_at ? 'inactive' : ''}>
            <td>
              <a href={`/boards/${l.board_id}/cards/${l.card_id}`} onClick={linkHandler(`/boards/${l.board_id}/cards/${l.card_id}`)}>
                {l.card_title ?? 'Open the card'}
              </a>
            </td>
            <td>{fmtDate(l.created_at)}</td>
            <td>{l.expires_at ? fmtDate(l.expires_at) : 'never'}</td>
            <RevokeCell revoked={Boolean(l.revoked_at)} what="The link" run={() => a.http.revokeShareLink(l.id)} then={reload} />
          </tr>
        ))}
      </Table>
      {list && list.length === 0 && <p class="empty">No share links yet.</p>}
    </section>
  );
}

/** The last cell of a row that can be revoked (an API key, a share link): its revoke button, or
 *  that it is revoked. */
function RevokeCell({ revoked, what, run, then }: { revoked: boolean; what: string; run: () => Promise<unknown>; then: () => void }) {
  return (
    <td>
      {revoked ? (
        <span class="muted small">revoked</span>
      ) : (
        <ActionButton class="link danger-text" what={what} run={run} then={then}>
          Revoke
        </ActionButton>
      )}
    </td>
  );
}
