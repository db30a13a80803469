// training.* requests: a training folder's pictures and captions, a job's loss curve, the runs and their
// samples, web mode's folder browser.
import { browseFolders, TrainingFolders, trainingRuns, trainingSamples } from '../training.ts';
import type { DomainHandlers, StudioContext } from './context.ts';

export function trainingHandlers({ allowed, queue, paths }: StudioContext): DomainHandlers<'training'> {
  const trainingFolders = new TrainingFolders();
  return {
    'training.scan': async ({ datasetDir, recursive, triggerWord }) => {
      allowed.readable(datasetDir, 'training folder');
      return trainingFolders.scan(datasetDir, recursive, triggerWord);
    },
    'training.setCaption': async ({ datasetDir, imagePath, caption, triggerWord }) => trainingFolders.setCaption(datasetDir, imagePath, caption, triggerWord),
    'training.losses': async ({ jobId }) => queue.losses(jobId),
    'training.runs': async ({ limit }) => trainingRuns(queue, limit),
    'training.samples': async ({ jobId }) => trainingSamples(queue, paths.training, jobId),
    'training.browse': async ({ path }) => browseFolders(allowed, path),
  };
}
