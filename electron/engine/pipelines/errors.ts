/** Bad pipeline input (sizes, masks, options): the message says what is wrong and what to do. */
export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineError';
  }
}

/** Thrown when the caller's AbortSignal fires; `name` is 'AbortError' like the platform's. */
export class PipelineAbortedError extends Error {
  constructor(message = 'generation was cancelled') {
    super(message);
    this.name = 'AbortError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PipelineAbortedError();
}
