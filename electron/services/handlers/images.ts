// images.* requests: the generation parameters a picture carries (ours, A1111's, other tools').
import { readParametersOf } from '../image-info.ts';
import { imageBytes, type DomainHandlers, type StudioContext } from './context.ts';

export function imagesHandlers(ctx: StudioContext): DomainHandlers<'images'> {
  return {
    'images.readParameters': async ({ image }) => readParametersOf(await imageBytes(ctx, image)),
  };
}
