// gallery.* requests: a generation's image, thumbnail or mask, and saving an edited picture to history.
import sharp from 'sharp';
import { StudioError } from '../../api/contract.ts';
import type { ImageVariant } from '../../api/gallery.ts';
import type { Generation } from '../../api/history.ts';
import { toPng } from '../../engine/io/image.ts';
import { storeGeneration } from '../record.ts';
import { imageBytes, type DomainHandlers, type StudioContext } from './context.ts';

export function galleryHandlers(ctx: StudioContext): DomainHandlers<'gallery'> {
  const { emit, gallery, history } = ctx;
  return {
    'gallery.image': async ({ id, variant }) => {
      const g = history.get(id);
      const bytes = await history.readFile(g, fileOf(g, variant));
      const meta = await sharp(bytes).metadata();
      return { mime: `image/${meta.format}`, base64: bytes.toString('base64'), width: meta.width ?? 0, height: meta.height ?? 0, path: currentPath(g, variant) };
    },
    'gallery.path': async ({ id, variant }) => ({ path: currentPath(history.get(id), variant) }),
    'gallery.save': async ({ image, prompt, parentId, mask }) => {
      const parent = parentId ? history.get(parentId) : null;
      const png = await toPng(await imageBytes(ctx, image)).catch((err: Error) => {
        throw new StudioError(`The image cannot be read: ${err.message}`, 'bad_image');
      });
      const meta = await sharp(png).metadata();
      const gen = await storeGeneration(history, gallery, {
        kind: 'upload',
        prompt: prompt || parent?.prompt || '',
        negativePrompt: parent?.negativePrompt ?? '',
        sampler: null,
        steps: null,
        guidance: null,
        seed: null,
        width: meta.width ?? 0,
        height: meta.height ?? 0,
        model: parent?.model ?? { id: null, name: null, hash: null },
        png,
        mask: mask ? await imageBytes(ctx, mask) : null,
        parentId,
      });
      emit('history.changed', { change: 'added', ids: [gen.id] });
      return { id: gen.id };
    },
  };
}

function fileOf(g: Generation, variant: ImageVariant): string {
  const rel = variant === 'thumbnail' ? g.thumbnailPath : variant === 'mask' ? g.maskPath : g.imagePath;
  if (!rel) throw new StudioError(`Generation ${g.id} has no ${variant}.`, 'not_found');
  return rel;
}

/** Where the file lies now, relative to the data folder (deleted generations' files are in trash/). */
function currentPath(g: Generation, variant: ImageVariant): string {
  const rel = fileOf(g, variant);
  return g.trashedAt === null ? rel : `trash/${rel}`;
}
