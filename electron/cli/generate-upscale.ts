// `ldm generate … --upscale [--upscale-model FILE|NAME]`: each picture made is upscaled ×4 by a
// super-resolution model (found as `ldm upscale` finds it) and the larger picture is what gets written,
// its parameters the generation's own plus A1111's Extras keys for the upscale. With --data both go into
// the history, the upscaled picture as an `upscale` whose parent is the original, as the studio records it.
import { writeBytesAtomic } from '../engine/io/atomic.ts';
import { formatParameters } from '../engine/io/generation-params.ts';
import { encodePng } from '../engine/io/image.ts';
import { imageToTensor } from '../engine/pipelines/image.ts';
import { generatedPng, generationParams } from '../engine/pipelines/output.ts';
import { upscale, type ReleaseModel } from '../engine/pipelines/release.ts';
import type { GeneratedImage } from '../engine/pipelines/types.ts';
import type { FlagSpecs } from './args.ts';
import type { CliIo } from './command.ts';
import type { DataRecorder } from './data-hook.ts';
import { ImageFileError } from './image-files.ts';
import { ProgressBar } from './progress.ts';
import { openSrModel, resolveSrModel, upscaleExtras } from './upscale.ts';

export const UPSCALE_AFTER_FLAGS: FlagSpecs = {
  upscale: { type: 'boolean', help: 'then upscale each picture ×4 with a super-resolution model and write that (the 32² emoji model’s pictures become 128²)' },
  'upscale-model': { type: 'string', arg: 'FILE|NAME', help: 'the super-resolution model for --upscale (implies it): a file in the paper’s layout or a folder name in resources/models/; default: the first one installed there' },
};

/** What --upscale does to each picture made: upscales it, writes the larger one, records both. */
export interface UpscaleAfter {
  /** Writes `made` ×4 to `file` (and with a recorder, `made` and then its upscale into the history). */
  write(file: string, made: GeneratedImage, recorder: DataRecorder | null): Promise<void>;
  close(): Promise<void>;
}

/** Whether the command line asks for --upscale (or names --upscale-model). */
export function wantsUpscale(flags: Record<string, unknown>): boolean {
  return flags.upscale === true || flags['upscale-model'] !== undefined;
}

/**
 * The super-resolution model of --upscale, opened before the generation starts so that a missing one is
 * said at once; null without --upscale.
 */
export async function openUpscaleAfter(flags: Record<string, unknown>, io: CliIo): Promise<UpscaleAfter | null> {
  if (!wantsUpscale(flags)) return null;
  const model = await openSrModel(await resolveSrModel(flags['upscale-model'] as string | undefined, '--upscale-model'), '--upscale-model');
  return {
    write: (file, made, recorder) => writeUpscaled(model, file, made, recorder, io, !flags.quiet),
    close: () => model.close(),
  };
}

async function writeUpscaled(model: ReleaseModel, file: string, made: GeneratedImage, recorder: DataRecorder | null, io: CliIo, verbose: boolean): Promise<void> {
  const bar = verbose ? new ProgressBar(io.stderr) : null;
  let big: GeneratedImage;
  try {
    // the picture's own seed: the same command line gives the same upscaled picture
    [big] = (await upscale(model, { image: made.image, seed: made.record.seed, signal: io.signal, onProgress: bar ? (e) => bar.update(e) : undefined, previewEvery: 0 })) as [GeneratedImage];
  } finally {
    bar?.finish();
  }
  const extra = upscaleExtras(made.image, big.image, model.name);
  const params = generationParams(made.record);
  const png = await encodePng(imageToTensor(big.image), { text: { parameters: formatParameters({ ...params, extras: { ...params.extras, ...extra } }) } });
  try {
    await writeBytesAtomic(file, png);
  } catch (err) {
    throw new ImageFileError(`cannot write ${file}: ${(err as Error).message}`);
  }
  if (recorder) {
    const parentId = await recorder.record({ file, png: await generatedPng(made), generated: made });
    await recorder.record({ file, png: await generatedPng(big), generated: big, parentId, extra });
  }
  if (verbose) io.stderr.write(`upscaled ×${extra['Postprocess upscale by']} with ${model.name}: ${made.image.width}×${made.image.height} → ${big.image.width}×${big.image.height}\n`);
}
