// The customer's job page: `/j/<share token>` for anyone holding the link, `/jobs/<card>` for a
// signed-in customer. Read-only and live: WebSocket first, the SSE stream as a fallback.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  applyCardEvent,
  BoardroomClient,
  BoardroomError,
  BoardroomHttp,
  cardViewFrom,
  type BoardInfo,
  type CardView,
  type Column,
  type JobInfo,
} from '../../client';
import { app, useApp, wsUrl } from '../app-state';
import { ConnectionIndicator, fmtDate, Header } from '../components';
import { useBoardModels } from '../live';
import { linkHandler } from '../router';

type Transport = 'ws' | 'sse';

const REVOKED = 'This link has been revoked or has expired. Ask the company that sent it to you for a new one.';

function fatalFor(e: unknown): string {
  if (e instanceof BoardroomError) {
    if (e.code === 'unauthorized') return /revoked|expired|unknown share/i.test(e.message) ? REVOKED : `You are not signed in (${e.message}).`;
    if (e.code === 'not_found') return 'This job does not exist, or is not visible to you.';
    if (e.code === 'offline') return 'Cannot reach the server. Check your connection; the page retries on its own.';
    return e.message;
  }
  return 'Cannot reach the server. Check your connection and reload.';
}

export function SharedJobPage({ token }: { token: string }) {
  return (
    <>
      <header class="top">
        <span class="brand">Boardroom</span>
        <span class="muted">Job status</span>
      </header>
      <JobView token={token} />
    </>
  );
}

export function CustomerJobPage({ cardId }: { cardId: string }) {
  return (
    <>
      <Header />
      <JobView cardId={cardId} signedIn />
    </>
  );
}

/** A signed-in customer's jobs across the boards they have jobs on. */
export function CustomerJobs() {
  const a = useApp();
  const [boards, setBoards] = useState<BoardInfo[] | null>(null);
  const models = useBoardModels(boards, a.client);
  useEffect(() => {
    if (!a.org) return;
    a.http
      .boards(a.org.id)
      .then(setBoards)
      .catch((e) => a.fail(e, 'Your jobs'));
  }, [a.org?.id]);
  const rows: { id: string; title: string; status: string; done: boolean; due: string | null }[] = [];
  for (const m of models.values()) {
    for (const c of m.cards.values()) {
      const col = m.columns.get(c.column_id);
      rows.push({ id: c.id, title: c.title, status: col?.name ?? '', done: !!col?.is_done, due: c.due_at });
    }
  }
  return (
    <>
      <Header />
      <main class="page">
        <h1>Your jobs</h1>
        {boards === null && <p>Loading…</p>}
        {boards && rows.length === 0 && <p class="empty">No jobs yet.</p>}
        <ul class="plain job-rows">
          {rows.map((r) => (
            <li key={r.id}>
              <a href={`/jobs/${r.id}`} onClick={linkHandler(`/jobs/${r.id}`)}>
                <strong>{r.title}</strong>
              </a>{' '}
              <span class={`status${r.done ? ' done' : ''}`}>{r.status}</span>
              {r.due && <span class="muted small"> · due {fmtDate(r.due)}</span>}
            </li>
          ))}
        </ul>
      </main>
    </>
  );
}

function JobView({ token, cardId, signedIn }: { token?: string; cardId?: string; signedIn?: boolean }) {
  const [info, setInfo] = useState<JobInfo | null>(null);
  const [view, setView] = useState<CardView | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [transport, setTransport] = useState<Transport>(() => (new URLSearchParams(location.search).get('transport') === 'sse' ? 'sse' : 'ws'));
  const [status, setStatus] = useState<string>('connecting');
  const statuses = useRef(new Map<string, Column>());

  const getToken = async () => (token ? token : app.auth.accessToken());
  const http = useRef(new BoardroomHttp({ token: getToken })).current;

  const loadInfo = () =>
    http
      .job(token ? undefined : cardId)
      .then((i) => {
        statuses.current = new Map(i.statuses.map((c) => [c.id, c]));
        setInfo(i);
        return i;
      })
      .catch((e) => {
        setFatal(fatalFor(e));
        return null;
      });

  useEffect(() => {
    void loadInfo();
  }, [token, cardId]);

  // Live updates over the WebSocket.
  useEffect(() => {
    if (!info || transport !== 'ws' || fatal) return;
    const topic = `card:${info.card_id}`;
    const own = !signedIn;
    const client = own ? new BoardroomClient({ url: wsUrl(), token: getToken, clientName: 'boardroom-web/job' }) : app.client;
    if (!client) return;
    let welcomed = client.status === 'live';
    const offStatus = client.on('status', (s) => {
      setStatus(s);
      if (s === 'live') welcomed = true;
      if (s === 'unauthorized') setFatal(fatalFor(client.lastError ?? new BoardroomError('unauthorized', 'revoked')));
    });
    setStatus(client.status);
    const off = client.subscribe(topic, {
      snapshot: (s) => setView(cardViewFrom(s)),
      event: (ev) => setView((v) => (v ? applyCardEvent(v, ev, statuses.current) : v)),
      error: (e) => setFatal(fatalFor(e)),
    });
    if (own) client.connect();
    // No session within a few seconds (a proxy that drops WebSockets): use the SSE stream.
    const fallback = setTimeout(() => {
      if (!welcomed) setTransport('sse');
    }, 5000);
    return () => {
      clearTimeout(fallback);
      offStatus();
      off();
      if (own) client.close();
    };
  }, [info?.card_id, transport, fatal !== null]);

  // Fallback: Server-Sent Events of the same topic.
  useEffect(() => {
    if (!info || transport !== 'sse' || fatal) return;
    let es: EventSource | null = null;
    let stopped = false;
    void getToken().then((t) => {
      if (stopped) return;
      es = new EventSource(`/api/v1/stream?topic=${encodeURIComponent(`card:${info.card_id}`)}&token=${encodeURIComponent(t)}`);
      setStatus('connecting');
      es.addEventListener('open', () => setStatus('live'));
      es.addEventListener('ok', (e) => {
        const f = JSON.parse((e as MessageEvent).data);
        if (f.snapshot) setView(cardViewFrom(f.snapshot));
        setStatus('live');
      });
      es.addEventListener('event', (e) => {
        const ev = JSON.parse((e as MessageEvent).data);
        setView((v) => (v ? applyCardEvent(v, ev, statuses.current) : v));
      });
      es.addEventListener('close', (e) => {
        es?.close();
        setFatal(String((e as MessageEvent).data) === '4003' ? REVOKED : 'The live stream ended. Reload the page.');
      });
      es.onerror = () => {
        if (es?.readyState === EventSource.CLOSED) {
          // Refused outright (e.g. 401): find out why from the API.
          void loadInfo();
          setStatus('offline');
        } else setStatus('reconnecting');
      };
    });
    return () => {
      stopped = true;
      es?.close();
    };
  }, [info?.card_id, transport, fatal !== null]);

  // Someone new on the job: fetch their name.
  useEffect(() => {
    if (!info || !view) return;
    if (view.card.assignees.some((id) => !info.workers.some((w) => w.id === id))) void loadInfo();
  }, [view?.card.assignees.join(',')]);

  if (fatal) {
    return (
      <main class="page job-page">
        <div class="error-box big-msg" role="alert" data-testid="job-fatal">
          {fatal}
        </div>
      </main>
    );
  }
  if (!info || !view) {
    return (
      <main class="page job-page">
        <p>Loading your job…</p>
      </main>
    );
  }
  const card = view.card;
  const order = [...info.statuses].sort((x, y) => (x.position < y.position ? -1 : x.position > y.position ? 1 : 0));
  const curIdx = order.findIndex((c) => c.id === view.column.id);
  const workers = card.assignees.map((id) => info.workers.find((w) => w.id === id)?.name).filter(Boolean);
  const done = card.checklist.filter((i) => i.done).length;
  return (
    <main class="page job-page" data-testid="job-page">
      <p class="muted">{info.org_name}</p>
      <h1>{card.title}</h1>
      <div class="job-live">
        <ConnectionIndicator status={status as any} pending={0} />
        <span class="muted small">{transport === 'sse' ? 'via server-sent events' : ''}</span>
      </div>
      {card.archived && <p class="note-box">This job has been closed.</p>}
      <p class="current-status">
        Status: <strong data-testid="job-status">{view.column.name}</strong>
        {view.column.is_done ? ' ✓' : ''}
      </p>
      <ol class="timeline" aria-label="Job status">
        {(curIdx >= 0 ? order : [...order, { ...view.column, position: '~' }]).map((c, i) => {
          const state = i < curIdx ? 'passed' : c.id === view.column.id ? 'current' : 'future';
          return (
            <li key={c.id} class={state} aria-current={state === 'current' ? 'step' : undefined}>
              <span class="step-dot" aria-hidden="true">
                {state === 'passed' ? '✓' : i + 1}
              </span>
              <span class="step-name">{c.name}</span>
            </li>
          );
        })}
      </ol>
      {card.due_at && <p>Planned for {fmtDate(card.due_at)}</p>}
      {card.description && (
        <section>
          <h2>Details</h2>
          <p class="desc">{card.description}</p>
        </section>
      )}
      <section>
        <h2>Your technician</h2>
        <p data-testid="job-workers">{workers.length ? workers.join(', ') : 'Not assigned yet'}</p>
      </section>
      {card.checklist.length > 0 && (
        <section>
          <h2>
            Tasks{' '}
            <span class="muted small">
              {done} of {card.checklist.length} done
            </span>
          </h2>
          <ul class="plain ro-checklist">
            {card.checklist.map((it) => (
              <li key={it.id} class={it.done ? 'done' : ''}>
                <span aria-hidden="true">{it.done ? '✓' : '○'}</span> <span class="sr-only">{it.done ? 'Done: ' : 'To do: '}</span>
                {it.title}
              </li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}
