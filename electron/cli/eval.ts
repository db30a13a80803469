// `ldm eval --model M [--n 1000] [--steps N] [--seed S] [--json]`: samples a model through the studio's
// txt2img pipeline and measures the samples against the held-out emoji in the shipped emoji classifier's
// features (engine/eval): FID, KID, precision/recall, and prompt fidelity. Text models are prompted with
// the held-out captions, class-conditional models with their classes, unconditional ones with nothing,
// cycled over --n samples (sample i: seed + i).
import { randomInt } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { openModel, sha256Files } from '../engine/families/index.ts';
import { releaseFileIn } from '../engine/families/ldm-run.ts';
import { defaultClassifierDir, loadEmojiClassifier, loadHeldOutEmoji, type EmojiClassifier, type HeldOutEmoji } from '../engine/eval/classifier.ts';
import { classPrompts, evaluateModel, heldOutCaptionPrompts, type EvalPrompts, type EvalResult } from '../engine/eval/evaluate.ts';
import { MAX_SEED } from '../engine/pipelines/common.ts';
import type { DiffusionModel } from '../engine/pipelines/model.ts';
import { isReleaseFile, openRelease } from '../engine/pipelines/release.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import { colourEvalCli } from './eval-colour.ts';
import type { CliIo, Command } from './command.ts';
import { exists, modelsDir, resolveModelPath } from './model-dir.ts';

const EVAL_FLAGS: FlagSpecs = {
  model: { type: 'string', arg: 'FILE|DIR|NAME', help: 'the model to measure: a package folder or name in resources/models/, a paper-layout .safetensors (text, class or unconditional), or an SD file (default: the installed default)' },
  n: { type: 'int', help: 'number of samples (default 1000)' },
  steps: { type: 'int', help: "denoising steps (default: the model's)" },
  seed: { type: 'int', help: `seed of the first sample; sample i uses seed + i (default random)` },
  sampler: { type: 'string', arg: 'NAME', help: "sampler (default: the model's)" },
  cfg: { type: 'number', help: "classifier-free guidance scale (default: the model's)" },
  classifier: { type: 'string', arg: 'DIR', help: 'the emoji classifier folder (default: resources/models/emoji-classifier)' },
  threads: { type: 'int', help: 'CPU threads for onnxruntime' },
  colour: { type: 'boolean', help: 'measure colour words instead: hue of pictures for colour–concept pairs unseen in training, with and without the word (seeds 1–4, DDIM 25, cfg 3 unless given)' },
  'colour-weight': { type: 'number', arg: 'W', help: 'with --colour: write the colour word with emphasis, "(red:W) apple" (default 1: plain; the baselines stay plain)' },
  json: { type: 'boolean', help: 'print the result as JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress on stderr' },
};

export const evalCommand: Command = {
  summary: 'measure a model against the held-out emoji: FID, KID, precision/recall, prompt fidelity',
  args: '--model M [--n 1000] [--steps N] [--seed S] [--colour] [--json]',
  flags: EVAL_FLAGS,
  run: evalCli,
};

interface EvalTarget {
  model: DiffusionModel;
  /** Frees the model's sessions. */
  dispose: () => Promise<void>;
  name: string;
  /** What the prompts are. */
  conditioning: 'text' | 'class' | 'unconditional';
  prompts: EvalPrompts;
}

/** --model as a paper-layout release (file, or folder holding one) or as anything `ldm generate` opens. */
async function openTarget(model: string | undefined, threads: number | undefined, clf: EmojiClassifier, held: HeldOutEmoji): Promise<EvalTarget> {
  let file: string | null = null;
  if (model !== undefined && !model.includes('/') && !model.includes('\\') && !(await exists(model))) {
    const named = path.join(modelsDir(), model);
    if (!(await exists(path.join(named, 'model.json')))) file = await releaseFileIn(named);
  }
  file ??= await resolveModelPath(model);
  if ((await fsp.stat(file)).isDirectory() && !(await exists(path.join(file, 'model.json')))) file = (await releaseFileIn(file)) ?? file;
  if (await isReleaseFile(file)) {
    const name = path.basename(file, path.extname(file));
    const m = await openRelease(file, name, (await sha256Files([file])).slice(0, 10));
    const task = m.release.task;
    const base = { model: m, dispose: () => m.close(), name };
    if (task === 'text-to-image') return { ...base, conditioning: 'text', prompts: heldOutCaptionPrompts(held) };
    if (task === 'class-conditional') {
      // the yaml's class names, else every index but the "no class" one
      const none = m.release.unconditionalClass;
      const names = m.release.classNames ?? Array.from({ length: m.release.classEmbedder?.nClasses ?? 0 }, (_, i) => String(i)).filter((c) => c !== String(none));
      return { ...base, conditioning: 'class', prompts: classPrompts(names, clf) };
    }
    if (task === 'unconditional') return { ...base, conditioning: 'unconditional', prompts: { prompts: [''], labels: [null] } };
    await m.close();
    throw new UsageError(`--model ${model}: a ${m.release.label}; ldm eval measures models that make pictures from nothing, a prompt or a class (text-to-image, class-conditional, unconditional)`);
  }
  const { model: m, opened } = await openModel(file, { threads });
  if (opened.kind !== 'txt2img') {
    await m.release();
    throw new UsageError(`--model ${model}: an ${opened.kind} model; ldm eval measures text-to-image, class-conditional and unconditional models`);
  }
  return { model: m, dispose: () => m.release(), name: opened.name, conditioning: 'text', prompts: heldOutCaptionPrompts(held) };
}

async function evalCli(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, EVAL_FLAGS);
  if (p.positionals.length > 0) throw new UsageError(`'ldm eval' takes no arguments but flags, got '${p.positionals[0]}'`);
  const f = p.flags as Record<string, unknown>;
  if (f.colour) return colourEvalCli(f, io);
  const n = (f.n as number | undefined) ?? 1000;
  if (n < 4) throw new UsageError(`--n must be at least 4 (FID and precision/recall need a few samples), got ${n}`);
  const steps = f.steps as number | undefined;
  if (steps !== undefined && steps < 1) throw new UsageError(`--steps must be at least 1, got ${steps}`);
  const seed = (f.seed as number | undefined) ?? randomInt(0, MAX_SEED - n + 2);
  if (seed < 0 || seed + n - 1 > MAX_SEED) throw new UsageError(`--seed must be 0…${MAX_SEED - n + 1} for ${n} samples, got ${seed}`);
  const dir = (f.classifier as string | undefined) ?? defaultClassifierDir();
  const threads = f.threads as number | undefined;
  const held = await loadHeldOutEmoji(dir);
  const clf = await loadEmojiClassifier(dir, { threads });
  const log = (s: string) => {
    if (!f.quiet) io.stderr.write(s + '\n');
  };
  try {
    const target = await openTarget(f.model as string | undefined, threads, clf, held);
    let result: EvalResult;
    try {
      const known = target.prompts.labels.filter((l) => l !== null).length;
      log(`eval: ${n} samples of ${target.name} (${target.conditioning}: ${target.prompts.prompts.length} prompts, ${known} of them a class the classifier knows), seed ${seed}; reference: ${held.images.length} held-out emoji`);
      const t0 = Date.now();
      const every = Math.max(1, Math.round(n / 20));
      result = await evaluateModel(target.model, clf, held, {
        ...target.prompts,
        n,
        seed,
        steps,
        sampler: f.sampler as string | undefined,
        guidance: f.cfg as number | undefined,
        signal: io.signal,
        onSample: (done) => {
          if (done % every !== 0 && done !== n) return;
          const s = (Date.now() - t0) / 1000 / done;
          log(`eval: ${done}/${n} sampled, ${s.toFixed(2)} s/sample, eta ${Math.round(s * (n - done))} s`);
        },
      });
    } finally {
      await target.dispose();
    }
    const record = {
      model: target.name,
      conditioning: target.conditioning,
      seed,
      steps: steps ?? target.model.defaults.steps,
      sampler: (f.sampler as string | undefined) ?? target.model.defaults.sampler,
      guidance: (f.cfg as number | undefined) ?? target.model.defaults.guidance,
      classifier: { dir, heldOutAccuracy: result.referenceAccuracy, classes: clf.classes.length },
      ...result,
    };
    if (f.json) io.stdout.write(JSON.stringify(record, null, 2) + '\n');
    else io.stdout.write(formatTable(record));
  } finally {
    await clf.close();
  }
}

function formatTable(r: EvalResult & { model: string; steps: number; sampler: string; guidance: number; seed: number }): string {
  const fidelity = r.promptFidelity
    ? `${(100 * r.promptFidelity.accuracy).toFixed(1)}% (${r.promptFidelity.correct}/${r.promptFidelity.total}; the classifier on the real held-out emoji: ${(100 * r.referenceAccuracy).toFixed(1)}%)`
    : `— (no prompt names a class the classifier knows; on the real held-out emoji: ${(100 * r.referenceAccuracy).toFixed(1)}%)`;
  const rows: [string, string][] = [
    ['model', `${r.model} (${r.sampler}, ${r.steps} steps, cfg ${r.guidance}, seeds ${r.seed}…${r.seed + r.n - 1})`],
    ['samples / reference', `${r.n} / ${r.reference} held-out emoji, ${r.featureDim} classifier features`],
    ['FID', r.fid.toFixed(3)],
    ['KID × 10³', (1000 * r.kid).toFixed(3)],
    ['precision (k=3)', r.precision.toFixed(3)],
    ['recall (k=3)', r.recall.toFixed(3)],
    ['prompt fidelity', fidelity],
    ['time', `${r.samplingSeconds.toFixed(1)} s sampling, ${r.metricSeconds.toFixed(1)} s metrics`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}
