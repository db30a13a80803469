// --provider, for every command that runs networks: its choices and help come from the engine's list.
import { PROVIDER_CHOICES, type ProviderChoice } from '../engine/onnx/runtime.ts';
import { UsageError, type FlagSpecs } from './args.ts';

export const PROVIDER_FLAG: FlagSpecs = {
  provider: { type: 'string', arg: 'NAME', help: `execution provider: ${PROVIDER_CHOICES.join(', ')}` },
};

export function providerChoice(v: string | undefined): ProviderChoice | undefined {
  if (v === undefined) return undefined;
  if (!(PROVIDER_CHOICES as readonly string[]).includes(v)) throw new UsageError(`--provider must be one of ${PROVIDER_CHOICES.join(', ')}, got '${v}'`);
  return v as ProviderChoice;
}
