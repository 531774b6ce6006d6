/** What the bench reads about a process from /proc: its peak memory and its CPU time. */
import { readFileSync } from 'node:fs';

/** Peak resident set size of the processes so far (VmHWM), in MiB: the largest of them. */
export function peakRss(processes: { pid: number }[]): number {
  return Math.max(
    0,
    ...processes.map((s) => {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'));
      return m ? Math.round(Number(m[1]) / 1024) : 0;
    }),
  );
}

/** The fields of /proc/<pid>/stat after the command name (field 3, the state, is index 0). */
function statFields(pid: number): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
}

/** CPU seconds a process has used (user + system), from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds a process and all its children have used, the ended ones included: its own user + system, the
 * children it has reaped (cutime + cstime), and each live child's own. Read twice, the difference is what the
 * process tree spent in between, even when children came and went (PostgreSQL's backends under the postmaster).
 */
export function treeCpuSeconds(pid: number): number {
  const own = statFields(pid);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const child of childrenOf(pid)) {
    try {
      const fields = statFields(child);
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // It ended between the listing and the read: its time is in the parent's cutime by the next read.
    }
  }
  return ticks / 100;
}

/** The parent of a process. */
export function parentOf(pid: number): number {
  return Number(statFields(pid)[1]);
}

function childrenOf(pid: number): number[] {
  try {
    // Linux lists a thread's children here (the postmaster is single-threaded: its pid is its main thread).
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
