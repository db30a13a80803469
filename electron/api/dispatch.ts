// The generic half of both transports: look a request up in the contract, validate its input with the
// zod schema, call the handler, and turn any failure into a WireError. shell/ipc.ts and web/ only move
// these envelopes; adding a request never touches them.
import { z } from 'zod';
import { StudioError, type WireError } from './contract.ts';
import { events, requests, type EventName, type EventPayload, type StudioHandlers } from './index.ts';

/** What a transport binds: the services' handlers and event source (createStudio's result). */
export interface StudioBackend {
  readonly handlers: Partial<StudioHandlers>;
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): () => void;
  close(): void | Promise<void>;
  /** A path the user picked in a native dialog: requests may then name it (desktop shell). */
  allowPath?(path: string): void;
}

export type Reply = { ok: true; output: unknown } | { ok: false; error: WireError };

export async function dispatch(backend: StudioBackend, name: unknown, input: unknown): Promise<Reply> {
  try {
    if (typeof name !== 'string' || !Object.hasOwn(requests, name)) {
      throw new StudioError(`Unknown request "${String(name)}".`, 'unknown_request');
    }
    const key = name as keyof typeof requests;
    const handler = backend.handlers[key] as ((input: unknown) => Promise<unknown>) | undefined;
    if (!handler) throw new StudioError(`Request "${name}" is not implemented by this studio yet.`, 'not_implemented');
    const parsed = requests[key].input.safeParse(input ?? {});
    if (!parsed.success) {
      throw new StudioError(`Invalid input for "${name}": ${z.prettifyError(parsed.error)}`, 'invalid_input');
    }
    return { ok: true, output: await handler(parsed.data) };
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  }
}

export function toWireError(err: unknown): WireError {
  if (err instanceof StudioError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'internal', message: err.message || err.name };
  return { code: 'internal', message: String(err) };
}

/** Subscribe to every event of the contract; returns one function that unsubscribes them all. */
export function forwardEvents(backend: StudioBackend, send: (name: EventName, payload: unknown) => void): () => void {
  const offs = (Object.keys(events) as EventName[]).map((name) => backend.on(name, (payload) => send(name, payload)));
  return () => offs.forEach((off) => off());
}
