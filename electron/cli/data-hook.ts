// `--data DIR`: the CLI's images also go into a studio data folder (history.db + gallery/), recorded
// exactly as the studio records its own (electron/services/record.ts).
import { existsSync, statSync } from 'node:fs';
import type { GeneratedImage } from '../engine/pipelines/types.ts';
import { UsageError } from './args.ts';

export interface RecordedImage {
  /** Where the CLI wrote the PNG (absolute). */
  readonly file: string;
  /** The PNG bytes, parameters chunk included. */
  readonly png: Uint8Array;
  readonly generated: GeneratedImage;
  /** The inpainting mask as the user gave it (any picture format). */
  readonly mask?: Uint8Array;
  /** The history item this picture was made from (an upscaled picture's original). */
  readonly parentId?: string;
  /** Further `Key: value` facts for the parameters chunk and the history (an upscale's factor and upscaler). */
  readonly extra?: Record<string, string>;
}

export interface DataRecorder {
  /** Records the picture; its history id. */
  record(image: RecordedImage): Promise<string>;
  close(): Promise<void>;
}

export async function openDataRecorder(dir: string): Promise<DataRecorder> {
  if (dir.trim() === '') throw new UsageError('--data needs a folder');
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new UsageError(`--data ${dir} is a file, not a folder`);
  }
  // Loaded only here: the services bring SQLite, which plain generation does not need.
  const { recordGeneration } = await import('../services/record.ts');
  return {
    async record({ png, generated, mask, parentId, extra }) {
      return (await recordGeneration(dir, { ...generated.record, png, mask: mask ?? null, parentId: parentId ?? null, extra })).id;
    },
    async close() {},
  };
}
