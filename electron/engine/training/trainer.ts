// The training loop's engine: one onnxruntime session over a gradient graph (loss + grad:<param>
// outputs, params fed as inputs), params as Float32Arrays updated in place by AdamW in JS. Nothing
// is rebuilt or reallocated per step: feeds wrap the live param arrays, gradients are written by
// onnxruntime straight into preallocated buffers.
import type { Graph } from '../onnx/graph.ts';
import { toModelProto, type EmbeddedWeights, type ExternalWeights, type WeightMode } from '../onnx/serialize.ts';
import { pruneToOutputs } from '../onnx/prune.ts';
import { createSession, type Session, type SessionOptions } from '../onnx/runtime.ts';
import { Rng } from '../diffusion/rng.ts';
import { numel, type TensorData } from '../tensor.ts';
import { AdamW, type AdamWOptions } from './adamw.ts';
import { clipFactor, globalNorm } from './clip.ts';
import { Ema } from './ema.ts';
import { TrainingError } from './errors.ts';
import { initWeights } from '../nn/init.ts';
import { lrAt, validateSchedule, type LrSchedule } from './schedule.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';

export type Feeds = Record<string, TensorData>;

export interface TrainerOptions {
  /** A gradient graph (autodiff buildGradientGraph): outputs 'loss' and 'grad:<name>' per trained param. */
  graph: Graph;
  lr: number;
  schedule?: LrSchedule;
  adam?: AdamWOptions;
  /** Clip the gradient's global norm to this value. */
  clipNorm?: number;
  ema?: { decay: number; warmup?: boolean };
  /** Seed of the trainer's RNG (param init, and `trainer.rng` for noise, timesteps, shuffling). */
  seed?: number | bigint | string;
  /**
   * Starting weights (e.g. a pretrained model), used in place, not copied: trained ones are updated in
   * place. Params not given are initialised from their ParamInit with the trainer's RNG.
   */
  params?: ReadonlyMap<string, Float32Array>;
  /**
   * Where params without a gradient output (frozen, e.g. the base model under LoRA) come from. They
   * are then baked into the session as initializers (onnxruntime pre-packs them, JS holds no copy);
   * for external weights set `session.weightsFile`. Without it, frozen params are fed as inputs.
   */
  frozen?: EmbeddedWeights | ExternalWeights;
  session?: SessionOptions;
  /** Save to `file` every `every` optimiser steps (and on demand with save()). */
  checkpoint?: { file: string; every?: number };
}

export interface StepResult {
  /** Optimiser steps done, this one included. */
  step: number;
  /** Mean loss over the accumulated micro-batches. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  clipped: boolean;
  microBatches: number;
}

export class Trainer {
  readonly graph: Graph;
  /** Live weights fed each step, trained ones updated in place: every param, or only the trained ones with `frozen`. */
  readonly params: ReadonlyMap<string, Float32Array>;
  /** Names of the params with a gradient output, i.e. those the optimiser updates. */
  readonly trained: readonly string[];
  readonly optimizer: AdamW;
  readonly ema: Ema | undefined;
  /** The run's RNG; draw data noise from it so a checkpoint captures it. */
  rng: Rng;
  /** Caller's string metadata stored with each checkpoint (e.g. data cursor). */
  extra: Record<string, string> = {};
  private stepCount = 0;
  private lastSaved: number | null = null;
  private readonly grads = new Map<string, Float32Array>();
  private scratch: Map<string, Float32Array> | null = null;
  private readonly lossBuf: TensorData<'float32'>;
  private readonly paramFeeds: Feeds = {};
  private readonly dataInputs: Set<string>;
  private micro = 0;
  private lossSum = 0;
  private evalSession: Promise<Session> | null = null;
  /** The same training graph at other input shapes (aspect-ratio buckets), by key: same weights, gradients and optimiser. */
  private readonly shapes = new Map<string, { graph: Graph; inputs: Set<string>; session: Promise<Session>; evalSession: Promise<Session> | null }>();

  private constructor(private readonly opts: TrainerOptions, private readonly session: Session, params: Map<string, Float32Array>,
    trained: string[], rng: Rng) {
    this.graph = opts.graph;
    this.params = params;
    this.trained = trained;
    this.rng = rng;
    this.optimizer = new AdamW(opts.adam);
    this.ema = opts.ema ? new Ema(opts.ema.decay, opts.ema.warmup ?? true) : undefined;
    for (const [name, data] of params) {
      this.paramFeeds[name] = { dtype: 'float32', shape: this.graph.params.get(name)!.shape, data };
    }
    for (const name of this.trained) this.grads.set(name, new Float32Array(params.get(name)!.length));
    const lossShape = this.graph.value('loss').shape;
    this.lossBuf = { dtype: 'float32', shape: lossShape, data: new Float32Array(1) };
    this.dataInputs = new Set(this.graph.inputs.map((i) => i.name));
    if (this.ema) this.ema.init(new Map(this.trained.map((n) => [n, params.get(n)!])));
  }

  static async create(opts: TrainerOptions): Promise<Trainer> {
    const g = opts.graph;
    if (!(opts.lr >= 0)) throw new TrainingError(`lr must be ≥ 0, got ${opts.lr}`);
    if (opts.schedule) validateSchedule(opts.schedule);
    if (opts.clipNorm !== undefined && !(opts.clipNorm > 0)) throw new TrainingError(`clipNorm must be positive, got ${opts.clipNorm}`);
    const every = opts.checkpoint?.every;
    if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new TrainingError(`checkpoint.every must be a whole number ≥ 1, got ${every}`);
    const loss = g.outputs.find((o) => o.name === 'loss');
    if (!loss) throw new TrainingError(`graph '${g.name}' has no 'loss' output; build it with buildGradientGraph`);
    if (loss.dtype !== 'float32' || numel(loss.shape) !== 1) throw new TrainingError(`'loss' must be a float32 scalar, got ${loss.dtype}[${loss.shape.join(', ')}]`);
    const gradOuts = g.outputs.filter((o) => o.name.startsWith('grad:'));
    if (gradOuts.length === 0) throw new TrainingError(`graph '${g.name}' has no 'grad:<param>' outputs, so nothing would train`);
    for (const o of gradOuts) {
      const p = g.params.get(o.name.slice(5));
      if (!p) throw new TrainingError(`output '${o.name}' is not the gradient of a param of the graph`);
      if (o.shape.join() !== p.shape.join() || o.dtype !== 'float32') throw new TrainingError(`output '${o.name}' is ${o.dtype}[${o.shape.join(', ')}], param is ${p.dtype}[${p.shape.join(', ')}]`);
    }
    const trained = gradOuts.map((o) => o.name.slice(5));
    const trainedSet = new Set(trained);
    const fed = opts.frozen ? trained : [...g.params.keys()];
    const given = opts.params ?? new Map<string, Float32Array>();
    for (const [name, a] of given) {
      const p = g.params.get(name);
      if (!p) throw new TrainingError(`starting weight '${name}' is not a param of graph '${g.name}'`);
      if (a.length !== numel(p.shape)) throw new TrainingError(`starting weight '${name}' has ${a.length} values, param [${p.shape.join(', ')}] needs ${numel(p.shape)}`);
    }
    const rng = new Rng(opts.seed ?? 0);
    const drawn = initWeights(fed.filter((n) => !given.has(n)).map((n) => g.params.get(n)!), rng);
    const params = new Map(fed.map((n) => [n, given.get(n) ?? drawn.get(n)!]));
    const session = await createSession(toModelProto(g, weightMode(opts, trainedSet)), sessionOptions(opts));
    return new Trainer(opts, session, params, trained, rng);
  }

  /** A trainer restored from a checkpoint: continues exactly (bit for bit on the same provider). */
  static async resume(opts: TrainerOptions, file: string): Promise<Trainer> {
    const ck = await loadCheckpoint(file);
    const t = await Trainer.create({ ...opts, params: undefined });
    for (const [name, p] of t.params) {
      const saved = ck.params.get(name);
      if (!saved || saved.length !== p.length) throw new TrainingError(`${file}: checkpoint lacks param '${name}' or its size differs; it belongs to another model`);
      p.set(saved);
    }
    for (const name of t.trained) {
      const m = ck.adam.m.get(name);
      const v = ck.adam.v.get(name);
      if (ck.adam.t > 0) {
        if (!m || !v) throw new TrainingError(`${file}: checkpoint lacks optimiser moments for '${name}'`);
        t.optimizer.m.set(name, m);
        t.optimizer.v.set(name, v);
      }
      if (t.ema) {
        const s = ck.ema?.shadow.get(name);
        if (!s) throw new TrainingError(`${file}: checkpoint has no EMA of '${name}' but EMA is on`);
        t.ema.shadow.get(name)!.set(s);
      }
    }
    t.optimizer.t = ck.adam.t;
    if (t.ema) t.ema.updates = ck.ema!.updates;
    t.rng = Rng.fromState(ck.rng);
    t.stepCount = ck.step;
    t.lastSaved = ck.step;
    t.extra = ck.extra;
    return t;
  }

  /** Optimiser steps done. */
  get step(): number {
    return this.stepCount;
  }

  /** The step of the last checkpoint written or resumed from, or null. */
  get lastCheckpointStep(): number | null {
    return this.lastSaved;
  }

  get provider(): string {
    return this.session.provider;
  }

  private feeds(data: Feeds, inputs: ReadonlySet<string> = this.dataInputs): Feeds {
    for (const k of Object.keys(data)) {
      if (!inputs.has(k)) throw new TrainingError(`'${k}' is not a data input of the training graph (inputs: ${[...inputs].join(', ')})`);
    }
    return { ...this.paramFeeds, ...data };
  }

  /**
   * Adds the training graph built at another input shape (e.g. an aspect-ratio bucket): backward() and
   * evaluate() with its `key` run it with the same weights, gradients and optimiser. Its params and
   * gradient outputs must be this graph's.
   */
  addShape(key: string, graph: Graph): void {
    if (this.shapes.has(key)) throw new TrainingError(`shape '${key}' was added already`);
    const grads = graph.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => o.name.slice(5));
    if (grads.join() !== this.trained.join()) throw new TrainingError(`graph '${graph.name}' for shape '${key}' trains other params than the trainer's graph`);
    for (const [name, p] of graph.params) {
      const mine = this.graph.params.get(name);
      if (!mine || mine.shape.join() !== p.shape.join()) throw new TrainingError(`param '${name}' of shape '${key}' does not match the trainer's graph`);
    }
    const session = createSession(toModelProto(graph, weightMode(this.opts, new Set(this.trained))), { ...sessionOptions(this.opts), provider: this.session.provider });
    session.catch(() => undefined);
    this.shapes.set(key, { graph, inputs: new Set(graph.inputs.map((i) => i.name)), session, evalSession: null });
  }

  private shapeOf(key: string | undefined): { session: Promise<Session>; inputs: Set<string>; evalOf: () => Promise<Session> } {
    if (key === undefined) {
      return {
        session: Promise.resolve(this.session),
        inputs: this.dataInputs,
        evalOf: () => (this.evalSession ??= createSession(
          toModelProto(pruneToOutputs(this.graph, ['loss']), weightMode(this.opts, new Set(this.trained))),
          { ...sessionOptions(this.opts), provider: this.session.provider },
        )),
      };
    }
    const s = this.shapes.get(key);
    if (!s) throw new TrainingError(`no training graph for shape '${key}'; add it with addShape`);
    return {
      session: s.session,
      inputs: s.inputs,
      evalOf: () => (s.evalSession ??= createSession(
        toModelProto(pruneToOutputs(s.graph, ['loss']), weightMode(this.opts, new Set(this.trained))),
        { ...sessionOptions(this.opts), provider: this.session.provider },
      )),
    };
  }

  /** Forward + backward on one micro-batch; gradients add up until update(). Returns its loss. `shape`: a graph added with addShape. */
  async backward(data: Feeds, shape?: string): Promise<number> {
    const sh = this.shapeOf(shape);
    const first = this.micro === 0;
    let target = this.grads;
    if (!first) target = this.scratch ??= new Map([...this.grads].map(([k, g]) => [k, new Float32Array(g.length)]));
    const into: Feeds = { loss: this.lossBuf };
    for (const name of this.trained) into[`grad:${name}`] = { dtype: 'float32', shape: this.paramFeeds[name]!.shape, data: target.get(name)! };
    await (await sh.session).runInto(this.feeds(data, sh.inputs), into);
    const loss = this.lossBuf.data[0]!;
    if (!Number.isFinite(loss)) {
      this.discard();
      throw this.nonFinite(`the loss is ${loss}`);
    }
    if (!first) {
      for (const [k, acc] of this.grads) {
        const g = target.get(k)!;
        for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + g[i]!;
      }
    }
    this.micro++;
    this.lossSum += loss;
    return loss;
  }

  /**
   * Loss on a batch without touching gradients or weights (validation). Runs a forward-only session,
   * built on first use: onnxruntime would run the whole backward pass even if only the loss is fetched.
   */
  async evaluate(data: Feeds, shape?: string): Promise<number> {
    const sh = this.shapeOf(shape);
    const s = await sh.evalOf();
    const out: TensorData<'float32'> = { dtype: 'float32', shape: this.lossBuf.shape, data: new Float32Array(1) };
    await s.runInto(this.feeds(data, sh.inputs), { loss: out });
    return out.data[0]!;
  }

  private discard(): void {
    this.micro = 0;
    this.lossSum = 0;
  }

  private nonFinite(what: string): TrainingError {
    const kept = this.lastSaved !== null && this.opts.checkpoint
      ? ` The last good checkpoint (step ${this.lastSaved}) is kept at ${this.opts.checkpoint.file}.`
      : ' No checkpoint was written.';
    return new TrainingError(`training stopped at step ${this.stepCount + 1}: ${what}. The weights were not updated.${kept} `
      + 'Lower the learning rate, enable gradient clipping, or check the data for NaN/Inf.');
  }

  /** Applies the accumulated gradients (averaged over micro-batches): clip, AdamW, EMA, checkpoint. */
  async update(): Promise<StepResult> {
    const n = this.micro;
    if (n === 0) throw new TrainingError('update() called without backward(): no gradients to apply');
    const scale = 1 / n;
    const gradNorm = globalNorm(this.grads.values(), scale);
    if (!Number.isFinite(gradNorm)) {
      let bad = '';
      for (const [k, g] of this.grads) if (!Number.isFinite(globalNorm([g]))) { bad = k; break; }
      this.discard();
      throw this.nonFinite(`the gradient of '${bad}' has NaN or Inf values`);
    }
    const factor = this.opts.clipNorm !== undefined ? clipFactor(gradNorm, this.opts.clipNorm) : 1;
    const lr = lrAt(this.opts.schedule ?? { kind: 'constant' }, this.opts.lr, this.stepCount);
    this.optimizer.step(this.params, this.grads, lr, scale * factor, this.ema); // EMA in the same pass
    const loss = this.lossSum / n;
    this.discard();
    this.stepCount++;
    const every = this.opts.checkpoint?.every;
    if (every && this.stepCount % every === 0) await this.save();
    return { step: this.stepCount, loss, gradNorm, lr, clipped: factor < 1, microBatches: n };
  }

  /** backward() on each micro-batch, then update(). */
  async trainStep(batch: Feeds | Feeds[]): Promise<StepResult> {
    for (const b of Array.isArray(batch) ? batch : [batch]) await this.backward(b);
    return this.update();
  }

  /** Writes a checkpoint atomically (to the configured file unless another is given). */
  async save(file = this.opts.checkpoint?.file): Promise<void> {
    if (!file) throw new TrainingError('no checkpoint file: pass one to save() or set options.checkpoint.file');
    if (this.micro > 0) throw new TrainingError('cannot checkpoint between backward() and update(): gradients would be lost');
    const shapes = new Map([...this.graph.params].map(([k, p]) => [k, p.shape]));
    await saveCheckpoint(file, {
      step: this.stepCount,
      params: this.params,
      shapes,
      adam: { t: this.optimizer.t, m: this.optimizer.m, v: this.optimizer.v },
      ema: this.ema && { updates: this.ema.updates, shadow: this.ema.shadow },
      rng: this.rng.state,
      extra: this.extra,
    });
    if (file === this.opts.checkpoint?.file) this.lastSaved = this.stepCount;
  }

  /** The weights to ship (copies): EMA shadows for trained params where EMA is on, live values otherwise. */
  exportParams(): Map<string, Float32Array> {
    return new Map([...this.params].map(([k, p]) => [k, (this.ema?.shadow.get(k) ?? p).slice()]));
  }

  async close(): Promise<void> {
    await this.session.release();
    if (this.evalSession) await (await this.evalSession).release();
    for (const s of this.shapes.values()) {
      await (await s.session.catch(() => null))?.release();
      if (s.evalSession) await (await s.evalSession.catch(() => null))?.release();
    }
    this.shapes.clear();
  }
}

/**
 * Training sessions run without onnxruntime's memory pattern unless asked: it held a training step's
 * peak at 1,201 MiB against 708 without it for the embedded UNet at batch 32 (bench/training.bench.ts).
 */
function sessionOptions(opts: TrainerOptions): SessionOptions {
  return { memoryPattern: false, ...opts.session };
}

function weightMode(opts: TrainerOptions, trained: ReadonlySet<string>): WeightMode {
  return opts.frozen ? { kind: 'mixed', asInput: (n) => trained.has(n), rest: opts.frozen } : { kind: 'inputs' };
}
