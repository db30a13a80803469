// Web mode sends pictures too large for one WebSocket message as uploads: every image source { base64 }
// over the limit becomes the { uploadId } the upload answers; everything else is left as it is.
import { expect, it } from 'vitest';
import { liftLargeImages } from '../../renderer/src/lib/uploads.ts';

it('uploads only large image sources and keeps the rest of the request', async () => {
  const sent: number[][] = [];
  const upload = async (bytes: Uint8Array) => {
    sent.push([...bytes]);
    return `upload${sent.length}`;
  };
  const big = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]).toString('base64'); // 12 characters
  const input = {
    spec: { kind: 'inpaint', prompt: 'a fox', init: { base64: big }, mask: { base64: 'AAAA' }, loras: [{ modelId: 'x', strength: 1 }] },
    // not an image source (other keys beside base64): never lifted
    save: { base64: big, prompt: 'p' },
  };
  const out = await liftLargeImages(input, upload, 8);
  expect(out).toEqual({
    spec: { kind: 'inpaint', prompt: 'a fox', init: { uploadId: 'upload1' }, mask: { base64: 'AAAA' }, loras: [{ modelId: 'x', strength: 1 }] },
    save: { base64: big, prompt: 'p' },
  });
  expect(sent).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  expect(input.spec.init).toEqual({ base64: big }); // the caller's object is not changed
  await expect(liftLargeImages({ init: { base64: big } }, async () => { throw new Error('the disk is full'); }, 8)).rejects.toThrow(/disk is full/);
});
