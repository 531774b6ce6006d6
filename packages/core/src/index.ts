export * from './schemas/common.ts';
export * from './schemas/agent.ts';
export * from './schemas/key.ts';
export * from './schemas/health.ts';
export * from './schemas/network.ts';
export * from './schemas/network-metrics.ts';
export * from './network/index.ts';
