// How the StudioApi contract is declared. Each domain file (system.ts, history.ts, ...) declares its
// requests and events with zod schemas; index.ts merges them into one contract. The transports
// (shell/ipc.ts, web/) and the renderer client are generic over this shape.
import type { z } from 'zod';

export interface RequestDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly input: I;
  readonly output: O;
}

export function request<I extends z.ZodType, O extends z.ZodType>(input: I, output: O): RequestDef<I, O> {
  return { input, output };
}

export type RequestMap = Record<string, RequestDef>;
export type EventMap = Record<string, z.ZodType>;

/** An error a service throws on purpose: its message is shown to the user as is. */
export class StudioError extends Error {
  constructor(
    message: string,
    readonly code: string = 'error',
  ) {
    super(message);
    this.name = 'StudioError';
  }
}

/** What travels over a transport when a request fails. */
export interface WireError {
  code: string;
  message: string;
}
