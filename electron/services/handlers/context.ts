// What every domain's request handlers share: the open stores and services, the event emitter,
// the path policy. services/studio.ts creates it once; handlers/<domain>.ts each return their part
// of StudioHandlers from it.
import type { EventName, EventPayload, RequestName, StudioHandlers } from '../../api/index.ts';
import { readUpload, type DataPaths, type PathPolicy } from '../files.ts';
import type { Gallery } from '../gallery.ts';
import type { HistoryStore } from '../history.ts';
import type { JobQueue } from '../jobs.ts';
import type { ModelRegistry } from '../models.ts';
import type { PromptService } from '../prompt.ts';

export type Emit = <K extends EventName>(event: K, payload: EventPayload<K>) => void;

/** The handlers of one domain: the requests named `<domain>.…`. */
export type DomainHandlers<D extends string> = Pick<StudioHandlers, Extract<RequestName, `${D}.${string}`>>;

/** A picture a request names: a generation in history, inline bytes, or an upload. */
export type ImageSource = { generationId: string } | { base64: string } | { uploadId: string };

/** The stores and services handlers use, before the job queue exists (its hooks get this). */
export interface StudioServices {
  readonly transport: 'ipc' | 'web';
  readonly paths: DataPaths;
  readonly allowed: PathPolicy;
  readonly emit: Emit;
  readonly gallery: Gallery;
  readonly history: HistoryStore;
  readonly models: ModelRegistry;
  readonly prompts: PromptService;
  /** The provider the last generation really ran on (system.info reports it once known). */
  lastProvider: string | null;
}

export interface StudioContext extends StudioServices {
  readonly queue: JobQueue;
}

export async function imageBytes(ctx: StudioServices, src: ImageSource): Promise<Buffer> {
  if ('base64' in src) return Buffer.from(src.base64, 'base64');
  if ('uploadId' in src) return readUpload(ctx.paths, src.uploadId);
  const g = ctx.history.get(src.generationId);
  return ctx.history.readFile(g, g.imagePath);
}
