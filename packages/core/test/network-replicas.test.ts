import { describe, expect, it } from 'vitest';
import { decideReplicas, type ReplicaOutcome, type ReplicaPolicy, replicaPolicy } from '../src/index.ts';

const done = (replica: number, resultKey: string): ReplicaOutcome => ({ replica, state: 'completed', resultKey });
const failed = (replica: number): ReplicaOutcome => ({ replica, state: 'failed' });
const open = (replica: number): ReplicaOutcome => ({ replica, state: 'open' });

describe('replicaPolicy', () => {
  it('maps strategies to policies, bounding the quorum by the agents', () => {
    const settings = { replication: 3, max_replication: 5 };
    for (const strategy of ['round-robin', 'least-loaded', 'capability-match', 'centralized'] as const) {
      expect(replicaPolicy(strategy, settings, 4)).toEqual({ kind: 'single' });
    }
    expect(replicaPolicy('decentralized', settings, 4)).toEqual({ kind: 'majority' });
    expect(replicaPolicy('hybrid', settings, 4)).toEqual({ kind: 'quorum', quorum: 3, maxReplicas: 4 });
    expect(replicaPolicy('hybrid', settings, 10)).toEqual({ kind: 'quorum', quorum: 3, maxReplicas: 5 });
    expect(replicaPolicy('hybrid', settings, 2)).toEqual({ kind: 'quorum', quorum: 2, maxReplicas: 2 });
    expect(replicaPolicy('hybrid', { replication: 3, max_replication: 2 }, 10)).toEqual({ kind: 'quorum', quorum: 3, maxReplicas: 3 });
    expect(replicaPolicy('hybrid', settings, 0)).toEqual({ kind: 'quorum', quorum: 1, maxReplicas: 1 });
  });
});

describe('decideReplicas: single', () => {
  const single: ReplicaPolicy = { kind: 'single' };
  it('takes the replica’s result, failure or wait', () => {
    expect(decideReplicas([done(0, '1')], single, true)).toEqual({ state: 'decided', winner: 0, agreeing: 1, completed: 1, distinct: 1 });
    expect(decideReplicas([failed(0)], single, true)).toEqual({ state: 'failed', reason: 'the subtask failed' });
    expect(decideReplicas([open(0)], single, true)).toEqual({ state: 'waiting' });
  });
});

describe('decideReplicas: majority (decentralized)', () => {
  const majority: ReplicaPolicy = { kind: 'majority' };
  it('waits while any replica is open, even with a majority already', () => {
    expect(decideReplicas([done(0, 'a'), done(1, 'a'), open(2)], majority, true)).toEqual({ state: 'waiting' });
  });
  it('accepts the result more than half of the completed replicas agree on, the lowest replica of them', () => {
    expect(decideReplicas([done(0, 'b'), done(1, 'a'), done(2, 'a'), failed(3)], majority, true)).toEqual({
      state: 'decided',
      winner: 1,
      agreeing: 2,
      completed: 3,
      distinct: 2,
    });
  });
  it('fails without a majority, and when every replica failed', () => {
    expect(decideReplicas([done(0, 'a'), done(1, 'b'), done(2, 'a'), done(3, 'b')], majority, true)).toEqual({
      state: 'failed',
      reason: 'no majority: 2 distinct results among 4 completed replicas',
    });
    expect(decideReplicas([failed(0), failed(1)], majority, true)).toEqual({ state: 'failed', reason: 'every replica failed' });
  });
});

describe('decideReplicas: quorum (hybrid)', () => {
  const quorum: ReplicaPolicy = { kind: 'quorum', quorum: 2, maxReplicas: 4 };
  it('decides as soon as the quorum agrees, even with replicas still open', () => {
    expect(decideReplicas([done(0, 'x'), open(1), done(2, 'x'), done(3, 'y')], quorum, true)).toEqual({
      state: 'decided',
      winner: 0,
      agreeing: 2,
      completed: 3,
      distinct: 2,
    });
  });
  it('waits for open replicas when there is no quorum yet', () => {
    expect(decideReplicas([done(0, 'x'), open(1)], quorum, true)).toEqual({ state: 'waiting' });
  });
  it('adds a replica when all finished without a quorum, while allowed and possible', () => {
    expect(decideReplicas([done(0, 'x'), done(1, 'y')], quorum, true)).toEqual({ state: 'add_replica' });
    expect(decideReplicas([done(0, 'x'), failed(1)], quorum, true)).toEqual({ state: 'add_replica' });
  });
  it('falls back to a majority of the completed when no replica can be added', () => {
    expect(decideReplicas([done(0, 'x'), failed(1)], quorum, false)).toEqual({
      state: 'decided',
      winner: 0,
      agreeing: 1,
      completed: 1,
      distinct: 1,
    });
    const full = [done(0, 'x'), done(1, 'y'), failed(2), done(3, 'z')];
    expect(decideReplicas(full, quorum, true)).toEqual({
      state: 'failed',
      reason: 'no quorum: 3 distinct results among 3 completed replicas, 2 needed to agree',
    });
    expect(decideReplicas([failed(0), failed(1), failed(2), failed(3)], quorum, true)).toEqual({
      state: 'failed',
      reason: 'every replica failed',
    });
  });
  it('with quorum 1 the first completed replica decides', () => {
    expect(decideReplicas([open(0), done(1, 'x')], { kind: 'quorum', quorum: 1, maxReplicas: 1 }, false)).toMatchObject({
      state: 'decided',
      winner: 1,
    });
  });
});
