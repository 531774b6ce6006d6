import type { MemberCandidate, MemberPriority, MemberStatus, MemberView, SwarmView } from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';

export type SwarmRow = NonNullable<Awaited<ReturnType<PrismaTx['swarm']['findFirst']>>>;
export type MemberRow = NonNullable<Awaited<ReturnType<PrismaTx['swarmMember']['findFirst']>>>;
export type CoordinationRow = NonNullable<Awaited<ReturnType<PrismaTx['swarmCoordination']['findFirst']>>>;

export const iso = (d: Date | null): string | null => d?.toISOString() ?? null;

export function toMemberView(m: MemberRow, now: Date): MemberView {
  return {
    member_id: m.memberId,
    swarm_id: m.swarmId,
    role: m.role,
    capability: m.capability,
    region: m.region,
    priority: m.priority as MemberPriority,
    status: m.status as MemberStatus,
    reputation: m.reputation,
    joined_at: m.createdAt.toISOString(),
    last_heartbeat_at: iso(m.lastHeartbeatAt),
    seconds_since_heartbeat:
      m.lastHeartbeatAt && m.status !== 'left' ? Math.max(0, (now.getTime() - m.lastHeartbeatAt.getTime()) / 1000) : null,
    left_at: iso(m.leftAt),
  };
}

export type MemberCounts = Record<MemberStatus, number>;

export function emptyCounts(): MemberCounts {
  return { active: 0, suspect: 0, failed: 0, left: 0 };
}

/** active: some member is active; degraded: members, none active; empty: every member left. */
export function swarmStatusOf(counts: MemberCounts): SwarmView['status'] {
  if (counts.active > 0) return 'active';
  return counts.suspect + counts.failed > 0 ? 'degraded' : 'empty';
}

export function toCandidate(m: MemberRow, load: number): MemberCandidate {
  return {
    memberId: m.memberId,
    swarmId: m.swarmId,
    role: m.role,
    capability: m.capability,
    region: m.region,
    priority: m.priority as MemberPriority,
    status: m.status as MemberStatus,
    reputation: m.reputation,
    load,
  };
}
