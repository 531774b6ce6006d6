/**
 * Coordination strategies: which agent (or agents) gets each subtask.
 *
 * Rules every strategy follows:
 * - `requires` is a hard constraint: an agent is capable of a subtask when
 *   it has every tag the subtask requires.
 * - Among the capable agents, live ones are preferred: if any capable agent
 *   is live only the live ones are eligible; otherwise every capable agent
 *   is, so an absent agent gets the work rather than stranding it (the
 *   server reassigns it later if it never claims it).
 * - A subtask that no agent in the network is capable of fails the whole
 *   plan with a {@link NoCapableAgentError}.
 * - Choices see the earlier ones: every assignment adds one to the chosen
 *   agent's open subtasks before the next subtask is placed.
 *
 * What each strategy means:
 * - `round-robin`: agents take turns in the network's order. The turn
 *   starts at the persisted cursor and moves past each agent given a
 *   subtask; agents that are not eligible are skipped. With every agent
 *   eligible, subtask i of a plan goes to `agents[(cursor + i) % n]`, so
 *   counts stay balanced within one, across executions too.
 * - `least-loaded`: the eligible agent with the fewest open subtasks;
 *   ties go to the earliest in network order.
 * - `capability-match`: the eligible agent with the fewest capabilities
 *   beyond what the subtask requires, which keeps generalists free for
 *   work only they can do; then the fewest open subtasks; then network order.
 * - `centralized`: the server, as the one dispatcher, gives each subtask to
 *   the eligible agent expected to finish it first: `(open + 1) × seconds
 *   per task`, an agent's measured mean or, without history, the median of
 *   the measured means in the network (1 s when nobody has history); ties
 *   go to fewer open subtasks, then network order.
 * - `decentralized`: every eligible agent runs every subtask (replicas
 *   numbered in network order) and the result most of them agree on wins.
 * - `hybrid`: each subtask runs on `replication` distinct agents (fewer
 *   when fewer are eligible), the least-loaded ones, and is accepted once
 *   that many agree (see `replicas.ts`).
 *
 * Replicas of one subtask never share a host: never one agent, and never two
 * agents whose owner gave them the same `host` label (agents on one machine).
 * Decentralized runs each subtask on the first eligible agent of each host.
 * Under a verification policy, `copies` sets how many copies a subtask
 * starts with (README "Verification"): the first by the strategy, the rest
 * the least loaded on other hosts.
 */
import type { CoordinationStrategy } from '../schemas/network.ts';
import {
  type Assignment,
  type AssignmentOptions,
  type AssignmentPlan,
  type Candidate,
  type ChooseOptions,
  NoCapableAgentError,
  type PlannedSubtask,
} from './model.ts';

/** The strategies that run each subtask on more than one agent. */
export const REPLICATED_STRATEGIES: readonly CoordinationStrategy[] = ['decentralized', 'hybrid'];

/** Whether a strategy runs replicas of each subtask (decentralized, hybrid) or gives it to one agent. */
export function isReplicated(strategy: CoordinationStrategy): boolean {
  return REPLICATED_STRATEGIES.includes(strategy);
}

/** An agent is capable of a subtask when it has every tag the subtask requires. */
export function isCapable(agent: { capabilities: readonly string[] }, requires: readonly string[]): boolean {
  return requires.every((tag) => agent.capabilities.includes(tag));
}

/**
 * Assigns every subtask under the network's strategy. The agents' `open`
 * counts are copied and grow with each assignment, so later subtasks see
 * earlier ones; the inputs are not changed. Assignments come back sorted by
 * (seq, replica); the cursor moves only under round-robin.
 *
 * @throws NoCapableAgentError for the first subtask no agent is capable of.
 */
export function planAssignments(subtasks: PlannedSubtask[], agents: Candidate[], options: AssignmentOptions): AssignmentPlan {
  const working = agents.map((agent) => ({ ...agent }));
  const speeds = secondsPerTask(agents);
  const assignments: Assignment[] = [];
  let cursor = options.cursor;
  for (const subtask of subtasks) {
    const eligible = preferLive(working, capableOf(working, subtask.requires));
    if (eligible.length === 0) throw new NoCapableAgentError(subtask.seq, [...subtask.requires]);
    const placed = placeReplicas(options, working, eligible, subtask.requires, cursor, speeds);
    cursor = placed.cursor;
    placed.agents.forEach((index, replica) => {
      const agent = working[index]!;
      assignments.push({ seq: subtask.seq, replica, agentId: agent.id });
      agent.open += 1;
    });
  }
  assignments.sort((a, b) => a.seq - b.seq || a.replica - b.replica);
  return { assignments, cursor };
}

/**
 * Chooses the agent for one replica that needs a (new) home, e.g. after a
 * lease expired. `exclude` is never chosen (agents holding another replica
 * of the subtask); `avoid` is chosen only when no other capable agent is
 * left (the agent whose lease expired). Then live agents are preferred and
 * the strategy picks; the replicated strategies pick least-loaded for a
 * single replica. Returns a null agent when nobody is eligible; the cursor
 * moves only under round-robin.
 */
export function chooseAgent(
  strategy: CoordinationStrategy,
  requires: readonly string[],
  agents: Candidate[],
  options: ChooseOptions,
): { agentId: string | null; cursor: number } {
  const hosts = options.excludeHosts ?? [];
  const allowed = capableOf(agents, requires).filter((index) => {
    const host = hostOf(agents[index]!);
    return !options.exclude.includes(agents[index]!.id) && !(host !== null && hosts.includes(host));
  });
  const unavoided = allowed.filter((index) => !options.avoid.includes(agents[index]!.id));
  const eligible = preferLive(agents, unavoided.length > 0 ? unavoided : allowed);
  if (eligible.length === 0) return { agentId: null, cursor: options.cursor };
  const pick = pickOne(strategy, agents, eligible, requires, options.cursor, secondsPerTask(agents));
  return { agentId: agents[pick.index]!.id, cursor: pick.cursor };
}

/** Indices, in network order, of the agents capable of a subtask. */
function capableOf(agents: readonly Candidate[], requires: readonly string[]): number[] {
  const indices: number[] = [];
  agents.forEach((agent, index) => {
    if (isCapable(agent, requires)) indices.push(index);
  });
  return indices;
}

/** The live agents among `indices` if there are any, otherwise all of them. */
function preferLive(agents: readonly Candidate[], indices: readonly number[]): number[] {
  const live = indices.filter((index) => agents[index]!.live);
  return live.length > 0 ? live : [...indices];
}

/** An agent's host label; null when it has none (a machine of its own). */
function hostOf(agent: Candidate): string | null {
  return agent.host ?? null;
}

/** Whether two agents run on one machine: the same agent, or the same host label. */
function sameHost(a: Candidate, b: Candidate): boolean {
  return a.id === b.id || (hostOf(a) !== null && hostOf(a) === hostOf(b));
}

/** The first of each host among `indices`, in their order. */
function onePerHost(agents: readonly Candidate[], indices: readonly number[]): number[] {
  const chosen: number[] = [];
  for (const index of indices) if (!chosen.some((c) => sameHost(agents[c]!, agents[index]!))) chosen.push(index);
  return chosen;
}

/** The agents (indices, in replica order) that run one subtask, and the cursor after. */
function placeReplicas(
  options: AssignmentOptions,
  agents: readonly Candidate[],
  eligible: readonly number[],
  requires: readonly string[],
  cursor: number,
  speeds: readonly number[],
): { agents: number[]; cursor: number } {
  const copies = options.copies === undefined ? undefined : Math.max(1, Math.floor(options.copies));
  switch (options.strategy) {
    case 'decentralized':
      return { agents: onePerHost(agents, eligible), cursor };
    case 'hybrid':
      return { agents: leastLoadedFew(agents, eligible, copies ?? Math.max(1, Math.floor(options.replication)), []), cursor };
    default: {
      const pick = pickOne(options.strategy, agents, eligible, requires, cursor, speeds);
      const more = copies && copies > 1 ? leastLoadedFew(agents, eligible, copies - 1, [pick.index]) : [];
      return { agents: [pick.index, ...more], cursor: pick.cursor };
    }
  }
}

/** One agent for one replica under the strategy, from a non-empty eligible list. */
function pickOne(
  strategy: CoordinationStrategy,
  agents: readonly Candidate[],
  eligible: readonly number[],
  requires: readonly string[],
  cursor: number,
  speeds: readonly number[],
): { index: number; cursor: number } {
  switch (strategy) {
    case 'round-robin': {
      const index = nextInTurn(agents.length, eligible, cursor);
      return { index, cursor: index + 1 };
    }
    case 'capability-match':
      return { index: closestMatch(agents, eligible, requires), cursor };
    case 'centralized':
      return { index: earliestFinish(agents, eligible, speeds), cursor };
    case 'least-loaded':
    case 'decentralized':
    case 'hybrid':
      return { index: leastLoaded(agents, eligible), cursor };
  }
}

/** Round-robin: the first eligible agent at or after the cursor, walking the network's list circularly. */
function nextInTurn(agentCount: number, eligible: readonly number[], cursor: number): number {
  const start = Number.isFinite(cursor) ? ((Math.floor(cursor) % agentCount) + agentCount) % agentCount : 0;
  for (let step = 0; step < agentCount; step++) {
    const index = (start + step) % agentCount;
    if (eligible.includes(index)) return index;
  }
  return eligible[0]!;
}

/** The eligible agent with the fewest open subtasks; ties go to the earliest in network order. */
function leastLoaded(agents: readonly Candidate[], eligible: readonly number[]): number {
  return firstMinimum(eligible, (index) => [agents[index]!.open]);
}

/** `count` agents on distinct hosts (none on the host of one `taken`), the least-loaded first. */
function leastLoadedFew(agents: readonly Candidate[], eligible: readonly number[], count: number, taken: readonly number[]): number[] {
  const chosen: number[] = [];
  let remaining = eligible.filter((index) => !taken.some((t) => sameHost(agents[t]!, agents[index]!)));
  while (chosen.length < count && remaining.length > 0) {
    const index = leastLoaded(agents, remaining);
    chosen.push(index);
    remaining = remaining.filter((other) => !sameHost(agents[other]!, agents[index]!));
  }
  return chosen;
}

/** Capability-match: fewest capabilities the subtask does not need, then fewest open, then network order. */
function closestMatch(agents: readonly Candidate[], eligible: readonly number[], requires: readonly string[]): number {
  const spare = (agent: Candidate) => agent.capabilities.filter((tag) => !requires.includes(tag)).length;
  return firstMinimum(eligible, (index) => [spare(agents[index]!), agents[index]!.open]);
}

/** Centralized: earliest expected finish `(open + 1) × seconds per task`, then fewest open, then network order. */
function earliestFinish(agents: readonly Candidate[], eligible: readonly number[], speeds: readonly number[]): number {
  return firstMinimum(eligible, (index) => [(agents[index]!.open + 1) * speeds[index]!, agents[index]!.open]);
}

/**
 * Each agent's expected seconds per task: its measured mean, or for an
 * agent without history the median of the measured means (1 when nobody
 * has history).
 */
function secondsPerTask(agents: readonly Candidate[]): number[] {
  const known = agents.map((agent) => agent.avgTaskSeconds).filter(isMeasuredSeconds);
  const fallback = median(known) ?? 1;
  return agents.map((agent) => (isMeasuredSeconds(agent.avgTaskSeconds) ? agent.avgTaskSeconds : fallback));
}

function isMeasuredSeconds(seconds: number | null): seconds is number {
  return seconds !== null && Number.isFinite(seconds) && seconds >= 0;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The first index (in the given order) whose key is smallest, keys compared element by element. */
function firstMinimum(indices: readonly number[], key: (index: number) => number[]): number {
  let best = indices[0]!;
  let bestKey = key(best);
  for (const index of indices.slice(1)) {
    const candidateKey = key(index);
    if (isLess(candidateKey, bestKey)) {
      best = index;
      bestKey = candidateKey;
    }
  }
  return best;
}

function isLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

/**
 * centralized decides again when an idle agent could steal a subtask: it
 * takes it only if it would finish it sooner than the assignee, by measured
 * mean task times. The thief starts now and needs its own time; the
 * assignee gets to it after the `queued` subtasks it holds (this one among
 * them). A time not yet measured counts as the other's (both unknown: equal).
 */
export function finishesSooner(thiefSeconds: number | null, assigneeSeconds: number | null, queued: number): boolean {
  const thief = thiefSeconds ?? assigneeSeconds ?? 1;
  const assignee = assigneeSeconds ?? thiefSeconds ?? 1;
  return thief < queued * assignee;
}
