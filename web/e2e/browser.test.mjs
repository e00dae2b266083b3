// Real-browser tests: the real server binary (fresh SQLite file, demo seed, dev mode) on a
// free port, driven through Debian's Chromium with playwright-core. No mocks.
//
//   node --test --test-reporter=spec e2e/browser.test.mjs
//
// BOARDROOM_BIN   server binary (default: $CARGO_TARGET_DIR or ../target, debug then release)
// CHROMIUM        browser (default /usr/bin/chromium)
// Screenshots go to web/test-artifacts/ (git-ignored).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const artifacts = resolve(here, '..', 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

function serverBinary() {
  if (process.env.BOARDROOM_BIN) return process.env.BOARDROOM_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, 'target');
  for (const p of [join(target, 'debug', 'boardroom'), join(target, 'release', 'boardroom')]) if (existsSync(p)) return p;
  throw new Error(`no server binary under ${target}; run cargo build (or set BOARDROOM_BIN)`);
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

let server;
let dataDir;
let base;
let browser;
const PASSWORD = 'boardroom-demo';

async function api(method, path, token, body) {
  const r = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const login = async (who) => (await api('POST', '/api/v1/auth/login', null, { email: `${who}@demo.boardroom`, password: PASSWORD })).access_token;

/** Ids by name, looked up through the public API like any client would. */
async function demo() {
  const admin = await login('admin');
  const me = await api('GET', '/api/v1/me', admin);
  const org = me.memberships[0].org_id;
  const boards = (await api('GET', `/api/v1/orgs/${org}/boards`, admin)).boards;
  const people = (await api('GET', `/api/v1/orgs/${org}/people`, admin)).people;
  const board = async (name) => api('GET', `/api/v1/boards/${boards.find((b) => b.name === name).id}`, admin);
  return { admin, org, boards, people, board, person: (name) => people.find((p) => p.name === name) };
}

/** A board's columns in the order the board shows them. */
const inOrder = (columns) => [...columns].sort((x, y) => (x.position < y.position ? -1 : 1));

/** The demo's "Product roadmap" (its columns in order) opened in a member's own browser context. */
async function roadmapAsMember(viewport) {
  const d = await demo();
  const roadmap = await d.board('Product roadmap');
  const ctx = await browser.newContext({ viewport });
  const page = await signIn(ctx, 'member');
  await page.goto(`${base}/boards/${roadmap.id}`);
  return { d, roadmap, cols: inOrder(roadmap.columns), ctx, page };
}

/** Polls `check` until it holds (or 5 s pass): the page shows a change at once, before the
 * server has committed it (commit durability), so the server's state is read until it follows. */
async function serverHas(check, message) {
  const until = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let port;

/** Starts the server (again, on the same port and data directory) and waits until ready. */
async function startServer() {
  const bin = serverBinary();
  const log = createWriteStream(join(artifacts, 'server.log'), { flags: 'a' });
  server = spawn(bin, ['--config', join(repo, 'config.toml'), 'serve'], {
    cwd: dataDir,
    env: {
      // Only our settings: the server refuses unknown BOARDROOM_* keys (BOARDROOM_BIN is ours).
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDROOM_'))),
      BOARDROOM_LISTEN: `127.0.0.1:${port}`,
      BOARDROOM_DATA_DIR: join(dataDir, 'data'),
      BOARDROOM_DATABASE_URL: '',
      BOARDROOM_DEV_MODE: 'true',
      BOARDROOM_DEMO_SEED: 'true',
      BOARDROOM_PUBLIC_URL: base,
      BOARDROOM_BROKER: 'memory',
      // Every test signs the demo people in (API and page); the per-account login limits are
      // for attackers, not for this suite.
      BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT_IP_PER_MINUTE: '1000',
      BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE: '1000',
      BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_IP_PER_MINUTE: '1000',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}; see test-artifacts/server.log`);
    if (Date.now() > deadline) throw new Error('server did not become ready in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  port = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'boardroom-e2e-'));
  base = `http://127.0.0.1:${port}`;
  rmSync(join(artifacts, 'server.log'), { force: true });
  await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function signIn(context, who, viewport) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.on('pageerror', (e) => console.error(`[${who}] page error:`, e.message));
  await page.goto(base + '/');
  await page.getByLabel('Email').fill(`${who}@demo.boardroom`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('[data-testid=connection][data-status=live]');
  return page;
}

/** Drags with the mouse, in small steps, as a person would (SortableJS fallback mode), and
 * drops near the bottom of the target list. */
async function drag(page, from, to) {
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  const [x0, y0] = [a.x + a.width / 2, a.y + a.height / 2];
  const [x1, y1] = [b.x + b.width / 2, b.y + b.height - 6];
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  await page.waitForTimeout(50);
  const steps = 25;
  for (let i = 1; i <= steps; i++) {
    await page.mouse.move(x0 + ((x1 - x0) * i) / steps, y0 + ((y1 - y0) * i) / steps);
    await page.waitForTimeout(20);
  }
  await page.waitForTimeout(150);
  await page.mouse.up();
}

const noHorizontalScroll = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

describe('Boardroom in a real browser', () => {
  it('two people on one board: drag, presence, @mention, keyboard move', async () => {
    const d = await demo();
    const roadmap = await d.board('Product roadmap');
    const cols = inOrder(roadmap.columns);
    const [todo, , done] = cols;
    const backups = roadmap.cards.find((c) => c.title === 'Nightly backups');
    const mia = d.person('Mia Member');
    const adam = d.person('Adam Admin');

    const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const A = await signIn(ctxA, 'member');
    const B = await signIn(ctxB, 'admin');
    for (const p of [A, B]) {
      await p.getByRole('link', { name: /Product roadmap/ }).click();
      await p.waitForSelector(`[data-card="${backups.id}"]`);
    }
    // Presence: both avatars on both screens.
    for (const p of [A, B]) {
      await p.waitForSelector(`[data-testid=presence] [data-user="${mia.id}"]`);
      await p.waitForSelector(`[data-testid=presence] [data-user="${adam.id}"]`);
    }

    // A drags "Nightly backups" from To do into Done; B sees it there without reloading.
    await drag(A, A.locator(`[data-card="${backups.id}"]`), A.locator(`[data-column="${done.id}"]`));
    await A.waitForSelector(`[data-column="${done.id}"] [data-card="${backups.id}"]`);
    await B.waitForSelector(`[data-column="${done.id}"] [data-card="${backups.id}"]`, { timeout: 5000 });
    const after = await d.board('Product roadmap');
    assert.equal(after.cards.find((c) => c.id === backups.id).column_id, done.id, 'the server has the move');
    await A.screenshot({ path: join(artifacts, 'board-after-drag-A.png') });
    await B.screenshot({ path: join(artifacts, 'board-after-drag-B.png') });

    // A opens a card: B sees A's marker on it.
    const target = roadmap.cards.find((c) => c.title === 'Customer job page');
    await A.locator(`[data-card="${target.id}"] .card-title`).click();
    await A.waitForSelector('[data-testid=card-detail]');
    await B.waitForSelector(`[data-card="${target.id}"] [data-testid=viewers] [data-user="${mia.id}"]`);

    // A comments with an @mention of Adam: Adam's unread count goes up, live.
    const unreadBefore = Number((await B.locator('[data-testid=unread]').textContent({ timeout: 500 }).catch(() => '0')) || '0');
    const box = A.getByLabel(/Write a comment/);
    await box.click();
    await box.pressSequentially('Could you check this @Ad');
    await A.waitForSelector('.suggest [role=option]');
    await box.press('Enter');
    await box.pressSequentially('please');
    assert.match(await box.inputValue(), /@Adam Admin please/);
    await A.getByRole('button', { name: 'Comment', exact: true }).click();
    await A.waitForSelector('.comments .mention');
    await B.waitForFunction((n) => Number(document.querySelector('[data-testid=unread]')?.textContent ?? 0) === n, unreadBefore + 1, { timeout: 5000 });
    // The board as Adam sees it: both people here, Mia's marker on the card she has open, the
    // unread badge (the README's screenshot).
    await B.screenshot({ path: join(artifacts, 'board.png'), clip: { x: 0, y: 0, width: 1280, height: 380 } });
    // Adam opens the bell and marks it read.
    await B.getByTestId('bell').click();
    await B.waitForSelector('.notif-list li.unread');
    await B.getByRole('button', { name: 'Mark all read' }).click();
    await B.waitForFunction(() => !document.querySelector('[data-testid=unread]'));
    await B.keyboard.press('Escape');

    await A.screenshot({ path: join(artifacts, 'card-detail-A.png') });
    await A.keyboard.press('Escape');
    await A.waitForSelector('[data-testid=card-detail]', { state: 'detached' });

    // Keyboard: focus a card and move it one column to the right with the arrow key.
    const drag2 = roadmap.cards.find((c) => c.title === 'Sign-in page') ?? roadmap.cards.find((c) => c.column_id === todo.id);
    const startCol = cols.findIndex((c) => c.id === drag2.column_id);
    const card = A.locator(`[data-card="${drag2.id}"]`);
    await card.focus();
    await A.keyboard.press(startCol < cols.length - 1 ? 'ArrowRight' : 'ArrowLeft');
    const expected = cols[startCol < cols.length - 1 ? startCol + 1 : startCol - 1];
    await B.waitForSelector(`[data-column="${expected.id}"] [data-card="${drag2.id}"]`, { timeout: 5000 });
    assert.equal(await A.evaluate(() => document.activeElement?.getAttribute('data-card')), drag2.id, 'focus stays on the moved card');

    // 360 px wide: the page does not break (the columns scroll inside their row).
    await A.setViewportSize({ width: 360, height: 740 });
    await A.waitForTimeout(100);
    assert.ok(await noHorizontalScroll(A), 'no page-level horizontal scroll at 360 px');
    await A.screenshot({ path: join(artifacts, 'board-360.png') });
    await ctxA.close();
    await ctxB.close();
  });

  it('a worker on a phone sees only their jobs and completes one', async () => {
    const d = await demo();
    const jobs = await d.board('Field jobs');
    const walter = d.person('Walter Worker');
    const mine = jobs.cards.filter((c) => c.assignees.includes(walter.id));
    const others = jobs.cards.filter((c) => !c.assignees.includes(walter.id));
    assert.ok(mine.length > 0 && others.length > 0);
    const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const page = await signIn(ctx, 'worker');
    await page.waitForURL(/\/my-jobs$/);
    for (const c of mine) await page.waitForSelector(`[data-job="${c.id}"]`);
    for (const c of others) assert.equal(await page.locator(`[data-job="${c.id}"]`).count(), 0, `not shown: ${c.title}`);
    assert.ok(await noHorizontalScroll(page), 'no horizontal scroll at 360 px');
    await page.screenshot({ path: join(artifacts, 'worker-my-jobs.png'), fullPage: true });

    const job = mine.find((c) => c.title.startsWith('Repair boiler'));
    const el = page.locator(`[data-job="${job.id}"]`);
    // Big touch targets: the tick boxes' rows and the main button are at least 44 px high.
    const row = await el.locator('.big-check').first().boundingBox();
    assert.ok(row.height >= 44, `tick row is ${row.height}px high`);
    for (const box of await el.getByRole('checkbox').all()) await box.tap();
    await page.waitForFunction((id) => [...document.querySelectorAll(`[data-job="${id}"] input[type=checkbox]`)].every((b) => b.checked), job.id);
    // Move through the statuses until done.
    const cols = inOrder(jobs.columns);
    const doneCol = cols.find((c) => c.is_done);
    for (let i = 0; i < cols.length; i++) {
      const status = await el.getByTestId('job-status').textContent();
      if (status === doneCol.name) break;
      const btn = el.getByTestId('next-status');
      const btnBox = await btn.boundingBox();
      assert.ok(btnBox.height >= 44, `button is ${btnBox.height}px high`);
      await btn.tap();
      await page.waitForFunction(([id, s]) => document.querySelector(`[data-job="${id}"] [data-testid=job-status]`)?.textContent !== s, [job.id, status]);
    }
    await page.waitForSelector(`.job-list.done [data-job="${job.id}"]`);
    await serverHas(async () => (await d.board('Field jobs')).cards.find((c) => c.id === job.id).column_id === doneCol.id, 'the job is in the done column on the server');
    const done = (await d.board('Field jobs')).cards.find((c) => c.id === job.id);
    assert.ok(done.checklist.every((i) => i.done), 'all tasks ticked on the server');
    await page.screenshot({ path: join(artifacts, 'worker-completed.png'), fullPage: true });
    await ctx.close();
  });

  it('a customer page on a share link follows the status live (WebSocket and SSE), and a revoked link says so', async () => {
    const d = await demo();
    const jobs = await d.board('Field jobs');
    const cols = inOrder(jobs.columns);
    const job = jobs.cards.find((c) => c.title === 'Gutter cleaning');
    const link = await api('POST', `/api/v1/cards/${job.id}/share-links`, d.admin, {});
    assert.match(link.token, /^brs_/);
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    await page.goto(`${base}/j/${link.token}`);
    const current = cols.find((c) => c.id === job.column_id);
    await page.waitForFunction((s) => document.querySelector('[data-testid=job-status]')?.textContent === s, current.name);
    await page.waitForSelector('[data-testid=connection][data-status=live]');
    assert.match(await page.getByTestId('job-workers').textContent(), /Walter Worker/);
    assert.equal(await page.locator('.comments, .labels').count(), 0, 'no comments or labels on the customer page');
    await page.evaluate(() => (window.__notReloaded = true));
    const sse = await ctx.newPage();
    await sse.goto(`${base}/j/${link.token}?transport=sse`);
    await sse.waitForFunction((s) => document.querySelector('[data-testid=job-status]')?.textContent === s, current.name);
    await sse.evaluate(() => (window.__notReloaded = true));
    await page.screenshot({ path: join(artifacts, 'customer-before.png'), fullPage: true });

    // The office moves the job to the done status.
    const doneCol = cols.find((c) => c.is_done);
    await api('POST', `/api/v1/boards/${jobs.id}/ops`, d.admin, {
      op_id: crypto.randomUUID(),
      kind: 'card.move',
      data: { card_id: job.id, column_id: doneCol.id, after: null },
    });
    for (const p of [page, sse]) {
      await p.waitForFunction((s) => document.querySelector('[data-testid=job-status]')?.textContent === s, doneCol.name, { timeout: 5000 });
      assert.equal(await p.evaluate(() => window.__notReloaded), true, 'updated without a reload');
      assert.equal(await p.locator('.timeline li[aria-current=step]').textContent(), `${cols.length}${doneCol.name}`);
    }
    await page.screenshot({ path: join(artifacts, 'customer-after.png'), fullPage: true });

    // Revoking the link: the open page says so, and so does a fresh visit.
    await api('DELETE', `/api/v1/share-links/${link.id}`, d.admin);
    for (const p of [page, sse]) {
      await p.waitForSelector('[data-testid=job-fatal]', { timeout: 10_000 });
      assert.match(await p.getByTestId('job-fatal').textContent(), /revoked/);
    }
    const fresh = await ctx.newPage();
    await fresh.goto(`${base}/j/${link.token}`);
    await fresh.waitForSelector('[data-testid=job-fatal]');
    assert.match(await fresh.getByTestId('job-fatal').textContent(), /This link has been revoked or has expired/);
    await fresh.screenshot({ path: join(artifacts, 'customer-revoked.png') });
    await ctx.close();
  });

  it('offline: changes wait in the outbox with a visible count and are sent after the reconnect', async () => {
    const { d, roadmap, cols, ctx, page } = await roadmapAsMember({ width: 1280, height: 800 });
    const card = roadmap.cards.find((c) => c.column_id === cols[0].id) ?? roadmap.cards[0];
    await page.waitForSelector(`[data-card="${card.id}"]`);
    // The server dies.
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    await page.waitForFunction(() => ['reconnecting', 'offline'].includes(document.querySelector('[data-testid=connection]')?.dataset.status ?? ''));
    // A move made now shows at once and waits.
    const startCol = cols.findIndex((c) => c.id === card.column_id);
    const to = cols[startCol === 0 ? 1 : 0];
    await page.locator(`[data-card="${card.id}"]`).focus();
    await page.keyboard.press(startCol === 0 ? 'ArrowRight' : 'ArrowLeft');
    await page.waitForSelector(`[data-column="${to.id}"] [data-card="${card.id}"]`);
    await page.waitForSelector('[data-testid=connection][data-pending="1"]');
    assert.match(await page.getByTestId('connection').textContent(), /(Reconnecting…|Offline) · 1 change waiting/);
    await page.screenshot({ path: join(artifacts, 'offline-pending.png') });
    // The server comes back: the client reconnects, resends, and the change is saved.
    await startServer();
    await page.waitForSelector('[data-testid=connection][data-status=live][data-pending="0"]', { timeout: 20_000 });
    const now = await d.board('Product roadmap').catch(async () => (await demo()).board('Product roadmap'));
    assert.equal(now.cards.find((c) => c.id === card.id).column_id, to.id, 'the move made offline reached the server');
    await ctx.close();
  });

  it('a member creates, edits and archives a card, and reorders columns', async () => {
    const { d, cols, ctx, page } = await roadmapAsMember({ width: 1280, height: 900 });
    page.on('dialog', (dlg) => dlg.accept());
    await page.waitForSelector('[data-card]');
    // Create.
    await page.getByRole('button', { name: `Add a card to ${cols[0].name}` }).click();
    await page.getByLabel(`Title of the new card in ${cols[0].name}`).fill('Write the changelog');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const tile = page.locator(`[data-column="${cols[0].id}"] .card`, { hasText: 'Write the changelog' });
    await tile.waitFor();
    await page.waitForFunction(() => !document.querySelector('.card[data-pending]'));
    const id = await tile.getAttribute('data-card');
    // Edit everything in the detail.
    await tile.locator('.card-title').click();
    const detail = page.getByTestId('card-detail');
    await detail.waitFor();
    await detail.getByLabel('Title').fill('Write the release changelog');
    await detail.getByLabel('Title').press('Enter');
    await detail.getByLabel('Description').fill('Everything since 0.1.');
    await detail.getByLabel('Labels (comma separated)').fill('docs, release');
    await detail.getByLabel('Labels (comma separated)').press('Enter');
    await detail.getByLabel('Due date').fill('2030-05-01');
    await detail.getByLabel('Customer', { exact: true }).selectOption({ label: "Bob's Bakery" });
    await detail.getByRole('checkbox', { name: /Walter Worker/ }).check();
    await detail.getByLabel('New task').fill('Collect the merged PRs');
    await detail.getByRole('button', { name: 'Add', exact: true }).click();
    await detail.getByLabel('New task').fill('Remove me');
    await detail.getByRole('button', { name: 'Add', exact: true }).click();
    await detail.getByRole('checkbox', { name: 'Collect the merged PRs' }).check();
    await detail.getByRole('button', { name: 'Remove task Remove me' }).click();
    await detail.getByText('version 11').waitFor({ timeout: 5000 });
    const card = (await d.board('Product roadmap')).cards.find((c) => c.id === id);
    assert.equal(card.title, 'Write the release changelog');
    assert.equal(card.description, 'Everything since 0.1.');
    assert.deepEqual(card.labels, ['docs', 'release']);
    assert.equal(card.due_at.slice(0, 10), '2030-05-01');
    assert.ok(card.customer_id, 'a customer is set');
    assert.deepEqual(card.assignees, [d.person('Walter Worker').id]);
    assert.deepEqual(card.checklist.map((i) => [i.title, i.done]), [['Collect the merged PRs', true]]);
    await page.screenshot({ path: join(artifacts, 'card-edited.png') });
    // "Move to…" from the detail.
    await detail.getByTestId('move-to').selectOption(cols[1].id);
    await page.waitForSelector(`[data-column="${cols[1].id}"] [data-card="${id}"]`);
    // Archive.
    await detail.getByRole('button', { name: 'Archive card' }).click();
    await page.waitForSelector(`[data-card="${id}"]`, { state: 'detached' });
    await serverHas(async () => !(await d.board('Product roadmap')).cards.some((c) => c.id === id), 'archived on the server');
    // Drag the last column to the front by its handle.
    const last = cols[cols.length - 1];
    await drag(page, page.locator(`[data-column-box="${last.id}"] .col-handle`), page.locator(`[data-column-box="${cols[0].id}"] .col-head`));
    await page.waitForFunction((lid) => document.querySelector('[data-column-box]')?.getAttribute('data-column-box') === lid, last.id);
    const firstColumn = async () => inOrder((await d.board('Product roadmap')).columns)[0].id;
    await serverHas(async () => (await firstColumn()) === last.id, 'the column order changed on the server');
    await ctx.close();
  });

  it('a signed-in customer sees their jobs and follows one', async () => {
    const d = await demo();
    const jobs = await d.board('Field jobs');
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await signIn(ctx, 'customer');
    await page.waitForURL(/\/jobs$/);
    await page.getByRole('link', { name: 'Repair boiler at 12 Elm St' }).click();
    await page.waitForSelector('[data-testid=job-page]');
    const boiler = jobs.cards.find((c) => c.title.startsWith('Repair boiler'));
    const col = jobs.columns.find((c) => c.id === boiler.column_id);
    assert.equal(await page.getByTestId('job-status').textContent(), col.name);
    assert.match(await page.getByTestId('job-workers').textContent(), /Walter Worker/);
    // Bakery's job (another customer) is not listed.
    await page.goBack();
    await page.waitForSelector('.job-rows li');
    assert.equal(await page.getByText('Install shelving at the bakery').count(), 0);
    await page.screenshot({ path: join(artifacts, 'customer-jobs.png') });
    await ctx.close();
  });

  it('admin: API key shown once, a refused role change explained, customers, statuses, share links', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    const page = await signIn(ctx, 'admin');
    await page.goto(`${base}/admin/api-keys`);
    await page.getByLabel('Name').fill('e2e bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('New API key').inputValue();
    assert.match(key, /^br_/);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    assert.equal(await page.getByLabel('New API key').count(), 0);
    await page.waitForSelector('text=e2e bot');
    assert.equal((await page.content()).includes(key), false, 'the key is not shown again');
    // The key works for a bot over HTTP.
    const me = await fetch(`${base}/api/v1/orgs/${(await demo()).org}/boards`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200);
    // A refused action is explained: a member cannot be given a role an admin may not grant.
    await page.goto(`${base}/admin/members`);
    const owner = page.getByRole('combobox', { name: 'Role of Olivia Owner' });
    await owner.selectOption('member');
    await page.waitForSelector('[data-testid=toast]');
    assert.match(await page.getByTestId('toast').first().textContent(), /Not allowed|Conflict/);
    await page.screenshot({ path: join(artifacts, 'admin-members.png') });

    // Customers: add one; it is offered on cards.
    await page.getByRole('link', { name: 'Customers' }).click();
    await page.getByLabel('Name').fill('Dora Dentist');
    await page.getByLabel('Phone (optional)').fill('+1 555 0123');
    await page.getByRole('button', { name: 'Add customer' }).click();
    await page.waitForSelector('td:text("Dora Dentist")');
    // Statuses: add one to the jobs board; the board has it.
    await page.getByRole('link', { name: 'Statuses' }).click();
    await page.getByLabel('New status name').fill('Waiting for parts');
    await page.getByRole('button', { name: 'Add status' }).click();
    await page.waitForSelector('input[value="Waiting for parts"]');
    const d = await demo();
    await serverHas(async () => (await d.board('Field jobs')).columns.some((c) => c.name === 'Waiting for parts'), 'the new status is on the server');
    // Share links: the list shows the link made earlier (revoked).
    await page.getByRole('link', { name: 'Share links' }).click();
    await page.getByRole('link', { name: 'Gutter cleaning' }).first().waitFor();
    assert.ok((await page.locator('tr.inactive').count()) >= 1, 'the revoked link is listed as revoked');
    await page.screenshot({ path: join(artifacts, 'admin-share-links.png') });
    await ctx.close();
  });
  it('field service: find a job, priority and estimate, a column colour, and the worker sees who the job is for', async () => {
    const d = await demo();
    const jobs = await d.board('Field jobs');
    const boiler = jobs.cards.find((c) => c.title.startsWith('Repair boiler'));
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(ctx, 'admin');
    await page.goto(`${base}/boards/${jobs.id}`);
    await page.waitForSelector('[data-card]');
    // Find it by a word of its title.
    await page.getByRole('button', { name: 'Find cards' }).click();
    await page.getByPlaceholder('Title or description').fill('boiler');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('search-total').filter({ hasText: '1 card' }).waitFor();
    await page.locator('.search-results a', { hasText: 'Repair boiler' }).click();
    const detail = page.getByTestId('card-detail');
    await detail.waitFor();
    // The admin sees the customer's contact too, and sets priority and estimate.
    await detail.getByTestId('customer-contact').filter({ hasText: '12 Elm St' }).waitFor();
    await detail.getByTestId('priority-select').selectOption('urgent');
    await detail.getByLabel('Estimate in minutes').fill('45');
    await detail.getByLabel('Estimate in minutes').press('Tab');
    await serverHas(async () => {
      const c = (await d.board('Field jobs')).cards.find((x) => x.id === boiler.id);
      return c.priority === 'urgent' && c.estimate_minutes === 45;
    }, 'priority and estimate on the server');
    await page.keyboard.press('Escape');
    await page.locator(`[data-card="${boiler.id}"] [data-testid=priority]`).filter({ hasText: 'urgent' }).waitFor();
    // A status gets a colour.
    const first = inOrder(jobs.columns)[0];
    await page.getByLabel(`Colour of ${first.name}`).fill('#ff0000');
    await serverHas(async () => (await d.board('Field jobs')).columns.find((c) => c.id === first.id).color === '#ff0000', 'the column colour on the server');
    await page.screenshot({ path: join(artifacts, 'field-service-admin.png') });
    await ctx.close();

    // The worker on the job has the customer's number and address on it.
    const wctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const worker = await signIn(wctx, 'worker');
    await worker.waitForURL(/\/my-jobs$/);
    const contact = worker.locator(`[data-job="${boiler.id}"] [data-testid=customer-contact]`);
    await contact.filter({ hasText: '12 Elm St, Springfield' }).waitFor();
    assert.match(await contact.textContent(), /Carla Customer.*\+1 555 0100/);
    await worker.screenshot({ path: join(artifacts, 'field-service-worker.png'), fullPage: true });
    await wctx.close();
  });

  it('admin: an API key with a role, one board and an expiry; its row shows them and when it was last used', async () => {
    const d = await demo();
    const roadmap = d.boards.find((b) => b.name === 'Product roadmap');
    const jobs = d.boards.find((b) => b.name === 'Field jobs');
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await signIn(ctx, 'admin');
    await page.goto(`${base}/admin/api-keys`);
    await page.getByLabel('Name').fill('roadmap bot');
    await page.getByRole('combobox', { name: 'Role' }).selectOption('worker');
    await page.getByLabel('Key board Product roadmap').check();
    await page.getByLabel('Expires in days (empty = never)').fill('7');
    // No key may be an owner: the form does not offer it.
    assert.equal(await page.locator('select[aria-label=Role] option[value=owner]').count(), 0);
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('New API key').inputValue();
    assert.match(key, /^br_/);
    const listed = (await api('GET', `/api/v1/orgs/${d.org}/api-keys`, d.admin)).api_keys.find((k) => k.name === 'roadmap bot');
    assert.equal(listed.role, 'worker');
    assert.deepEqual(listed.boards, [roadmap.id]);
    assert.ok(listed.expires_at, 'an expiry was set');
    const row = page.locator('tr', { hasText: 'roadmap bot' });
    assert.equal(await row.getByTestId('key-boards').textContent(), 'Product roadmap');
    assert.match(await row.textContent(), /never/, 'not used yet');
    // The key reads its board, and not another.
    const own = await fetch(`${base}/api/v1/boards/${roadmap.id}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(own.status, 200);
    const other = await fetch(`${base}/api/v1/boards/${jobs.id}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(other.status, 404);
    // After a reload the row shows its last use.
    await page.reload();
    const used = page.locator('tr', { hasText: 'roadmap bot' });
    await used.waitFor();
    const cells = await used.locator('td').allTextContents();
    assert.equal(cells[1], 'worker');
    assert.equal(cells[2], 'Product roadmap');
    assert.notEqual(cells[3], 'never', `last used: ${cells}`);
    assert.notEqual(cells[4], 'never', `expires: ${cells}`);
    await page.screenshot({ path: join(artifacts, 'admin-api-keys.png') });
    await ctx.close();
  });

  it('notification preferences: a muted kind is neither shown nor counted, without a reload', async () => {
    const d = await demo();
    const roadmap = await d.board('Product roadmap');
    const mia = d.person('Mia Member');
    const member = await login('member');
    await api('POST', '/api/v1/notifications/read', member, { all: true });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await signIn(ctx, 'member');
    await page.evaluate(() => (window.__notReloaded = true));
    await page.getByTestId('bell').click();
    await page.getByRole('button', { name: 'Preferences' }).click();
    const panel = page.getByTestId('notif-prefs');
    await panel.waitFor();
    await panel.getByLabel('I am assigned to a card').uncheck();
    await panel.getByRole('button', { name: 'Save preferences' }).click();
    await panel.waitFor({ state: 'detached' });
    const prefs = await api('GET', `/api/v1/orgs/${d.org}/me/notification-preferences`, member);
    assert.deepEqual(prefs.kinds, ['mention', 'job.status']);
    await page.keyboard.press('Escape');

    // The admin assigns Mia (muted), then mentions her (wanted).
    const col = roadmap.columns[0];
    const made = await api('POST', `/api/v1/boards/${roadmap.id}/ops`, d.admin, {
      op_id: crypto.randomUUID(),
      kind: 'card.create',
      data: { column_id: col.id, title: 'Quiet assignment', assignees: [mia.id] },
    });
    await api('POST', `/api/v1/boards/${roadmap.id}/ops`, d.admin, {
      op_id: crypto.randomUUID(),
      kind: 'comment.add',
      data: { card_id: made.id, body: 'Mia, have a look', mentions: [mia.id] },
    });
    await page.waitForFunction(() => document.querySelector('[data-testid=unread]')?.textContent === '1', null, { timeout: 5000 });
    await page.getByTestId('bell').click();
    const items = page.locator('.notif-list li');
    await items.first().waitFor();
    const texts = await items.allTextContents();
    assert.match(texts[0], /mentioned you/);
    assert.equal(texts.filter((t) => t.includes('Quiet assignment') && t.includes('assigned you')).length, 0, `a muted kind was shown: ${texts}`);
    assert.equal(await page.evaluate(() => window.__notReloaded), true, 'no reload');
    const server = await api('GET', '/api/v1/notifications?unread=true', member);
    assert.equal(server.unread, 1, 'the muted one is not counted');
    await page.screenshot({ path: join(artifacts, 'notification-prefs.png') });
    // Back to the defaults, for the other tests.
    await api('PUT', `/api/v1/orgs/${d.org}/me/notification-preferences`, member, { kinds: prefs.available_kinds, muted_boards: [] });
    await ctx.close();
  });

  it('admin: webhooks created, secret shown once, test event signed and logged, redeliver, edit, delete', async () => {
    // A receiver on loopback (dev mode allows private targets): fails its first request.
    const hits = [];
    let failFirst = 1;
    const rx = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hits.push({ headers: req.headers, body });
        res.statusCode = failFirst-- > 0 ? 500 : 200;
        res.end();
      });
    });
    await new Promise((r) => rx.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${rx.address().port}/hook`;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await signIn(ctx, 'admin');
    await page.goto(`${base}/admin/webhooks`);
    await page.getByLabel('URL').fill(url);
    await page.getByLabel('Description').fill('e2e receiver');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secret = await page.getByLabel('Signing secret').inputValue();
    assert.match(secret, /^whsec_/);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.waitForSelector('text=e2e receiver');
    assert.equal((await page.content()).includes(secret), false, 'the secret is not shown again');

    // Send a test event: the receiver fails it (500), the log says so; redeliver: 200.
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.waitForSelector('[data-testid=deliveries] td:text("webhook.test")');
    await page.waitForSelector('[data-testid=deliveries] td:text("500")', { timeout: 15_000 });
    await page.getByRole('button', { name: 'Redeliver' }).first().click();
    await page.waitForSelector('[data-testid=deliveries] td[data-status=delivered]', { timeout: 15_000 });
    await page.waitForSelector('[data-testid=deliveries] td:text("200")');
    assert.equal(hits.length, 2, 'one failed attempt, one redelivery');
    assert.equal(hits[0].headers['x-boardroom-delivery'], hits[1].headers['x-boardroom-delivery'], 'same delivery id');
    for (const h of hits) {
      const sig = Object.fromEntries(h.headers['x-boardroom-signature'].split(',').map((p) => p.split('=')));
      const want = createHmac('sha256', secret).update(`${sig.t}.${h.body}`).digest();
      assert.ok(timingSafeEqual(want, Buffer.from(sig.v1, 'hex')), 'the signature verifies with the secret');
      assert.equal(JSON.parse(h.body).type, 'webhook.test');
    }
    await page.screenshot({ path: join(artifacts, 'admin-webhooks.png') });

    // Edit: event types and the active flag reach the server.
    const d = await demo();
    const hookOnServer = async () => (await api('GET', `/api/v1/orgs/${d.org}/webhooks`, d.admin)).webhooks.find((w) => w.url === url);
    await page.getByLabel(`Event types of ${url}`).fill('card.moved, card.created');
    await page.getByLabel(`Event types of ${url}`).press('Enter');
    await page.getByLabel(`Event types of ${url}`).blur();
    await serverHas(async () => JSON.stringify((await hookOnServer())?.event_types) === '["card.moved","card.created"]', 'the event types were saved');
    await page.getByLabel(`Active: ${url}`).uncheck();
    await serverHas(async () => (await hookOnServer())?.active === false, 'the webhook was deactivated');

    // Delete.
    page.once('dialog', (dlg) => dlg.accept());
    await page.getByRole('button', { name: 'Delete' }).first().click();
    await serverHas(async () => (await hookOnServer()) === undefined, 'the webhook was deleted');
    await page.waitForSelector('text=e2e receiver', { state: 'detached' });
    await ctx.close();
    rx.close();
  });

  it('audit log: an admin filters it and downloads CSV; a card detail shows its history, old → new', async () => {
    const d = await demo();
    const roadmap = await d.board('Product roadmap');
    // Changes to find: a role change by the owner, and a card made (a board op) by the admin.
    const owner = await login('owner');
    const worker = d.person('Wendy Worker');
    await api('PATCH', `/api/v1/orgs/${d.org}/members/${worker.id}`, owner, { role: 'member' });
    const created = await api('POST', `/api/v1/boards/${roadmap.id}/ops`, d.admin, {
      op_id: crypto.randomUUID(),
      kind: 'card.create',
      data: { column_id: roadmap.columns[0].id, title: 'Audit me', after: null },
    });

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await signIn(ctx, 'admin');
    await page.goto(`${base}/admin/audit`);
    const log = page.getByTestId('audit-log');
    await log.locator('tr[data-kind="member.role_changed"]').first().waitFor();
    await log.locator('tr[data-kind="card.created"]', { hasText: 'Audit me' }).waitFor();
    // Filter by kind: only role changes are left.
    await log.getByLabel('Kind').selectOption('member.role_changed');
    await log.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid=audit-log] tbody tr')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-kind') === 'member.role_changed');
    });
    const row = log.locator('tr[data-kind="member.role_changed"]').first();
    assert.match(await row.textContent(), /Olivia Owner/);
    assert.match(await row.textContent(), /"role":"worker".*"role":"member"/);
    // And by who: the admin made no role change.
    await log.getByLabel('Who').selectOption({ label: 'Adam Admin' });
    await log.getByRole('button', { name: 'Apply filters' }).click();
    await log.getByText('Nothing recorded matches these filters.').waitFor();
    // CSV of the admin's board ops on the roadmap.
    await log.getByLabel('Kind').selectOption('card.created');
    await log.getByLabel('Board').selectOption({ label: 'Product roadmap' });
    await log.getByRole('button', { name: 'Apply filters' }).click();
    await log.locator('tr[data-kind="card.created"]', { hasText: 'Audit me' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), log.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.equal(download.suggestedFilename(), 'audit.csv');
    const csv = readFileSync(await download.path(), 'utf8').split('\r\n').filter(Boolean);
    assert.equal(csv[0], 'at,source,kind,actor_kind,actor_id,actor_name,ip,board_id,target_id,old,new');
    assert.ok(csv.length >= 2, csv.join('\n'));
    assert.ok(csv.slice(1).every((l) => l.includes(',card.created,') && l.includes('Adam Admin') && l.includes(roadmap.id)), csv.join('\n'));
    assert.ok(csv.some((l) => l.includes(created.id) && l.includes('Audit me')), csv.join('\n'));
    await page.screenshot({ path: join(artifacts, 'admin-audit.png') });
    await ctx.close();

    // A member renames the card in its detail; the history shows the admin's creation and the rename.
    const mctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const mpage = await signIn(mctx, 'member');
    await mpage.goto(`${base}/boards/${roadmap.id}/cards/${created.id}`);
    const detail = mpage.getByTestId('card-detail');
    await detail.waitFor();
    const history = detail.getByTestId('card-history');
    await history.getByText('created the card').waitFor();
    assert.match(await history.textContent(), /Adam Admin/);
    await detail.getByLabel('Title').fill('Audited');
    await detail.getByLabel('Title').press('Enter');
    const change = history.locator('[data-field=title]').first();
    await change.waitFor({ timeout: 5000 });
    assert.equal(await change.locator('.old').textContent(), 'Audit me');
    assert.equal(await change.locator('.new').textContent(), 'Audited');
    assert.match(await history.locator('li').first().textContent(), /Mia Member/);
    await mpage.screenshot({ path: join(artifacts, 'card-history.png') });
    await mctx.close();
    // A worker's card detail has no history (the server refuses it: 403).
    const wtoken = await login('worker');
    const r = await fetch(`${base}/api/v1/boards/${roadmap.id}/cards/${created.id}/history`, { headers: { authorization: `Bearer ${wtoken}` } });
    assert.equal(r.status, 403);
  });
});
