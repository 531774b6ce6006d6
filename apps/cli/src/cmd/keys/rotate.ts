import type { KeyCreated, KeyView } from '@aitbc/core';
import type { Command } from 'commander';
import { duration, durationText } from '../../flags.ts';
import { whenText } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { renderNewKey } from './render.ts';

/** Longest the old key may keep working after a rotation (the server's limit): 30 days. */
const MAX_GRACE_SECONDS = 30 * 86_400;

export interface KeysRotateOptions {
  id: string;
  /** How long the old key keeps working, in seconds (default: the server's, 24 h; 0 stops it now). */
  grace?: number;
  /** Print only the new key. */
  quiet?: boolean;
}

export interface KeysRotated {
  key: KeyCreated;
  previous: KeyView;
}

export function runKeysRotate(options: KeysRotateOptions, { client }: Pick<Session, 'client'>): Promise<KeysRotated> {
  return client.key.rotate.mutate({ key_id: options.id, ...(options.grace !== undefined ? { grace_seconds: options.grace } : {}) });
}

/** The new key, and until when the old one keeps working. */
export function renderKeysRotated({ key, previous }: KeysRotated, now = Date.now()): string {
  const old = `The old key ${previous.prefix}… (${previous.id})`;
  const until = previous.expires_at;
  const after =
    until === null || Date.parse(until) > now
      ? `${old} keeps working until ${whenText(until, now)}; \`aitbc keys revoke ${previous.id}\` stops it sooner.`
      : `${old} has stopped working.`;
  const headline = `Rotated ${key.owner_id}'s ${key.scope} key ${previous.prefix}…: the new key is shown only this once; store it now:`;
  return `${renderNewKey(headline, key, now)}\n\n${after}\n`;
}

export function addKeysRotate(keys: Command, deps: CliDeps): void {
  keys
    .command('rotate')
    .description('replace an API key with a new one of the same scope, agents, members and label; the old one keeps working for a while')
    .argument('<key-id>', 'the key id from `aitbc keys list`')
    .option(
      '--grace <duration>',
      `how long the old key keeps working: 0 (stop it now), 90m, 12h, … up to ${durationText(MAX_GRACE_SECONDS)} (default 24h)`,
      duration(0, MAX_GRACE_SECONDS),
    )
    .option('-q, --quiet', 'print only the new key')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const options = command.opts<Omit<KeysRotateOptions, 'id'>>();
        const rotated = await runKeysRotate({ id, ...options }, session);
        if (options.quiet) deps.stdout(`${rotated.key.key}\n`);
        else session.show(rotated, (r) => renderKeysRotated(r));
      }),
    );
}
