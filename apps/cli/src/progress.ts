// Output that changes while a command runs: a progress line redrawn in place
// and a screen refreshed on a timer. On a terminal they redraw; into a file
// or a pipe they append, and only when something changed.
import { setTimeout as wait } from 'node:timers/promises';
import { InvalidArgumentError } from 'commander';

/** Whether the process's own stdout or stderr is a terminal (what `deps.stdout`/`deps.stderr` write to). */
export function isTerminal(stream: 'stdout' | 'stderr'): boolean {
  return process[stream].isTTY === true;
}

/** `[#####.....] 5/10 subtasks  running`; a failed subtask counts as done. */
export function progressBar(progress: { total: number; completed: number; failed?: number }, status: string, width = 10): string {
  const done = progress.completed + (progress.failed ?? 0);
  const filled = progress.total > 0 ? Math.min(width, Math.floor((done / progress.total) * width)) : 0;
  const failed = progress.failed ? ` (${progress.failed} failed)` : '';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.completed}/${progress.total} subtasks${failed}  ${status}`;
}

export interface ProgressLine {
  /** Shows `text` as the current state. */
  update(text: string): void;
  /** Leaves the last state on its own line. */
  done(): void;
}

const CLEAR_TO_END = '\x1b[K';

/**
 * One status line. On a terminal it is redrawn in place (`\r`); otherwise a
 * line is written only when the text changes, so logs stay short.
 */
export function progressLine(write: (text: string) => void, tty: boolean): ProgressLine {
  let last: string | null = null;
  let open = false;
  return {
    update(text) {
      if (text === last) return;
      last = text;
      if (tty) {
        write(`\r${text}${CLEAR_TO_END}`);
        open = true;
      } else {
        write(`${text}\n`);
      }
    },
    done() {
      if (open) write('\n');
      open = false;
    },
  };
}

/** Moves the cursor home and clears the terminal. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * A view refreshed in full: on a terminal each refresh replaces the screen;
 * otherwise refreshes follow each other, separated by a blank line.
 */
export function screen(write: (text: string) => void, tty: boolean): { show(text: string): void } {
  let shown = 0;
  return {
    show(text) {
      const body = text.endsWith('\n') ? text : text + '\n';
      write(tty ? CLEAR_SCREEN + body : (shown > 0 ? '\n' : '') + body);
      shown++;
    },
  };
}

/** Waits `ms`, or less when `signal` aborts first; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  // timers/promises rejects when the signal aborts (or already has): that is the early end.
  return wait(ms, undefined, signal ? { signal } : undefined).catch(() => undefined);
}

/** A flag parser for a number of seconds such as `--interval 0.5` (0 < n ≤ one day). */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new InvalidArgumentError('Expected a number of seconds greater than 0, e.g. 0.5.');
  }
  return n;
}
