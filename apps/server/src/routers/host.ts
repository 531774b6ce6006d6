import { HostIdParam, HostList, HostListQuery, HostView } from '@aitbc/core';
import { actorOf, ownerProcedure, readProcedure, router } from '../trpc.ts';
import { liftQuarantine, listHosts } from '../verification/hosts.ts';

const tags = ['hosts'];

/** Hosts (agents and members) and their validation records: trust, quarantine, and lifting one (README "Verification"). */
export const hostRouter = router({
  list: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/hosts',
        tags,
        summary: 'Your hosts’ validation records: checked results, trust and quarantine, newest first',
        protect: true,
      },
    })
    .input(HostListQuery)
    .output(HostList)
    .query(({ ctx, input }) => ctx.db.run((db) => listHosts(db, ctx.principal.owner_id, input, new Date()))),

  lift: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/hosts/{host_id}/lift',
        tags,
        summary: 'Lift a host’s quarantine before its cool-down passes (it comes back untrusted)',
        protect: true,
      },
    })
    .input(HostIdParam)
    .output(HostView)
    .mutation(({ ctx, input }) =>
      ctx.db.transaction((tx) => liftQuarantine(tx, actorOf(ctx), ctx.principal.owner_id, input.host_id, new Date())),
    ),
});
