// Administration → Webhooks: endpoints (create, edit, activate, delete, rotate the secret,
// which is shown once), a test event, and each endpoint's delivery log with a redeliver button.
import { useEffect, useState } from 'preact/hooks';
import type { Uuid } from '../../client';
import { app, useApp } from '../app-state';
import { ActionButton, AddForm, fmtDate, FormField, ShownOnce, Table, useList } from '../components';

export interface WebhookInfo {
  id: Uuid;
  url: string;
  description: string;
  event_types: string[] | null;
  boards: Uuid[] | null;
  active: boolean;
  created_at: string;
  updated_at: string;
}

export interface DeliveryInfo {
  id: Uuid;
  event_type: string;
  board_id: Uuid | null;
  seq: number | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  response_code: number | null;
  latency_ms: number | null;
  error: string | null;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
  created_at: string;
}

/** "card.moved, card.created" -> list; empty -> null (every kind). */
function parseTypes(s: string): string[] | null {
  const t = s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  return t.length ? t : null;
}

export function Webhooks({ org }: { org: string }) {
  const a = useApp();
  const base = `/api/v1/orgs/${org}/webhooks`;
  const [list, reload] = useList(() => a.http.call<{ webhooks: WebhookInfo[] }>('GET', base).then((r) => r.webhooks), 'The webhooks');
  const [open, setOpen] = useState<Uuid | null>(null);
  const [shown, setShown] = useState<{ url: string; secret: string } | null>(null);
  const [form, setForm] = useState({ url: '', types: '', description: '' });
  const act = async (what: () => Promise<unknown>, label: string) => {
    try {
      await what();
    } catch (err) {
      a.fail(err, label);
    }
    reload();
  };
  const add = async () => {
    const r = await a.http.call<WebhookInfo & { secret: string }>('POST', base, {
      url: form.url.trim(),
      event_types: parseTypes(form.types),
      ...(form.description.trim() ? { description: form.description.trim() } : {}),
    });
    setShown({ url: r.url, secret: r.secret });
    setForm({ url: '', types: '', description: '' });
    reload();
  };
  return (
    <section>
      <h2>Webhooks</h2>
      <p class="muted">
        Board events are POSTed to these endpoints, signed with the endpoint's secret (header <code>X-Boardroom-Signature</code>).
        The secret is shown once, when it is made.
      </p>
      {shown && (
        <ShownOnce testid="webhook-secret" what={`the signing secret for ${shown.url}`} label="Signing secret" value={shown.secret} copied="Secret copied" onDone={() => setShown(null)} />
      )}
      <Table cols={['URL', 'Events', 'Active']} actions testid="webhooks">
        {(list ?? []).map((w) => (
          <tr key={w.id} class={w.active ? '' : 'inactive'} data-webhook={w.id}>
            <td>
              <code>{w.url}</code>
              {w.description && <div class="muted small">{w.description}</div>}
            </td>
            <td>
              <label class="sr-only" for={`types-${w.id}`}>
                Event types of {w.url}
              </label>
              <input
                id={`types-${w.id}`}
                placeholder="all events"
                value={(w.event_types ?? []).join(', ')}
                onChange={(e) =>
                  void act(
                    () => a.http.call('PATCH', `${base}/${w.id}`, { event_types: parseTypes((e.target as HTMLInputElement).value) }),
                    'The webhook',
                  )
                }
              />
            </td>
            <td>
              <input
                type="checkbox"
                aria-label={`Active: ${w.url}`}
                checked={w.active}
                onChange={(e) =>
                  void act(() => a.http.call('PATCH', `${base}/${w.id}`, { active: (e.target as HTMLInputElement).checked }), 'The webhook')
                }
              />
            </td>
            <td class="row">
              <button
                class="link"
                onClick={() =>
                  void act(async () => {
                    await a.http.call('POST', `${base}/${w.id}/test`, {});
                    app.toast('Test event queued', 'info');
                    setOpen(w.id);
                  }, 'The test event')
                }
              >
                Send test event
              </button>
              <button class="link" onClick={() => setOpen(open === w.id ? null : w.id)}>
                {open === w.id ? 'Hide deliveries' : 'Deliveries'}
              </button>
              <button
                class="link"
                onClick={() =>
                  void act(async () => {
                    if (!confirm(`Replace the signing secret of ${w.url}? The old one stops working at once.`)) return;
                    const r = await a.http.call<{ secret: string }>('POST', `${base}/${w.id}/rotate-secret`, {});
                    setShown({ url: w.url, secret: r.secret });
                  }, 'The secret')
                }
              >
                Rotate secret
              </button>
              <button
                class="link danger-text"
                onClick={() =>
                  void act(async () => {
                    if (!confirm(`Delete the webhook ${w.url} and its delivery log?`)) return;
                    await a.http.call('DELETE', `${base}/${w.id}`);
                    if (open === w.id) setOpen(null);
                  }, 'The webhook')
                }
              >
                Delete
              </button>
            </td>
          </tr>
        ))}
      </Table>
      {open && <Deliveries base={`${base}/${open}`} key={open} />}
      <AddForm title="New webhook" submit="Add webhook" what="The webhook" onSubmit={add}>
        <FormField label="URL" form={form} set={setForm} field="url" required type="url" placeholder="https://example.com/boardroom" />
        <FormField label="Event types (empty: all)" form={form} set={setForm} field="types" placeholder="card.moved, card.created" />
        <FormField label="Description" form={form} set={setForm} field="description" maxLength={500} />
      </AddForm>
    </section>
  );
}

function Deliveries({ base }: { base: string }) {
  const a = useApp();
  const [list, reload] = useList(
    () => a.http.call<{ deliveries: DeliveryInfo[] }>('GET', `${base}/deliveries?limit=50`).then((r) => r.deliveries),
    'The delivery log',
    [base],
  );
  useEffect(() => {
    // Deliveries change on their own (retries, the dispatcher): refresh while open.
    const t = setInterval(reload, 2000);
    return () => clearInterval(t);
  }, [base]);
  return (
    <div class="deliveries">
      <h3>
        Deliveries{' '}
        <button class="link" onClick={reload}>
          Refresh
        </button>
      </h3>
      {list && list.length === 0 && <p class="muted">Nothing sent yet.</p>}
      <Table cols={['Event', 'Status', 'Attempts', 'Response', 'Latency', 'Last attempt']} actions testid="deliveries">
        {(list ?? []).map((d) => (
          <tr key={d.id} data-delivery={d.id}>
            <td>
              {d.event_type}
              {d.seq !== null && <span class="muted small"> #{d.seq}</span>}
            </td>
            <td data-status={d.status}>
              {d.status}
              {d.next_attempt_at && d.attempts > 0 && <div class="muted small">retry {fmtDate(d.next_attempt_at)}</div>}
            </td>
            <td>{d.attempts}</td>
            <td title={d.error ?? ''}>{d.response_code ?? (d.error ? 'error' : '—')}</td>
            <td>{d.latency_ms !== null ? `${d.latency_ms} ms` : '—'}</td>
            <td>{d.last_attempt_at ? fmtDate(d.last_attempt_at) : '—'}</td>
            <td>
              <ActionButton
                class="link"
                what="The delivery"
                run={async () => {
                  await a.http.call('POST', `${base}/deliveries/${d.id}/redeliver`, {});
                  app.toast('Delivery queued again', 'info');
                }}
                then={reload}
              >
                Redeliver
              </ActionButton>
            </td>
          </tr>
        ))}
      </Table>
    </div>
  );
}
