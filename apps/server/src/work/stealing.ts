/**
 * Taking from others (README "Stragglers"): an assignee with nothing of its
 * own waiting steals unclaimed work from other assignees, or else runs a
 * backup copy of a straggler (speculation). The parents open to each
 * assignee and the parents' runs are read at most so often per instance.
 */
import { findStragglers } from '@aitbc/core';
import { openLoad } from './open-work.ts';
import type { OpenParent, ParentKind, Takeable, WorkParent } from './parent.ts';
import { parentOf } from './parent.ts';
import type { SubtaskRun } from './sql/stragglers.ts';
import { type Assignee, type EngineState, parentKindOf, STARTED_MEMORY, seconds } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';

/**
 * A claimant still running work of its own, or whose parents are not far enough along to judge, looks for
 * stragglers again this far apart (an idle long poll at least RECHECK_MIN_MS apart: claims.ts).
 */
const BUSY_RECHECK_MS = 1000;
const WATCH_MS = 1000;
/**
 * How long a parent's runs, read for speculation, are reused: at least this long, and at least RUNS_REUSE times
 * as long as the read took, so that reading a large parent's runs takes at most a tenth of the time.
 */
const RUNS_FRESH_MS = 100;
const RUNS_REUSE = 10;
/** How long the parents an assignee may take work from are reused. */
const OPEN_FRESH_MS = 250;

/** Steal attempts a claim makes when other thieves took the candidates it read. */
const STEAL_ROUNDS = 3;
/** Candidates read per subtask wanted: thieves pick at random among them, so those arriving together rarely collide. */
const STEAL_POOL = 16;

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** One candidate per subtask (parent, seq): a thief never takes two replicas of one subtask. */
function onePerSubtask(candidates: Takeable[]): string[] {
  const seen = new Set<string>();
  return candidates.flatMap((c) => {
    const key = `${c.parentId}\n${c.seq}`;
    if (seen.has(key)) return [];
    seen.add(key);
    return [c.id];
  });
}

/**
 * Work stealing, then speculation (README "Stragglers"), for an assignee
 * with nothing of its own waiting. Steals: unclaimed subtasks of its live
 * parents that allow it, which the parent's rules let it take, claimed as
 * its own. Else backups: running stragglers of parents that allow them,
 * each given a second lease beside the first. `recheckAt`: when a running
 * subtask will next cross its straggler threshold (an idle long poll
 * looks again then).
 */
export async function takeFromOthers(
  w: EngineState,
  ownerId: string,
  who: Assignee,
  max: number,
  leaseSeconds: number | undefined,
  now: Date,
  steal = true,
): Promise<{ rows: SubtaskRow[]; backups: Set<string>; recheckAt: number | null }> {
  const { db, sql } = w.deps;
  const none = { rows: [], backups: new Set<string>(), recheckAt: null };
  const kind = parentKindOf(who);
  const parent = w.parent(kind);
  const open = await openTo(w, parent, ownerId, who.id, now);
  if (open.length === 0) return none;

  if (steal) {
    const stolen = await stealFrom(
      w,
      ownerId,
      who,
      open.filter((p) => p.stealing),
      max,
      leaseSeconds,
      now,
    );
    if (stolen.rows.length > 0) return { ...none, rows: stolen.rows };
  }

  // Only parents past their quantile by their counters: the others' subtasks are not read.
  const speculating = open.filter((p) => p.speculation !== null && p.decidedShare >= p.speculation.quantile);
  if (speculating.length === 0) return { ...none, recheckAt: open.some((p) => p.speculation) ? now.getTime() + WATCH_MS : null };
  const runs = await runsOf(
    w,
    kind,
    speculating.map((p) => p.id),
    now,
  );
  const stragglers: Takeable[] = [];
  let nextIn: number | null = null;
  for (const p of speculating) {
    const mine = runs.filter((r) => r.parentId === p.id && r.status !== 'failed');
    // Never a copy of a subtask it already runs (its own, a replica of it, or a backup).
    const held = new Set(mine.filter((r) => r.assigneeId === who.id || r.backupAssigneeId === who.id).map((r) => r.seq));
    const found = findStragglers(
      mine.map((r) => ({
        id: r.id,
        state: r.status === 'completed' ? 'finished' : r.status === 'leased' ? 'running' : 'waiting',
        seconds: r.startedAt ? seconds(r.startedAt, r.status === 'completed' && r.completedAt ? r.completedAt : now) : 0,
        backedUp: r.backupRunning || held.has(r.seq),
      })),
      p.speculation!,
    );
    const byId = new Map(mine.map((r) => [r.id, r]));
    stragglers.push(...found.ids.map((id) => byId.get(id)!));
    if (found.nextInSeconds !== null) nextIn = Math.min(nextIn ?? found.nextInSeconds, found.nextInSeconds);
  }
  const recheckAt = nextIn === null ? null : now.getTime() + nextIn * 1000;
  if (stragglers.length === 0) return { ...none, recheckAt };
  // Only an idle assignee runs a backup: one still running work of its own (a worker with free slots) looks again later.
  if (((await db.run((_, q) => openLoad(q, [who.id]))).get(who.id) ?? 0) > 0)
    return { ...none, recheckAt: now.getTime() + BUSY_RECHECK_MS };
  const allowed = await db.run((_, q) => parent.mayTake(q, who.id, stragglers, open, now));
  // One backup a claim, the worst straggler first: a worker with many free slots must not copy a batch of work
  // another worker merely holds (it claims again for the next).
  const ids = onePerSubtask(allowed).slice(0, 1);
  if (ids.length === 0) return { ...none, recheckAt };
  const started = await db.transaction(async (tx) => {
    const parents = [...new Set(allowed.filter((t) => ids.includes(t.id)).map((t) => t.parentId))].sort();
    // Lock order: the parents, then their subtasks.
    await parent.lock(tx, parents, true, now);
    const rows = await sql.startBackups(tx.sql, { ownerId, assigneeId: who.id, ids, leaseSeconds, now });
    for (const id of parents) {
      const launched = rows.filter((s) => parentOf(s)!.id === id).length;
      if (launched > 0) await parent.backups(tx, id, { launched, won: 0, secondsSaved: 0 });
    }
    tx.afterCommit(() => {
      w.outcomes.backups.launched += rows.length;
    });
    return rows;
  });
  return { rows: started, backups: new Set(started.map((s) => s.id)), recheckAt };
}

/**
 * Steals up to `max` unclaimed subtasks of `from` (open parents that allow stealing) from their other assignees,
 * which the parents' rules let `who` take, claimed as its own. `unclaimed`: whether any were left unclaimed by
 * others when it last read (false: nothing to take there, for anyone).
 */
export async function stealFrom(
  w: EngineState,
  ownerId: string,
  who: Assignee,
  from: OpenParent[],
  max: number,
  leaseSeconds: number | undefined,
  now: Date,
): Promise<{ rows: SubtaskRow[]; unclaimed: boolean }> {
  const { db, sql } = w.deps;
  const kind = parentKindOf(who);
  const parent = w.parent(kind);
  const parentIds = from.map((p) => p.id);
  const victims = [...new Set(from.flatMap((p) => p.assignees))].filter((id) => id !== who.id);
  let unclaimed = false;
  // Thieves that read the same candidates race for them: a thief that lost every race reads again.
  for (let round = 0; parentIds.length > 0 && round < STEAL_ROUNDS; round++) {
    const found = await db.run(async (_, q) => {
      const candidates = await sql.stealCandidates(q, { ownerId, thiefId: who.id, victims, kind, parentIds, limit: max * STEAL_POOL });
      unclaimed = candidates.length > 0;
      return candidates.length ? parent.mayTake(q, who.id, candidates, from, now) : [];
    });
    // A random pick among them, so that thieves arriving together mostly take different ones.
    const ids = onePerSubtask(shuffled(found)).slice(0, max);
    if (ids.length === 0) break;
    const stolen = await db.transaction((tx) =>
      sql.claimSubtasks(tx.sql, { ownerId, assigneeId: who.id, ids, max, leaseSeconds, now, running: w.startedParents }),
    );
    if (stolen.length > 0) {
      w.outcomes.stolen += stolen.length;
      return { rows: stolen, unclaimed: true };
    }
  }
  return { rows: [], unclaimed };
}

/**
 * The parents an assignee may take others' work from, read at most once per OPEN_FRESH_MS per assignee on this
 * instance (an idle worker's claims come in bursts, one per freed slot). New work clears the entries of those it
 * wakes here (another instance's expire), and a parent read stale only costs a statement: what is taken is taken
 * conditionally.
 */
async function openTo(w: EngineState, parent: WorkParent, ownerId: string, who: string, now: Date): Promise<OpenParent[]> {
  const known = w.openParents.get(who);
  if (known && known.at + OPEN_FRESH_MS > now.getTime()) return known.open;
  const open = await w.deps.db.run((_, q) => parent.openTo(q, ownerId, who, now));
  if (w.openParents.size >= STARTED_MEMORY) w.openParents.clear();
  // Nothing open is not kept: the first work of a new parent must be seen at once.
  if (open.length > 0) w.openParents.set(who, { at: now.getTime(), open });
  else w.openParents.delete(who);
  return open;
}

/**
 * Parents' subtask runs for speculation, read at most once per RUNS_FRESH_MS (or RUNS_REUSE times the read's
 * duration) per parent on this instance: idle claimants arriving together share one read (what they then start is
 * conditional, so a stale read is safe).
 */
async function runsOf(w: EngineState, kind: ParentKind, ids: string[], now: Date): Promise<SubtaskRun[]> {
  const stale = ids.filter((id) => (w.runs.get(id)?.until ?? 0) <= now.getTime());
  if (stale.length > 0) {
    const started = performance.now();
    const read = await w.deps.db.run((_, q) => w.deps.sql.parentRuns(q, kind, stale));
    const until = now.getTime() + Math.max(RUNS_FRESH_MS, RUNS_REUSE * (performance.now() - started));
    if (w.runs.size >= STARTED_MEMORY) w.runs.clear();
    for (const id of stale) w.runs.set(id, { until, runs: read.filter((r) => r.parentId === id) });
  }
  return ids.flatMap((id) => w.runs.get(id)?.runs ?? []);
}
