// One vocabulary for what made a picture or a job: the History's filter, badges and details, the status
// bar and the queue all say the same words.
import type { Generation } from '../../../electron/api/history.ts';

export const KIND_LABELS = {
  txt2img: 'Text to image',
  img2img: 'Image to image',
  inpaint: 'Inpaint',
  upscale: 'Upscale ×4',
  upload: 'Saved from canvas',
  import: 'Imported',
  train: 'Training',
} as const;

export type KindName = keyof typeof KIND_LABELS;

/** The kinds a picture in the History can have, in the order the filter lists them. */
export const PICTURE_KINDS: readonly Exclude<KindName, 'train'>[] = ['txt2img', 'img2img', 'inpaint', 'upscale', 'upload', 'import'];

export function kindLabel(kind: string): string {
  return (KIND_LABELS as Record<string, string>)[kind] ?? kind;
}

/** What made a picture, in words: "Text to image with emoji-ldm-32, DDIM, 25 steps, LoRA fox × 0.8". */
export function provenanceText(g: Generation, sampler: (name: string | null) => string): string {
  if (g.kind === 'import') return `Imported${g.model.name ? ` (made with ${g.model.name})` : ''}`;
  if (g.kind === 'upload') return `Saved from the canvas${g.parentId ? ', continuing another picture' : ''}`;
  const parts = [`${kindLabel(g.kind)} with ${g.model.name ?? 'an unknown model'}`];
  if (g.params.sampler) parts.push(sampler(g.params.sampler));
  if (g.params.steps !== null) parts.push(`${g.params.steps} steps`);
  for (const l of g.loras) parts.push(`LoRA ${l.name} × ${l.strength}`);
  return parts.join(', ');
}
