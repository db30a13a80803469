// The `ldm` commands: generate, img2img, inpaint, outpaint, train, models, serve. Each declares its flags
// once; parsing, model loading, progress and output writing are shared.
import { createHash, randomInt } from 'node:crypto';
import * as path from 'node:path';
import { RNG_SOURCES, type RngSource, type SeedOptions } from '../engine/diffusion/noise.ts';
import { SAMPLERS, SCHEDULE_TYPES } from '../engine/diffusion/samplers.ts';
import { withAdapters, type AdapterUse } from '../engine/finetune/adapters.ts';
import { validateModelPackage, type ValidatedPackage } from '../engine/io/model-package.ts';
import { autoencoderFactor } from '../engine/nn/config.ts';
import { WEIGHT_PRECISIONS, type WeightPrecision } from '../engine/nn/quantize.ts';
import { img2img } from '../engine/pipelines/img2img.ts';
import { inpaint, outpaint } from '../engine/pipelines/inpaint.ts';
import { LoadedModel, type RuntimeOptions } from '../engine/pipelines/loaded-model.ts';
import { dataWeightCacheDir } from '../engine/pipelines/weight-cache.ts';
import { openVaeFile, withVae } from '../engine/pipelines/vae-override.ts';
import { openModel, parsePrediction } from '../engine/families/index.ts';
import { MAX_SEED } from '../engine/pipelines/common.ts';
import { txt2img } from '../engine/pipelines/txt2img.ts';
import type { GeneratedImage, GenerateOptions } from '../engine/pipelines/types.ts';
import { helpFor, parseCommandLine, UsageError, type FlagSpecs, type Parsed } from './args.ts';
import { openDataRecorder } from './data-hook.ts';
import { readFileBytes, readImageFile, writeGeneratedPng } from './image-files.ts';
import type { CliIo, Command } from './command.ts';
import { defaultOf, listPackageDirs, modelsDir, resolveModelPath } from './model-dir.ts';
import { inpaintingPackageFor } from '../services/inpaint-model.ts';
import { promptAdapters } from './networks.ts';
import { ProgressBar } from './progress.ts';
import { PROVIDER_FLAG, providerChoice } from './provider.ts';
import { CLASS_FLAG, classGeneration, wantsClass } from './class-generate.ts';
import { convertCommand } from './convert.ts';
import { paperCommand } from './paper.ts';
import { infoCommand } from './info.ts';
import { serveCommand } from './serve.ts';
import { tokenizeCommand } from './tokenize.ts';
import { trainCommand } from './train.ts';
import { upscaleCommand } from './upscale.ts';
import { evalCommand } from './eval.ts';
import { openUpscaleAfter, UPSCALE_AFTER_FLAGS } from './generate-upscale.ts';

export type { Command } from './command.ts';


const GENERATE_FLAGS: FlagSpecs = {
  negative: { type: 'string', help: 'negative prompt (what to steer away from)' },
  seed: { type: 'int', help: `seed of the first image (0…${MAX_SEED}); image i uses seed+i; default random` },
  steps: { type: 'int', help: "denoising steps (default: the model's)" },
  sampler: { type: 'string', arg: 'NAME', help: `${SAMPLERS.map((x) => x.name).join(', ')} (default: the model's)` },
  schedule: { type: 'string', arg: 'TYPE', help: `A1111 schedule type: ${SCHEDULE_TYPES.map((t) => t.name).join(', ')} (default: automatic, the sampler's own)` },
  cfg: { type: 'number', help: 'classifier-free guidance scale (1 = off)' },
  size: { type: 'size', help: 'image size WxH (multiples of the model’s factor)' },
  width: { type: 'int', help: 'image width in pixels' },
  height: { type: 'int', help: 'image height in pixels' },
  n: { type: 'int', help: 'number of images (seed, seed+1, …)' },
  eta: { type: 'number', help: 'DDIM eta (0 = deterministic sampler)' },
  'clip-skip': { type: 'int', arg: 'N', help: "A1111's Clip skip: 1 = the text encoder's last layer (default), 2 = the one before" },
  rng: { type: 'string', arg: 'SOURCE', help: 'random number source as AUTOMATIC1111 names it: gpu (its default, same noise as nv), cpu, nv' },
  'variation-seed': { type: 'int', help: 'variation seed: with --variation-strength every image keeps --seed and image i mixes in this seed + i (default random)' },
  'variation-strength': { type: 'number', help: 'how much of the variation seed’s noise, 0…1 (default 0)' },
  'resize-seed-from': { type: 'size', help: 'draw the seed’s noise at this size WxH and paste it centred (keeps a picture’s layout at a new size)' },
  ensd: { type: 'int', help: 'eta noise seed delta (A1111 ENSD, e.g. 31337): the per-step noise comes from seed + ENSD' },
  lora: { type: 'string', arg: 'FILE[:STRENGTH]', multiple: true, help: 'merge a LoRA or embedding .safetensors (repeatable; strength default 1)' },
  'lora-dir': { type: 'string', arg: 'DIR', multiple: true, help: 'where <lora:NAME:W> tags in the prompt find NAME.safetensors (repeatable; default: the current folder)' },
  embeddings: { type: 'string', arg: 'DIR', multiple: true, help: 'a folder of textual-inversion embeddings (.safetensors): each is used where the prompt names it by its file name' },
  vae: { type: 'string', arg: 'FILE', help: "a separate VAE .safetensors (e.g. SD's ft-MSE) used instead of the model's own autoencoder" },
  model: { type: 'string', arg: 'FILE|DIR|NAME', help: 'an SD 1.x/2.x .safetensors file, a diffusers folder, a model package folder, or the name of one in resources/models/' },
  prediction: { type: 'string', arg: 'v|eps', help: "what the model predicts, for files that do not say (SD 2.x 768-v: v); default: the file's" },
  out: { type: 'string', short: 'o', arg: 'FILE', help: 'output PNG; with --n > 1, NAME-<seed>.png each (default <command>-<seed>.png)' },
  data: { type: 'string', arg: 'DIR', help: 'also record the images in this studio data folder (history and gallery)' },
  threads: { type: 'int', help: 'CPU threads for onnxruntime' },
  ...PROVIDER_FLAG,
  weights: { type: 'string', arg: 'fp32|int8|int4', help: "the UNet's and text encoder's linear weights: fp32 (default), or quantised at load to int8/int4 (less memory, small error)" },
  quiet: { type: 'boolean', short: 'q', help: 'no progress bar' },
};

const IMAGE_FLAG: FlagSpecs = { image: { type: 'string', arg: 'FILE', help: 'the input picture (PNG, JPEG or WebP)' } };
const FEATHER_FLAG: FlagSpecs = { feather: { type: 'number', help: 'mask feathering radius in pixels (default 4)' } };

export const COMMANDS: Record<string, Command> = {
  generate: {
    summary: 'text to image (or a class, with a class-conditional model: --class NAME)',
    args: '"PROMPT" | --class NAME',
    flags: { ...GENERATE_FLAGS, ...CLASS_FLAG, ...UPSCALE_AFTER_FLAGS },
    run: (argv, io) =>
      wantsClass(argv)
        ? classGeneration(argv, COMMANDS.generate!.flags, io)
        : generation('txt2img', argv, { ...GENERATE_FLAGS, ...UPSCALE_AFTER_FLAGS }, io, (model, base) => txt2img(model, base)),
  },
  img2img: {
    summary: 'redraw a picture under a prompt',
    args: '"PROMPT" --image FILE',
    flags: { ...IMAGE_FLAG, strength: { type: 'number', help: 'how much to change, 0…1 (default 0.75)' }, ...GENERATE_FLAGS },
    run: (argv, io) =>
      generation('img2img', argv, COMMANDS.img2img!.flags, io, async (model, base, p) =>
        img2img(model, { ...base, image: await readImageFile(required(p, 'image')), strength: num(p, 'strength') }),
      ),
  },
  inpaint: {
    summary: 'repaint the white area of a mask',
    args: '"PROMPT" --image FILE --mask FILE',
    flags: {
      ...IMAGE_FLAG,
      mask: { type: 'string', arg: 'FILE', help: 'mask picture, same size: white = repaint, black = keep' },
      strength: { type: 'number', help: 'how much to change inside the mask, 0…1 (default 1)' },
      ...FEATHER_FLAG,
      ...GENERATE_FLAGS,
    },
    run: (argv, io) =>
      generation('inpaint', argv, COMMANDS.inpaint!.flags, io, async (model, base, p, side) => {
        const maskFile = required(p, 'mask');
        side.mask = await readFileBytes(maskFile);
        return inpaint(model, {
          ...base,
          image: await readImageFile(required(p, 'image')),
          mask: await readImageFile(maskFile),
          strength: num(p, 'strength'),
          feather: num(p, 'feather'),
        });
      }),
  },
  outpaint: {
    summary: 'extend a picture beyond its borders',
    args: '"PROMPT" --image FILE [--left N] [--right N] [--top N] [--bottom N]',
    flags: {
      ...IMAGE_FLAG,
      left: { type: 'int', help: 'pixels to add on the left' },
      right: { type: 'int', help: 'pixels to add on the right' },
      top: { type: 'int', help: 'pixels to add at the top' },
      bottom: { type: 'int', help: 'pixels to add at the bottom' },
      ...FEATHER_FLAG,
      ...GENERATE_FLAGS,
    },
    run: (argv, io) =>
      generation('outpaint', argv, COMMANDS.outpaint!.flags, io, async (model, base, p) =>
        outpaint(model, {
          ...base,
          image: await readImageFile(required(p, 'image')),
          left: num(p, 'left'),
          right: num(p, 'right'),
          top: num(p, 'top'),
          bottom: num(p, 'bottom'),
          feather: num(p, 'feather'),
        }),
      ),
  },
  train: trainCommand,
  tokenize: tokenizeCommand,
  models: {
    summary: 'list the installed model packages; `ldm models import PATH --data DIR` imports a model',
    args: '[import PATH]',
    flags: {
      dir: { type: 'string', arg: 'DIR', help: 'list this folder instead of resources/models/' },
      data: { type: 'string', arg: 'DIR', help: "also list the models of this studio data folder (DIR/models); with import: the data folder to import into" },
      name: { type: 'string', arg: 'NAME', help: 'import: the name to register the model under (default: from the file)' },
      prediction: { type: 'string', arg: 'v|eps', help: "import: what the model predicts, for files that do not say (SD 2.x 768-v: v)" },
    },
    run: async (argv, io) => {
      const p = parseCommandLine(argv, COMMANDS.models!.flags);
      if (p.positionals[0] === 'import') return importModel(p, io);
      if (p.positionals.length > 0) throw new UsageError(`'ldm models' takes no arguments but 'import PATH', got '${p.positionals[0]}'`);
      const dirs = [(p.flags.dir as string | undefined) ?? modelsDir()];
      if (p.flags.data !== undefined) dirs.push(path.join(p.flags.data as string, 'models'));
      const installed = await listPackageDirs(modelsDir());
      const fallback = defaultOf(installed);
      for (const dir of dirs) {
        const found = await listPackages(dir);
        if (found.length === 0) io.stdout.write(`no model packages in ${dir}\n`);
        for (const f of found) io.stdout.write(describePackage(f) + (fallback && path.resolve(f.dir) === path.resolve(fallback) ? '  (default)' : '') + '\n');
      }
    },
  },
  serve: serveCommand,
  info: infoCommand,
  convert: convertCommand,
  paper: paperCommand,
  upscale: upscaleCommand,
  eval: evalCommand,
};

/** What a command hands back besides the images, for the data folder's history. */
interface SideOutputs {
  mask?: Uint8Array;
}

type Runner = (model: LoadedModel, base: GenerateOptions, parsed: Parsed, side: SideOutputs) => Promise<GeneratedImage[]>;

async function generation(command: string, argv: readonly string[], flags: FlagSpecs, io: CliIo, run: Runner): Promise<void> {
  const p = parseCommandLine(argv, flags);
  const prompt = p.positionals.join(' ').trim();
  if (prompt === '') throw new UsageError(`'ldm ${command}' needs a prompt, e.g. ldm ${command} "a red heart"`);
  const f = p.flags;
  const n = (f.n as number | undefined) ?? 1;
  if (n < 1) throw new UsageError(`--n must be at least 1, got ${n}`);
  const size = f.size as { width: number; height: number } | undefined;
  if (size && (f.width !== undefined || f.height !== undefined)) throw new UsageError('give either --size or --width/--height, not both');
  if ('image' in flags && (size || f.width !== undefined || f.height !== undefined)) {
    throw new UsageError(`'ldm ${command}' makes pictures the size of --image; resize the picture instead of passing a size`);
  }
  const out = (f.out as string | undefined) ?? null;
  if (out !== null && !/\.png$/i.test(out)) throw new UsageError(`--out must name a .png file, got '${out}'`);
  const seed = (f.seed as number | undefined) ?? randomInt(0, MAX_SEED - n + 2);
  // Open the data folder before the long work, so a wrong --data fails at once.
  const recorder = f.data !== undefined ? await openDataRecorder(f.data as string) : null;
  // --upscale: its super-resolution model, found (or said missing) before the long work
  const upscaler = await openUpscaleAfter(f, io);
  const runtime = {
    threads: f.threads as number | undefined, provider: providerChoice(f.provider as string | undefined), weights: weightPrecision(f.weights as string | undefined),
    weightCache: f.data !== undefined ? { dir: dataWeightCacheDir(f.data as string) } : undefined,
  };
  const adapters = await parseAdapters((f.lora as string[] | undefined) ?? []);
  // <lora:NAME:W> tags and embedding names in the prompts (A1111's extra networks).
  const named = await promptAdapters([prompt, (f.negative as string | undefined) ?? ''], (f['lora-dir'] as string[] | undefined) ?? [], (f.embeddings as string[] | undefined) ?? []);
  adapters.push(...named.filter((a) => !adapters.some((b) => b.file === a.file)));
  const bar = f.quiet ? null : new ProgressBar(io.stderr);
  const vae = f.vae as string | undefined;
  const base = await openCliModel(await cliModelFor(command, f.model as string | undefined, adapters.length > 0 || vae !== undefined, io, !f.quiet), f.prediction as string | undefined, runtime, io, !f.quiet);
  const model = await withAdapters(vae ? new LoadedModel(await withVae(base.spec, await openVaeFile(vae)), runtime) : base, adapters, runtime);
  const side: SideOutputs = {};
  const embeddingFiles = new Set(named.filter((a) => a.kind === 'embedding').map((a) => a.file));
  const loras = adapters.filter((a) => !embeddingFiles.has(a.file)).map((a) => ({ name: a.name, hash: a.hash, strength: a.strength }));
  try {
    // The memory estimate before the work starts, refused with the figure when it cannot fit (services/admission.ts).
    const [ew, eh] = [size?.width ?? (f.width as number | undefined) ?? model.spec.defaults.width, size?.height ?? (f.height as number | undefined) ?? model.spec.defaults.height];
    const { availableMemory, checkMemory, describeEstimate, estimateForModel } = await import('../services/admission.ts');
    const estimate = estimateForModel(model.spec, ew, eh);
    if (!f.quiet) io.stderr.write(`${ew}x${eh} ${command}: ${describeEstimate(estimate, availableMemory(estimate))}\n`);
    checkMemory(estimate, `A ${ew}x${eh} ${command} job`);
    const base: GenerateOptions = {
      prompt,
      negativePrompt: f.negative as string | undefined,
      seed,
      steps: f.steps as number | undefined,
      sampler: f.sampler as string | undefined,
      scheduleType: f.schedule as string | undefined,
      guidance: f.cfg as number | undefined,
      width: size?.width ?? (f.width as number | undefined),
      height: size?.height ?? (f.height as number | undefined),
      batchCount: n,
      eta: f.eta as number | undefined,
      clipSkip: f['clip-skip'] as number | undefined,
      ...seedFlags(f),
      signal: io.signal,
      onProgress: bar ? (e) => bar.update(e) : undefined,
      previewEvery: 0,
      // Each image is written as soon as it is made, so Ctrl-C or a failure later keeps it.
      onImage: async (made) => {
        const provider = await model.runsOn();
        const img = { ...made, record: { ...made.record, provider, ...(loras.length ? { loras } : {}) } };
        const { seed: s, variationSeed: v } = img.record;
        const file = outputFile(out, command, v === undefined ? String(s) : `${s}-v${v}`, n);
        if (upscaler) {
          await upscaler.write(file, img, recorder);
        } else {
          const png = await writeGeneratedPng(file, img);
          await recorder?.record({ file, png, generated: img, mask: side.mask });
        }
        bar?.finish();
        io.stdout.write(`${file}\n`);
      },
    };
    await run(model, base, p, side);
  } finally {
    bar?.finish();
    await model.release();
    await upscaler?.close();
    await recorder?.close();
  }
}

/**
 * The model a command runs on: --model (or the default), or for inpaint/outpaint its inpainting
 * counterpart among the installed packages and the model's neighbours (services/inpaint-model.ts), said on
 * stderr; `adds`: LoRAs, embeddings or a VAE are merged, and the model picked is used as it is.
 */
async function cliModelFor(command: string, model: string | undefined, adds: boolean, io: CliIo, verbose: boolean): Promise<string> {
  const file = await resolveModelPath(model);
  if ((command !== 'inpaint' && command !== 'outpaint') || adds) return file;
  const candidates = [...(await listPackageDirs(modelsDir())), ...(await listPackageDirs(path.dirname(path.resolve(file))))];
  const inpainter = await inpaintingPackageFor(file, candidates);
  if (!inpainter) return file;
  if (verbose) io.stderr.write(`${command}: using ${path.basename(inpainter)}, the inpainting model for ${path.basename(file)}\n`);
  return inpainter;
}

/**
 * --model FILE|DIR|NAME opened through its family: what was found and assumed is said on stderr, and the
 * A1111 hash (sha256 of the file) is computed with a progress line for big files.
 */
async function openCliModel(model: string | undefined, prediction: string | undefined, runtime: RuntimeOptions, io: CliIo, verbose: boolean): Promise<LoadedModel> {
  const file = await resolveModelPath(model);
  let pred;
  try {
    pred = prediction === undefined ? undefined : parsePrediction(prediction);
  } catch (err) {
    throw new UsageError(`--prediction: ${(err as Error).message}`);
  }
  const t0 = Date.now();
  const { model: m, opened } = await openModel(file, { ...runtime, prediction: pred });
  if (verbose && opened.family !== 'package') {
    const p = opened.prediction === 'epsilon' ? 'ε' : 'v';
    io.stderr.write(`${opened.name}: ${opened.family}, ${opened.kind}, predicts ${p} (${opened.predictionSource}), hash ${m.hash}, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const n of opened.notes) io.stderr.write(`  ${n}\n`);
  }
  return m;
}

/** `ldm models import PATH --data DIR`: validates through the model's family, copies it into DIR/models and registers it. */
async function importModel(p: Parsed, io: CliIo): Promise<void> {
  const [, file, ...rest] = p.positionals;
  if (!file || rest.length > 0) throw new UsageError("usage: ldm models import PATH --data DIR [--name NAME] [--prediction v|eps]");
  const data = p.flags.data as string | undefined;
  if (!data) throw new UsageError('ldm models import needs --data DIR, the studio data folder to import into');
  let prediction;
  try {
    prediction = p.flags.prediction === undefined ? undefined : parsePrediction(p.flags.prediction as string);
  } catch (err) {
    throw new UsageError(`--prediction: ${(err as Error).message}`);
  }
  // Loaded only here: the registry brings SQLite.
  const [{ ensureDataDir }, { openDatabase }, { ModelRegistry }] = await Promise.all([
    import('../services/files.ts'),
    import('../services/db.ts'),
    import('../services/models.ts'),
  ]);
  const paths = ensureDataDir(data);
  const db = openDatabase(paths.db);
  try {
    const registry = new ModelRegistry(db, paths);
    const v = await registry.validate(file);
    if (!v.ok) throw new Error(v.errors.join('; '));
    for (const w of v.warnings) io.stderr.write(`note: ${w}\n`);
    let m = await registry.import(path.resolve(file), p.flags.name as string | undefined);
    if (prediction) m = registry.setPrediction(m.id, prediction);
    io.stdout.write(`${m.id}  ${m.name}  ${m.kind}  ${m.format}  hash ${m.hash.slice(0, 10)}${m.prediction ? `  predicts ${m.prediction}` : ''}\n`);
  } finally {
    db.close();
  }
}

/** --lora FILE[:STRENGTH] → the adapter to merge, with its name and file hash for the metadata. */
async function parseAdapters(specs: readonly string[]): Promise<(AdapterUse & { name: string; hash: string; strength: number })[]> {
  const out: (AdapterUse & { name: string; hash: string; strength: number })[] = [];
  for (const spec of specs) {
    const m = /^(.*?)(?::(-?\d+(?:\.\d+)?))?$/.exec(spec)!;
    const file = m[1]!;
    const strength = m[2] === undefined ? 1 : Number(m[2]);
    if (!/\.safetensors$/i.test(file)) throw new UsageError(`--lora ${spec}: give a .safetensors file, optionally with :STRENGTH`);
    const bytes = await readFileBytes(file);
    out.push({ file, strength, name: path.basename(file, path.extname(file)), hash: createHash('sha256').update(bytes).digest('hex') });
  }
  return out;
}

function outputFile(out: string | null, command: string, seed: string, n: number): string {
  if (out === null) return path.resolve(`${command}-${seed}.png`);
  if (n === 1) return path.resolve(out);
  return path.resolve(out.replace(/\.png$/i, `-${seed}.png`));
}

function required(p: Parsed, flag: string): string {
  const v = p.flags[flag];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${flag} FILE is required`);
  return v;
}

function num(p: Parsed, flag: string): number | undefined {
  return p.flags[flag] as number | undefined;
}

/** --rng, --variation-seed/-strength, --resize-seed-from, --ensd → the pipelines' SeedOptions (A1111's seed settings). */
function seedFlags(f: Parsed['flags']): SeedOptions {
  const rng = f.rng as string | undefined;
  if (rng !== undefined && !(RNG_SOURCES as readonly string[]).includes(rng)) throw new UsageError(`--rng must be one of ${RNG_SOURCES.join(', ')}, got '${rng}'`);
  const strength = f['variation-strength'] as number | undefined;
  if (strength !== undefined && !(strength >= 0 && strength <= 1)) throw new UsageError(`--variation-strength must be between 0 and 1, got ${strength}`);
  const ensd = f.ensd as number | undefined;
  if (ensd !== undefined && ensd < 0) throw new UsageError(`--ensd must be 0 or more, got ${ensd}`);
  return {
    rngSource: rng as RngSource | undefined,
    variationSeed: (f['variation-seed'] as number | undefined) ?? (strength ? randomInt(0, MAX_SEED - 1000) : undefined),
    variationStrength: strength,
    resizeSeedFrom: f['resize-seed-from'] as { width: number; height: number } | undefined,
    ensd,
  };
}

function weightPrecision(v: string | undefined): WeightPrecision | undefined {
  if (v === undefined) return undefined;
  if (!(WEIGHT_PRECISIONS as readonly string[]).includes(v)) throw new UsageError(`--weights must be one of ${WEIGHT_PRECISIONS.join(', ')}, got '${v}'`);
  return v as WeightPrecision;
}




async function listPackages(dir: string): Promise<(ValidatedPackage | { dir: string; error: string })[]> {
  const out: (ValidatedPackage | { dir: string; error: string })[] = [];
  for (const d of await listPackageDirs(dir)) {
    try {
      out.push(await validateModelPackage(d));
    } catch (err) {
      out.push({ dir: d, error: (err as Error).message });
    }
  }
  return out;
}

function describePackage(p: ValidatedPackage | { dir: string; error: string }): string {
  if ('error' in p) return `${path.basename(p.dir)}  (broken: ${p.error})`;
  const m = p.manifest;
  const s = m.sampling;
  const f = autoencoderFactor(m.architecture.autoencoder);
  const bytes = m.files.reduce((a, x) => a + x.bytes, 0);
  const parts = [
    m.name,
    m.kind,
    `f=${f}`,
    s ? `${s.width}x${s.height}, ${s.sampler} ${s.steps} steps, cfg ${s.guidance}` : null,
    `${(bytes / 1e6).toFixed(1)} MB`,
    m.license,
    p.dir,
  ];
  return parts.filter((x) => x !== null).join('  ');
}


export function usage(command?: string): string {
  const c = command ? COMMANDS[command] : undefined;
  if (c) return `ldm ${command} ${c.args}\n${c.summary}\n\n${helpFor(c.flags)}\n`;
  const rows = Object.entries(COMMANDS).map(([n, x]) => `  ${n.padEnd(10)}${x.summary}`);
  return [
    'ldm: latent diffusion from the command line',
    '',
    'usage: ldm <command> [options]   (ldm help <command> for its options)',
    '',
    ...rows,
    '',
    `The default model is the package in ${modelsDir()} (LDM_MODELS_DIR overrides the folder).`,
    '',
  ].join('\n');
}
