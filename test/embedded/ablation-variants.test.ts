// The downsampling-factor ablation's training half (issue 14, item 4; scripts/ablation): every variant's
// autoencoder and LDM loss graphs build at full size with the right latent shapes and train a step (at
// narrow widths, to stay fast: same factors, latent shapes, layers and names), and the EMA snapshot a
// short run writes loads back with the parameter names of the inference graphs the evaluation builds.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { buildAutoencoderLossGraph, buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { buildTextEncoderGraph, buildUNetGraph, buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import type { Graph } from '../../electron/engine/onnx/graph.ts';
import { CONTEXT_LENGTH, UNET } from '../../scripts/embedded/config.ts';
import { ablationTextEncoder, loadSnapshot, shippedTokenizer } from '../../scripts/ablation/snapshot.ts';
import { autoencoderFeeds, autoencoderTrainer, trainAblationLdm, type LdmData } from '../../scripts/ablation/train.ts';
import { autoencoderCheckpoint, latentMetaFile, VARIANTS, variantByName, type AblationVariant } from '../../scripts/ablation/variants.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'ablation-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The variant at narrow widths: what the stages do with it is the same, a step costs far less. */
function narrow(v: AblationVariant): AblationVariant {
  return {
    ...v,
    unet: { ...v.unet, modelChannels: 16, numHeadChannels: 8, normGroups: 8 },
    autoencoder: v.autoencoder && { ...v.autoencoder, ch: 8, normGroups: 4 },
  };
}

/** Sessions without onnxruntime's graph optimisations: they start in half the time. */
const QUICK = { threads: 1, optimization: 'disabled' as const };

/** Four pictures' worth of smooth made-up latents (or pixels), captions from the shipped vocabulary. */
function tinyData(v: AblationVariant): LdmData {
  const per = v.latentChannels * v.latentSize * v.latentSize;
  const layout = !v.autoencoder ? 'pixels' : v.autoencoder.kind === 'kl' ? 'moments' : 'latent';
  const stride = layout === 'moments' ? 2 * per : per;
  const values = Float32Array.from({ length: 4 * stride }, (_, k) => (layout === 'moments' && k % stride >= per ? 0.1 : Math.sin(k / 7)));
  return { values, layout, per, scaleFactor: 1, captions: ['red heart, heart', 'blue heart, heart', 'sun, sky & weather', 'dog face, animal mammal'], train: [0, 1, 2, 3] };
}

function expectAllParams(g: Graph, weights: Map<string, Float32Array>): void {
  for (const [name, p] of g.params) expect(weights.get(name)?.length, name).toBe(p.shape.reduce((a, b) => a * b, 1));
}

describe('ablation variants', () => {
  it('are f1 (pixels), f2, f4 (the embedded recipe), f8 and f4-vq, with the latent shapes of their factor', () => {
    expect(VARIANTS.map((v) => [v.name, v.factor, v.latentChannels, v.latentSize])).toEqual([
      ['f1', 1, 3, 32], ['f2', 2, 4, 16], ['f4', 4, 4, 8], ['f8', 8, 4, 4], ['f4-vq', 4, 4, 8],
    ]);
    expect(variantByName('f4').unet).toEqual(UNET);
    expect(variantByName('f1').autoencoder).toBeNull();
    expect(() => variantByName('f16')).toThrow(/f1, f2, f4, f8, f4-vq/);
  });

  for (const v of VARIANTS.filter((x) => x.autoencoder)) {
    it(`${v.name}: the autoencoder encodes to ${v.latentChannels}×${v.latentSize}×${v.latentSize} and trains a step`, async () => {
      const cfg = v.autoencoder!;
      const enc = buildVaeEncoderGraph(cfg, 1, 32, 32);
      expect(enc.outputs[0]!.shape).toEqual([1, (cfg.kind === 'kl' ? 2 : 1) * v.latentChannels, v.latentSize, v.latentSize]);
      const lg = buildAutoencoderLossGraph(cfg, { batch: 2, height: 32, width: 32 });
      expect(lg.stopGradient.length > 0).toBe(cfg.kind === 'vq');
      buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()], { stopGradient: lg.stopGradient });
      const t = await autoencoderTrainer(narrow(v), 2, autoencoderCheckpoint(narrow(v), root), QUICK);
      const image = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, k) => Math.sin(k / 5));
      const r = await t.trainStep(autoencoderFeeds(v, image, t.rng));
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.loss).toBeGreaterThan(0);
      mkdirSync(path.dirname(autoencoderCheckpoint(v, root)), { recursive: true });
      await t.save(); // the f8 snapshot below takes its decoder from here
      await t.close();
    });
  }

  it('every LDM loss graph builds at full size on its latent shape with the shipped vocabulary', () => {
    const textEncoder = ablationTextEncoder();
    for (const v of VARIANTS) {
      const lg = buildDiffusionLossGraph(v.unet, { batch: 2, height: v.latentSize, width: v.latentSize, latentChannels: v.latentChannels, textEncoder, weighted: true });
      expect(lg.graph.inputs.find((i) => i.name === 'latents')!.shape).toEqual([2, v.latentChannels, v.latentSize, v.latentSize]);
      expect(buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]).outputs.length).toBe(1 + lg.graph.params.size);
    }
  });

  it('f8: a 2-step LDM run leaves an EMA snapshot that loads with the inference graphs\' names, the decoder and the scale factor', async () => {
    const v = narrow(variantByName('f8'));
    writeFileSync(latentMetaFile(v, root), JSON.stringify({ scaleFactor: 0.75 }));
    const run = await trainAblationLdm(v, { root, batch: 2, maxSteps: 2, snapshotMinutes: [0], data: tinyData(v), log: () => {}, session: QUICK });
    expect(run.step).toBe(2);
    expect(Number.isFinite(run.lastLoss)).toBe(true);
    const s = await loadSnapshot(v, 0, root);
    expect(s.steps).toBe(1);
    expect(s.scaleFactor).toBe(0.75);
    expect(s.tokenizer.type).toBe('word');
    expect(s.textEncoderConfig.vocabSize).toBe(shippedTokenizer().vocabSize);
    expectAllParams(buildUNetGraph(v.unet, { batch: 1, height: 4, width: 4, contextLength: CONTEXT_LENGTH }), s.unet);
    expectAllParams(buildTextEncoderGraph(s.textEncoderConfig, 1), s.textEncoder);
    expectAllParams(buildVaeDecoderGraph(v.autoencoder!, 1, 4, 4), s.decoder!);
  });

  // f4 is f2's data path on f4-vq's shapes
  for (const name of ['f2', 'f4-vq'] as const) {
    it(`${name}: the LDM trains a step on its latents`, async () => {
      const v = narrow(variantByName(name));
      const r = await trainAblationLdm(v, { root, batch: 2, maxSteps: 1, snapshotMinutes: [], data: tinyData(v), log: () => {}, session: QUICK });
      expect(r.step).toBe(1);
      expect(Number.isFinite(r.lastLoss)).toBe(true);
    });
  }

  it('f1: the LDM trains on pixels, resumes its CPU count from the checkpoint, and its snapshot has no decoder and scale factor 1', async () => {
    const v = narrow(variantByName('f1'));
    const o = { root, batch: 2, maxSteps: 1, data: tinyData(v), log: () => {}, session: QUICK };
    const a = await trainAblationLdm(v, { ...o, snapshotMinutes: [] });
    expect(Number.isFinite(a.lastLoss)).toBe(true);
    const b = await trainAblationLdm(v, { ...o, snapshotMinutes: [0] });
    expect(b.step).toBe(2);
    expect(b.cpuSeconds).toBeGreaterThan(a.cpuSeconds);
    const s = await loadSnapshot(v, 0, root);
    expect(s.steps).toBe(2);
    expect(s.cpuSeconds).toBeGreaterThan(a.cpuSeconds);
    expect(s.decoder).toBeNull();
    expect(s.scaleFactor).toBe(1);
    expectAllParams(buildUNetGraph(v.unet, { batch: 1, height: 32, width: 32, contextLength: CONTEXT_LENGTH }), s.unet);
  });
});
