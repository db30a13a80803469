// Stage 'class-package' (issue 14, item 3): the class-conditional emoji LDM saved in the paper's
// CompVis layout, as the cin models are (model.diffusion_model.* = the UNet's EMA weights,
// first_stage_model.* = the embedded model's KL f=4 autoencoder, cond_stage_model.embedding.weight = the
// class table, the DDPM buffers betas/alphas_cumprod and scale_factor; a yaml beside it with the class
// names, the 16 GroupNorm groups and the training size), so the studio opens it as one of the paper's
// releases: the Generate view's class picker, `ldm generate --model emoji-ldm-32-class --class NAME`.
// Then it is measured through the studio's own pipeline: the emoji classifier's accuracy on
// class-conditional samples against "no class" samples of the same seeds (and against the text model
// prompted with the class's words), a samples.png (rows = classes) and the model card.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { autoencoderParams, countParams, modelParams, unetParams } from '../../electron/engine/nn/models.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import type { RgbImage } from '../../electron/engine/pipelines/image.ts';
import { loadModel } from '../../electron/engine/pipelines/loaded-model.ts';
import type { DiffusionModel } from '../../electron/engine/pipelines/model.ts';
import { openRelease } from '../../electron/engine/pipelines/release.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';
import { floatToHalf, tensor, type TensorData } from '../../electron/engine/tensor.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { CLASS_MODEL_NAME, CLASS_WORK_DIR, classWords, emojiClasses } from './class-data.ts';
import { AUTOENCODER, CACHE_DIR, IMAGE_SIZE, MODEL_NAME, UNET } from './config.ts';
import { loadEmojiDataset } from './emoji-dataset.ts';
import { CLASS_CHECKPOINT, CLASS_TABLE, CLASS_TRAINING, classEmbedderFor, classTableFromText, loadTextModel } from './train-class.ts';

export const CLASS_PACKAGE_DIR = path.join('resources/models', CLASS_MODEL_NAME);
const STAGING_DIR = path.join(CLASS_WORK_DIR, 'package');
const FILE = `${CLASS_MODEL_NAME}.safetensors`;
/** Sampling for the figures and samples.png (the studio's defaults for the model are DDIM 50, guidance 3). */
export const CLASS_EVAL = { sampler: 'ddim', steps: 20, guidance: 3, perClass: 2 };
/** samples.png's rows. */
export const SAMPLE_CLASSES = ['face-smiling', 'heart', 'animal-mammal', 'food-fruit', 'transport-air', 'sky & weather', 'country-flag', 'clothing'];

function half(shape: number[], data: Float32Array): TensorData<'float16'> {
  return tensor('float16', shape, Uint16Array.from(data, (v) => floatToHalf(v)));
}

/** The release's tensors: UNet, autoencoder and class table as fp16; betas, alphas_cumprod and scale_factor as float32. */
export function classReleaseTensors(weights: ReadonlyMap<string, Float32Array>, classes: number, scaleFactor: number): Map<string, TensorData> {
  const tensors = new Map<string, TensorData>();
  const embedder = classEmbedderFor(classes);
  for (const [name, p] of modelParams({ autoencoder: AUTOENCODER, unet: UNET, classEmbedder: embedder })) {
    const data = weights.get(name);
    if (!data) throw new Error(`no trained weights for ${name}`);
    tensors.set(name, half([...p.shape], data));
  }
  const s = makeSchedule();
  tensors.set('betas', tensor('float32', [s.trainTimesteps], Float32Array.from(s.betas)));
  tensors.set('alphas_cumprod', tensor('float32', [s.trainTimesteps], Float32Array.from(s.alphasCumprod)));
  tensors.set('scale_factor', tensor('float32', [], Float32Array.of(scaleFactor)));
  return tensors;
}

/** The yaml beside the file: cin256-v2's keys, plus class_names and norm_num_groups (which CompVis fixes at 32). */
export function classReleaseYaml(names: readonly string[], scaleFactor: number): string {
  const s = makeSchedule();
  return `# ${CLASS_MODEL_NAME}: class-conditional LDM on the emoji subcategories (the paper's cin layout), trained by
# npm run train:default -- --stage class-ldm. class_names and norm_num_groups are this project's keys:
# the class table's last row (${names.length}) is "no class", for classifier-free guidance.
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: ${s.betas[0]!.toPrecision(6)}
    linear_end: ${s.betas[s.trainTimesteps - 1]!.toPrecision(6)}
    timesteps: ${s.trainTimesteps}
    first_stage_key: image
    cond_stage_key: class_label
    image_size: ${IMAGE_SIZE / 4}
    channels: ${AUTOENCODER.embedDim}
    cond_stage_trainable: true
    conditioning_key: crossattn
    scale_factor: ${scaleFactor}
    norm_num_groups: ${UNET.normGroups}
    class_names: ${JSON.stringify(names)}
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        in_channels: ${UNET.inChannels}
        out_channels: ${UNET.outChannels}
        model_channels: ${UNET.modelChannels}
        attention_resolutions: [${UNET.attentionResolutions.join(', ')}]
        num_res_blocks: ${UNET.numResBlocks}
        channel_mult: [${UNET.channelMult.join(', ')}]
        num_head_channels: ${UNET.numHeadChannels}
        use_spatial_transformer: true
        transformer_depth: ${UNET.transformerDepth}
        context_dim: ${UNET.contextDim}
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: ${AUTOENCODER.embedDim}
        ddconfig:
          double_z: true
          z_channels: ${AUTOENCODER.zChannels}
          resolution: ${IMAGE_SIZE}
          in_channels: 3
          out_ch: 3
          ch: ${AUTOENCODER.ch}
          ch_mult: [${AUTOENCODER.chMult.join(', ')}]
          num_res_blocks: ${AUTOENCODER.numResBlocks}
          attn_resolutions: []
    cond_stage_config:
      target: ldm.modules.encoders.modules.ClassEmbedder
      params:
        embed_dim: ${UNET.contextDim}
        n_classes: ${names.length + 1}
        key: class_label
`;
}

/** Writes <dir>/<name>.safetensors and .yaml from the trained (or any) weights; the file's path. */
export async function writeClassRelease(dir: string, weights: ReadonlyMap<string, Float32Array>, names: readonly string[], scaleFactor: number, meta: Record<string, string> = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, FILE);
  await saveSafetensors(file, classReleaseTensors(weights, names.length, scaleFactor), { name: CLASS_MODEL_NAME, ...meta });
  writeFileSync(path.join(dir, `${CLASS_MODEL_NAME}.yaml`), classReleaseYaml(names, scaleFactor));
  return file;
}

/**
 * Pictures for each prompt (a class name, '' for "no class", or a caption): prompt k is drawn with seeds
 * seedBase + k·perPrompt … + perPrompt − 1, so a prompt list of the same length drawn with another model or
 * prompt gets the same noise for the same k.
 */
async function draw(model: DiffusionModel, prompts: readonly string[], guidance: number, perPrompt: number, seedBase: number): Promise<RgbImage[][]> {
  const out: RgbImage[][] = [];
  for (let k = 0; k < prompts.length; k++) {
    const imgs = await txt2img(model, {
      prompt: prompts[k]!, negativePrompt: '', seed: seedBase + k * perPrompt, batchCount: perPrompt,
      steps: CLASS_EVAL.steps, sampler: CLASS_EVAL.sampler, guidance, width: IMAGE_SIZE, height: IMAGE_SIZE, previewEvery: 0,
    });
    out.push(imgs.map((g) => g.image));
  }
  return out;
}

export interface ClassScore {
  /** Top-1: the classifier's label is the target class. */
  accuracy: number;
  top5: number;
  /** Mean probability the classifier gives the target class. */
  probability: number;
  count: number;
}

export interface DistributionScore {
  fid: number;
  kid: number;
  precision: number;
  recall: number;
  n: number;
}

export interface ClassScores {
  classifierHeldOutAccuracy: number;
  /** Per class, CLASS_EVAL.perClass pictures; all scored against the class asked for. */
  conditional: ClassScore;
  conditionalNoGuidance: ClassScore;
  /** "No class" pictures of the same seeds, scored against the same targets (the chance level of a picture). */
  unconditional: ClassScore;
  /** emoji-ldm-32 prompted with the class's words (e.g. "face smiling"), guidance 3, same seeds. */
  textModel: ClassScore;
  /** The same model at step 0 (text model's UNet, class rows from its text encoder), guidance 3, same seeds. */
  initial: ClassScore;
  /** Against the held-out emoji, one sample per held-out picture (conditional: its class). */
  fid: { conditional: DistributionScore; unconditional: DistributionScore };
  secondsPerImage: number;
}

type Classifier = Awaited<ReturnType<typeof import('../../electron/engine/eval/classifier.ts').loadEmojiClassifier>>;

/** The classifier's verdict on pictures drawn for `targets` (class names with '-'). */
async function score(clf: Classifier, targets: readonly string[], images: RgbImage[][]): Promise<ClassScore> {
  let hit = 0;
  let hit5 = 0;
  let prob = 0;
  let n = 0;
  for (let k = 0; k < targets.length; k++) {
    const want = clf.classIndex(targets[k]!);
    if (want < 0) throw new Error(`the classifier has no class ${classWords(targets[k]!)}`);
    for (const p of await clf.classify(images[k]!)) {
      const pr = p.probabilities;
      const rank = pr.reduce((r, v) => r + (v > pr[want]! ? 1 : 0), 0);
      hit += rank === 0 ? 1 : 0;
      hit5 += rank < 5 ? 1 : 0;
      prob += pr[want]!;
      n++;
    }
  }
  return { accuracy: hit / n, top5: hit5 / n, probability: prob / n, count: n };
}

/** The pictures the figures are measured on, drawn once per checkpoint step and cached (32² RGB each). */
export interface EvalPictures {
  step: number;
  /** names × perClass each: class k with seeds perClass·k + 1 … */
  conditional: RgbImage[][];
  conditionalNoGuidance: RgbImage[][];
  unconditional: RgbImage[][];
  textModel: RgbImage[][];
  initial: RgbImage[][];
  /** One per held-out picture (the held-out split, in data-set order): for its class, and "no class". */
  heldConditional: RgbImage[];
  heldUnconditional: RgbImage[];
  secondsPerImage: number;
}

const PICTURES_FILE = path.join(CLASS_WORK_DIR, 'eval-pictures.bin');
const PICTURES_META = path.join(CLASS_WORK_DIR, 'eval-pictures.json');
const SETS = ['conditional', 'conditionalNoGuidance', 'unconditional', 'textModel', 'initial'] as const;

/** Draws (or reads back, for the same step) every picture the figures need, through the studio's pipeline. */
export async function evalPictures(step: number, file: string, initialFile: string, names: readonly string[], heldClasses: readonly string[], log: (s: string) => void): Promise<EvalPictures> {
  const per = CLASS_EVAL.perClass;
  const px = IMAGE_SIZE * IMAGE_SIZE * 3;
  const counts = { grid: names.length * per, held: heldClasses.length };
  if (existsSync(PICTURES_META) && existsSync(PICTURES_FILE)) {
    const meta = JSON.parse(readFileSync(PICTURES_META, 'utf8')) as { step: number; grid: number; held: number; secondsPerImage: number; eval: typeof CLASS_EVAL };
    if (meta.step === step && meta.grid === counts.grid && meta.held === counts.held && JSON.stringify(meta.eval) === JSON.stringify(CLASS_EVAL)) {
      const bytes = readFileSync(PICTURES_FILE);
      let at = 0;
      const next = (): RgbImage => ({ width: IMAGE_SIZE, height: IMAGE_SIZE, data: new Uint8Array(bytes.subarray((at++) * px, at * px)) });
      const grid = () => names.map(() => Array.from({ length: per }, next));
      const sets = Object.fromEntries(SETS.map((k) => [k, grid()])) as Record<(typeof SETS)[number], RgbImage[][]>;
      const heldConditional = heldClasses.map(next);
      const heldUnconditional = heldClasses.map(next);
      log(`class-package: eval pictures of step ${step} read from ${PICTURES_FILE}`);
      return { step, ...sets, heldConditional, heldUnconditional, secondsPerImage: meta.secondsPerImage };
    }
  }
  const model = await openRelease(file, CLASS_MODEL_NAME, '');
  const text = await loadModel(path.join('resources/models', MODEL_NAME));
  const start = await openRelease(initialFile, CLASS_MODEL_NAME, '');
  const g = CLASS_EVAL.guidance;
  try {
    const t0 = Date.now();
    const conditional = await draw(model, names, g, per, 1);
    const secondsPerImage = (Date.now() - t0) / 1000 / counts.grid;
    log(`class-package: ${counts.grid} class-conditional pictures, ${secondsPerImage.toFixed(2)} s each`);
    const conditionalNoGuidance = await draw(model, names, 1, per, 1);
    const unconditional = await draw(model, names.map(() => ''), 1, per, 1);
    const textModel = await draw(text, names.map(classWords), g, per, 1);
    const initial = await draw(start, names, g, per, 1);
    log('class-package: grids drawn; now one picture per held-out emoji');
    const heldConditional = (await draw(model, heldClasses, g, 1, 10_000)).map((x) => x[0]!);
    const heldUnconditional = (await draw(model, heldClasses.map(() => ''), 1, 1, 10_000)).map((x) => x[0]!);
    const out: EvalPictures = { step, conditional, conditionalNoGuidance, unconditional, textModel, initial, heldConditional, heldUnconditional, secondsPerImage };
    const all = [...SETS.flatMap((k) => out[k].flat()), ...heldConditional, ...heldUnconditional];
    const bytes = new Uint8Array(all.length * px);
    all.forEach((img, i) => bytes.set(img.data, i * px));
    writeFileSync(PICTURES_FILE, bytes);
    writeFileSync(PICTURES_META, JSON.stringify({ step, ...counts, secondsPerImage, eval: CLASS_EVAL }));
    return out;
  } finally {
    await model.close();
    await start.close();
    await text.release();
  }
}

/**
 * Class-conditional vs "no class" pictures (and vs the text model given the class's words, and the model at
 * step 0), judged by the emoji classifier (top-1 on the class asked for) and against the held-out emoji in
 * its features (FID, KID, precision/recall); null when no classifier is installed.
 */
export async function scoreClassModel(pics: EvalPictures, names: readonly string[], log: (s: string) => void = console.log): Promise<ClassScores | null> {
  let mod: typeof import('../../electron/engine/eval/classifier.ts');
  let clf: Classifier;
  try {
    mod = await import('../../electron/engine/eval/classifier.ts');
    clf = await mod.loadEmojiClassifier();
  } catch (err) {
    log(`no emoji classifier (${(err as Error).message}): accuracy not measured`);
    return null;
  }
  try {
    const { measureSamples } = await import('../../electron/engine/eval/evaluate.ts');
    const held = await mod.loadHeldOutEmoji();
    const scored: ClassScore[] = [];
    for (const k of SETS) scored.push(await score(clf, names, pics[k]));
    const [conditional, conditionalNoGuidance, unconditional, textModel, initial] = scored;
    log(`top-1: class-conditional ${(conditional!.accuracy * 100).toFixed(1)}%, "no class" ${(unconditional!.accuracy * 100).toFixed(1)}%, step 0 ${(initial!.accuracy * 100).toFixed(1)}%, text model ${(textModel!.accuracy * 100).toFixed(1)}%`);
    if (held.images.length !== pics.heldConditional.length) throw new Error(`the classifier's held-out set has ${held.images.length} pictures, the model's ${pics.heldConditional.length}`);
    const distribution = async (imgs: RgbImage[]): Promise<DistributionScore> => {
      const r = await measureSamples(imgs, held.labels, clf, held);
      return { fid: r.fid, kid: r.kid, precision: r.precision, recall: r.recall, n: r.n };
    };
    const fid = { conditional: await distribution(pics.heldConditional), unconditional: await distribution(pics.heldUnconditional) };
    log(`FID against ${held.images.length} held-out emoji: class-conditional ${fid.conditional.fid.toFixed(1)}, "no class" ${fid.unconditional.fid.toFixed(1)}`);
    const heldPreds = await clf.classify(held.images);
    const classifierHeldOutAccuracy = heldPreds.filter((p, i) => p.label === held.labels[i]).length / held.images.length;
    return {
      classifierHeldOutAccuracy, conditional: conditional!, conditionalNoGuidance: conditionalNoGuidance!, unconditional: unconditional!,
      textModel: textModel!, initial: initial!, fid, secondsPerImage: pics.secondsPerImage,
    };
  } finally {
    await clf.close();
  }
}

/** samples.png: one row per class of SAMPLE_CLASSES (seeds 1–4), then a "no class" row; shown at 2×. */
async function samplesPng(file: string, out: string): Promise<void> {
  const model = await openRelease(file, CLASS_MODEL_NAME, '');
  const seeds = [1, 2, 3, 4];
  const S = IMAGE_SIZE;
  const up = 2;
  const rows = [...SAMPLE_CLASSES, ''];
  const W = seeds.length * S * up;
  const H = rows.length * S * up;
  const canvas = Buffer.alloc(W * H * 3, 255);
  try {
    for (let r = 0; r < rows.length; r++) {
      const imgs = await txt2img(model, {
        prompt: rows[r]!, negativePrompt: '', seed: seeds[0]!, batchCount: seeds.length, steps: CLASS_EVAL.steps,
        sampler: CLASS_EVAL.sampler, guidance: rows[r] ? CLASS_EVAL.guidance : 1, width: S, height: S, previewEvery: 0,
      });
      imgs.forEach((g, col) => {
        for (let y = 0; y < S * up; y++) for (let x = 0; x < S * up; x++) for (let ch = 0; ch < 3; ch++) {
          canvas[((r * S * up + y) * W + col * S * up + x) * 3 + ch] = g.image.data[(Math.floor(y / up) * S + Math.floor(x / up)) * 3 + ch]!;
        }
      });
    }
  } finally {
    await model.close();
  }
  await sharp(canvas, { raw: { width: W, height: H, channels: 3 } }).png().toFile(out);
}

export async function packageClassModel(log: (s: string) => void = console.log): Promise<ClassScores | null> {
  const ck = await loadCheckpoint(CLASS_CHECKPOINT);
  const text = await loadTextModel();
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const { names, labelOf } = emojiClasses(ds.samples);
  const trained = ck.ema?.shadow ?? ck.params;
  const weights = new Map<string, Float32Array>();
  for (const name of autoencoderParams(AUTOENCODER).keys()) weights.set(name, text.weights.get(name)!);
  for (const name of [...unetParams(UNET).keys(), CLASS_TABLE]) {
    const w = trained.get(name);
    if (!w) throw new Error(`${CLASS_CHECKPOINT} has no ${name}`);
    weights.set(name, w);
  }
  rmSync(STAGING_DIR, { recursive: true, force: true });
  const file = await writeClassRelease(STAGING_DIR, weights, names, text.scale, { steps: String(ck.step) });
  log(`class-package: ${FILE} at step ${ck.step} (${(statSync(file).size / 2 ** 20).toFixed(1)} MiB)`);
  await samplesPng(file, path.join(STAGING_DIR, 'samples.png'));
  const startWeights = new Map(weights);
  for (const name of unetParams(UNET).keys()) startWeights.set(name, text.weights.get(name)!);
  startWeights.set(CLASS_TABLE, await classTableFromText(names, text));
  const initialFile = await writeClassRelease(path.join(CLASS_WORK_DIR, 'step0'), startWeights, names, text.scale);
  const heldClasses = ds.samples.flatMap((smp, i) => (smp.heldOut ? [names[labelOf[i]!]!] : []));
  const pictures = await evalPictures(ck.step, file, initialFile, names, heldClasses, log);
  const scores = await scoreClassModel(pictures, names, log);
  writeFileSync(path.join(STAGING_DIR, 'scores.json'), JSON.stringify(scores, null, 1));
  const params = countParams(modelParams({ autoencoder: AUTOENCODER, unet: UNET, classEmbedder: classEmbedderFor(names.length) }));
  writeFileSync(path.join(STAGING_DIR, 'README.md'), card({ scores, step: ck.step, textSteps: text.step, scaleFactor: text.scale, names, params, bytes: statSync(file).size, cpuMinutes: cpuMinutes() }));
  rmSync(CLASS_PACKAGE_DIR, { recursive: true, force: true });
  cpSync(STAGING_DIR, CLASS_PACKAGE_DIR, { recursive: true });
  rmSync(path.join(CLASS_PACKAGE_DIR, 'scores.json'));
  log(`class-package: copied to ${CLASS_PACKAGE_DIR}`);
  return scores;
}

/** The training's wall-clock minutes, from the run log's s/step figures (each line averages 25 steps). */
function cpuMinutes(): string {
  const logFile = path.join(CLASS_WORK_DIR, 'run.log');
  if (!existsSync(logFile)) return 'unknown';
  const per = [...readFileSync(logFile, 'utf8').matchAll(/ ([0-9.]+) s\/step/g)].map((m) => Number(m[1]));
  return ((per.reduce((a, b) => a + b, 0) * 25) / 60).toFixed(0);
}

function pct(s: ClassScore): string {
  return `${(s.accuracy * 100).toFixed(1)}% | ${(s.top5 * 100).toFixed(1)}% | ${s.probability.toFixed(3)}`;
}

function card(o: { scores: ClassScores | null; step: number; textSteps: number; scaleFactor: number; names: readonly string[]; params: number; bytes: number; cpuMinutes: string }): string {
  const s = o.scores;
  const n = o.names.length;
  const d = (x: DistributionScore) => `${x.fid.toFixed(1)} | ${(x.kid * 1000).toFixed(1)} | ${x.precision.toFixed(2)} | ${x.recall.toFixed(2)}`;
  const metrics = s
    ? `Each of the ${n} classes drawn ${CLASS_EVAL.perClass} times (class k with seeds ${CLASS_EVAL.perClass}k + 1 … ${CLASS_EVAL.perClass}k + ${CLASS_EVAL.perClass}), DDIM ${CLASS_EVAL.steps} steps, through the
studio's own pipeline (scripts/embedded/package-class.ts), and judged by the shipped emoji classifier
(resources/models/emoji-classifier: ${(s.classifierHeldOutAccuracy * 100).toFixed(1)}% top-1 on the held-out real emoji). "No class" pictures are drawn
with the same seeds from the "no class" entry and scored against the same target classes: they give the chance
level of a picture from this model. A uniform guess would be right ${(100 / n).toFixed(1)}% of the time.

| samples (${s.conditional.count} each) | top-1 | top-5 | p(class asked for) |
|---|---|---|---|
| class-conditional, guidance ${CLASS_EVAL.guidance} | ${pct(s.conditional)} |
| class-conditional, guidance 1 | ${pct(s.conditionalNoGuidance)} |
| the same at step 0 (${MODEL_NAME}'s UNet, class rows from its text encoder), guidance ${CLASS_EVAL.guidance} | ${pct(s.initial)} |
| "no class" (unconditional), same seeds | ${pct(s.unconditional)} |
| ${MODEL_NAME} prompted with the class's words, guidance ${CLASS_EVAL.guidance} | ${pct(s.textModel)} |

The class steers the picture: ${(s.conditional.accuracy * 100).toFixed(1)}% top-1 against ${(s.unconditional.accuracy * 100).toFixed(1)}% for "no class" pictures of the same seeds.
Guidance matters (${(s.conditionalNoGuidance.accuracy * 100).toFixed(1)}% without it). Most of it is there at step 0, from the rows the text encoder gave;
the fine-tune moves top-1 from ${(s.initial.accuracy * 100).toFixed(1)}% to ${(s.conditional.accuracy * 100).toFixed(1)}% and p(class asked for) from ${s.initial.probability.toFixed(3)} to ${s.conditional.probability.toFixed(3)}. The
classifier is itself wrong on about a quarter of real held-out emoji, so these are lower bounds of a sort, and
coarse subcategories (person-role, household) are hard for both.

Against the ${s.fid.conditional.n} held-out emoji (concepts never trained on), one sample per held-out picture (the class-conditional
ones for that picture's class), in the classifier's penultimate features (\`ldm eval\`'s metrics; small sets, so compare rows, not papers):

| samples | FID | KID ×10³ | precision | recall |
|---|---|---|---|---|
| class-conditional, guidance ${CLASS_EVAL.guidance} | ${d(s.fid.conditional)} |
| "no class" (unconditional) | ${d(s.fid.unconditional)} |

About ${s.secondsPerImage.toFixed(2)} s per 32² picture with guidance (${CLASS_EVAL.steps} steps) on this shared, loaded machine.`
    : 'Not measured: no emoji classifier was installed when it was packaged.';
  return `# ${CLASS_MODEL_NAME}

A class-conditional latent diffusion model, as the paper's cin models (Rombach et al. 2022, §4.1 and
Table 3): a ClassEmbedder — a table of one ${UNET.contextDim}-wide vector per class — gives the UNet a one-token
context for cross-attention. Its classes are the ${n} emoji subcategories of emoji.json ("face-smiling",
"animal-mammal", …), plus a last "no class" row (${n}) used for classifier-free guidance. It draws 32×32
emoji-like pictures. It is saved in the paper's CompVis layout, so the studio opens it as one of the
paper's releases: pick a class in the Generate view, or \`ldm generate --model ${CLASS_MODEL_NAME} --class face-smiling\`.

## Architecture
- First stage: the embedded model's (${MODEL_NAME}) KL autoencoder, f=4 (32×32×3 → 8×8×4), unchanged; scale factor ${o.scaleFactor.toFixed(4)}.
- UNet (\`model.diffusion_model.*\`): the embedded model's (${UNET.modelChannels} channels, mult [${UNET.channelMult.join(', ')}], attention at [${UNET.attentionResolutions.join(', ')}], ${UNET.numHeadChannels} channels per head, ${UNET.normGroups} GroupNorm groups), fine-tuned.
- Class table (\`cond_stage_model.embedding.weight\`): ${n + 1} × ${UNET.contextDim}.
- Noise schedule: the embedded model's (CompVis "linear", β 0.00085 → 0.012, 1000 steps), ε-prediction, stored as \`betas\`/\`alphas_cumprod\`.
- \`${CLASS_MODEL_NAME}.yaml\` beside the file holds the class names (\`class_names\`) and the GroupNorm groups (\`norm_num_groups\`, 16:
  CompVis always uses 32, so these two keys are this project's). ${(o.params / 1e6).toFixed(2)}M parameters, stored as fp16 (${(o.bytes / 2 ** 20).toFixed(1)} MiB).

## Data and licences
Noto Emoji images from the npm package \`emoji-datasource-google@16\` (Apache-2.0), composited on white and
resized to 32×32; the class of a picture is its subcategory in that package's emoji.json (MIT). The
embedded model's held-out split (about 5% of concepts, by a hash of the name) is kept out of training.
No images are shipped, only weights. Licence of the weights: Apache-2.0.

## Training
\`npm run train:default -- --stage class-ldm\`, then \`--stage class-package\` (each resumes / rebuilds from training/embedded-class/).
- Start: ${MODEL_NAME} (its ${o.textSteps}-step LDM). Each class row starts as ${MODEL_NAME}'s text encoder output for the subcategory's
  words ("face smiling"), averaged over the 16 tokens (what cross-attention gives with uniform weights); the "no class" row
  as the same for the empty caption. So the model draws the classes from step 0.
- ${o.step} steps of the UNet and the class table together, batch ${CLASS_TRAINING.batch}, AdamW lr ${CLASS_TRAINING.lr} with ${CLASS_TRAINING.warmup} warm-up steps,
  min-SNR-γ=${CLASS_TRAINING.minSnrGamma}, EMA ${CLASS_TRAINING.emaDecay} (shipped), ${CLASS_TRAINING.classDropout * 100}% of labels dropped to "no class". Classes drawn ∝ √(pictures in the class),
  so the small subcategories are seen (person-role has 492 pictures, animal-amphibian 1).
- About ${o.cpuMinutes} minutes of wall clock on one niced CPU thread, while other training and work shared the 2-core machine.

## Metrics (this machine: 2 CPU cores)
${metrics}

## Samples
\`samples.png\`: rows are the classes below, then "no class"; columns seeds 1–4 (DDIM ${CLASS_EVAL.steps} steps, guidance ${CLASS_EVAL.guidance}; "no class" without guidance), shown at 2×.
${SAMPLE_CLASSES.map((c) => `- ${c}`).join('\n')}
- (no class)

## Limits
A fine-tune of a small model on 3,600 pictures for well under an hour of CPU: classes with a distinctive look (flags,
hearts, smileys) come out recognisable; classes that are many different things (person-role, household) are blobs in
the class's colours. Subcategories are coarse: "animal-mammal" is any mammal.
`;
}
