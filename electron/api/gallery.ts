// Gallery: the image files behind the history.
import { z } from 'zod';
import { request } from './contract.ts';
import { imageSource } from './jobs.ts';

export const imageVariant = z.enum(['image', 'thumbnail', 'mask']);

export const galleryRequests = {
  /** The bytes of a generation's image, thumbnail or mask, base64 (works over IPC and WebSocket alike). */
  'gallery.image': request(
    z.object({ id: z.string(), variant: imageVariant.default('image') }),
    z.object({ mime: z.string(), base64: z.string(), width: z.number().int(), height: z.number().int(), path: z.string() }),
  ),
  /** Where the file lies relative to the data folder, for a transport that serves files (web: /files/<path>). */
  'gallery.path': request(z.object({ id: z.string(), variant: imageVariant.default('image') }), z.object({ path: z.string() })),
  /**
   * Saves an image from the canvas into the gallery and history (kind 'upload', or an edit of `parentId`).
   * The picture and its mask are image sources: inline base64, or web mode's `{ uploadId }` for large ones.
   */
  'gallery.save': request(
    z.object({
      image: imageSource,
      prompt: z.string().default(''),
      parentId: z.string().nullable().default(null),
      mask: imageSource.nullable().default(null),
    }),
    z.object({ id: z.string() }),
  ),
};

export const galleryEvents = {};

export type ImageVariant = z.output<typeof imageVariant>;
