export { AdamW, type AdamWOptions } from './adamw.ts';
export { clipFactor, globalNorm } from './clip.ts';
export { Ema } from './ema.ts';
export { TrainingError } from './errors.ts';
export { lrAt, validateSchedule, type LrSchedule } from './schedule.ts';
export { CHECKPOINT_FORMAT, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint, type TrainerState } from './checkpoint.ts';
export { Trainer, type Feeds, type StepResult, type TrainerOptions } from './trainer.ts';
