// diffusers folders of Stable Diffusion 1.x / 2.x (StableDiffusionPipeline, …InpaintPipeline):
// model_index.json, unet/ vae/ text_encoder/ (config.json + *.safetensors or *.fp16.safetensors),
// tokenizer/ (vocab.json + merges.txt), scheduler/scheduler_config.json. The diffusers tensor names are
// mapped onto the CompVis-named graphs; the scheduler config's prediction_type, timestep_spacing and
// betas are honoured.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ldmToDiffusersUNet } from '../finetune/lora.ts';
import { readSafetensorsHeader, type SafetensorsEntry } from '../io/safetensors.ts';
import { ConfigError, type UNetConfig } from '../nn/config.ts';
import type { Locate } from '../pipelines/loaded-model.ts';
import { ClipTokenizer } from '../io/tokenizers/clip.ts';
import { frame } from '../io/tokenizers/types.ts';
import { checkPair, SD_PREVIEW, SD_SCALE_FACTOR, shapeOf, sliceOf, TEXT, UNET, VAE, type Mapped } from './compvis.ts';
import { inferAutoencoderConfig, inferTextEncoderConfig, inferUNetConfig, type HeadRule, type Lookup } from './shapes.ts';
import { FamilyError, type ModelFamily, type ModelSource, type OpenedModel, type OpenOptions, type Prediction, type Recognised } from './types.ts';

const PIPELINES = new Set(['StableDiffusionPipeline', 'StableDiffusionInpaintPipeline', 'StableDiffusionImg2ImgPipeline', 'OnnxStableDiffusionPipeline']);

type Json = Record<string, unknown>;

async function readJson(file: string, what: string): Promise<Json> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new FamilyError(`the diffusers folder lacks ${what} (${file})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Json;
  } catch (err) {
    throw new FamilyError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The safetensors weights of one component folder: full precision when present, else the .fp16 variant. */
export function componentWeights(dir: string, stem: string): string {
  for (const name of [`${stem}.safetensors`, `${stem}.fp16.safetensors`]) {
    if (existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  const pickled = [`${stem}.bin`, `${stem}.fp16.bin`].find((n) => existsSync(path.join(dir, n)));
  if (pickled) throw new FamilyError(`${path.join(dir, pickled)} is a pickle file, which is not read (it can run code); use a folder with .safetensors weights`);
  throw new FamilyError(`the diffusers folder lacks ${path.join(dir, `${stem}.safetensors`)}`);
}

interface Component {
  readonly file: string;
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
}

async function component(dir: string, stem: string): Promise<Component> {
  const file = componentWeights(dir, stem);
  const header = await readSafetensorsHeader(file);
  return { file, tensors: new Map(header.entries.map((e) => [e.name, e])) };
}

function mappedComponent(c: Component, map: (name: string) => Mapped | undefined): { get: Lookup; locate: Locate } {
  const find = (name: string) => {
    const m = map(name);
    const e = m && c.tensors.get(m.source);
    return e ? { e, part: m.part } : undefined;
  };
  return {
    get: (n) => {
      const f = find(n);
      return f && shapeOf(f.e, f.part);
    },
    locate: (n) => {
      const f = find(n);
      return f && sliceOf(c.file, f.e, f.part);
    },
  };
}

/** A CompVis UNet parameter name → the diffusers one (ldm-facts §4). */
function unetName(name: string, numResBlocks: number): Mapped | undefined {
  if (!name.startsWith(`${UNET}.`)) return undefined;
  const n = name.slice(UNET.length + 1);
  const dot = n.lastIndexOf('.');
  try {
    return { source: `${ldmToDiffusersUNet(n.slice(0, dot), { numResBlocks } as UNetConfig)}${n.slice(dot)}` };
  } catch {
    return undefined;
  }
}

const VAE_RES: Record<string, string> = { nin_shortcut: 'conv_shortcut' };

/** A CompVis autoencoder parameter name → the diffusers one (old `query/key/value/proj_attn` or new `to_q/…`). */
function vaeName(name: string, levels: number, tensors: ReadonlyMap<string, SafetensorsEntry>): Mapped | undefined {
  if (!name.startsWith(`${VAE}.`)) return undefined;
  let n = name.slice(VAE.length + 1);
  n = n.replace(/^(encoder|decoder)\.norm_out\./, '$1.conv_norm_out.');
  n = n.replace(/^encoder\.down\.(\d+)\.block\.(\d+)\.(\w+)\./, (_, i, j, p) => `encoder.down_blocks.${i}.resnets.${j}.${VAE_RES[p] ?? p}.`);
  n = n.replace(/^encoder\.down\.(\d+)\.downsample\.conv\./, 'encoder.down_blocks.$1.downsamplers.0.conv.');
  n = n.replace(/^decoder\.up\.(\d+)\.block\.(\d+)\.(\w+)\./, (_, i, j, p) => `decoder.up_blocks.${levels - 1 - Number(i)}.resnets.${j}.${VAE_RES[p] ?? p}.`);
  n = n.replace(/^decoder\.up\.(\d+)\.upsample\.conv\./, (_, i) => `decoder.up_blocks.${levels - 1 - Number(i)}.upsamplers.0.conv.`);
  n = n.replace(/^(encoder|decoder)\.mid\.block_(\d)\.(\w+)\./, (_, s, b, p) => `${s}.mid_block.resnets.${Number(b) - 1}.${VAE_RES[p] ?? p}.`);
  const attn = /^(encoder|decoder)\.mid\.attn_1\.(\w+)\.(weight|bias)$/.exec(n);
  if (attn) {
    const [, side, part, kind] = attn as unknown as [string, string, string, string];
    const base = `${side}.mid_block.attentions.0`;
    const now: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };
    const old: Record<string, string> = { norm: 'group_norm', q: 'query', k: 'key', v: 'value', proj_out: 'proj_attn' };
    const a = `${base}.${now[part]}.${kind}`;
    return { source: tensors.has(a) ? a : `${base}.${old[part]}.${kind}` };
  }
  return { source: n };
}

function count(tensors: ReadonlyMap<string, unknown>, make: (i: number) => string): number {
  let i = 0;
  while (tensors.has(make(i))) i++;
  return i;
}

/** diffusers' attention_head_dim is (historically) the head count: per level, or one for all. */
function headRule(cfg: Json, channels: readonly number[]): HeadRule {
  const given = cfg.num_attention_heads ?? cfg.attention_head_dim;
  if (typeof given === 'number' && Number.isInteger(given) && given > 0) return { numHeads: given };
  if (Array.isArray(given) && given.length === channels.length && given.every((h) => Number.isInteger(h) && h > 0)) {
    const per = channels.map((c, i) => c / (given[i] as number));
    if (per.every((p) => p === per[0] && Number.isInteger(p))) return { numHeadChannels: per[0]! };
    if (given.every((h) => h === given[0])) return { numHeads: given[0] as number };
  }
  throw new FamilyError(`unet/config.json: attention_head_dim ${JSON.stringify(given)} does not give one head count or one head width for block_out_channels ${JSON.stringify(channels)}`);
}

function predictionOf(s: Json): Prediction | null {
  const p = s.prediction_type;
  if (p === 'epsilon') return 'epsilon';
  if (p === 'v_prediction') return 'v_prediction';
  if (p === undefined) return null;
  throw new FamilyError(`scheduler_config.json: prediction_type ${JSON.stringify(p)} is not supported (epsilon or v_prediction)`);
}

// diffusers' names → model.json's (where 'linear' is CompVis's, i.e. scaled-linear; true linear β is 'sqrt_linear').
const BETA: Record<string, string> = { scaled_linear: 'scaled_linear', linear: 'sqrt_linear', squaredcos_cap_v2: 'cosine' };

function schedulerConfig(s: Json, prediction: Prediction): Record<string, unknown> {
  const kind = BETA[String(s.beta_schedule ?? 'scaled_linear')];
  if (!kind) throw new FamilyError(`scheduler_config.json: beta_schedule ${JSON.stringify(s.beta_schedule)} is not supported (scaled_linear, linear, squaredcos_cap_v2)`);
  if (s.trained_betas !== undefined && s.trained_betas !== null) throw new FamilyError('scheduler_config.json: trained_betas are not supported');
  return {
    betaSchedule: kind,
    betaStart: typeof s.beta_start === 'number' ? s.beta_start : 0.00085,
    betaEnd: typeof s.beta_end === 'number' ? s.beta_end : 0.012,
    trainTimesteps: typeof s.num_train_timesteps === 'number' ? s.num_train_timesteps : 1000,
    prediction,
    timestepSpacing: typeof s.timestep_spacing === 'string' ? s.timestep_spacing : 'leading',
    stepsOffset: typeof s.steps_offset === 'number' ? s.steps_offset : 0,
  };
}

interface Parsed {
  readonly index: Json;
  readonly name: string;
  readonly kind: 'txt2img' | 'inpaint';
  readonly unet: ReturnType<typeof inferUNetConfig>;
  readonly vae: ReturnType<typeof inferAutoencoderConfig>;
  readonly text: ReturnType<typeof inferTextEncoderConfig>;
  readonly maps: { unet: Locate; autoencoder: Locate; textEncoder: Locate };
  readonly files: string[];
  readonly scheduler: Json;
  readonly unetJson: Json;
  readonly vaeJson: Json;
}

async function parse(dir: string): Promise<Parsed> {
  const index = await readJson(path.join(dir, 'model_index.json'), 'model_index.json');
  const cls = String(index._class_name ?? '');
  if (!PIPELINES.has(cls) || 'text_encoder_2' in index) {
    throw new FamilyError(`${path.basename(dir)} is a diffusers ${cls || 'pipeline'} folder; only Stable Diffusion 1.x/2.x pipelines (StableDiffusionPipeline) are supported`);
  }
  const unetJson = await readJson(path.join(dir, 'unet', 'config.json'), 'unet/config.json');
  const vaeJson = await readJson(path.join(dir, 'vae', 'config.json'), 'vae/config.json');
  const textJson = await readJson(path.join(dir, 'text_encoder', 'config.json'), 'text_encoder/config.json');
  const scheduler = await readJson(path.join(dir, 'scheduler', 'scheduler_config.json'), 'scheduler/scheduler_config.json');
  const u = await component(path.join(dir, 'unet'), 'diffusion_pytorch_model');
  const v = await component(path.join(dir, 'vae'), 'diffusion_pytorch_model');
  const t = await component(path.join(dir, 'text_encoder'), 'model');
  const nrb = count(u.tensors, (j) => `down_blocks.0.resnets.${j}.conv1.weight`);
  const levels = count(v.tensors, (i) => `encoder.down_blocks.${i}.resnets.0.conv1.weight`);
  const unetMap = mappedComponent(u, (n) => unetName(n, nrb));
  const vaeMap = mappedComponent(v, (n) => vaeName(n, levels, v.tensors));
  const textMap = mappedComponent(t, (n) => (n.startsWith(`${TEXT}.`) ? { source: `text_model.${n.slice(TEXT.length + 1)}` } : undefined));
  const channels = Array.isArray(unetJson.block_out_channels) ? (unetJson.block_out_channels as number[]) : [];
  const act = textJson.hidden_act;
  if (act !== 'quick_gelu' && act !== 'gelu') throw new FamilyError(`text_encoder/config.json: hidden_act ${JSON.stringify(act)} is not supported (quick_gelu or gelu)`);
  const width = Number(textJson.hidden_size);
  const heads = Number(textJson.num_attention_heads);
  try {
    const unet = inferUNetConfig(unetMap.get, UNET, headRule(unetJson, channels), true);
    const vae = inferAutoencoderConfig(vaeMap.get, VAE);
    const text = inferTextEncoderConfig(textMap.get, TEXT, { headChannels: width / heads, activation: act, dropLastLayers: 0 });
    const kind = checkPair(unet, vae, text);
    return {
      index, name: path.basename(path.resolve(dir)), kind, unet, vae, text, scheduler, unetJson, vaeJson,
      maps: { unet: unetMap.locate, autoencoder: vaeMap.locate, textEncoder: textMap.locate },
      files: [u.file, v.file, t.file],
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new FamilyError(`${path.basename(dir)}: ${err.message}`);
    throw err;
  }
}

async function open(source: ModelSource, o: OpenOptions): Promise<OpenedModel> {
  const p = await parse(source.path);
  const stated = predictionOf(p.scheduler);
  const prediction = o.prediction ?? stated ?? 'epsilon';
  const predictionSource = o.prediction ? 'setting' : stated ? 'file' : 'default';
  // padding follows the folder's pad_token (SD 1.x: the end token; SD 2.x: "!" = 0)
  const tok = ClipTokenizer.fromDiffusersFolder(path.join(source.path, 'tokenizer'));
  if (p.text.maxLength !== tok.maxLength) throw new FamilyError(`the text encoder takes ${p.text.maxLength} positions; CLIP prompts are ${tok.maxLength}`);
  const f = 2 ** (p.vae.chMult.length - 1);
  const sample = typeof p.unetJson.sample_size === 'number' ? p.unetJson.sample_size * f : 512;
  const scale = typeof p.vaeJson.scaling_factor === 'number' ? p.vaeJson.scaling_factor : SD_SCALE_FACTOR;
  return {
    family: 'diffusers',
    name: p.name,
    kind: p.kind,
    unet: p.unet,
    autoencoder: p.vae,
    textEncoder: p.text,
    scaleFactor: scale,
    preview: p.vae.embedDim === 4 ? SD_PREVIEW : null,
    defaults: { sampler: 'euler_a', steps: 20, guidance: 7, width: sample, height: sample },
    schedulerConfig: schedulerConfig(p.scheduler, prediction),
    prediction,
    predictionSource,
    tokenize: (t) => frame(tok, tok.textIds(t)),
    textTokenizer: tok,
    weights: { kind: 'files', networks: p.maps },
    files: p.files,
    notes: predictionSource === 'default' ? ['scheduler_config.json has no prediction_type; ε assumed'] : [],
  };
}

async function describe(source: ModelSource): Promise<Recognised> {
  const p = await parse(source.path);
  return {
    family: 'diffusers',
    label: 'diffusers folder (Stable Diffusion)',
    kind: p.kind,
    name: p.name,
    files: p.files,
    prediction: predictionOf(p.scheduler),
    notes: p.kind === 'inpaint' ? ['inpainting variant (9-channel UNet)'] : [],
  };
}

export const diffusers: ModelFamily = {
  id: 'diffusers',
  label: 'diffusers folder (Stable Diffusion)',
  recognise: (s) => s.isDir && !!s.entries?.includes('model_index.json') && !!s.entries.includes('unet') && !existsSync(path.join(s.path, 'unet', 'model.onnx')),
  describe,
  open,
};
