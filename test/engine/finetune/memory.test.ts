// A training step's memory estimate and the automatic choice of activation recomputation.
import { describe, expect, it } from 'vitest';
import { buildDiffusionLossGraph } from '../../../electron/engine/nn/losses.ts';
import { chooseRecompute, estimateTrainingMemory } from '../../../electron/engine/finetune/memory.ts';
import { trainingMemoryLine } from '../../../electron/engine/finetune/train.ts';
import { TINY_UNET } from '../nn/helpers.ts';

const lg = buildDiffusionLossGraph(TINY_UNET, { batch: 4, height: 16, width: 16, latentChannels: 4, contextLength: 5 });
const trained = new Set([...lg.graph.params.keys()].filter((k) => k.includes('attn')));

describe('training memory', () => {
  it('recomputation keeps fewer activations; trained weights count with gradient and moments', () => {
    const plain = estimateTrainingMemory(lg.graph, lg.loss.name, trained, false);
    const again = estimateTrainingMemory(lg.graph, lg.loss.name, trained, true);
    expect(again.activations).toBeLessThan(plain.activations / 2);
    expect(again.weights).toBe(plain.weights);
    const bytes = [...trained].reduce((s, k) => s + 4 * lg.graph.params.get(k)!.shape.reduce((a, b) => a * b, 1), 0);
    expect(plain.trained).toBe(4 * bytes);
    expect(estimateTrainingMemory(lg.graph, lg.loss.name, trained, false, true).trained).toBe(5 * bytes);
  });

  it("'auto' recomputes only when the plain step would exceed the budget", () => {
    const plain = estimateTrainingMemory(lg.graph, lg.loss.name, trained, false);
    expect(chooseRecompute(lg.graph, lg.loss.name, trained, 'auto', plain.total).recompute).toBe(false);
    const tight = chooseRecompute(lg.graph, lg.loss.name, trained, 'auto', plain.total - 1);
    expect(tight.recompute).toBe(true);
    expect(tight.total).toBeLessThan(plain.total);
    expect(chooseRecompute(lg.graph, lg.loss.name, trained, false, 0).recompute).toBe(false);
    expect(trainingMemoryLine(tight)).toMatch(/^training step ≈ \d+\.\d GiB of memory \(.*recomputed per block to fit\)$/);
  });
});
