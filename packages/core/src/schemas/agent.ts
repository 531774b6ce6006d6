import { z } from 'zod';
import { Id, IsoDateTime, NextCursor, PageQuery } from './common.ts';
import { HostLabel } from './verification.ts';

export const AGENT_STATUSES = ['online', 'offline', 'busy'] as const;
export const AgentStatus = z.enum(AGENT_STATUSES);
export type AgentStatus = z.infer<typeof AgentStatus>;

/** A capability tag such as `gpu` or `llm`: lower-case letters, digits, `-`, `_`, `.`, `:`. */
export const Capability = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._:-]*$/, 'a capability is letters, digits, ".", "_", ":" or "-"');

export const Capabilities = z
  .array(Capability)
  .max(64)
  .transform((tags) => [...new Set(tags)]);

export const AgentName = z
  .string()
  .trim()
  .min(1, 'an agent name cannot be empty')
  .max(128)
  // `*`, not `+`: an empty name gets only the message above.
  .regex(/^[^\s,]*$/, 'an agent name has no spaces or commas (the CLI takes comma-separated names)');

export const AgentRegister = z.object({
  name: AgentName,
  description: z.string().max(2000).nullish(),
  capabilities: Capabilities.default([]),
  status: AgentStatus.default('offline'),
  host: HostLabel.nullish(),
});
export type AgentRegister = z.input<typeof AgentRegister>;

export const AgentIdParam = z.object({ agent_id: Id });

export const AgentUpdate = AgentIdParam.extend({
  name: AgentName.optional(),
  description: z.string().max(2000).nullish(),
  capabilities: Capabilities.optional(),
  status: AgentStatus.optional(),
  host: HostLabel.nullish().describe('the machine it runs on (null: a machine of its own)'),
});
export type AgentUpdate = z.input<typeof AgentUpdate>;

/**
 * An agent's presence, the one thing a worker key may change about the
 * agents it works for: a worker that stops marks its agent offline, so the
 * agent's waiting work moves to other agents at once.
 */
export const AgentPresence = AgentIdParam.extend({
  status: z
    .enum(['online', 'offline'])
    .describe('offline: its assigned, unclaimed subtasks move to other agents now; online: it takes work again'),
}).strict();
export type AgentPresence = z.input<typeof AgentPresence>;

export const AgentPresenceView = z.object({
  agent_id: z.string(),
  status: AgentStatus,
  last_seen: IsoDateTime.nullable(),
});
export type AgentPresenceView = z.infer<typeof AgentPresenceView>;

export const AgentView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  capabilities: z.array(z.string()),
  status: AgentStatus,
  host: z.string().nullable().describe('the machine it runs on: copies of one subtask never go to two agents of one host'),
  last_seen: IsoDateTime.nullable(),
  owner_id: z.string(),
  created_at: IsoDateTime,
  updated_at: IsoDateTime,
});
export type AgentView = z.infer<typeof AgentView>;

export const AgentListQuery = PageQuery.extend({
  status: AgentStatus.optional(),
});
export type AgentListQuery = z.input<typeof AgentListQuery>;

export const AgentList = z.object({
  agents: z.array(AgentView),
  total_count: z.number().int(),
  next_cursor: NextCursor,
});
export type AgentList = z.infer<typeof AgentList>;
