// Stage 'inpaint-package' (issue 14, item 2): the inpainting LDM as a model package of kind 'inpaint'
// that names the embedded text model as its base (model.json `baseModel`), so the studio and `ldm
// inpaint` use it for that model's inpainting (electron/services/inpaint-model.ts).
// - Weights: the EMA UNet and text encoder of training/embedded-inpaint/inpaint.ckpt, the autoencoder
//   of the text model (frozen while fine-tuning), all stored as fp16 like the text model: about 17 MB.
// - It is written to training/embedded-inpaint/package/ first and measured there against latent
//   blending with the text model (scripts/embedded/inpaint-eval.ts); it is copied into resources/models/
//   only when it beats blending on both the inside-mask error and the seam error.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { saveModelPackage, type ModelDescription, type ModelManifest } from '../../electron/engine/io/model-package.ts';
import { countParams, modelParams } from '../../electron/engine/nn/models.ts';
import type { RgbImage } from '../../electron/engine/pipelines/image.ts';
import { loadModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { MODEL_NAME } from './config.ts';
import { compareInpainting, heldOutPictures, OUTPAINT_BAND, FEATHER, paired, SEAM_BAND, type Comparison, type ErrorFigures } from './inpaint-eval.ts';
import { INPAINT_CHECKPOINT, INPAINT_TRAINING, INPAINT_UNET, INPAINT_WORK_DIR } from './train-inpaint.ts';

export const INPAINT_MODEL_NAME = `${MODEL_NAME}-inpaint`;
export const INPAINT_PACKAGE_DIR = path.join('resources/models', INPAINT_MODEL_NAME);
const STAGING_DIR = path.join(INPAINT_WORK_DIR, 'package', INPAINT_MODEL_NAME);
const SHIPPED_FILES = ['model.json', 'model.safetensors', 'README.md', 'samples.png'];

/** Seconds of training, from the stage's log lines ("… 0.43 s/step"), when the log is there. */
function trainingSeconds(): number | null {
  const file = path.join(INPAINT_WORK_DIR, 'run.log');
  if (!existsSync(file)) return null;
  const steps = [...readFileSync(file, 'utf8').matchAll(/^inpaint step (\d+) .* ([\d.]+) s\/step$/gm)];
  // steps before the first logged line (a run whose log was not kept) at the first line's pace
  let total = steps.length ? Number(steps[0]![1]) * Number(steps[0]![2]) : 0;
  for (let k = 1; k < steps.length; k++) {
    const delta = Number(steps[k]![1]) - Number(steps[k - 1]![1]);
    if (delta > 0) total += delta * Number(steps[k]![2]);
  }
  return total;
}

export async function packageInpaintModel(log: (s: string) => void = console.log, opts: { pictures?: number; ship?: boolean } = {}): Promise<Comparison> {
  const textDir = path.join('resources/models', MODEL_NAME);
  const text = JSON.parse(readFileSync(path.join(textDir, 'model.json'), 'utf8')) as ModelManifest;
  const textWeights = (await loadSafetensors(path.join(textDir, 'model.safetensors'))).tensors;
  const ckpt = await loadCheckpoint(INPAINT_CHECKPOINT);
  const architecture = { ...text.architecture, unet: INPAINT_UNET };
  const weights = new Map<string, Float32Array>();
  for (const name of modelParams(architecture).keys()) {
    const w = ckpt.ema?.shadow.get(name) ?? ckpt.params.get(name) ?? (textWeights.get(name)?.data as Float32Array | undefined);
    if (!w) throw new Error(`no weights for ${name}`);
    weights.set(name, w);
  }
  const { format: _f, version: _v, files: _files, ...textDesc } = text;
  const desc: ModelDescription = {
    ...textDesc,
    name: INPAINT_MODEL_NAME,
    kind: 'inpaint',
    architecture,
    baseModel: MODEL_NAME,
    provenance: {
      trainedBy: 'Latent Diffusion Studio, npm run train:default -- --stage inpaint',
      data: text.provenance.data,
      fineTunedFrom: `${MODEL_NAME} (UNet input 4 → 9 channels: latents, mask, masked-picture latents; the new channels zero at the start)`,
      inpaintSteps: ckpt.step,
      inpaintTraining: INPAINT_TRAINING,
      masks: 'random: boxes 40%, 1–4 brush strokes 30%, outpainting borders on 1–4 sides 25%, the whole picture 5%',
      heldOut: text.provenance.heldOut,
    },
  };
  mkdirSync(STAGING_DIR, { recursive: true });
  await saveModelPackage(STAGING_DIR, desc, weights, { dtype: 'F16', metadata: { name: INPAINT_MODEL_NAME } });
  log(`inpaint-package: ${INPAINT_MODEL_NAME} from step ${ckpt.step} written to ${STAGING_DIR}; measuring against blending with ${MODEL_NAME}`);

  const t0 = performance.now();
  const blendModel = await loadModel(textDir);
  const ours = await loadModel(STAGING_DIR);
  const pictures = await heldOutPictures(opts.pictures);
  const cmp = await compareInpainting(blendModel, ours, pictures, log);
  await blendModel.release();
  await ours.release();
  const evalSeconds = (performance.now() - t0) / 1000;
  for (const line of figureLines(cmp)) log(line);

  await samplesGrid(cmp, path.join(STAGING_DIR, 'samples.png'));
  const params = countParams(modelParams(architecture));
  writeFileSync(path.join(STAGING_DIR, 'README.md'), modelCard(cmp, ckpt.step, params, evalSeconds));
  const all = cmp.byKind.all!;
  const beats = all.ours.insideMse < all.blend.insideMse && all.ours.seam < all.blend.seam;
  if (opts.ship === false) return cmp;
  if (!beats) {
    log(`inpaint-package: NOT shipped: it does not beat blending on both the inside-mask error and the seam error (left in ${STAGING_DIR})`);
    return cmp;
  }
  mkdirSync(INPAINT_PACKAGE_DIR, { recursive: true });
  for (const f of SHIPPED_FILES) copyFileSync(path.join(STAGING_DIR, f), path.join(INPAINT_PACKAGE_DIR, f));
  log(`inpaint-package: shipped to ${INPAINT_PACKAGE_DIR}`);
  return cmp;
}

function row(name: string, f: ErrorFigures): string {
  return `| ${name} | ${f.insideMse.toFixed(0)} | ${f.insidePsnr.toFixed(2)} dB | ${f.seam.toFixed(2)} |`;
}

function pairedLine(cmp: Comparison, key: 'insideMse' | 'seam', what: string): string {
  const p = paired(cmp.results, key);
  return `${what} lower with this model on ${p.wins} of ${p.n} pictures, mean difference ${p.meanDiff.toFixed(key === 'seam' ? 2 : 0)} ± ${p.stdErr.toFixed(key === 'seam' ? 2 : 0)} (standard error)`;
}

function figureLines(cmp: Comparison): string[] {
  const lines = [`paired: ${pairedLine(cmp, 'insideMse', 'inside MSE')}; ${pairedLine(cmp, 'seam', 'seam error')}`];
  for (const [kind, f] of Object.entries(cmp.byKind)) {
    lines.push(`${kind.padEnd(8)} blend: inside ${f.blend.insidePsnr.toFixed(2)} dB, seam ${f.blend.seam.toFixed(2)}   ours: inside ${f.ours.insidePsnr.toFixed(2)} dB, seam ${f.ours.seam.toFixed(2)}`);
  }
  for (const [k, v] of Object.entries(cmp.outpaint)) lines.push(`outpaint ${k.padEnd(10)} seam ${v.seam.toFixed(1)}, inside ${v.inside.toFixed(1)}, seam/inside ${v.ratio.toFixed(2)}${v.insidePsnr === undefined ? '' : `, inside-mask PSNR ${v.insidePsnr.toFixed(2)} dB`}`);
  return lines;
}

/** Rows: 3 pictures of each mask kind; columns: the input (mask in magenta), blending, ours, truth; 3×. */
async function samplesGrid(cmp: Comparison, file: string): Promise<void> {
  const spread = <T>(xs: T[], n: number) => Array.from({ length: Math.min(n, xs.length) }, (_, i) => xs[Math.floor((i * xs.length) / Math.min(n, xs.length))]!);
  const rows = ['box', 'strokes', 'border'].flatMap((k) => spread(cmp.results.filter((r) => r.kind === k), 3));
  const S = 32;
  const up = 3;
  const gap = 4;
  const cols = 4;
  const W = cols * S * up + (cols - 1) * gap;
  const H = rows.length * S * up + (rows.length - 1) * gap;
  const canvas = Buffer.alloc(W * H * 3, 255);
  const put = (img: RgbImage, r: number, c: number, mask?: Float32Array) => {
    for (let y = 0; y < S * up; y++) for (let x = 0; x < S * up; x++) {
      const p = Math.floor(y / up) * S + Math.floor(x / up);
      const masked = mask && mask[p]! >= 0.5;
      for (let ch = 0; ch < 3; ch++) {
        const v = masked ? [255, 0, 255][ch]! : img.data[p * 3 + ch]!;
        canvas[((r * (S * up + gap) + y) * W + c * (S * up + gap) + x) * 3 + ch] = v;
      }
    }
  };
  rows.forEach((r, i) => {
    put(r.truth, i, 0, r.mask);
    put(r.blend, i, 1);
    put(r.ours, i, 2);
    put(r.truth, i, 3);
  });
  await sharp(canvas, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}

function modelCard(cmp: Comparison, steps: number, params: number, evalSeconds: number): string {
  const t = INPAINT_TRAINING;
  const secs = trainingSeconds();
  const k = cmp.byKind;
  const count = (kind: string) => cmp.results.filter((r) => r.kind === kind).length;
  const o = cmp.outpaint;
  return `# ${INPAINT_MODEL_NAME}

The studio's inpainting model: the paper's inpainting LDM (Rombach et al. 2022, concat conditioning), fine-tuned
by this project from the embedded text-to-image model \`${MODEL_NAME}\` as SD-inpainting was from SD. Its UNet
reads 9 channels: the noisy latents, the mask at latent size and the latents of the masked picture. It
draws at 32×32 (any multiple of 16 works).

The Canvas and \`ldm inpaint\` / \`ldm outpaint\` use it automatically when the chosen model is \`${MODEL_NAME}\`
(model.json \`baseModel\`; the rule is in electron/services/inpaint-model.ts); other models still inpaint by
blending latents.

## Architecture
- Same as \`${MODEL_NAME}\`: KL autoencoder f=4 (unchanged), word-level text encoder (fine-tuned with the UNet),
  UNet with 64 model channels, mult [1, 2, 2], cross-attention at every level.
- The UNet's first convolution widened from 4 to 9 input channels; the 5 new ones started at zero, so at step 0
  it was exactly the text model.
- ${(params / 1e6).toFixed(2)}M parameters, stored as fp16 (the text model is stored the same way) in a
  self-contained package (${'~'}17 MB): nothing is shared with \`${MODEL_NAME}\`, so retraining that model never
  breaks this one. The autoencoder's weights are the same bytes as the text model's (about 2 MB that could
  be shared; not worth a cross-package reference under the 80 MB budget).

## Data and licences
Noto Emoji images from the npm package \`emoji-datasource-google@16\` (Apache-2.0), composited on white and
resized to 32×32, captions from its emoji.json (MIT): the text model's training split. The held-out concepts
(about 5%, by a hash of the name) were never trained on. No images are shipped, only weights.
Licence of the weights: Apache-2.0.

## Training
\`npm run train:default -- --stage inpaint\` (resumes from training/embedded-inpaint/inpaint.ckpt), then
\`npm run train:default -- --stage inpaint-package\`, which measures and writes this folder.
- ${steps} steps, batch ${t.batch}, AdamW lr ${t.lr} with ${t.warmup} warm-up steps, min-SNR-γ=${t.minSnrGamma},
  ${t.captionDropout * 100}% caption dropout, EMA ${t.emaDecay} (the EMA weights are shipped); ${t.earlier}.
- Masks drawn at random for every picture: a box (40%), 1–4 brush strokes (30%), an outpainting border on 1–4
  sides (25%) or the whole picture (5%); the masked picture has 0 (mid-grey) under the mask, as the studio's
  pipeline feeds it.
- CPU time: ${secs === null ? 'see the stage log' : `about ${Math.round(secs / 60)} minutes`} of one niced thread on a shared 2-core machine, on top of the text model's training.

## Metrics: held-out emoji, held-out masks
${cmp.pictures} held-out pictures (no skin-tone variants), each with one mask drawn by the training stage's mask
maker from a seed training never used, kinds in turn: box (${count('box')}), strokes (${count('strokes')}) and
border (${count('border')}). The content under the mask is taken away before either method sees it, so neither
can copy the answer: masked pixels take the colour of the nearest kept pixel, and border masks (outpainting) are
pre-filled from the picture's edges as the Canvas pre-fills an extension. Both methods run through the studio's
inpaint pipeline (electron/engine/pipelines/inpaint.ts) with the text model's defaults (DDIM 25 steps, guidance
3), strength 1, feather ${FEATHER}, the same prompt (the picture's caption) and seed. "Blending" is what the
studio did before this model: \`${MODEL_NAME}\` with the known region re-noised and blended into the latents at
every step. Code: scripts/embedded/inpaint-eval.ts.
- inside: mean squared error over the masked pixels (0–255 RGB) against the truth, and its PSNR;
- seam: mean |Δ result − Δ truth| (0–255) over neighbouring pixel pairs touching the masked pixels within
  ${SEAM_BAND} px of the mask's border: a colour step at the join that the truth does not have counts here.

| mask, method | inside MSE | inside PSNR | seam error |
|---|---|---|---|
${['box', 'strokes', 'border', 'all'].filter((x) => k[x]).flatMap((x) => [row(`${x}, blending`, k[x]!.blend), row(`${x}, **${INPAINT_MODEL_NAME}**`, k[x]!.ours)]).join('\n')}

Paired, picture by picture: ${pairedLine(cmp, 'insideMse', 'inside MSE')}; ${pairedLine(cmp, 'seam', 'seam error')}.

### Outpainting seam
The right ${OUTPAINT_BAND} columns of each held-out picture repainted (the cut runs through the emoji), measured as
bench/outpaint-seam.bench.ts does: the largest mean column step in the join band (the join and the feathered
columns after it) over the mean column step elsewhere; ≈ the truth's ratio means no visible join.

| fill / method | join step | step elsewhere | join / elsewhere | inside PSNR |
|---|---|---|---|---|
| blending, mid-grey pre-fill (the old Canvas) | ${o.blendGrey.seam.toFixed(1)} | ${o.blendGrey.inside.toFixed(1)} | ${o.blendGrey.ratio.toFixed(2)} | ${o.blendGrey.insidePsnr!.toFixed(2)} dB |
| blending, edge pre-fill (the Canvas now) | ${o.blendEdges.seam.toFixed(1)} | ${o.blendEdges.inside.toFixed(1)} | ${o.blendEdges.ratio.toFixed(2)} | ${o.blendEdges.insidePsnr!.toFixed(2)} dB |
| **${INPAINT_MODEL_NAME}** | ${o.ours.seam.toFixed(1)} | ${o.ours.inside.toFixed(1)} | ${o.ours.ratio.toFixed(2)} | ${o.ours.insidePsnr!.toFixed(2)} dB |
| truth | ${o.truth.seam.toFixed(1)} | ${o.truth.inside.toFixed(1)} | ${o.truth.ratio.toFixed(2)} | |

The whole measurement took ${Math.round(evalSeconds)} s on the shared 2-core machine.

## Samples
\`samples.png\`: three held-out pictures per mask kind (box, strokes, border; spread over the set), columns: the input with the mask
in magenta, blending with \`${MODEL_NAME}\`, this model, the truth; shown at 3×.

## What the figures say, and limits
- Inside the mask and at its border the model is level with blending: it is ahead on the totals above, but
  picture by picture the differences are within about one standard error (see "Paired"), so this is not a
  measurable improvement on those two errors at this training length (${steps} steps;
  the CPU time is above). What it invents inside a large mask is as rough as the text model's own pictures.
- Outpainting: no grey seam, whatever the extension is pre-filled with (it sees the masked area as 0 and the
  mask itself), where blending depends on the Canvas's edge pre-fill to avoid one.
- The latent mask follows the convention of SD-inpainting and A1111 (nearest cell, as in training); at 8×8
  latents a cell is 4×4 pixels, so thin strokes are coarse for both methods.
- Trained at 32×32 only. More steps of \`--stage inpaint\` (resumable) is the next thing to try.
`;
}
