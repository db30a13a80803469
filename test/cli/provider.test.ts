// --provider reads the engine's one provider list: help, the choices accepted, and what 'auto' tries.
import { describe, expect, it } from 'vitest';
import { PROVIDER_CHOICES, PROVIDERS, autoProviderCandidates, availableProviders } from '../../electron/engine/onnx/runtime.ts';
import { cli } from './helpers.ts';

describe('the execution-provider list', () => {
  it('is what generate and train offer and accept', async () => {
    const asked = { generate: ['a prompt', '--model', 'x'], train: ['--data', 'no-such-folder', '--out', 'x.safetensors'] };
    for (const [command, args] of Object.entries(asked)) {
      expect((await cli(command, '--help')).stdout).toContain(`execution provider: ${PROVIDER_CHOICES.join(', ')}`);
      const bad = await cli(command, ...args, '--provider', 'tpu');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`--provider must be one of auto, cuda, dml, coreml, webgpu, cpu, got 'tpu'`);
    }
  });

  it('orders what this installation offers as the list does, cpu last, and auto skips webgpu', () => {
    const offered = availableProviders();
    expect(offered).toEqual(PROVIDERS.filter((p) => offered.includes(p)));
    expect(offered.at(-1)).toBe('cpu');
    expect(autoProviderCandidates()).not.toContain('webgpu');
  });
});
