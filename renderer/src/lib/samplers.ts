// The samplers the engine offers, with the labels other tools write (mirrors engine/diffusion/samplers.ts
// SAMPLERS; test/renderer/samplers.test.ts keeps the two equal without the renderer importing the engine).
export const SAMPLERS: readonly { readonly name: string; readonly label: string }[] = [
  { name: 'euler_a', label: 'Euler a' },
  { name: 'euler', label: 'Euler' },
  { name: 'dpmpp_2m', label: 'DPM++ 2M' },
  { name: 'dpmpp_2m_karras', label: 'DPM++ 2M Karras' },
  { name: 'euler_karras', label: 'Euler Karras' },
  { name: 'euler_a_karras', label: 'Euler a Karras' },
  { name: 'ddim', label: 'DDIM' },
  { name: 'plms', label: 'PLMS' },
  { name: 'ddpm', label: 'DDPM' },
];

export function samplerLabel(name: string | null): string {
  return SAMPLERS.find((s) => s.name === name)?.label ?? name ?? '—';
}
