export * from './schedule.ts';
export * from './rng.ts';
export * from './samplers.ts';
export * from './guidance.ts';
