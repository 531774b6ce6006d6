import { createInterface } from 'node:readline';
import type { LeaveView } from '@aitbc/core';
import type { Command } from 'commander';
import { CliError } from '../../failure.ts';
import { count, renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { oneOf } from './render.ts';

export interface SwarmLeaveOptions {
  /** The legacy form's argument: `swarm leave SWARM_ID`. */
  swarm?: string;
  /** The spec's flag: `swarm leave --swarm-id SWARM_ID`. */
  swarmId?: string;
  /** Only this member leaves; without it, every one of yours in the swarm. */
  memberId?: string;
  /** Do not ask first. */
  yes?: boolean;
}

export interface SwarmLeaveDeps extends Pick<Session, 'client'> {
  /** Asks the user; only given when someone can answer (stdin is a terminal). */
  confirm?: (question: string) => Promise<boolean>;
}

/** Leaves after asking (when deps can ask and --yes was not given); the members' open work moves to others. */
export async function runSwarmLeave(options: SwarmLeaveOptions, deps: SwarmLeaveDeps): Promise<LeaveView> {
  const swarmId = oneOf(options.swarm, options.swarmId, '--swarm-id', 'swarm id: aitbc swarm leave SWARM_ID, or --swarm-id SWARM_ID');
  if (deps.confirm && !options.yes) {
    const who = options.memberId ? `member ${options.memberId}` : 'every one of your members';
    if (!(await deps.confirm(`Leave swarm ${swarmId} (${who})?`))) throw new CliError(`aborted: nothing left swarm ${swarmId}`);
  }
  if (options.memberId !== undefined) return deps.client.swarm.leave.mutate({ swarm_id: swarmId, member_id: options.memberId });
  return deps.client.swarm.leaveSwarm.mutate({ swarm_id: swarmId });
}

export function renderLeave(view: LeaveView): string {
  const moved = view.requeued_subtasks ? `; ${count(view.requeued_subtasks, 'subtask')} they held moved to other members` : '';
  return (
    `Left swarm ${view.swarm_id}: ${count(view.members.length, 'member')}${moved}.\n` +
    view.members.map((m) => `  ${m}\n`).join('') +
    `\n${renderFields({ left_at: view.left_at })}`
  );
}

/** `question [y/N] ` on stderr, one line from stdin; yes only for y or yes. */
function askOnTerminal(write: (text: string) => void): (question: string) => Promise<boolean> {
  return (question) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, terminal: false });
      let answered = false;
      write(`${question} [y/N] `);
      rl.once('line', (line) => {
        answered = true;
        rl.close();
        resolve(/^\s*y(es)?\s*$/i.test(line));
      });
      rl.once('close', () => {
        if (!answered) {
          write('\n');
          resolve(false);
        }
      });
    });
}

export function addSwarmLeave(swarm: Command, deps: CliDeps): void {
  swarm
    .command('leave')
    .description('leave a swarm: one member, or all of yours in it; their work moves to other members')
    .argument('[swarm-id]', 'the swarm id (or --swarm-id)')
    .option('--swarm-id <id>', 'the swarm id')
    .option('--member-id <id>', 'only this member leaves (default: every one of yours in the swarm)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      withSession(deps, async (session, command) => {
        const [swarmArg] = command.processedArgs as [string | undefined];
        const options = { ...command.opts<Omit<SwarmLeaveOptions, 'swarm'>>(), ...(swarmArg !== undefined ? { swarm: swarmArg } : {}) };
        const ask = process.stdin.isTTY === true ? { confirm: askOnTerminal(deps.stderr) } : {};
        session.show(await runSwarmLeave(options, { client: session.client, ...ask }), renderLeave);
      }),
    );
}
