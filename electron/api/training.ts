// Training: dataset scans before a run and the loss curve of a run (progress arrives as jobs.progress).
import { z } from 'zod';
import { request } from './contract.ts';
import { job, lossPoint } from './jobs.ts';

export const datasetScan = z.object({
  datasetDir: z.string(),
  images: z.array(
    z.object({
      path: z.string(),
      caption: z.string(),
      captionSource: z.enum(['sidecar', 'filename']),
      width: z.number().int(),
      height: z.number().int(),
      /** A small PNG of the picture as a data URL (the first pictures of a folder only). */
      thumbnail: z.string().optional(),
    }),
  ),
  rejected: z.array(z.object({ path: z.string(), reason: z.string() })),
});

export const trainingRun = z.object({ job, lastLoss: z.number().nullable() });

export const trainingSamples = z.object({
  /** The prompts the samples were drawn from, in column order. */
  prompts: z.array(z.string()),
  /** Per sample step, the pictures as PNG data URLs (null where one is missing), one per prompt. */
  steps: z.array(z.object({ step: z.number().int(), images: z.array(z.string().nullable()) })),
});

export const folderListing = z.object({
  /** The folder listed; null for the list of allowed folders. */
  path: z.string().nullable(),
  /** The folder above, when the studio may read it; null at an allowed folder (go back to the list). */
  parent: z.string().nullable(),
  folders: z.array(z.object({ name: z.string(), path: z.string() })),
  /** Pictures (PNG, JPEG, WebP) directly in this folder. */
  images: z.number().int(),
  /** True when the folder held more sub-folders than the list carries. */
  truncated: z.boolean(),
});

export const trainingRequests = {
  'training.scan': request(
    z.object({ datasetDir: z.string().min(1), recursive: z.boolean().default(false), triggerWord: z.string().default('') }),
    datasetScan,
  ),
  /**
   * Writes the caption of one picture of a folder scanned before (its `.txt` beside it, UTF-8,
   * atomically); refuses pictures outside that folder. Answers the caption as training will read it,
   * with the trigger word in front.
   */
  'training.setCaption': request(
    z.object({ datasetDir: z.string().min(1), imagePath: z.string().min(1), caption: z.string().max(65_536), triggerWord: z.string().default('') }),
    z.object({ path: z.string(), sidecarPath: z.string(), caption: z.string(), captionSource: z.enum(['sidecar', 'filename']) }),
  ),
  /** Every loss point a training job recorded (for the chart after a reload). */
  'training.losses': request(z.object({ jobId: z.string() }), z.array(lossPoint)),
  /** Training runs from the database, newest first, with the last loss each recorded. */
  'training.runs': request(z.object({ limit: z.number().int().min(1).max(500).default(50) }), z.array(trainingRun)),
  /** The sample pictures a run made: one row per sample step, one picture per sample prompt. */
  'training.samples': request(z.object({ jobId: z.string() }), trainingSamples),
  /**
   * The sub-folders of a folder the studio may read (data folder, `--allow` folders, dialog picks), for
   * choosing a training folder in web mode; without `path`, those allowed folders themselves.
   */
  'training.browse': request(z.object({ path: z.string().min(1).optional() }), folderListing),
};

export const trainingEvents = {};

export type DatasetScan = z.output<typeof datasetScan>;
export type TrainingRun = z.output<typeof trainingRun>;
export type TrainingSamples = z.output<typeof trainingSamples>;
export type FolderListing = z.output<typeof folderListing>;
export type CaptionUpdate = z.output<(typeof trainingRequests)['training.setCaption']['output']>;
