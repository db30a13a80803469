// Other tools' sampler and scheduler spellings → the labels AUTOMATIC1111 writes ("Sampler: DPM++ 2M,
// Schedule type: Karras"), so every reader reports samplers in one vocabulary. Turning a label into one
// of our samplers is diffusion/samplers.ts's job; this file only translates between tools.

/** A1111's sampler labels with the names other tools use for the same k-diffusion / CompVis sampler. */
const LABELS: readonly (readonly [label: string, ...names: string[]])[] = [
  ['Euler a', 'euler_ancestral', 'k_euler_a', 'k_euler_ancestral', 'euler_a'],
  ['Euler', 'euler', 'k_euler'],
  ['LMS', 'lms', 'k_lms'],
  ['Heun', 'heun', 'k_heun'],
  ['DPM2', 'dpm_2', 'k_dpm_2', 'kdpm_2'],
  ['DPM2 a', 'dpm_2_ancestral', 'k_dpm_2_a', 'k_dpm_2_ancestral', 'kdpm_2_a'],
  ['DPM++ 2S a', 'dpmpp_2s_ancestral', 'k_dpmpp_2s_a', 'k_dpmpp_2s_ancestral'],
  ['DPM++ 2M', 'dpmpp_2m', 'k_dpmpp_2m'],
  ['DPM++ SDE', 'dpmpp_sde', 'dpmpp_sde_gpu', 'k_dpmpp_sde'],
  ['DPM++ 2M SDE', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu', 'k_dpmpp_2m_sde'],
  ['DPM++ 2M SDE Heun', 'k_dpmpp_2m_sde_heun'],
  ['DPM++ 3M SDE', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'k_dpmpp_3m_sde'],
  ['DPM fast', 'dpm_fast', 'k_dpm_fast'],
  ['DPM adaptive', 'dpm_adaptive', 'k_dpm_ad'],
  ['Restart', 'restart'],
  ['DDIM', 'ddim', 'ddim_v3'],
  ['PLMS', 'plms', 'pndm', 'k_plms'],
  ['UniPC', 'uni_pc', 'unipc'],
  ['LCM', 'lcm', 'k_lcm'],
  ['DDPM', 'ddpm'],
];

const BY_NAME = new Map<string, string>();
for (const [label, ...names] of LABELS) {
  BY_NAME.set(label.toLowerCase(), label);
  for (const n of names) BY_NAME.set(n, label);
}

/** A1111's label for a sampler name from ComfyUI, NovelAI, InvokeAI, k-diffusion (`sample_…`) or A1111 itself; undefined when unknown. */
export function a1111SamplerLabel(name: string): string | undefined {
  const n = name.trim().toLowerCase().replace(/^sample_/, '');
  return BY_NAME.get(n);
}

/** A1111's "Schedule type" labels (modules/sd_schedulers.py) by the names ComfyUI and others use. */
const SCHEDULES: Record<string, string> = {
  automatic: 'Automatic',
  uniform: 'Uniform',
  karras: 'Karras',
  exponential: 'Exponential',
  polyexponential: 'Polyexponential',
  sgm_uniform: 'SGM Uniform',
  kl_optimal: 'KL Optimal',
  align_your_steps: 'Align Your Steps',
  simple: 'Simple',
  normal: 'Normal',
  ddim: 'DDIM',
  ddim_uniform: 'DDIM',
  beta: 'Beta',
};

/** A1111's "Schedule type" label for a scheduler name (ComfyUI's `scheduler`, NovelAI's `noise_schedule`); as written when unknown. */
export function a1111ScheduleLabel(name: string): string {
  return SCHEDULES[name.trim().toLowerCase().replace(/[\s-]+/g, '_')] ?? name;
}
