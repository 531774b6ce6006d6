export * from './compare.ts';
export * from './decide.ts';
export * from './record.ts';
export * from './results.ts';
