export * from './schemas/common.ts';
export * from './schemas/agent.ts';
export * from './schemas/key.ts';
export * from './schemas/health.ts';
