// What every `ldm` command is, and where it writes: the process's streams in `ldm`, buffers in tests.
import type { FlagSpecs } from './args.ts';

export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean; readonly columns?: number };
  /** Cancels a running generation (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface Command {
  readonly summary: string;
  readonly args: string;
  readonly flags: FlagSpecs;
  run(argv: readonly string[], io: CliIo): Promise<void>;
}
