// `ldm eval --model M --colour [--seed S] [--steps N] [--cfg G] [--colour-weight W] [--json]`: the colour measure of a text-to-
// image model (engine/eval/colour.ts): pictures for colour–concept pairs the training captions never had,
// each picture's hue read against the asked-for colour word, beside the same prompts without the word.
import { COLOUR_DEFAULTS, formatColourTable, measureColour, REFERENCE_HUES } from '../engine/eval/colour.ts';
import { openModel } from '../engine/families/index.ts';
import { MAX_SEED } from '../engine/pipelines/common.ts';
import { UsageError } from './args.ts';
import type { CliIo } from './command.ts';
import { resolveModelPath } from './model-dir.ts';

export async function colourEvalCli(f: Record<string, unknown>, io: CliIo): Promise<void> {
  const seed = (f.seed as number | undefined) ?? COLOUR_DEFAULTS.seeds[0];
  const seeds = COLOUR_DEFAULTS.seeds.length;
  if (seed < 0 || seed + seeds - 1 > MAX_SEED) throw new UsageError(`--seed must be 0…${MAX_SEED - seeds + 1}, got ${seed}`);
  const steps = (f.steps as number | undefined) ?? COLOUR_DEFAULTS.steps;
  if (steps < 1) throw new UsageError(`--steps must be at least 1, got ${steps}`);
  const guidance = (f.cfg as number | undefined) ?? COLOUR_DEFAULTS.guidance;
  const sampler = (f.sampler as string | undefined) ?? COLOUR_DEFAULTS.sampler;
  const colourWeight = (f['colour-weight'] as number | undefined) ?? 1;
  if (!(colourWeight > 0)) throw new UsageError(`--colour-weight must be a positive number (1 = the plain word), got ${colourWeight}`);
  const { model, opened } = await openModel(await resolveModelPath(f.model as string | undefined), { threads: f.threads as number | undefined });
  try {
    if (opened.kind !== 'txt2img') throw new UsageError(`--colour measures text-to-image models; ${opened.name} is an ${opened.kind} model`);
    const t0 = Date.now();
    const result = await measureColour(model, {
      seed,
      steps,
      guidance,
      sampler,
      colourWeight,
      signal: io.signal,
      onPrompt: (done, total) => {
        if (!f.quiet && (done % 10 === 0 || done === total)) io.stderr.write(`eval --colour: ${done}/${total} prompts drawn, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
      },
    });
    const settings = { model: opened.name, sampler, steps, guidance, colourWeight, seeds: result.seeds, referenceHues: REFERENCE_HUES };
    if (f.json) io.stdout.write(JSON.stringify({ ...settings, ...result }, null, 2) + '\n');
    else {
      io.stdout.write(`${opened.name}: ${result.prompts} colour prompts never seen in training × seeds ${result.seeds.join(', ')} (${sampler}, ${steps} steps, cfg ${guidance}${colourWeight === 1 ? '' : `, colour word (…:${colourWeight})`})\n`);
      io.stdout.write(formatColourTable(result));
    }
  } finally {
    await model.release();
  }
}
