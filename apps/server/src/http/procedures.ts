/**
 * The procedures, mounted twice: tRPC at /trpc, and the same procedures as
 * REST at their OpenAPI paths (rest.ts).
 */
import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import type { FastifyInstance } from 'fastify';
import type { successStatuses } from '../openapi.ts';
import { restPlugin } from '../rest.ts';
import { type AppRouter, appRouter } from '../routers/index.ts';
import type { Context } from '../trpc.ts';
import type { ContextRequest, onProcedureError } from './context.ts';

export async function mountProcedures(
  app: FastifyInstance,
  {
    createContext,
    onError,
    statuses,
  }: {
    createContext: (opts: { req: ContextRequest }) => Context;
    onError: typeof onProcedureError;
    statuses: ReturnType<typeof successStatuses>;
  },
): Promise<void> {
  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: { router: appRouter, createContext, onError } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });

  await app.register(restPlugin, { router: appRouter, createContext: (req) => createContext({ req }), onError, statuses });
}
