// Where a command writes and what cancels it: the process's streams in `ldm`, buffers in tests.
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean; readonly columns?: number };
  /** Cancels a running generation (Ctrl-C). */
  readonly signal?: AbortSignal;
}
