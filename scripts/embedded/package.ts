// Stage 3 of the embedded model: assemble resources/models/<name>/ from the stage checkpoints
// (autoencoder weights, EMA weights of the UNet and text encoder), fit the latent→RGB preview, then
// measure what the model card reports: held-out autoencoder PSNR, held-out denoising loss, time and
// peak memory to generate 4 images at 25 steps, and a grid of samples for fixed prompts and seeds.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { saveModelPackage, type ModelDescription } from '../../electron/engine/io/model-package.ts';
import { countParams, modelParams } from '../../electron/engine/nn/models.ts';
import { downsampleArea } from '../../electron/engine/pipelines/image.ts';
import { loadModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { fitPreviewProjection } from '../../electron/engine/pipelines/preview.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, AUTOENCODER, CACHE_DIR, CONTEXT_LENGTH, IMAGE_SIZE, LDM_TRAINING, MODEL_NAME, UNET, WORK_DIR, textEncoderConfig } from './config.ts';
import { loadEmojiDataset, sampleAsFloat } from './emoji-dataset.ts';
import { AE_CHECKPOINT, autoencoderPsnr, DECODER_CHECKPOINT } from './train-autoencoder.ts';
import { heldOutDenoisingLoss } from './held-out-loss.ts';
import { embeddedTokenizer, latentCache, LDM_CHECKPOINT } from './train-ldm.ts';

export const PACKAGE_DIR = path.join('resources/models', MODEL_NAME);

export const SAMPLE_PROMPTS = [
  'red heart, heart',
  'blue heart, heart',
  'green apple, food fruit',
  'grinning face, face smiling',
  'dog face, animal mammal',
  'rocket, transport air',
  'sun, sky & weather',
  'pizza, food prepared',
];

/** Held-out ε-MSE (unweighted) of the shipped weights at fixed timesteps and noise. */
async function heldOutLoss(weights: Map<string, Float32Array>): Promise<number> {
  const cache = await latentCache();
  const tok = await embeddedTokenizer();
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  return heldOutDenoisingLoss({ weights, ds, moments: cache.moments, scaleFactor: cache.scaleFactor, vocabSize: tok.vocabSize, encode: tok.encode, threads: 2 });
}

async function samplesGrid(dir: string, file: string): Promise<void> {
  const model = await loadModel(dir);
  const seeds = [1, 2, 3, 4];
  const S = IMAGE_SIZE;
  const up = 2;
  const W = seeds.length * S * up;
  const H = SAMPLE_PROMPTS.length * S * up;
  const canvas = Buffer.alloc(W * H * 3, 255);
  for (let r = 0; r < SAMPLE_PROMPTS.length; r++) {
    const imgs = await txt2img(model, { prompt: SAMPLE_PROMPTS[r]!, seed: seeds[0]!, batchCount: seeds.length, steps: 25, guidance: 3, sampler: 'ddim' });
    imgs.forEach((g, col) => {
      for (let y = 0; y < S * up; y++)
        for (let x = 0; x < S * up; x++)
          for (let ch = 0; ch < 3; ch++)
            canvas[((r * S * up + y) * W + col * S * up + x) * 3 + ch] = g.image.data[(Math.floor(y / up) * S + Math.floor(x / up)) * 3 + ch]!;
    });
  }
  await sharp(canvas, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}

function measureGeneration(dir: string): { seconds: number; peakMiB: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/embedded/measure-generation.ts', dir], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; peakMiB: number };
}

export async function packageEmbeddedModel(log: (s: string) => void = console.log): Promise<void> {
  // The decoder stage, when run, refines the decoder on the same (frozen-encoder) latents.
  const aeSteps = (await loadCheckpoint(AE_CHECKPOINT)).step;
  const ae = await loadCheckpoint(existsSync(DECODER_CHECKPOINT) ? DECODER_CHECKPOINT : AE_CHECKPOINT);
  const decoderSteps = existsSync(DECODER_CHECKPOINT) ? ae.step : 0;
  const ldm = await loadCheckpoint(LDM_CHECKPOINT);
  const cache = await latentCache();
  const tok = await embeddedTokenizer();
  const textEncoder = textEncoderConfig(tok.vocabSize);
  const architecture = { autoencoder: AUTOENCODER, unet: UNET, textEncoder };
  const weights = new Map<string, Float32Array>();
  for (const name of modelParams(architecture).keys()) {
    const w = name.startsWith('first_stage_model.') ? ae.params.get(name) : (ldm.ema?.shadow.get(name) ?? ldm.params.get(name));
    if (!w) throw new Error(`no trained weights for ${name}`);
    weights.set(name, w);
  }

  // Preview projection: scaled latent means against the images averaged down to latent size.
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const f = IMAGE_SIZE / cache.size;
  const per = cache.channels * cache.size * cache.size;
  const previewSamples = [];
  for (let i = 0; i < ds.samples.length; i += 7) {
    const lat = cache.moments.slice(i * 2 * per, i * 2 * per + per).map((v) => v * cache.scaleFactor);
    const img = downsampleArea(sampleAsFloat(ds, i), 3, IMAGE_SIZE, IMAGE_SIZE, f);
    previewSamples.push({
      latent: { dtype: 'float32' as const, shape: [cache.channels, cache.size, cache.size], data: lat },
      image: { dtype: 'float32' as const, shape: [3, cache.size, cache.size], data: img },
    });
  }
  const latentPreview = fitPreviewProjection(previewSamples);

  const aePsnr = await autoencoderPsnr(ae.params);
  const heldOutDenoising = await heldOutLoss(weights);
  log(`autoencoder held-out PSNR ${aePsnr.psnr.toFixed(2)} dB; held-out denoising loss ${heldOutDenoising.toFixed(4)}`);

  const desc: ModelDescription = {
    name: MODEL_NAME,
    kind: 'txt2img',
    architecture,
    tokenizer: tok.spec,
    scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon', timestepSpacing: 'leading', stepsOffset: 1 },
    sampling: { sampler: 'ddim', steps: 25, guidance: 3, width: IMAGE_SIZE, height: IMAGE_SIZE },
    latentScaleFactor: cache.scaleFactor,
    latentPreview: { weights: latentPreview.weights.map((r) => [...r]), bias: [...latentPreview.bias] },
    provenance: {
      trainedBy: 'Latent Diffusion Studio, npm run train:default',
      data: 'emoji-datasource-google@16 (Noto Emoji images, Apache-2.0), captions from emoji.json (MIT)',
      autoencoderSteps: aeSteps,
      decoderSteps,
      ldmSteps: ldm.step,
      autoencoderTraining: AE_TRAINING,
      ldmTraining: LDM_TRAINING,
      heldOut: 'about 5% of concepts (all tones of an emoji), chosen by a hash of the name',
      metrics: { autoencoderPsnrDb: +aePsnr.psnr.toFixed(2), heldOutDenoisingLoss: +heldOutDenoising.toFixed(4) },
    },
    license: 'Apache-2.0',
  };
  mkdirSync(PACKAGE_DIR, { recursive: true });
  await saveModelPackage(PACKAGE_DIR, desc, weights, { dtype: 'F16', metadata: { name: MODEL_NAME } });

  await samplesGrid(PACKAGE_DIR, path.join(PACKAGE_DIR, 'samples.png'));
  const gen = measureGeneration(PACKAGE_DIR);
  log(`4 images × 25 steps: ${gen.seconds.toFixed(2)} s, peak RSS ${gen.peakMiB.toFixed(0)} MiB`);
  writeFileSync(path.join(PACKAGE_DIR, 'README.md'), modelCard(desc, aeSteps, decoderSteps, ldm.step, aePsnr.psnr, heldOutDenoising, gen, countParams(modelParams(architecture))));
}

/** Where the card points for the whole f-ablation (scripts/ablation). */
const F_ABLATION_LINE = 'The whole ablation (pixel space, f = 2, 4, 8 and VQ at f=4; LDMs trained for equal CPU time; FID and KID per CPU-minute as the paper\'s Fig. 6): docs/f-ablation.md in the repository.';

/** The f=4 vs f=8 run of compare-factors.ts, when its output was saved to training/embedded/factor-comparison.txt. */
function factorComparison(): string {
  const file = path.join(WORK_DIR, 'factor-comparison.txt');
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter((l) => l.startsWith('f='));
  return `## Downsampling factor\nSame recipe, seed and step count for both (scripts/embedded/compare-factors.ts); f=4 was kept:\n${lines.map((l) => `- ${l}`).join('\n')}\n\n${F_ABLATION_LINE}\n`;
}

function modelCard(desc: ModelDescription, aeSteps: number, decoderSteps: number, ldmSteps: number, psnr: number, loss: number, gen: { seconds: number; peakMiB: number }, params: number): string {
  return `# ${desc.name}

The studio's embedded text-to-image model: a latent diffusion model (Rombach et al. 2022) trained from
scratch by this project, with its own ONNX trainer, on CPU. It draws 32×32 emoji-like pictures.

## Architecture
- KL autoencoder, f=4 (32×32×3 → 8×8×4), ch ${AUTOENCODER.ch}, ch_mult [${AUTOENCODER.chMult.join(', ')}]; latent scale factor ${desc.latentScaleFactor.toFixed(4)} (1/std of the training latents).
- UNet with cross-attention: ${UNET.modelChannels} model channels, mult [${UNET.channelMult.join(', ')}], attention at rates [${UNET.attentionResolutions.join(', ')}], head channels ${UNET.numHeadChannels}.
- Word-level text encoder trained jointly (${desc.tokenizer!.vocabulary!.length} words, ${CONTEXT_LENGTH} tokens, 2 transformer layers, width 128).
- ${(params / 1e6).toFixed(2)}M parameters in all, stored as fp16.

## Data and licences
Noto Emoji images from the npm package \`emoji-datasource-google@16\` (Apache-2.0), composited on white and
resized to 32×32; captions "<name>, <subcategory>[, <tone> skin tone]" built from its emoji.json (MIT).
About 5% of the concepts are held out for evaluation. No images are shipped, only weights.

## Training
\`npm run train:default\` (stages: autoencoder, ldm, package; each resumes from its checkpoint).
- Autoencoder: ${aeSteps} steps${decoderSteps ? `, then ${decoderSteps} more for the decoder alone on the frozen encoder's latents` : ''}, batch ${AE_TRAINING.batch}, AdamW lr ${AE_TRAINING.lr}, L1 + ${AE_TRAINING.gradientWeight}·L1 on image gradients + ${AE_TRAINING.klWeight}·KL.
- LDM: ${ldmSteps} steps, batch ${LDM_TRAINING.batch}, AdamW lr ${LDM_TRAINING.lr} with ${LDM_TRAINING.warmup} warm-up steps, min-SNR-γ=${LDM_TRAINING.minSnrGamma} weighting, ${LDM_TRAINING.captionDropout * 100}% caption dropout, EMA ${LDM_TRAINING.emaDecay}.

## Metrics (this machine: 2 CPU cores)
| metric | value |
|---|---|
| autoencoder reconstruction PSNR, held-out images | ${psnr.toFixed(2)} dB |
| held-out denoising loss (ε-MSE, timesteps spread over 0…999) | ${loss.toFixed(4)} |
| 4 images, 25 DDIM steps, CFG 3 | ${gen.seconds.toFixed(2)} s |
| peak resident memory of that run | ${gen.peakMiB.toFixed(0)} MiB |

${factorComparison()}
## Samples
\`samples.png\`: rows are the prompts below, columns seeds 1–4 (DDIM 25 steps, guidance 3), shown at 2×.
${SAMPLE_PROMPTS.map((p) => `- ${p}`).join('\n')}

## Limits
About 1.5 hours of (mostly shared) CPU time on 2 cores. Frequent, simple concepts come out
recognisable (hearts in their colours, smiley faces); rare or detailed ones (animals, vehicles, weather)
are still emoji-coloured blobs. Fine-tune it on your own folder, or continue \`npm run train:default\`.
`;
}
