// Short help for the settings the views show: one sentence each, used as tooltips and help lines.
// One place, so Generate, Canvas and Train explain a setting the same way.
export const HELP = {
  sampler: 'How each step moves from noise to picture. DDIM and Euler are steady; “a” (ancestral) samplers add fresh noise each step, so results change with the step count.',
  scheduleType: 'How the noise levels are spaced over the steps. Karras spends more steps at low noise, which often sharpens detail at few steps.',
  steps: 'How many denoising steps. More is slower; past the model’s default the picture rarely improves.',
  guidance: 'How strongly the picture follows the prompt (classifier-free guidance). Higher follows it more literally, but too high burns colours; 1 ignores the negative prompt.',
  strength: 'How much of the init picture is repainted: 0 keeps it as it is, 1 ignores it. Around 0.5–0.75 keeps the composition and changes the details.',
  eta: 'Noise added at each DDIM step: 0 is deterministic; 1 behaves like an ancestral sampler.',
  feather: 'Softens the mask edge over this many pixels, so the repainted area blends into the rest.',
  seed: 'The starting noise. The same seed with the same settings gives the same picture; random picks a new one each time.',
  rank: 'LoRA rank: the size of the learned adapters. Higher learns more detail but needs more data and memory.',
  alpha: 'LoRA alpha: scales the adapters’ effect (alpha / rank). Usually equal to the rank, or half of it.',
  learningRate: 'How big each training step is. Too high and the loss jumps or the model forgets; too low and nothing is learned.',
  trainSteps: 'How many training steps. Watch the samples: stop when they look right, before the model over-fits.',
} as const;
