/**
 * What this process ended or decided, counted as it commits, for /metrics.
 * Per process, as Prometheus counters are: a scrape reads these numbers, never
 * the records, so it costs the same however many attempts and tasks exist,
 * and Prometheus sums the instances (a restart starts again from 0, which
 * `rate()` and `increase()` expect of a counter).
 */
export class Outcomes {
  /** Leases the sweeper ended because their time ran out. */
  leasesExpired = 0;
  /** Of those, attempts that ran past their time limit (max_attempt_seconds) while heartbeating. */
  attemptsTimedOut = 0;
  /** Failed attempts whose retry waited out a backoff. */
  retriesDelayed = 0;
  /** Subtasks that failed for good (dead letters), and those re-queued by a redrive. */
  deadLettered = 0;
  redriven = 0;
  /** Leases taken from a swarm member because it failed (no heartbeat) or left. */
  readonly leasesReleased = { member_failed: 0, member_left: 0 };
  /** Voting tasks decided: consensus reached, or failed (including at the deadline). */
  readonly consensus = { reached: 0, failed: 0 };
  /** Unclaimed subtasks an idle assignee took from another (work stealing). */
  stolen = 0;
  /** Backup copies started, those whose result came first, and the time they saved (an estimate; README "Stragglers"). */
  readonly backups = { launched: 0, won: 0, secondsSaved: 0 };
  /**
   * Verified results (README "Verification"): copies run beyond each subtask's first, subtasks decided (validated
   * by a quorum, by trust, or inconclusive), results checked and found invalid, and hosts quarantined.
   */
  readonly verification = { replicas: 0, quorum: 0, trust: 0, inconclusive: 0, checked: 0, invalid: 0, quarantined: 0 };
}
