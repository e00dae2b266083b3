// The worker's "My jobs": phone first, large touch targets, only the jobs assigned to them
// (the server's filtered view), tick tasks, move a job to its next status.
import { useEffect, useState } from 'preact/hooks';
import { type BoardInfo, type Card, type Column } from '../../client';
import { app, useApp } from '../app-state';
import { fmtDate, fmtMinutes, Header, NamedOptions, OneLineForm, useList } from '../components';
import { useBoardModels } from '../live';
import { CustomerContact } from './card-detail';

interface Job {
  card: Card;
  boardId: string;
  boardName: string;
  columns: Column[];
}

/** Subscribes to every board the user has jobs on; returns their cards. */
function useJobBoards(): { jobs: Job[]; loading: boolean; send: (boardId: string, kind: any, data: any, what: string) => Promise<void> } {
  const a = useApp();
  const [boards, loadBoards] = useList<BoardInfo>(() => (a.org ? a.http.boards(a.org.id) : null), 'Your boards', [a.org?.id]);
  const models = useBoardModels(boards, a.client, {
    onError: (e, b) => {
      if (e.code !== 'not_found') app.fail(e, b.name);
    },
    clearOnReset: true,
  });
  // A job assigned on a board we do not follow yet: reload the list.
  useEffect(() => {
    const c = a.client;
    if (!c) return;
    return c.on('notification', (n) => {
      if (n.kind === 'card.assigned' && !models.has(n.board_id)) loadBoards();
    });
  }, [a.client]);


  const jobs: Job[] = [];
  for (const b of boards ?? []) {
    const m = models.get(b.id);
    if (!m) continue;
    const cols = m.orderedColumns();
    for (const card of m.cards.values()) {
      if (a.me && card.assignees.includes(a.me.user.id)) jobs.push({ card, boardId: b.id, boardName: m.name, columns: cols });
    }
  }
  jobs.sort((x, y) => (x.card.due_at ?? '9999').localeCompare(y.card.due_at ?? '9999') || x.card.title.localeCompare(y.card.title));
  return {
    jobs,
    loading: boards === null,
    async send(boardId, kind, data, what) {
      try {
        await a.client!.op(`board:${boardId}`, kind, data);
      } catch (e) {
        app.fail(e, what);
      }
    },
  };
}

export function MyJobs() {
  const a = useApp();
  const { jobs, loading, send } = useJobBoards();
  const open = jobs.filter((j) => !j.columns.find((c) => c.id === j.card.column_id)?.is_done);
  const done = jobs.filter((j) => j.columns.find((c) => c.id === j.card.column_id)?.is_done);
  return (
    <>
      <Header />
      <main class="page jobs-page">
        <h1>My jobs</h1>
        <p class="muted">
          {a.me?.user.name}: {open.length} open, {done.length} done
        </p>
        {loading && <p>Loading…</p>}
        {!loading && jobs.length === 0 && <p class="empty">No jobs assigned to you right now. New ones appear here as soon as they are assigned.</p>}
        <ul class="job-list" aria-label="Open jobs">
          {open.map((j) => (
            <JobCard key={j.card.id} job={j} send={send} />
          ))}
        </ul>
        {done.length > 0 && (
          <>
            <h2>Done</h2>
            <ul class="job-list done" aria-label="Finished jobs">
              {done.map((j) => (
                <JobCard key={j.card.id} job={j} send={send} />
              ))}
            </ul>
          </>
        )}
      </main>
    </>
  );
}

function JobCard({ job, send }: { job: Job; send: (boardId: string, kind: any, data: any, what: string) => Promise<void> }) {
  const { card, columns } = job;
  const idx = columns.findIndex((c) => c.id === card.column_id);
  const current = columns[idx];
  const next = columns[idx + 1];
  const [busy, setBusy] = useState(false);
  // Ticks shown at once, until the server has them (or refused them).
  const [ticks, setTicks] = useState<Record<string, boolean>>({});
  const tick = async (itemId: string, done: boolean) => {
    setTicks((t) => ({ ...t, [itemId]: done }));
    await send(job.boardId, 'checklist.toggle', { card_id: card.id, item_id: itemId, done }, 'The task');
    setTicks(({ [itemId]: _, ...rest }) => rest);
  };
  const isDone = (it: { id: string; done: boolean }) => ticks[it.id] ?? it.done;
  const tasksLeft = card.checklist.filter((i) => !isDone(i)).length;
  const move = async (to: Column) => {
    setBusy(true);
    await send(job.boardId, 'card.move', { card_id: card.id, column_id: to.id, after: null }, 'The job');
    setBusy(false);
  };
  return (
    <li class="job" data-job={card.id}>
      <div class="job-head">
        <h2>{card.title}</h2>
        <span class={`status${current?.is_done ? ' done' : ''}`} data-testid="job-status">
          {current?.name ?? '…'}
        </span>
      </div>
      <p class="muted small">
        {job.boardName}
        {card.due_at ? ` · due ${fmtDate(card.due_at)}` : ''}
        {card.priority && card.priority !== 'normal' ? ` · ${card.priority}` : ''}
        {card.estimate_minutes != null ? ` · about ${fmtMinutes(card.estimate_minutes)}` : ''}
      </p>
      {card.customer_id && <CustomerContact cardId={card.id} customerId={card.customer_id} />}
      {card.description && <p class="desc">{card.description}</p>}
      {card.checklist.length > 0 && (
        <ul class="big-checks" aria-label={`Tasks of ${card.title}`}>
          {card.checklist.map((it) => (
            <li key={it.id}>
              <label class="big-check">
                <input type="checkbox" checked={isDone(it)} onChange={(e) => void tick(it.id, (e.target as HTMLInputElement).checked)} />
                <span class={isDone(it) ? 'struck' : ''}>{it.title}</span>
              </label>
            </li>
          ))}
        </ul>
      )}
      <div class="job-actions">
        {next && (
          <button class={`primary big${next.is_done ? ' finish' : ''}`} disabled={busy} onClick={() => void move(next)} data-testid="next-status">
            {next.is_done ? `Complete: move to ${next.name}` : `Move to ${next.name}`}
          </button>
        )}
        {next?.is_done && tasksLeft > 0 && (
          <p class="muted small">
            {tasksLeft} task{tasksLeft === 1 ? '' : 's'} not ticked yet.
          </p>
        )}
        <label class="field">
          <span>Status</span>
          <select
            aria-label={`Status of ${card.title}`}
            value={card.column_id}
            disabled={busy}
            onChange={(e) => {
              const c = columns.find((x) => x.id === (e.target as HTMLSelectElement).value);
              if (c && c.id !== card.column_id) void move(c);
            }}
          >
            <NamedOptions items={columns} />
          </select>
        </label>
      </div>
      <OneLineForm
        id={`note-${card.id}`}
        label={`Note for the office about ${card.title}`}
        placeholder="Add a note for the office"
        maxLength={5000}
        submit="Send"
        formClass="row note"
        buttonClass="big"
        onAdd={(body) => void send(job.boardId, 'comment.add', { card_id: card.id, body }, 'The note')}
      />
    </li>
  );
}

