export class TrainingError extends Error {
  override name = 'TrainingError';
}
