// Iterative back-projection (Irani & Peleg 1991) for super-resolution: the upscaled picture is nudged until
// shrinking it again gives the input, by adding the shrunk picture's error, enlarged. A generative SR model
// adds detail the input cannot say; this keeps what the input does say (colours, layout) exact.
import { tensor } from '../tensor.ts';
import { resizeTensor } from '../io/image.ts';
import { imageToTensor, rgbImage, tensorToImage, type RgbImage } from './image.ts';

/** `iterations` rounds of back-projection of `high` onto `low` (Lanczos-3 down, bilinear up; 0 = unchanged). */
export function backProject(high: RgbImage, low: RgbImage, iterations: number): RgbImage {
  if (iterations <= 0) return high;
  const x = imageToTensor(high).data;
  const target = imageToTensor(low).data;
  for (let i = 0; i < iterations; i++) {
    const shrunk = resizeTensor(tensor('float32', [1, 3, high.height, high.width], x), low.width, low.height, { fit: 'fill' }).data;
    const error = Float32Array.from(target, (v, j) => v - shrunk[j]!);
    const up = resizeTensor(tensor('float32', [1, 3, low.height, low.width], error), high.width, high.height, { fit: 'fill', filter: 'bilinear' }).data;
    for (let j = 0; j < x.length; j++) x[j] = x[j]! + up[j]!;
  }
  const out = tensorToImage(tensor('float32', [1, 3, high.height, high.width], x));
  return rgbImage(out.width, out.height, out.data);
}
