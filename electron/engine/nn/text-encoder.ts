// Conditioning encoders τθ: a CLIP-style text transformer (pre-LN blocks, final LN) with HF
// CLIPTextModel parameter names under `cond_stage_model.transformer.text_model.`, and the LDM
// ClassEmbedder (`cond_stage_model.embedding`).
import type { Graph, Value } from '../onnx/graph.ts';
import {
  type ClassEmbedderConfig,
  ModelInputError,
  type TextEncoderConfig,
  validateClassEmbedderConfig,
  validateTextEncoderConfig,
} from './config.ts';
import { dotProductAttention, embedding, join, layerNorm, linear } from './layers.ts';

export const TEXT_PREFIX = 'cond_stage_model.transformer.text_model';
export const CLASS_PREFIX = 'cond_stage_model';

function activation(g: Graph, x: Value, kind: TextEncoderConfig['activation']): Value {
  return kind === 'gelu' ? g.gelu(x) : g.mul(x, g.sigmoid(g.mul(x, 1.702)));
}

/**
 * input_ids int64 [B, maxLength] → last_hidden_state [B, maxLength, width]. `extraTokens` [n, width]
 * (textual-inversion vectors) are rows appended to the token table: ids vocabSize … vocabSize+n−1
 * look them up.
 */
export function textEncoderForward(g: Graph, cfgIn: TextEncoderConfig, inputIds: Value, prefix = TEXT_PREFIX, extraTokens?: Value): Value {
  const cfg = validateTextEncoderConfig(cfgIn);
  const eps = cfg.eps ?? 1e-5;
  const d = cfg.width;
  if (inputIds.shape.length !== 2 || inputIds.shape[1] !== cfg.maxLength) {
    throw new ModelInputError(`text encoder: input_ids must be [B, ${cfg.maxLength}], got [${inputIds.shape.join(', ')}]`);
  }
  const len = cfg.maxLength;
  const p = (n: string) => join(prefix, n);
  const tok = extraTokens
    ? g.gather(g.concat([g.param(p('embeddings.token_embedding.weight'), [cfg.vocabSize, d], { kind: 'normal', std: 0.02 }), extraTokens], 0), inputIds, 0)
    : embedding(g, p('embeddings.token_embedding'), inputIds, cfg.vocabSize, d, { kind: 'normal', std: 0.02 });
  const pos = g.param(p('embeddings.position_embedding.weight'), [cfg.maxLength, d], { kind: 'normal', std: 0.01 });
  let x = g.add(tok, pos);
  let mask: Value | undefined;
  if (cfg.causal) {
    // −1e9 rather than −∞ keeps softmax and its gradient free of NaN.
    const m = new Float32Array(len * len);
    for (let i = 0; i < len; i++) for (let j = i + 1; j < len; j++) m[i * len + j] = -1e9;
    mask = g.constant(m, [len, len]);
  }
  for (let l = 0; l < cfg.layers; l++) {
    const n = (s: string) => p(`encoder.layers.${l}.${s}`);
    const h = layerNorm(g, n('layer_norm1'), x, eps);
    const q = linear(g, n('self_attn.q_proj'), h, d, d);
    const k = linear(g, n('self_attn.k_proj'), h, d, d);
    const v = linear(g, n('self_attn.v_proj'), h, d, d);
    x = g.add(x, linear(g, n('self_attn.out_proj'), dotProductAttention(g, q, k, v, cfg.heads, mask), d, d));
    const h2 = layerNorm(g, n('layer_norm2'), x, eps);
    const mlp = activation(g, linear(g, n('mlp.fc1'), h2, d, cfg.mlpWidth), cfg.activation);
    x = g.add(x, linear(g, n('mlp.fc2'), mlp, cfg.mlpWidth, d));
  }
  return layerNorm(g, p('final_layer_norm'), x, eps);
}

/** class_labels int64 [B] → context [B, 1, embedDim]. */
export function classEmbedderForward(g: Graph, cfgIn: ClassEmbedderConfig, labels: Value, prefix = CLASS_PREFIX): Value {
  const cfg = validateClassEmbedderConfig(cfgIn);
  if (labels.shape.length !== 1) throw new ModelInputError(`class embedder: labels must be [B], got [${labels.shape.join(', ')}]`);
  const e = embedding(g, join(prefix, 'embedding'), labels, cfg.nClasses, cfg.embedDim, { kind: 'normal', std: 1 });
  return g.reshape(e, [labels.shape[0]!, 1, cfg.embedDim]);
}
