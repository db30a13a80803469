import { describe, expect, it } from 'vitest';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';
import { buildFinetuneGraph } from '../../../electron/engine/finetune/graph.ts';
import { finetuneMethod } from '../../../electron/engine/finetune/methods/index.ts';
import { isLoraTarget, kohyaName, loraTensors, mergeLora } from '../../../electron/engine/finetune/lora.ts';
import { SD_V1_UNET } from '../../../electron/engine/nn/config.ts';
import { modelParams } from '../../../electron/engine/nn/models.ts';
import { Trainer, type Feeds } from '../../../electron/engine/training/index.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { TINY_TEXT, TINY_UNET, tinyWeights } from '../pipelines/tiny-model.ts';

const U = 'model.diffusion_model';

describe('kohya names', () => {
  it('follow the diffusers module paths of SD v1 (ldm-facts §4)', () => {
    const cases: [string, string][] = [
      [`${U}.input_blocks.1.1.transformer_blocks.0.attn1.to_q`, 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q'],
      [`${U}.input_blocks.8.1.transformer_blocks.0.attn2.to_out.0`, 'lora_unet_down_blocks_2_attentions_1_transformer_blocks_0_attn2_to_out_0'],
      [`${U}.input_blocks.3.0.op`, 'lora_unet_down_blocks_0_downsamplers_0_conv'],
      [`${U}.input_blocks.4.0.skip_connection`, 'lora_unet_down_blocks_1_resnets_0_conv_shortcut'],
      [`${U}.input_blocks.11.0.in_layers.2`, 'lora_unet_down_blocks_3_resnets_1_conv1'],
      [`${U}.middle_block.1.proj_in`, 'lora_unet_mid_block_attentions_0_proj_in'],
      [`${U}.middle_block.2.emb_layers.1`, 'lora_unet_mid_block_resnets_1_time_emb_proj'],
      [`${U}.output_blocks.2.1.conv`, 'lora_unet_up_blocks_0_upsamplers_0_conv'],
      [`${U}.output_blocks.5.2.conv`, 'lora_unet_up_blocks_1_upsamplers_0_conv'],
      [`${U}.output_blocks.11.1.transformer_blocks.0.ff.net.2`, 'lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_2'],
      [`${U}.output_blocks.3.0.out_layers.3`, 'lora_unet_up_blocks_1_resnets_0_conv2'],
      [`${U}.time_embed.0`, 'lora_unet_time_embedding_linear_1'],
      ['cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj', 'lora_te_text_model_encoder_layers_0_self_attn_q_proj'],
    ];
    for (const [ldm, kohya] of cases) expect(kohyaName(ldm, SD_V1_UNET)).toBe(kohya);
  });

  it('are unique over every layer of SD v1', () => {
    const layers = [...modelParams({ unet: SD_V1_UNET })].filter(([k, p]) => k.endsWith('.weight') && p.shape.length >= 2).map(([k]) => k.slice(0, -7));
    const names = layers.map((l) => kohyaName(l, SD_V1_UNET));
    expect(new Set(names).size).toBe(layers.length);
  });

  it('select targets by kind', () => {
    const q = `${U}.input_blocks.1.1.transformer_blocks.0.attn1.to_q`;
    const ff = `${U}.input_blocks.1.1.transformer_blocks.0.ff.net.0.proj`;
    const conv = `${U}.input_blocks.1.0.in_layers.2`;
    expect([isLoraTarget(q, ['attn']), isLoraTarget(ff, ['attn']), isLoraTarget(conv, ['attn'])]).toEqual([true, false, false]);
    expect([isLoraTarget(ff, ['ff']), isLoraTarget(conv, ['conv']), isLoraTarget(`${U}.input_blocks.0.0`, ['conv'])]).toEqual([true, true, false]);
  });
});

describe('merging', () => {
  it('gives the model exactly what the LoRA branch computes (linear and conv layers)', async () => {
    const base = tinyWeights(3);
    const lora = { rank: 3, alpha: 1.5, targets: ['attn', 'ff', 'conv'] as const };
    const opts = { unet: TINY_UNET, textEncoder: TINY_TEXT, batch: 2, height: 8, width: 8, latentChannels: 4, base };
    const withLora = buildFinetuneGraph({ ...opts, method: finetuneMethod('lora'), setup: { trigger: '', lora: { ...lora, targets: [...lora.targets] } } });
    // non-zero up projections, so the branch matters
    const rng = new Rng(9);
    const start = new Map(withLora.trained.map((n) => {
      const size = withLora.graph.params.get(n)!.shape.reduce((a, b) => a * b, 1);
      return [n, rng.normal(size).map((v) => v * 0.2)];
    }));
    const r = new Rng(4);
    const feeds: Feeds = {
      latents: tensor('float32', [2, 4, 8, 8], r.normal(512)),
      noise: tensor('float32', [2, 4, 8, 8], r.normal(512)),
      sqrt_alpha_bar: tensor('float32', [2], new Float32Array([0.9, 0.4])),
      sqrt_one_minus_alpha_bar: tensor('float32', [2], new Float32Array([Math.sqrt(0.19), Math.sqrt(0.84)])),
      timestep_embedding: tensor('float32', [2, 16], r.normal(32)),
      encoder_hidden_states: tensor('float32', [2, 8, 16], r.normal(256)),
      loss_weights: tensor('float32', [2], new Float32Array([1, 0.5])),
    };
    const a = await Trainer.create({ graph: withLora.graph, lr: 0, params: start });
    const lossLora = await a.evaluate(feeds);
    await a.close();

    const merged = new Map([...base].map(([k, v]) => [k, v.slice()]));
    const layers = [...merged.keys()].filter((k) => k.endsWith('.weight')).map((k) => k.slice(0, -7));
    const t = loraTensors(withLora.loraModules, start, { ...lora, targets: [...lora.targets] });
    expect(withLora.loraModules.some((m) => m.shape.length === 4 && m.shape[2] === 3)).toBe(true);
    expect(mergeLora(merged, t, 1, TINY_UNET, layers).changed).toBe(withLora.loraModules.length);
    const full = buildFinetuneGraph({ ...opts, method: finetuneMethod('full'), setup: { trigger: '' }, base: merged });
    const b = await Trainer.create({ graph: full.graph, lr: 0, params: new Map(full.trained.map((n) => [n, merged.get(n)!])) });
    const lossMerged = await b.evaluate(feeds);
    await b.close();
    expect(Math.abs(lossMerged - lossLora)).toBeLessThan(1e-5 * Math.abs(lossLora));

    // strength 0 leaves the weights alone; a LoRA for other layers is refused
    const untouched = new Map([...base].map(([k, v]) => [k, v.slice()]));
    mergeLora(untouched, t, 0, TINY_UNET, layers);
    for (const [k, v] of base) expect(untouched.get(k)).toEqual(v);
    const alien = new Map([['lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight', tensor('float32', [1, 1], new Float32Array(1))]]);
    expect(() => mergeLora(untouched, alien, 1, TINY_UNET, layers)).toThrow(/has no layer in this model/);
  }, 30_000);
});
