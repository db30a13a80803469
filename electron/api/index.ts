// The one StudioApi contract: every request and event, typed and validated. Domain files add their
// maps here; transports and the renderer client never list requests by hand.
import type { z } from 'zod';
import type { EventMap, RequestMap } from './contract.ts';
import { galleryEvents, galleryRequests } from './gallery.ts';
import { historyEvents, historyRequests } from './history.ts';
import { imagesEvents, imagesRequests } from './images.ts';
import { jobsEvents, jobsRequests } from './jobs.ts';
import { modelsEvents, modelsRequests } from './models.ts';
import { promptEvents, promptRequests } from './prompt.ts';
import { systemEvents, systemRequests } from './system.ts';
import { trainingEvents, trainingRequests } from './training.ts';

export const requests = {
  ...systemRequests,
  ...historyRequests,
  ...galleryRequests,
  ...jobsRequests,
  ...modelsRequests,
  ...trainingRequests,
  ...promptRequests,
  ...imagesRequests,
} satisfies RequestMap;

export const events = {
  ...systemEvents,
  ...historyEvents,
  ...galleryEvents,
  ...jobsEvents,
  ...modelsEvents,
  ...trainingEvents,
  ...promptEvents,
  ...imagesEvents,
} satisfies EventMap;

export type Requests = typeof requests;
export type Events = typeof events;
export type RequestName = keyof Requests;
export type EventName = keyof Events;
export type RequestInput<K extends RequestName> = z.input<Requests[K]['input']>;
export type RequestOutput<K extends RequestName> = z.output<Requests[K]['output']>;
export type EventPayload<K extends EventName> = z.output<Events[K]>;

/** What the services implement: one async handler per request. */
export type StudioHandlers = {
  [K in RequestName]: (input: z.output<Requests[K]['input']>) => Promise<RequestOutput<K>>;
};

/** What the renderer sees as window.studio, whichever transport carries it. */
export interface StudioClient {
  invoke<K extends RequestName>(name: K, input: RequestInput<K>): Promise<RequestOutput<K>>;
  on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void): () => void;
}

export { StudioError, type WireError } from './contract.ts';
