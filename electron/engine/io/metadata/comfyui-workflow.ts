// ComfyUI's `workflow` chunk (the UI graph: nodes with widget values in order, links by id) in the shape
// of its `prompt` chunk (the API graph: id → {class_type, inputs}, a linked input as [node id, output
// slot]), so one reader (comfyui.ts) serves both. Widget names are those of ComfyUI's core nodes.
import { isObj, type Json } from './common.ts';

export type Node = { class_type: string; inputs: Record<string, Json> };
export type Graph = Map<string, Node>;
export type Link = [string, number];

/** Each core node's widgets in widgets_values order; '' marks the control_after_generate value newer files write after a seed. */
const WIDGETS: Record<string, string[]> = {
  KSampler: ['seed', '', 'steps', 'cfg', 'sampler_name', 'scheduler', 'denoise'],
  KSamplerAdvanced: ['add_noise', 'noise_seed', '', 'steps', 'cfg', 'sampler_name', 'scheduler', 'start_at_step', 'end_at_step', 'return_with_leftover_noise'],
  CLIPTextEncode: ['text'],
  CLIPTextEncodeSDXL: ['width', 'height', 'crop_w', 'crop_h', 'target_width', 'target_height', 'text_g', 'text_l'],
  EmptyLatentImage: ['width', 'height', 'batch_size'],
  EmptySD3LatentImage: ['width', 'height', 'batch_size'],
  CheckpointLoaderSimple: ['ckpt_name'],
  CheckpointLoader: ['config_name', 'ckpt_name'],
  UNETLoader: ['unet_name', 'weight_dtype'],
  LoraLoader: ['lora_name', 'strength_model', 'strength_clip'],
  LoraLoaderModelOnly: ['lora_name', 'strength_model'],
  CLIPSetLastLayer: ['stop_at_clip_layer'],
  VAELoader: ['vae_name'],
  LatentUpscale: ['upscale_method', 'width', 'height', 'crop'],
  LatentUpscaleBy: ['upscale_method', 'scale_by'],
  ImageScale: ['upscale_method', 'width', 'height', 'crop'],
  ImageScaleBy: ['upscale_method', 'scale_by'],
  ConditioningSetArea: ['width', 'height', 'x', 'y', 'strength'],
  PrimitiveNode: ['value'],
  RandomNoise: ['noise_seed', ''],
  KSamplerSelect: ['sampler_name'],
  BasicScheduler: ['scheduler', 'steps', 'denoise'],
  CFGGuider: ['cfg'],
};
const CONTROL = new Set(['fixed', 'increment', 'decrement', 'randomize']);

export function workflowToGraph(wf: Record<string, Json>): Graph {
  const links = new Map<number, Link>(); // link id → [source node, source slot]
  if (Array.isArray(wf.links)) {
    for (const l of wf.links) {
      if (isObj(l) && typeof l.id === 'number' && typeof l.origin_slot === 'number' && l.origin_id !== undefined) {
        links.set(l.id, [String(l.origin_id), l.origin_slot]);
      } else if (Array.isArray(l) && typeof l[0] === 'number' && (typeof l[1] === 'number' || typeof l[1] === 'string') && typeof l[2] === 'number') {
        links.set(l[0], [String(l[1]), l[2]]);
      }
    }
  }
  const graph: Graph = new Map();
  for (const n of (wf.nodes as Json[]).filter(isObj)) {
    const type = String(n.type ?? '');
    const inputs: Record<string, Json> = {};
    const wv = n.widgets_values;
    if (isObj(wv)) Object.assign(inputs, wv);
    else if (Array.isArray(wv)) {
      const names = WIDGETS[type] ?? [];
      let i = 0;
      for (let w = 0; w < wv.length && i < names.length; w++) {
        const name = names[i]!;
        if (name === '') {
          if (typeof wv[w] === 'string' && CONTROL.has(wv[w] as string)) {
            i++;
            continue;
          }
          i++; // older files have no control value here
          w--;
          continue;
        }
        inputs[name] = wv[w];
        i++;
      }
      if (!WIDGETS[type] && typeof wv[0] === 'string') inputs.text = wv[0];
    }
    for (const input of Array.isArray(n.inputs) ? n.inputs.filter(isObj) : []) {
      const link = typeof input.link === 'number' ? links.get(input.link) : undefined;
      if (typeof input.name === 'string' && link) inputs[input.name] = link;
    }
    graph.set(String(n.id), { class_type: type, inputs });
  }
  return graph;
}
