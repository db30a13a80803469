import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { Trainer, TrainingError, loadCheckpoint, type TrainerOptions } from '../../../electron/engine/training/index.ts';
import { loadSafetensors } from '../../../electron/engine/io/safetensors.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ldm-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const B = 8, I = 4, O = 3;

/** MSE of a linear layer with its gradients written by hand (independent of autodiff). */
function linearMse(batch = B): Graph {
  const g = new Graph('linear-mse');
  const x = g.input('x', 'float32', [batch, I]);
  const t = g.input('t', 'float32', [batch, O]);
  const w = g.param('model.proj.weight', [I, O], { kind: 'normal', std: 0.5 });
  const b = g.param('model.proj.bias', [O], { kind: 'zeros' });
  const d = g.sub(g.add(g.matmul(x, w), b), t);
  g.output(g.reduceMean(g.mul(d, d), [0, 1], false), 'loss');
  const dy = g.mul(d, 2 / (batch * O));
  g.output(g.matmul(g.transpose(x, [1, 0]), dy), 'grad:model.proj.weight');
  g.output(g.reduceSum(dy, [0], false), 'grad:model.proj.bias');
  return g;
}

const TRUE_W = [0.5, -1, 2, 1.5, 0.25, -0.75, -2, 1, 0.1, 0.3, -0.3, 0.9];
const TRUE_B = [0.2, -0.1, 0.4];

/** A batch drawn from the trainer's own RNG (so checkpoints capture the data stream too). */
function batch(rng: Rng, n = B): { x: TensorData; t: TensorData } {
  const x = rng.normal(n * I);
  const t = new Float32Array(n * O);
  for (let r = 0; r < n; r++) for (let o = 0; o < O; o++) {
    let s = TRUE_B[o]!;
    for (let i = 0; i < I; i++) s += x[r * I + i]! * TRUE_W[i * O + o]!;
    t[r * O + o] = s;
  }
  return { x: { dtype: 'float32', shape: [n, I], data: x }, t: { dtype: 'float32', shape: [n, O], data: t } };
}

const base = (extra: Partial<TrainerOptions> = {}): TrainerOptions => ({
  graph: linearMse(), lr: 0.1, seed: 42, clipNorm: 10, ema: { decay: 0.9 },
  schedule: { kind: 'cosine', warmupSteps: 3, totalSteps: 200 }, session: { provider: 'cpu', threads: 1 }, ...extra,
});

describe('Trainer on a hand-written gradient graph', () => {
  it('fits a linear map to low loss', async () => {
    const tr = await Trainer.create(base());
    expect(tr.trained).toEqual(['model.proj.weight', 'model.proj.bias']);
    expect(tr.provider).toBe('cpu');
    const probe = batch(new Rng(1));
    const first = await tr.evaluate(probe);
    expect(await tr.backward(probe)).toBeCloseTo(first, 6); // the forward-only session agrees with training
    await tr.update();
    let last = first;
    for (let i = 0; i < 200; i++) last = (await tr.trainStep(batch(tr.rng))).loss;
    expect(first).toBeGreaterThan(1);
    expect(last).toBeLessThan(1e-3);
    const w = tr.params.get('model.proj.weight')!;
    TRUE_W.forEach((v, i) => expect(w[i]).toBeCloseTo(v, 1));
    expect(tr.step).toBe(201);
    // EMA shadow lags but is close at the end
    const ema = tr.exportParams().get('model.proj.bias')!;
    TRUE_B.forEach((v, i) => expect(ema[i]).toBeCloseTo(v, 1));
    await tr.close();
  });

  it('accumulating two half batches equals one full batch step', async () => {
    const data = batch(new Rng(5), B);
    const half = (k: number) => ({
      x: { dtype: 'float32', shape: [B / 2, I], data: (data.x.data as Float32Array).slice(k * (B / 2) * I, (k + 1) * (B / 2) * I) },
      t: { dtype: 'float32', shape: [B / 2, O], data: (data.t.data as Float32Array).slice(k * (B / 2) * O, (k + 1) * (B / 2) * O) },
    }) as { x: TensorData; t: TensorData };
    const full = await Trainer.create(base({ clipNorm: undefined }));
    const acc = await Trainer.create(base({ clipNorm: undefined, graph: linearMse(B / 2) }));
    for (let s = 0; s < 3; s++) {
      const a = await full.trainStep(data);
      const b = await acc.trainStep([half(0), half(1)]);
      expect(b.microBatches).toBe(2);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.gradNorm).toBeCloseTo(a.gradNorm, 5);
    }
    for (const [k, p] of full.params) {
      const q = acc.params.get(k)!;
      p.forEach((v, i) => expect(q[i]).toBeCloseTo(v, 5));
    }
    await full.close();
    await acc.close();
  });

  it('clips by global norm', async () => {
    const tr = await Trainer.create(base({ clipNorm: 1e-3, schedule: { kind: 'constant' }, ema: undefined, lr: 0 }));
    const r = await tr.trainStep(batch(tr.rng));
    expect(r.clipped).toBe(true);
    expect(r.gradNorm).toBeGreaterThan(1e-3);
    await tr.close();
  });

  it('resumes from a checkpoint bit-identically (params, moments, EMA, schedule, RNG)', async () => {
    const straight = await Trainer.create(base());
    for (let i = 0; i < 8; i++) await straight.trainStep(batch(straight.rng));

    const file = path.join(dir, 'resume.safetensors');
    const first = await Trainer.create(base({ checkpoint: { file, every: 4 } }));
    for (let i = 0; i < 5; i++) await first.trainStep(batch(first.rng)); // saved at step 4, then one more
    expect(first.lastCheckpointStep).toBe(4);
    await first.close();

    const resumed = await Trainer.resume(base({ checkpoint: { file, every: 4 } }), file);
    expect(resumed.step).toBe(4);
    for (let i = 0; i < 4; i++) await resumed.trainStep(batch(resumed.rng));
    expect(resumed.step).toBe(8);
    for (const [k, p] of straight.params) expect(Buffer.from(resumed.params.get(k)!.buffer)).toEqual(Buffer.from(p.buffer));
    for (const [k, s] of straight.ema!.shadow) expect(resumed.ema!.shadow.get(k)).toEqual(s);
    for (const [k, m] of straight.optimizer.m) expect(resumed.optimizer.m.get(k)).toEqual(m);
    expect(resumed.rng.state).toEqual(straight.rng.state);

    // the checkpoint is a plain safetensors weights file too
    const { tensors, metadata } = await loadSafetensors(file);
    expect(metadata.step).toBe('8');
    expect(tensors.get('model.proj.weight')!.shape).toEqual([I, O]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await straight.close();
    await resumed.close();
  });

  it('stops on a NaN loss or gradient with a clear error, leaving weights and the last checkpoint alone', async () => {
    const file = path.join(dir, 'nan.safetensors');
    const tr = await Trainer.create(base({ checkpoint: { file, every: 2 } }));
    for (let i = 0; i < 3; i++) await tr.trainStep(batch(tr.rng));
    const before = new Map([...tr.params].map(([k, p]) => [k, p.slice()]));
    const bad = batch(tr.rng);
    (bad.t.data as Float32Array)[0] = NaN;
    await expect(tr.trainStep(bad)).rejects.toThrow(TrainingError);
    await expect(tr.trainStep(bad)).rejects.toThrow(/step 4: the loss is NaN.*not updated.*last good checkpoint \(step 2\)/s);
    for (const [k, p] of tr.params) expect(p).toEqual(before.get(k));
    expect((await loadCheckpoint(file)).step).toBe(2);
    // an Inf input that gives a finite loss but infinite gradients is caught at step()
    const inf = batch(tr.rng);
    await expect(tr.trainStep({ ...inf, x: { ...inf.x, data: (inf.x.data as Float32Array).map((v, i) => (i === 0 ? 1e30 : v)) } }))
      .rejects.toThrow(/loss is Infinity|gradient of 'model\.proj\.(weight|bias)' has NaN or Inf/);
    // training goes on after the bad batch is dropped
    expect((await tr.trainStep(batch(tr.rng))).step).toBe(4);
    await tr.close();
  });

  it('rejects graphs and inputs it cannot train with', async () => {
    const g = new Graph('no-loss');
    g.output(g.param('p', [1], { kind: 'zeros' }), 'y');
    await expect(Trainer.create({ graph: g, lr: 0.1 })).rejects.toThrow(/no 'loss' output/);
    const tr = await Trainer.create(base());
    await expect(tr.trainStep({ ...batch(tr.rng), z: batch(tr.rng).x })).rejects.toThrow(/'z' is not a data input/);
    await expect(tr.update()).rejects.toThrow(/without backward/);
    await expect(Trainer.resume(base(), path.join(dir, 'missing.safetensors'))).rejects.toThrow();
    await tr.close();
    expect(existsSync(path.join(dir, 'missing.safetensors'))).toBe(false);
  });
});

describe('frozen base weights (LoRA-style)', () => {
  /** y = x·(W + A·B): W frozen (no gradient output), the low-rank A, B trained. */
  function lora(): Graph {
    const g = new Graph('lora');
    const x = g.input('x', 'float32', [B, I]);
    const t = g.input('t', 'float32', [B, O]);
    const w = g.param('base.weight', [I, O], { kind: 'zeros' }, { trainable: false });
    const a = g.param('lora.down', [I, 1], { kind: 'normal', std: 0.5 });
    const b = g.param('lora.up', [1, O], { kind: 'zeros' });
    const y = g.add(g.matmul(x, w), g.matmul(g.matmul(x, a), b));
    const d = g.sub(y, t);
    g.output(g.reduceMean(g.mul(d, d), [0, 1], false), 'loss');
    const dy = g.mul(d, 2 / (B * O));
    const xa = g.matmul(x, a);
    g.output(g.matmul(g.transpose(x, [1, 0]), g.matmul(dy, g.transpose(b, [1, 0]))), 'grad:lora.down');
    g.output(g.matmul(g.transpose(xa, [1, 0]), dy), 'grad:lora.up');
    return g;
  }
  // The target differs from the base by a rank-1 update, which the adapter can learn exactly.
  const baseW = Float32Array.from(TRUE_W, (v, i) => v - (i % O === 0 ? 0.5 : 0) * (Math.floor(i / O) - 1));

  it('bakes frozen weights into the session, feeds and trains only the adapter', async () => {
    const frozen = { kind: 'embedded' as const, get: (n: string): TensorData => ({ dtype: 'float32', shape: [I, O], data: n === 'base.weight' ? baseW : new Float32Array(0) }) };
    const tr = await Trainer.create({ graph: lora(), lr: 0.05, seed: 9, frozen, session: { provider: 'cpu', threads: 1 } });
    expect([...tr.params.keys()].sort()).toEqual(['lora.down', 'lora.up']);
    const given = new Float32Array(I).fill(0.3);
    const tr2 = await Trainer.create({ graph: lora(), lr: 0.05, frozen, params: new Map([['lora.down', given], ['base.weight', baseW]]), session: { provider: 'cpu' } });
    expect(tr2.params.get('lora.down')).toBe(given); // used in place, not copied
    await tr2.close();
    const rank1 = (rng: Rng) => {
      const bt = batch(rng);
      const x = bt.x.data as Float32Array;
      const t = new Float32Array(B * O);
      for (let r = 0; r < B; r++) for (let o = 0; o < O; o++) {
        let s = 0;
        for (let i = 0; i < I; i++) s += x[r * I + i]! * TRUE_W[i * O + o]!;
        t[r * O + o] = s;
      }
      return { x: bt.x, t: { dtype: 'float32', shape: [B, O], data: t } as TensorData };
    };
    const first = await tr.evaluate(rank1(new Rng(3)));
    for (let i = 0; i < 300; i++) await tr.trainStep(rank1(tr.rng));
    const last = await tr.evaluate(rank1(new Rng(3)));
    expect(last).toBeLessThan(0.01 * first);
    await tr.close();
  });
});
