// @aitbc/client: the typed client for the aitbc-swarm API, and the worker SDK.
export {
  type AitbcClient,
  type ApiErrorInfo,
  type AppRouter,
  type ClientOptions,
  createClient,
  describeError,
  TRPCClientError,
} from './client.ts';
export {
  type ClaimedSubtask,
  createWorker,
  subtaskLabel,
  type Worker,
  type WorkerHandler,
  type WorkerJob,
  type WorkerOptions,
  type WorkerSummary,
} from './worker.ts';
export { GaveUp, type ReachOptions, untilReachable } from './reachability.ts';
