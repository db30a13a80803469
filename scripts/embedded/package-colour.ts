// Stage 'ldm-colour-package' (issue 14, item 5): the colour fine-tune as a candidate package in
// training/embedded-colour/candidate/ (model.json in the shipped format: the shipped autoencoder, the
// fine-tune's EMA UNet and text encoder, fp16), and the held-out denoising loss of the shipped model and
// of the candidate, both measured the card's way on the fp16 weights as they ship
// (training/embedded-colour/compare.json). Whether it ships is decided on that loss, `ldm eval` FID
// and `ldm eval --colour` of both folders; shipping copies candidate/ over resources/models/emoji-ldm-32.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { saveModelPackage, type ModelDescription, type ModelManifest } from '../../electron/engine/io/model-package.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { CACHE_DIR, IMAGE_SIZE } from './config.ts';
import { loadEmojiDataset } from './emoji-dataset.ts';
import { colourRun, COLOUR_TRAINING, heldOutLoss, isTextSide, loadShipped, shippedMoments } from './train-colour.ts';

export async function packageColourCandidate(textOnly = false, log: (s: string) => void = console.log): Promise<void> {
  const run = colourRun(textOnly);
  const candidateDir = path.join(run.dir, 'candidate');
  const shipped = await loadShipped();
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const moments = await shippedMoments(ds, shipped);
  const ck = await loadCheckpoint(run.checkpoint);
  const weights = new Map(shipped.weights);
  for (const [name, w] of ck.params) if (!textOnly || isTextSide(name)) weights.set(name, ck.ema?.shadow.get(name) ?? w);
  const manifest = JSON.parse(readFileSync(path.join(shipped.dir, 'model.json'), 'utf8')) as ModelManifest;
  const { format: _f, version: _v, files: _files, ...rest } = manifest;
  const before = rest.provenance as { ldmSteps: number; metrics: Record<string, number> };
  const desc: ModelDescription = {
    ...rest,
    provenance: {
      ...rest.provenance,
      ldmSteps: before.ldmSteps + ck.step,
      colourFineTune: { steps: ck.step, from: `${manifest.name} as shipped (${before.ldmSteps} LDM steps)`, training: COLOUR_TRAINING, trained: textOnly ? 'text encoder and cross-attention keys/values' : 'UNet and text encoder', stage: `npm run train:default -- --stage ${textOnly ? 'ldm-colour-text' : 'ldm-colour'}` },
    },
  };
  await saveModelPackage(candidateDir, desc, weights, { dtype: 'F16', metadata: { name: manifest.name } });
  const candidate = await loadShipped(candidateDir);
  const lossShipped = await heldOutLoss(shipped.weights, shipped, ds, moments);
  const lossCandidate = await heldOutLoss(candidate.weights, candidate, ds, moments);
  log(`held-out denoising loss: shipped ${lossShipped.toFixed(4)}, candidate (${ck.step} more steps) ${lossCandidate.toFixed(4)}`);
  writeFileSync(path.join(run.dir, 'compare.json'), JSON.stringify({ steps: ck.step, heldOutLoss: { shipped: lossShipped, candidate: lossCandidate } }, null, 2));
  // The candidate's card figure: its own held-out loss.
  const m = JSON.parse(readFileSync(path.join(candidateDir, 'model.json'), 'utf8')) as ModelManifest;
  (m.provenance.metrics as Record<string, number>).heldOutDenoisingLoss = +lossCandidate.toFixed(4);
  writeFileSync(path.join(candidateDir, 'model.json'), JSON.stringify(m, null, 2) + '\n');
}
