// Training: dataset scans before a run and the loss curve of a run (progress arrives as jobs.progress).
import { z } from 'zod';
import { request } from './contract.ts';
import { lossPoint } from './jobs.ts';

export const datasetScan = z.object({
  datasetDir: z.string(),
  images: z.array(z.object({ path: z.string(), caption: z.string(), captionSource: z.enum(['sidecar', 'filename']), width: z.number().int(), height: z.number().int() })),
  rejected: z.array(z.object({ path: z.string(), reason: z.string() })),
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
};

export const trainingEvents = {};

export type DatasetScan = z.output<typeof datasetScan>;
export type CaptionUpdate = z.output<(typeof trainingRequests)['training.setCaption']['output']>;
