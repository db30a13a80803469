// system.* requests: what this computer and app are, and the provider generation last ran on.
import { systemInfo } from '../system.ts';
import type { DomainHandlers, StudioContext } from './context.ts';

export function systemHandlers(ctx: StudioContext): DomainHandlers<'system'> {
  return {
    'system.info': async () => systemInfo(ctx.paths.root, ctx.transport, ctx.lastProvider),
  };
}
