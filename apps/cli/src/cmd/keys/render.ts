// How a key reads for people: what it may do, for which agents and members, until when.
import type { KeyCreated, KeyView } from '@aitbc/core';
import { renderFields, whenText } from '../../output.ts';

/** A worker key's agents or members: the ids it names (with names when known), or all of its owner's. */
export function namedText(
  kind: 'agents' | 'members',
  ids: readonly string[] | null,
  owner: string,
  names?: Record<string, string> | null,
): string {
  if (ids === null) return `all of ${owner}'s ${kind}`;
  if (!ids.length) return `none`;
  return ids.map((id) => (names?.[id] ? `${names[id]} (${id})` : id)).join(', ');
}

/** The fields of a key worth reading: agents and members only for worker keys, whom it stands for, when it stops. */
export function keyFields(k: KeyView, now = Date.now()): Record<string, unknown> {
  return {
    id: k.id,
    owner_id: k.owner_id,
    scope: k.scope,
    ...(k.scope === 'worker'
      ? { agents: namedText('agents', k.agents, k.owner_id), members: namedText('members', k.members, k.owner_id) }
      : {}),
    prefix: k.prefix,
    label: k.label,
    created_at: k.created_at,
    expires_at: whenText(k.expires_at, now),
    ...(k.revoked_at ? { revoked_at: k.revoked_at } : {}),
    ...(k.replaced_by ? { replaced_by: k.replaced_by } : {}),
  };
}

/** The key stands alone on its line so it can be copied; the server keeps only its hash. */
export function renderNewKey(headline: string, created: KeyCreated, now = Date.now()): string {
  return [
    headline,
    '',
    `  ${created.key}`,
    '',
    renderFields(keyFields(created, now)).trimEnd(),
    '',
    'Use it with --api-key KEY, AITBC_API_KEY=KEY, or api_key: KEY in ~/.aitbc/config.yaml.',
  ].join('\n');
}
