// training.* requests: a training folder's pictures and captions, a job's loss curve.
import { TrainingFolders } from '../training.ts';
import type { DomainHandlers, StudioContext } from './context.ts';

export function trainingHandlers({ allowed, queue }: StudioContext): DomainHandlers<'training'> {
  const trainingFolders = new TrainingFolders();
  return {
    'training.scan': async ({ datasetDir, recursive, triggerWord }) => {
      allowed.readable(datasetDir, 'training folder');
      return trainingFolders.scan(datasetDir, recursive, triggerWord);
    },
    'training.setCaption': async ({ datasetDir, imagePath, caption, triggerWord }) => trainingFolders.setCaption(datasetDir, imagePath, caption, triggerWord),
    'training.losses': async ({ jobId }) => queue.losses(jobId),
  };
}
