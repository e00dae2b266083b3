import { useState } from 'preact/hooks';
import type { BoardInfo } from '../../client';
import { canEdit, useApp } from '../app-state';
import { Header, useList } from '../components';
import { linkHandler, navigate } from '../router';

export function Boards() {
  const a = useApp();
  const [boards] = useList<BoardInfo>(() => (a.org ? a.http.boards(a.org.id) : null), 'The board list', [a.org?.id]);
  const [name, setName] = useState('');
  const [template, setTemplate] = useState<'kanban' | 'jobs'>('kanban');
  return (
    <>
      <Header />
      <main class="page">
        <h1>{a.org?.name ?? 'Boards'}</h1>
        {boards === null ? (
          <p>Loading…</p>
        ) : boards.length === 0 ? (
          <p class="empty">No boards yet.</p>
        ) : (
          <ul class="board-list">
            {boards.map((b) => (
              <li key={b.id}>
                <a href={`/boards/${b.id}`} onClick={linkHandler(`/boards/${b.id}`)} class="board-link">
                  <strong>{b.name}</strong>
                  <span class="muted small">
                    {b.template === 'jobs' ? 'Jobs board' : 'Kanban'} · {b.columns.length} columns
                  </span>
                </a>
              </li>
            ))}
          </ul>
        )}
        {canEdit(a.org?.role) && (
          <form
            class="inline-form"
            onSubmit={async (e) => {
              e.preventDefault();
              if (!a.org || !name.trim()) return;
              try {
                const b = await a.http.createBoard(a.org.id, name.trim(), template);
                setName('');
                navigate(`/boards/${b.id}`);
              } catch (err) {
                a.fail(err, 'The board');
              }
            }}
          >
            <h2>New board</h2>
            <label class="field">
              <span>Name</span>
              <input value={name} maxLength={100} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            </label>
            <label class="field">
              <span>Kind</span>
              <select aria-label="Kind" value={template} onChange={(e) => setTemplate((e.target as HTMLSelectElement).value as 'kanban' | 'jobs')}>
                <option value="kanban">Kanban (To do, Doing, Done)</option>
                <option value="jobs">Jobs (statuses for field work)</option>
              </select>
            </label>
            <button type="submit" class="primary">
              Create board
            </button>
          </form>
        )}
      </main>
    </>
  );
}
