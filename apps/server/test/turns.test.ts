/**
 * Requests take turns by owner (db/admission.ts RequestTurns): an owner
 * alone may take every turn but `perOwner`, which stay free for another
 * owner's first requests; with another owner running or waiting, each
 * takes `perOwner` at most, and the waiting are served in turn by owner; a
 * long poll gives its turn back while it waits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestTurns } from '../src/db/admission.ts';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/** A request that runs until `release` is called, and notes when it started. */
function hold(turns: RequestTurns, owner: string, log: string[], name: string, ahead = false) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  const done = turns.run(
    owner,
    async () => {
      log.push(name);
      await released;
    },
    ahead,
  );
  return { release, done };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('request turns', () => {
  it('lets an owner alone take every turn but its share, which another owner’s first requests take at once', async () => {
    const turns = new RequestTurns(6, 2);
    const log: string[] = [];
    const a = [1, 2, 3, 4, 5, 6].map((i) => hold(turns, 'a', log, `a${i}`));
    await tick();
    // Alone: 6 − 2 turns; two stay free.
    expect(log).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(turns.load).toEqual({ running: 4, waiting: 2 });
    // Another owner starts at once, in those two, without waiting for one of a's to end.
    const b = [1, 2, 3].map((i) => hold(turns, 'b', log, `b${i}`));
    await tick();
    expect(log.slice(4)).toEqual(['b1', 'b2']);
    // Each is at its share of 2 while the other runs (a over it): a turn a gives back goes to neither ...
    a[0]!.release();
    await tick();
    expect(log.slice(6)).toEqual([]);
    // ... and one b gives back goes to b's next.
    b[0]!.release();
    await tick();
    expect(log.slice(6)).toEqual(['b3']);
    // Once b has nothing running or waiting, a alone takes up to 4 again.
    for (const h of b) h.release();
    await Promise.all(b.map((h) => h.done));
    await tick();
    expect(log.slice(7)).toEqual(['a5']);
    a[1]!.release();
    await tick();
    expect(log.slice(8)).toEqual(['a6']);
    for (const h of a) h.release();
    await Promise.all(a.map((h) => h.done));
    expect(turns.load).toEqual({ running: 0, waiting: 0 });
  });

  it('puts an owner’s submission ahead of its own waiting work requests, never ahead of another owner', async () => {
    const turns = new RequestTurns(3, 1);
    const log: string[] = [];
    const a = [1, 2, 3, 4].map((i) => hold(turns, 'a', log, `a${i}`));
    await tick();
    expect(log).toEqual(['a1', 'a2']);
    // a's submission arrives behind a3 and a4: it takes the next turn a gets.
    const submit = hold(turns, 'a', log, 'a-submit', true);
    await tick();
    a[0]!.release();
    await tick();
    expect(log.slice(2)).toEqual(['a-submit']);
    // c takes the free turn; b waits now, and a's next submission goes ahead of a's own, but b's turn comes first.
    const c = hold(turns, 'c', log, 'c1');
    const b = hold(turns, 'b', log, 'b1');
    const again = hold(turns, 'a', log, 'a-submit2', true);
    await tick();
    expect(log.slice(3)).toEqual(['c1']);
    a[1]!.release();
    await tick();
    expect(log.slice(4)).toEqual(['b1']);
    // a runs one (its share while others run): its submission is next once that one ends.
    submit.release();
    await tick();
    expect(log.slice(5)).toEqual(['a-submit2']);
    for (const h of [...a, submit, b, c, again]) h.release();
    await Promise.all([...a, submit, b, c, again].map((h) => h.done));
    expect(log.slice(6)).toEqual(['a3', 'a4']);
    expect(turns.load).toEqual({ running: 0, waiting: 0 });
  });

  it('serves the waiting in turn by owner, holding each to its share while another runs', async () => {
    const turns = new RequestTurns(4, 2);
    const log: string[] = [];
    const a = [1, 2, 3, 4, 5].map((i) => hold(turns, 'a', log, `a${i}`));
    await tick();
    const b = [1, 2, 3, 4].map((i) => hold(turns, 'b', log, `b${i}`));
    await tick();
    // a alone took 4 − 2; b took the 2 left.
    expect(log).toEqual(['a1', 'a2', 'b1', 'b2']);
    // A turn given back by b goes to b's next (a is at its share of 2) ...
    b[0]!.release();
    await tick();
    expect(log.slice(4)).toEqual(['b3']);
    // ... and one given back by a goes to a's next (b is at its share).
    a[0]!.release();
    await tick();
    expect(log.slice(5)).toEqual(['a3']);
    for (const h of [...a, ...b]) h.release();
    await Promise.all([...a, ...b].map((h) => h.done));
    expect(log.slice(6).sort()).toEqual(['a4', 'a5', 'b4']);
    expect(turns.load).toEqual({ running: 0, waiting: 0 });
  });

  it('a waiting request gives its turn back meanwhile, and takes one again after', async () => {
    const turns = new RequestTurns(1, 1);
    const log: string[] = [];
    let wake!: () => void;
    const waiting = turns.run('a', () =>
      RequestTurns.idle(
        () =>
          new Promise<void>((r) => {
            wake = r;
          }),
      ).then(() => log.push('a woke')),
    );
    await tick();
    expect(turns.load).toEqual({ running: 0, waiting: 0 });
    const other = hold(turns, 'b', log, 'b');
    await tick();
    expect(log).toEqual(['b']);
    wake();
    await tick();
    // The woken request waits for its turn: b still holds the only one.
    expect(log).toEqual(['b']);
    other.release();
    await Promise.all([waiting, other.done]);
    expect(log).toEqual(['b', 'a woke']);
    expect(turns.load).toEqual({ running: 0, waiting: 0 });
  });
});

describe.each(databaseKinds)('request turns on a server, on %s', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(kind, { config: { requestsRunning: 4, requestsRunningPerOwner: 2 } });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('long polls of one owner hold no turns: another owner is answered at once, and the polls end with their wait', async () => {
    const alice = restClient(srv.url, await srv.keyFor('alice'));
    const bob = restClient(srv.url, await srv.keyFor('bob'));
    const agent = (await alice('POST', '/api/v1/agents', { name: 'idle' })).body;
    // Ten long polls, more than every turn: none has work, so all wait their 2 s.
    const t0 = performance.now();
    const polls = Array.from({ length: 10 }, () => alice('POST', `/api/v1/agents/${agent.id}/claim`, { wait_seconds: 2 }));
    await new Promise((r) => setTimeout(r, 300));
    const asked = performance.now();
    const other = await bob('GET', '/api/v1/agents');
    expect(other.status).toBe(200);
    expect(performance.now() - asked).toBeLessThan(1000);
    // Alice's own requests are not held behind her polls either.
    const own = await alice('GET', `/api/v1/agents/${agent.id}`);
    expect(own.status).toBe(200);
    for (const reply of await Promise.all(polls)) expect([reply.status, reply.body.subtask]).toEqual([200, null]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1900);
  });
});
