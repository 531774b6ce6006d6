/**
 * Every scenario, in the order a run takes them. A scenario is a module of its own exporting a `Scenario`;
 * registering one is its import and its place in this list.
 */
import type { Scenario } from '../scenario.ts';
import { batched } from './batched.ts';
import { ceiling } from './ceiling.ts';
import { claims } from './claims.ts';
import { consensus } from './consensus.ts';
import { core } from './core.ts';
import { dispatch } from './dispatch.ts';
import { makespanScenario } from './makespan.ts';
import { map } from './map.ts';
import { membership } from './membership.ts';
import { neighboursScenario } from './neighbours.ts';
import { network } from './network.ts';
import { overhead } from './overhead.ts';
import { status } from './status.ts';
import { verificationScenario } from './verification.ts';

export const scenarios: Scenario[] = [
  overhead,
  network,
  membership,
  status,
  consensus,
  ceiling,
  claims,
  batched,
  dispatch,
  map,
  makespanScenario,
  verificationScenario,
  neighboursScenario,
  core,
];
