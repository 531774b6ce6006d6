export * from './model.ts';
export * from './canonical.ts';
export * from './decomposition.ts';
export * from './strategies.ts';
export * from './replicas.ts';
export * from './reduce.ts';
export * from './metrics.ts';
export * from './recommendations.ts';
