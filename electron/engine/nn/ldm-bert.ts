// The paper's text encoder τθ for LDM-KL-8-G (txt2img-f8-large): ldm/modules/encoders/modules.py
// BERTEmbedder = the LDM copy of x-transformers' TransformerWrapper over an Encoder, trained from
// scratch, names under `cond_stage_model.transformer.`:
//   token_emb [vocab, d] + pos_emb.emb [77, d] (absolute, unscaled) → depth × pre-norm layers
//   (attn_layers.layers.{2i}: LayerNorm .0 then Attention .1: to_q/to_k/to_v without bias, heads of 64
//   channels (x-transformers' default dim_head, 8 heads → 512 inner), to_out with bias; no mask;
//   attn_layers.layers.{2i+1}: LayerNorm .0 then FeedForward .1: net.0.0 Linear(d, 4d) → GELU (erf) →
//   net.2 Linear(4d, d)), each added to its input → norm (final LayerNorm) → the context [B, 77, d].
// to_logits (the language-model head) is in the file but unused.
import type { Graph, Value } from '../onnx/graph.ts';
import { ModelInputError } from './config.ts';
import { dotProductAttention, embedding, join, layerNorm, linear } from './layers.ts';

export const LDM_BERT_PREFIX = 'cond_stage_model.transformer';
const LN_EPS = 1e-5;

export interface LdmBertConfig {
  vocabSize: number; // 30522 (bert-base-uncased)
  maxLength: number; // 77
  width: number; // 1280
  layers: number; // 32
  heads: number; // 8
  headDim: number; // 64
  ffMult: number; // 4
}

/** input_ids int64 [B, maxLength] → context [B, maxLength, width]. */
export function ldmBertForward(g: Graph, cfg: LdmBertConfig, ids: Value, prefix = LDM_BERT_PREFIX): Value {
  if (ids.shape.length !== 2 || ids.shape[1] !== cfg.maxLength) {
    throw new ModelInputError(`BERT text encoder: input_ids must be [B, ${cfg.maxLength}], got [${ids.shape.join(', ')}]`);
  }
  const p = (n: string) => join(prefix, n);
  const d = cfg.width;
  const inner = cfg.heads * cfg.headDim;
  const positions = g.param(p('pos_emb.emb.weight'), [cfg.maxLength, d], { kind: 'normal', std: 0.02 });
  let x = g.add(embedding(g, p('token_emb'), ids, cfg.vocabSize, d, { kind: 'normal', std: 0.02 }), positions);
  for (let i = 0; i < cfg.layers; i++) {
    const a = p(`attn_layers.layers.${2 * i}`);
    const h = layerNorm(g, join(a, '0'), x, LN_EPS);
    const q = linear(g, join(a, '1.to_q'), h, d, inner, { bias: false });
    const k = linear(g, join(a, '1.to_k'), h, d, inner, { bias: false });
    const v = linear(g, join(a, '1.to_v'), h, d, inner, { bias: false });
    x = g.add(x, linear(g, join(a, '1.to_out'), dotProductAttention(g, q, k, v, cfg.heads), inner, d));
    const f = p(`attn_layers.layers.${2 * i + 1}`);
    const hf = linear(g, join(f, '1.net.0.0'), layerNorm(g, join(f, '0'), x, LN_EPS), d, d * cfg.ffMult);
    x = g.add(x, linear(g, join(f, '1.net.2'), g.gelu(hf), d * cfg.ffMult, d));
  }
  return layerNorm(g, p('norm'), x, LN_EPS);
}
