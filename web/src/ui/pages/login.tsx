import { useEffect, useState } from 'preact/hooks';
import { BoardroomError, describeError } from '../../client';
import { app } from '../app-state';
import { navigate } from '../router';

const DEMO = ['owner', 'admin', 'member', 'worker', 'worker2', 'customer'];

export function Login({ next }: { next: string }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The demo accounts exist only on a server that seeds them (dev mode): it says so in /healthz.
  const [demo, setDemo] = useState(false);
  useEffect(() => {
    fetch('/healthz')
      .then((r) => (r.ok ? r.json() : null))
      .then((h) => setDemo(Boolean(h && h.demo)))
      .catch(() => setDemo(false));
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await app.login(email.trim(), password);
      navigate(next && next !== '/login' ? next : '/', true);
    } catch (err) {
      if (err instanceof BoardroomError && err.code === 'unauthorized') setError('Wrong email or password.');
      else setError(describeError(err, 'Signing in'));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="login-box" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Boardroom</h1>
        <label class="field">
          <span>Email</span>
          <input type="email" name="email" autoComplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          <span>Password</span>
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        {error && (
          <p class="error-box" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary big" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {demo && (
        <details class="demo">
          <summary>Demo accounts</summary>
          <p class="small">
            Password <code>boardroom-demo</code> for all of them (created on the first start in dev mode).
          </p>
          <div class="demo-list">
            {DEMO.map((d) => (
              <button
                type="button"
                key={d}
                class="link"
                onClick={() => {
                  setEmail(`${d}@demo.boardroom`);
                  setPassword('boardroom-demo');
                }}
              >
                {d}@demo.boardroom
              </button>
            ))}
          </div>
        </details>
        )}
      </form>
    </main>
  );
}
