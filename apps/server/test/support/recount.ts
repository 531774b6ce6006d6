// The rolling aggregates (stats.ts) recounted from the rows they count: a
// suite that moved a lot of work asserts the two agree.
import type { Database } from '../../src/db/database.ts';

export interface Mismatch {
  what: string;
  stored: number;
  recounted: number;
}

const near = (a: number, b: number) => Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));

export async function recountAggregates(db: Database): Promise<Mismatch[]> {
  return db.run(async (tx) => {
    const wrong: Mismatch[] = [];
    const check = (what: string, stored: number, recounted: number) => {
      if (!near(stored, recounted)) wrong.push({ what, stored, recounted });
    };
    for (const s of await tx.swarm.findMany()) {
      const members = await tx.swarmMember.groupBy({ by: ['status'], where: { swarmId: s.id }, _count: { _all: true } });
      const m = (status: string) => members.find((g) => g.status === status)?._count._all ?? 0;
      check(`${s.id} active members`, s.activeMembers, m('active'));
      check(`${s.id} suspect members`, s.suspectMembers, m('suspect'));
      check(`${s.id} failed members`, s.failedMembers, m('failed'));
      check(`${s.id} left members`, s.leftMembers, m('left'));
      const tasks = await tx.swarmCoordination.groupBy({ by: ['status'], where: { swarmId: s.id }, _count: { _all: true } });
      const t = (...statuses: string[]) => tasks.filter((g) => statuses.includes(g.status)).reduce((n, g) => n + g._count._all, 0);
      check(`${s.id} live tasks`, s.liveTasks, t('queued', 'running'));
      check(`${s.id} completed tasks`, s.tasksCompleted, t('completed'));
      check(`${s.id} failed tasks`, s.tasksFailed, t('failed'));
      check(`${s.id} timed-out tasks`, s.tasksTimedOut, t('timed_out'));
      const attempts = await tx.subtaskAttempt.findMany({ where: { swarmId: s.id } });
      const a = (outcome: string) => attempts.filter((x) => x.outcome === outcome);
      check(`${s.id} completed attempts`, s.attemptsCompleted, a('completed').length);
      check(`${s.id} failed attempts`, s.attemptsFailed, a('failed').length);
      check(`${s.id} expired attempts`, s.attemptsExpired, a('expired').length);
      const seconds = a('completed').reduce((sum, x) => sum + ((x.endedAt?.getTime() ?? 0) - x.startedAt.getTime()) / 1000, 0);
      check(`${s.id} task seconds`, s.taskSeconds, seconds);
      check(`${s.id} accepted results`, s.acceptedResults, await tx.subtask.count({ where: { swarmId: s.id, accepted: true } }));
    }
    for (const n of await tx.agentNetwork.findMany()) {
      const executions = await tx.agentNetworkExecution.findMany({ where: { networkId: n.id } });
      const e = (...statuses: string[]) => executions.filter((x) => statuses.includes(x.status));
      check(`${n.id} live executions`, n.liveExecutions, e('queued', 'running').length);
      check(`${n.id} executions`, n.executionsTotal, executions.length);
      check(`${n.id} completed executions`, n.executionsCompleted, e('completed').length);
      check(`${n.id} failed executions`, n.executionsFailed, e('failed').length);
      const seconds = e('completed').reduce((sum, x) => sum + ((x.completedAt?.getTime() ?? 0) - x.createdAt.getTime()) / 1000, 0);
      check(`${n.id} execution seconds`, n.executionSeconds, seconds);
      check(
        `${n.id} replicated decided`,
        n.replicatedDecided,
        executions.reduce((sum, x) => sum + x.replicatedDecided, 0),
      );
      check(
        `${n.id} disagreements`,
        n.disagreements,
        executions.reduce((sum, x) => sum + x.disagreements, 0),
      );
      const attempts = await tx.subtaskAttempt.findMany({ where: { networkId: n.id } });
      const shards = await tx.networkAgentStats.groupBy({
        by: ['agentId'],
        where: { networkId: n.id },
        _sum: { completed: true, failed: true, expired: true },
      });
      const stats = shards.map((g) => ({
        agentId: g.agentId,
        completed: g._sum.completed ?? 0,
        failed: g._sum.failed ?? 0,
        expired: g._sum.expired ?? 0,
      }));
      for (const agentId of new Set([...attempts.map((x) => x.assigneeId), ...stats.map((x) => x.agentId)])) {
        const own = attempts.filter((x) => x.assigneeId === agentId);
        const st = stats.find((x) => x.agentId === agentId);
        for (const outcome of ['completed', 'failed', 'expired'] as const) {
          check(`${n.id}/${agentId} ${outcome}`, st?.[outcome] ?? 0, own.filter((x) => x.outcome === outcome).length);
        }
      }
      const minutes = await tx.networkMinute.aggregate({ where: { networkId: n.id }, _sum: { completed: true } });
      check(`${n.id} completions by minute`, minutes._sum.completed ?? 0, attempts.filter((x) => x.outcome === 'completed').length);
    }
    // Open work (kept by triggers): every key of every scope, summed over its shards.
    const stored = await tx.openWork.groupBy({ by: ['scope', 'key'], _sum: { pending: true, assigned: true, leased: true } });
    const open = await tx.subtask.findMany({
      where: { status: { in: ['pending', 'assigned', 'leased'] } },
      select: { networkId: true, swarmId: true, assigneeId: true, status: true },
    });
    const keyOf = { network: 'networkId', swarm: 'swarmId', assignee: 'assigneeId' } as const;
    const keys = new Set([
      ...stored.map((g) => `${g.scope}/${g.key}`),
      ...open.flatMap((r) => Object.entries(keyOf).flatMap(([scope, field]) => (r[field] ? [`${scope}/${r[field]}`] : []))),
    ]);
    for (const id of keys) {
      const [scope, key] = id.split('/') as [keyof typeof keyOf, string];
      const mine = open.filter((r) => r[keyOf[scope]] === key);
      const g = stored.find((x) => x.scope === scope && x.key === key)?._sum;
      for (const status of ['pending', 'assigned', 'leased'] as const) {
        check(`open ${id} ${status}`, g?.[status] ?? 0, mine.filter((r) => r.status === status).length);
      }
    }
    return wrong;
  });
}
