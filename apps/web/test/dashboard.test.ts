// The operators' dashboard in a real browser: Debian's Chromium (headless,
// driven by playwright-core; no browser download) against a real server that
// serves the freshly built dashboard, while the `aitbc` CLI, run as separate
// processes, starts swarm members and a consensus task and runs a network.
// The page must follow all of it live, without a reload, and show each owner
// only their own objects. Screenshots of every view at 1280 and 390 px wide go
// to apps/web/test-results/.
import type { ChildProcessByStdio } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { aitbc, ok, spawnAitbc, tempHome } from '../../cli/test/support/aitbc.ts';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const webDir = fileURLToPath(new URL('..', import.meta.url));
const results = join(webDir, 'test-results');
const answer = fileURLToPath(new URL('./fixtures/answer.mjs', import.meta.url));
const WIDTHS = [1280, 390] as const;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing; CI=true requires it (.ci/run installs Debian's chromium)`);
  process.stderr.write(
    `[tests] dashboard browser test SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); CI=true makes this an error.\n`,
  );
}

describe.skipIf(!haveChromium).each(databaseKinds)('the dashboard on %s, in Chromium', (kind) => {
  // Screenshots from the first database kind only: the views look the same on both.
  const shoot = kind === databaseKinds[0];
  let srv: TestServer;
  let browser: Browser;
  const home = tempHome();
  const workers: ChildProcessByStdio<null, Readable, Readable>[] = [];
  let alice: Record<string, string>;
  let aliceKey: string;
  let bobKey: string;
  let swarmId: string;
  const cli = (args: string[], env = alice) => aitbc(args, { home: home.home, env });
  const json = async <T>(args: string[], env = alice): Promise<T> => JSON.parse(ok(await cli([...args, '-o', 'json'], env))) as T;

  function startWorker(args: string[], env: Record<string, string>) {
    const child = spawnAitbc([...args, '--exec', `"${process.execPath}" "${answer}"`, '--poll-interval', '0.1'], {
      home: home.home,
      env: { ...alice, ...env },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`worker ${args.join(' ')} exited ${code}: ${stderr}\n`);
    });
    workers.push(child);
  }

  async function screenshots(page: Page, name: string) {
    if (!shoot) return;
    for (const width of WIDTHS) {
      // A short window: the full-page shot is then as tall as the content, no taller.
      await page.setViewportSize({ width, height: 400 });
      await page.waitForTimeout(150);
      // The layout holds: nothing pushes the page wider than the screen (wide tables scroll in their box).
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await page.screenshot({ path: join(results, `${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  async function signIn(context: BrowserContext, key: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(srv.url + '/');
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();
    return page;
  }

  const view = (page: Page, name: string) => page.getByRole('navigation').getByRole('link', { name, exact: true }).click();
  const navLinks = (page: Page) => page.getByRole('navigation').getByRole('link').allTextContents();

  /** The REST API, as a script would call it: the parsed body, or an error naming the status. */
  async function rest<T>(method: string, path: string, key: string, body?: unknown): Promise<T> {
    const res = await fetch(`${srv.url}/api/v1${path}`, {
      method,
      headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }
  const issueKey = (body: { owner_id: string; scope?: 'worker' | 'read' | 'owner'; agents?: 'all'; members?: 'all'; label?: string }) =>
    rest<{ id: string; key: string; scope: string }>('POST', '/keys', srv.adminKey, body);

  beforeAll(async () => {
    mkdirSync(results, { recursive: true });
    // The server serves apps/web/dist: build it from the source under test.
    // (NODE_ENV is "test" in here: the build must not pick React's development bundle.)
    execFileSync(process.execPath, [join(webDir, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
      cwd: webDir,
      stdio: 'inherit',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    srv = await startTestServer(kind);
    aliceKey = await srv.keyFor('alice');
    bobKey = await srv.keyFor('bob');
    alice = { AITBC_URL: srv.url, AITBC_API_KEY: aliceKey };
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  });

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await browser?.close();
    await srv?.close();
    home.remove();
  });

  it('refuses a bad key with the server’s message', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(srv.url + '/');
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Unknown or revoked API key');
    await screenshots(page, 'signin');
    await context.close();
  });

  it('follows members joining and a consensus task to its decision, live, without a reload', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, aliceKey);
    expect(await page.getByTestId('whoami').textContent()).toBe('alice');
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor();

    // Nothing yet: the empty state says what to run.
    await page.getByTestId('empty').getByText('aitbc swarm join').waitFor();

    // Three members join through the CLI; the page shows each as it lands.
    const first = await json<{ member_id: string; swarm_id: string }>([
      'swarm',
      'join',
      '--role',
      'monitor',
      '--capability',
      'gpu',
      '--region',
      'eu-west',
    ]);
    swarmId = first.swarm_id;
    const rest = await Promise.all(
      ['task-coordinator', 'load-balancer'].map((role) =>
        json<{ member_id: string }>(['swarm', 'join', '--role', role, '--capability', 'gpu', '--region', 'eu-west']),
      ),
    );
    const members = [first.member_id, ...rest.map((m) => m.member_id)];
    await expect.poll(() => page.getByTestId('member').count(), { timeout: 15_000 }).toBe(3);
    // The counts come from their own query: they may catch up a moment after the rows.
    await expect.poll(() => page.getByTestId('member-counts').first().textContent(), { timeout: 15_000 }).toContain('3 active');

    await view(page, 'Tasks');
    await page.getByTestId('empty').getByText('aitbc swarm coordinate').waitFor();

    // The task first, its workers after: the card appears at 0%, then each vote moves it.
    await json([
      'swarm',
      'coordinate',
      '--task-id',
      'vote-1',
      '--task',
      'what is 6*7',
      '--strategy',
      'consensus',
      '--collaborators',
      '3',
      '--timeout',
      '120',
    ]);
    const card = page.locator('[data-testid="task"][data-task-id="vote-1"]');
    const bar = card.getByRole('progressbar');
    await bar.waitFor({ timeout: 15_000 });
    expect(await bar.getAttribute('aria-valuenow')).toBe('0');
    await page.evaluate(() => {
      const seen = new Set<string>();
      Object.assign(window, { progressSeen: seen });
      setInterval(() => {
        const value = document.querySelector('[data-task-id="vote-1"] [role="progressbar"]')?.getAttribute('aria-valuenow');
        if (value) seen.add(value);
      }, 25);
    });
    // Votes one at a time; the third member dissents.
    for (const [i, member] of members.entries())
      startWorker(['swarm', 'work', '--member', member], { DELAY_MS: String(i * 1200), ANSWER: i === 2 ? '43' : '42' });

    const winner = card.getByTestId('winner');
    await winner.waitFor({ timeout: 30_000 });
    expect(await winner.textContent()).toContain('{"answer":42}');
    expect(await bar.getAttribute('aria-valuenow')).toBe('100');
    expect(await card.getAttribute('data-status')).toBe('completed');
    const rows = await card.getByTestId('votes').locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/\{"answer":42\}\s*2/);
    expect(rows[1]).toMatch(/\{"answer":43\}\s*1/);
    expect(await card.getByTestId('confidence').textContent()).toContain('66.7%');
    const seen = (await page.evaluate(() => [...(window as unknown as { progressSeen: Set<string> }).progressSeen])).map(Number);
    expect(seen).toContain(100);
    expect(seen.some((v) => v > 0 && v < 100)).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    // A second task, split across the members: it lands above the first and completes with its reduced result.
    await json([
      'swarm',
      'coordinate',
      '--task-id',
      'sum-1',
      '--strategy',
      'map-reduce',
      '--items',
      '[1,2,3,4,5,6,7,8,9]',
      '--reduce',
      'sum',
      '--collaborators',
      '3',
    ]);
    await page.locator('[data-testid="task"][data-task-id="sum-1"][data-status="completed"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('task').first().getAttribute('data-task-id')).toBe('sum-1');
    expect(await page.getByTestId('task').first().textContent()).toContain('"reduced":90');
    await screenshots(page, 'tasks');

    // Back to the swarm: reputations moved with the decision, and the chart counts the three votes.
    await view(page, 'Swarms');
    await page.getByTestId('chart-totals').getByText('6 completed').waitFor({ timeout: 15_000 });
    await screenshots(page, 'swarms');
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await context.close();
  });

  it('shows a network’s agents, executions and recommendations', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, aliceKey);
    await view(page, 'Networks');
    await page.getByTestId('empty').getByText('aitbc agent network create').waitFor();

    await json(['agent', 'register', '--name', 'a1', '--capabilities', 'gpu']);
    await json(['agent', 'register', '--name', 'a2', '--capabilities', 'gpu']);
    const network = await json<{ id: string }>(['agent', 'network', 'create', '--name', 'demo', '--agents', 'a1,a2']);
    for (const agent of ['a1', 'a2']) startWorker(['agent', 'work', '--agent', agent], { DELAY_MS: '200' });
    const task = join(home.home, 'task.json');
    writeFileSync(task, JSON.stringify({ items: Array.from({ length: 12 }, (_, i) => i + 1), chunk_size: 2, reduce: 'sum' }));
    const done = await json<{ status: string; results: { reduced: number } }>([
      'agent',
      'network',
      'execute',
      network.id,
      '--task',
      task,
      '--wait',
      '--interval',
      '0.2',
    ]);
    expect(done).toMatchObject({ status: 'completed', results: { reduced: 156 } });

    const executions = page.getByTestId('executions');
    await executions.getByRole('progressbar').first().waitFor({ timeout: 15_000 });
    await expect.poll(() => executions.getByRole('progressbar').first().getAttribute('aria-valuenow'), { timeout: 15_000 }).toBe('100');
    // Backup copies, if a straggler got one: `N launched · N won · … saved`, else a dash.
    expect(await executions.getByTestId('backups').first().textContent()).toMatch(/^(–|\d+ launched · \d+ won · .+ saved)$/);
    await expect.poll(() => page.getByTestId('agents').locator('tbody tr').count()).toBe(2);
    await page.getByTestId('chart-totals').getByText('6 completed').waitFor({ timeout: 15_000 });
    await page.getByTestId('recommendations').waitFor();
    await screenshots(page, 'networks');
    await context.close();
  });

  it('lists the dead letters with their last error, and redrives one from the table', async () => {
    const agent = await rest<{ id: string }>('POST', '/agents', aliceKey, { name: `dl-${kind}` });
    const network = await rest<{ id: string }>('POST', '/agents/networks', aliceKey, {
      name: `dl-${kind}`,
      agents: [agent.id],
      max_attempts: 1,
      speculation: false,
    });
    const execution = await rest<{ id: string }>('POST', `/agents/networks/${network.id}/execute`, aliceKey, { task: { subtasks: ['x'] } });
    const { subtask } = await rest<{ subtask: { subtask_id: string; lease_id: string } }>(
      'POST',
      `/agents/${agent.id}/claim`,
      aliceKey,
      {},
    );
    await rest('POST', `/subtasks/${subtask.subtask_id}/fail`, aliceKey, { lease_id: subtask.lease_id, error: 'CUDA out of memory' });

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, aliceKey);
    await view(page, 'Dead letters');
    const row = page.locator(`[data-testid="dead-letter"][data-subtask-id="${subtask.subtask_id}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain('CUDA out of memory (attempt 1 of 1)');
    await screenshots(page, 'dead-letters');
    await row.getByRole('button', { name: 'Redrive' }).click();
    await expect
      .poll(() => page.getByTestId('redrive-outcome').textContent(), { timeout: 15_000 })
      .toMatch(/^1 execution running again, 1 subtask queued/);
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(0);
    const running = await rest<{ status: string }>('GET', `/agents/networks/${network.id}/executions/${execution.id}`, aliceKey);
    expect(running.status).toBe('running');
    await context.close();
  });

  it('shows verification: a network’s validated and invalid results, a quarantined host, and lifting it', async () => {
    const agents: string[] = [];
    for (const name of ['v1', 'v2', 'v3']) agents.push((await rest<{ id: string }>('POST', '/agents', aliceKey, { name })).id);
    const network = await rest<{ id: string }>('POST', '/agents/networks', aliceKey, {
      name: 'verified',
      agents,
      work_stealing: false,
      verification: { policy: 'replicate', copies: 3, max_copies: 3, quarantine_after: 1 },
    });
    await rest('POST', `/agents/networks/${network.id}/execute`, aliceKey, { task: { subtasks: [{ x: 1 }] } });
    const liar = agents[2]!;
    // The liar answers first: two copies that agree later withdraw the third.
    for (const agent of [liar, agents[0]!, agents[1]!]) {
      const { subtask } = await rest<{ subtask: { subtask_id: string; lease_id: string } }>('POST', `/agents/${agent}/claim`, aliceKey, {});
      await rest('POST', `/subtasks/${subtask.subtask_id}/result`, aliceKey, {
        lease_id: subtask.lease_id,
        result: agent === liar ? 'lie' : 'ok',
      });
    }
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, aliceKey);
    await view(page, 'Networks');
    await page.getByLabel('network').selectOption(network.id);
    const card = page.getByTestId('verification');
    await expect.poll(() => card.getByTestId('validated').textContent(), { timeout: 15_000 }).toBe('1');
    expect(await card.getByTestId('invalid').textContent()).toBe('1');
    expect(await card.getByTestId('overhead').textContent()).toBe('3×');
    await view(page, 'Hosts');
    const row = page.locator(`[data-testid="host"][data-host-id="${liar}"]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('quarantined');
    expect(await page.locator('[data-testid="host"][data-state="quarantined"]').count()).toBe(1);
    await screenshots(page, 'hosts');
    await row.getByRole('button', { name: 'Lift' }).click();
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('untrusted');
    expect(await page.getByRole('alert').count()).toBe(0);
    await context.close();
  });

  it('shows a second owner none of the first owner’s swarm', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, bobKey);
    expect(await page.getByTestId('whoami').textContent()).toBe('bob');
    await page.getByTestId('empty').getByText('No swarms yet').waitFor();
    expect(await page.getByTestId('swarm').count()).toBe(0);
    expect(await page.content()).not.toContain(swarmId);
    await view(page, 'Tasks');
    await page.getByTestId('empty').getByText('No coordination tasks yet').waitFor();
    expect(await page.content()).not.toContain('vote-1');
    await view(page, 'Networks');
    await page.getByTestId('empty').getByText('No agent networks yet').waitFor();
    // Not an admin: no view of every owner.
    expect(await page.getByRole('link', { name: 'Owners' }).count()).toBe(0);
    await context.close();
  });

  it('gives an admin a view of every owner, and signs out', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, srv.adminKey);
    await view(page, 'Owners');
    const aliceRow = page.locator('[data-testid="owner"][data-owner-id="alice"]');
    await aliceRow.waitFor();
    expect(await aliceRow.textContent()).toContain('3 active');
    await page.locator('[data-testid="owner"][data-owner-id="bob"]').waitFor();
    await screenshots(page, 'owners');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('aitbc.apiKey'))).toBeNull();
    await page.reload();
    await page.getByLabel('API key').waitFor();
    await context.close();
  });

  it('shows an admin the audit log of every owner, newest first, filtered and paged', async () => {
    // More than a page of entries (50), then a key issued and revoked: the newest two.
    for (let i = 0; i < 50; i++) await issueKey({ owner_id: 'dave', label: `bulk-${i}` });
    const carol = await issueKey({ owner_id: 'carol', label: 'temporary' });
    await rest('DELETE', `/keys/${carol.id}`, srv.adminKey);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, srv.adminKey);
    expect(await page.getByTestId('scope').textContent()).toBe('admin');
    expect(await navLinks(page)).toEqual(['Swarms', 'Tasks', 'Networks', 'Dead letters', 'Hosts', 'Audit', 'Owners']);
    await view(page, 'Audit');
    const rows = page.getByTestId('audit-entry');
    await rows.first().waitFor();
    // Newest first: the revocation, then the key's issue; each names the key it changed.
    const revoked = rows.nth(0);
    expect(await revoked.getAttribute('data-action')).toBe('key.revoke');
    expect(await revoked.getAttribute('data-target-id')).toBe(carol.id);
    expect(await revoked.locator('td').nth(2).locator('code').getAttribute('title')).toBe(carol.id);
    const text = await revoked.textContent();
    expect(text).toContain('key.revoke');
    expect(text).toContain('carol');
    expect(text).toContain('configured key'); // by the admin key from AITBC_ADMIN_API_KEYS
    expect(text).toContain('127.0.0.1');
    expect(text).toContain('label=temporary');
    const issued = rows.nth(1);
    expect(await issued.getAttribute('data-action')).toBe('key.create');
    expect(await issued.getAttribute('data-target-id')).toBe(carol.id);
    expect(await issued.textContent()).toContain('scope=owner');

    // One page; "more" follows the cursor to the rest (alice's and bob's keys, issued first, are the oldest).
    expect(await rows.count()).toBe(50);
    expect(await page.locator('[data-testid="audit-entry"][data-owner-id="alice"]').count()).toBe(0);
    await page.getByRole('button', { name: 'More', exact: true }).click();
    await page.locator('[data-testid="audit-entry"][data-owner-id="alice"][data-action="key.create"]').first().waitFor();
    await page.locator('[data-testid="audit-entry"][data-owner-id="bob"][data-action="key.create"]').first().waitFor();
    const all = await rows.count();
    expect(all).toBeGreaterThanOrEqual(54);
    expect(await page.getByRole('button', { name: 'More', exact: true }).count()).toBe(0);
    expect(
      new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-target-id') + String(tr.getAttribute('data-action')))))
        .size,
    ).toBe(all);
    await screenshots(page, 'audit');

    // By action: the one revocation.
    await page.getByLabel('action', { exact: true }).selectOption('key.revoke');
    await expect
      .poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-target-id'))), { timeout: 15_000 })
      .toEqual([carol.id]);
    // By owner (admin only): alice's entries alone.
    await page.getByLabel('action', { exact: true }).selectOption('');
    await page.getByLabel('owner', { exact: true }).selectOption('alice');
    await expect
      .poll(() => rows.evaluateAll((trs) => [...new Set(trs.map((tr) => tr.getAttribute('data-owner-id')))]), { timeout: 15_000 })
      .toEqual(['alice']);
    expect(await page.getByRole('alert').count()).toBe(0);
    await context.close();
  });

  it('shows an owner key its own owner’s audit entries only', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, aliceKey);
    expect(await page.getByTestId('scope').textContent()).toBe('owner');
    expect(await navLinks(page)).toEqual(['Swarms', 'Tasks', 'Networks', 'Dead letters', 'Hosts', 'Audit']);
    await view(page, 'Audit');
    await page.locator('[data-testid="audit-entry"][data-action="key.create"]').first().waitFor();
    const owners = await page.getByTestId('audit-entry').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-owner-id')));
    expect(new Set(owners)).toEqual(new Set(['alice']));
    // No choosing another owner's log.
    expect(await page.getByLabel('owner', { exact: true }).count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await context.close();
  });

  it('lets a read key see the views but not the audit log', async () => {
    const reader = await issueKey({ owner_id: 'alice', scope: 'read', label: 'dashboard' });
    expect(reader.scope).toBe('read');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context, reader.key);
    expect(await page.getByTestId('whoami').textContent()).toBe('alice');
    expect(await page.getByTestId('scope').textContent()).toBe('read');
    expect(await navLinks(page)).toEqual(['Swarms', 'Tasks', 'Networks', 'Dead letters', 'Hosts']);
    await page.getByTestId('view-swarms').waitFor();
    await view(page, 'Tasks');
    await page.getByTestId('view-tasks').waitFor();
    await view(page, 'Networks');
    await page.getByTestId('view-networks').waitFor();
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    await context.close();
  });

  it('tells a worker key, once and plainly, that it cannot read the dashboard', async () => {
    const worker = await issueKey({ owner_id: 'alice', scope: 'worker', agents: 'all', members: 'all', label: 'runner' });
    expect(worker.scope).toBe('worker');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const refused: string[] = [];
    page.on('response', (res) => {
      if (res.status() === 403) refused.push(res.url());
    });
    await page.goto(srv.url + '/');
    await page.getByLabel('API key').fill(worker.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const note = page.getByTestId('worker-key');
    await note.waitFor();
    expect(await note.textContent()).toMatch(/worker key for alice: it may only run work .* and cannot read the dashboard/);
    expect(await page.getByRole('alert').count()).toBe(1);
    // Still the sign-in form, the key not kept, and no read was tried.
    await page.getByLabel('API key').waitFor();
    expect(await page.getByTestId('whoami').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('aitbc.apiKey'))).toBeNull();
    expect(refused).toEqual([]);
    await screenshots(page, 'worker-key');
    await context.close();
  });
});
