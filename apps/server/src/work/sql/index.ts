/**
 * The work engine's statements, one file per operation (as graphile-worker
 * keeps its src/sql/), each written once for both dialects. The engine is
 * handed this object rather than importing the files, so what it runs is
 * one place to read.
 */
import { attemptHolders, attemptOutcomes, attemptsOf, endAttempts } from './attempts.ts';
import { dropBackup, expiredBackups, promoteBackup, startBackups } from './backup.ts';
import { cancelOpen } from './cancel.ts';
import { claimSubtasks } from './claim.ts';
import { completeSubtasks } from './complete.ts';
import { decideSubtasks } from './decide.ts';
import { extendLeases } from './extend.ts';
import { insertSubtasks } from './insert.ts';
import { handOnAt, moveSubtask, renewClaimWindow } from './move.ts';
import { openSubtasksOf, readSubtasks } from './read.ts';
import { endedUndecided, requeueSubtask } from './requeue.ts';
import { expiredLeases, unclaimedAssignments } from './sweep.ts';
import { parentRuns, stealCandidates } from './stragglers.ts';

export const workSql = {
  claimSubtasks,
  extendLeases,
  completeSubtasks,
  decideSubtasks,
  endAttempts,
  attemptOutcomes,
  attemptHolders,
  attemptsOf,
  readSubtasks,
  openSubtasksOf,
  moveSubtask,
  renewClaimWindow,
  handOnAt,
  expiredLeases,
  unclaimedAssignments,
  cancelOpen,
  insertSubtasks,
  stealCandidates,
  startBackups,
  parentRuns,
  dropBackup,
  promoteBackup,
  expiredBackups,
  endedUndecided,
  requeueSubtask,
};

export type WorkSql = typeof workSql;
