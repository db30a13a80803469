export class FinetuneError extends Error {
  override name = 'FinetuneError';
}
