import { useEffect, useState } from 'preact/hooks';
import { app, useApp } from './app-state';
import { Toasts } from './components';
import { Admin } from './pages/admin';
import { BoardPage } from './pages/board';
import { Boards } from './pages/boards';
import { CustomerJobPage, CustomerJobs, SharedJobPage } from './pages/job';
import { Login } from './pages/login';
import { MyJobs } from './pages/my-jobs';
import { match, navigate, usePath } from './router';

/** Navigates after the render (not during it). */
function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}

function home(role: string | undefined): string {
  return role === 'worker' ? '/my-jobs' : role === 'customer' ? '/jobs' : '/boards';
}

export function App() {
  const path = usePath();
  const a = useApp();
  const [ready, setReady] = useState(false);
  const shared = match('/j/:token', path);

  useEffect(() => {
    if (shared) return setReady(true);
    app
      .start()
      .catch((e) => app.fail(e, 'Signing in'))
      .finally(() => setReady(true));
  }, [shared === null]);

  let page;
  if (shared) page = <SharedJobPage token={shared.token!} />;
  else if (!ready) page = <main class="page muted">Loading…</main>;
  else if (!a.me) {
    page =
      path !== '/login' ? (
        <Redirect to={`/login?next=${encodeURIComponent(path)}`} />
      ) : (
        <Login next={new URLSearchParams(location.search).get('next') ?? '/'} />
      );
  } else {
    const role = a.org?.role;
    let m: Record<string, string> | null;
    if (path === '/' || path === '/login') page = <Redirect to={home(role)} />;
    else if ((m = match('/boards/:id/cards/:card', path))) page = <BoardPage boardId={m.id!} cardId={m.card} />;
    else if ((m = match('/boards/:id', path))) page = <BoardPage boardId={m.id!} />;
    else if (path === '/boards') page = <Boards />;
    else if (path === '/my-jobs') page = <MyJobs />;
    else if (path === '/jobs') page = <CustomerJobs />;
    else if ((m = match('/jobs/:card', path))) page = <CustomerJobPage cardId={m.card!} />;
    else if (path === '/admin') page = <Admin tab="" />;
    else if ((m = match('/admin/:tab', path))) page = <Admin tab={m.tab!} />;
    else
      page = (
        <main class="page">
          <h1>Not found</h1>
          <p>
            There is nothing at this address. <a href={home(role)}>Go to the start page</a>.
          </p>
        </main>
      );
  }
  return (
    <>
      {page}
      <Toasts />
      <div id="announce" class="sr-only" aria-live="polite" />
    </>
  );
}
