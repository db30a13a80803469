// A separate autoencoder ("VAE") used in place of the model's own, as A1111's SD VAE setting does: a
// .safetensors with CompVis AutoencoderKL names, bare (`encoder.*`, `decoder.*`, `quant_conv.*`,
// `post_quant_conv.*`, as the ft-MSE / ft-EMA releases ship them) or under `first_stage_model.`
// (a VAE cut out of a full checkpoint). Its architecture must be the model's; nothing else changes.
import * as path from 'node:path';
import { inferAutoencoderConfig } from '../families/shapes.ts';
import { readSafetensorsHeader, type SafetensorsEntry } from '../io/safetensors.ts';
import { modelParams } from '../nn/models.ts';
import { readAllAsFloat32, locateAll, type Locate } from './file-weights.ts';
import { loadAllWeights, type ModelSpec } from './loaded-model.ts';

export class VaeOverrideError extends Error {
  override name = 'VaeOverrideError';
}

const VAE = 'first_stage_model';

export interface VaeFile {
  readonly file: string;
  /** The file's name without extension (A1111's "VAE" infotext field). */
  readonly name: string;
  /** Graph parameter name (`first_stage_model.…`) → its bytes in the file. */
  readonly locate: Locate;
}

/** Reads a VAE file's header and maps its names onto the graph's; refuses other layouts with one line. */
export async function openVaeFile(file: string): Promise<VaeFile> {
  const base = path.basename(file);
  if (!/\.safetensors$/i.test(file)) throw new VaeOverrideError(`${base}: a VAE override must be a .safetensors file (pickle .ckpt/.pt files can run code; convert it with 'ldm convert')`);
  let entries: readonly SafetensorsEntry[];
  try {
    entries = (await readSafetensorsHeader(file)).entries;
  } catch (err) {
    throw new VaeOverrideError(`${base} is not a valid safetensors file: ${(err as Error).message}`);
  }
  const tensors = new Map(entries.map((e) => [e.name, e]));
  let prefix: string;
  if (tensors.has(`${VAE}.encoder.conv_in.weight`)) prefix = `${VAE}.`;
  else if (tensors.has('encoder.conv_in.weight') && tensors.has('decoder.conv_out.weight') && tensors.has('post_quant_conv.weight')) prefix = '';
  else if (tensors.has('encoder.down_blocks.0.resnets.0.conv1.weight')) {
    throw new VaeOverrideError(`${base} is a diffusers-layout VAE (down_blocks/resnets names); use a CompVis-layout VAE file (encoder.down.N.block.M…, as the SD VAE releases ship)`);
  } else {
    throw new VaeOverrideError(`${base} is not an autoencoder: it has no encoder.conv_in / decoder.conv_out / post_quant_conv tensors (with or without ${VAE}.)`);
  }
  const locate: Locate = (name) => {
    if (!name.startsWith(`${VAE}.`)) return undefined;
    const e = tensors.get(prefix + name.slice(VAE.length + 1));
    return e && { file: path.resolve(file), entry: e, start: 0, length: e.length };
  };
  return { file: path.resolve(file), name: path.basename(file, path.extname(file)), locate };
}

/** `spec` with its autoencoder read from `vae` (which must have the same architecture). */
export async function withVae(spec: ModelSpec, vae: VaeFile): Promise<ModelSpec> {
  const shapes = (name: string) => vae.locate(name)?.entry.shape;
  let cfg;
  try {
    cfg = inferAutoencoderConfig(shapes, VAE);
  } catch (err) {
    throw new VaeOverrideError(`${path.basename(vae.file)}: ${(err as Error).message}`);
  }
  const want = spec.autoencoder;
  const same = cfg.kind === want.kind && cfg.ch === want.ch && cfg.embedDim === want.embedDim && cfg.zChannels === want.zChannels &&
    cfg.numResBlocks === want.numResBlocks && cfg.chMult.join() === want.chMult.join() && (cfg.attnResolutions.length > 0) === (want.attnResolutions.length > 0);
  if (!same) {
    throw new VaeOverrideError(
      `${path.basename(vae.file)} does not fit model ${spec.name}: its autoencoder has ch ${cfg.ch}, ch_mult [${cfg.chMult.join(', ')}], ${cfg.embedDim} latent channels; the model's has ch ${want.ch}, ch_mult [${want.chMult.join(', ')}], ${want.embedDim}`,
    );
  }
  const params = modelParams({ autoencoder: spec.autoencoder });
  // Every parameter must be there with the right size (a clear error for the first one that is not).
  const slices = locateAll(vae.name, params, vae.locate, 'VAE');
  const w = spec.weights;
  if (w.kind === 'files') return { ...spec, weights: { kind: 'files', networks: { ...w.networks, autoencoder: vae.locate } } };
  // Packages and in-memory weights: the model's tensors with the autoencoder's replaced.
  const all = await loadAllWeights(spec);
  for (const [k, v] of await readAllAsFloat32(slices)) all.set(k, v);
  return { ...spec, weights: { kind: 'memory', tensors: all } };
}
