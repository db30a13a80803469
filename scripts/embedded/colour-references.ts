// Prints the reference hue of each colour word: the circular mean hue (engine/eval/hue.ts) of the
// training pictures whose caption has that word. Its output is the REFERENCE_HUES table of
// electron/engine/eval/colour.ts. `npx tsx scripts/embedded/colour-references.ts`
import { COLOUR_WORDS, isPersonCaption } from '../../electron/engine/eval/colour.ts';
import { meanHue, pictureHue } from '../../electron/engine/eval/hue.ts';
import { CACHE_DIR, IMAGE_SIZE } from './config.ts';
import { datasetPicture, loadEmojiDataset } from './emoji-dataset.ts';

const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
for (const word of COLOUR_WORDS) {
  const hues: number[] = [];
  let pictures = 0;
  ds.samples.forEach((s, i) => {
    if (s.heldOut || !s.caption.split(/[ ,]+/).includes(word) || isPersonCaption(s.caption)) return;
    pictures++;
    const h = pictureHue(datasetPicture(ds, i)).hue;
    if (h !== null) hues.push(h);
  });
  console.log(`  ${word}: ${meanHue(hues)?.toFixed(1)}, // ${pictures} pictures, ${hues.length} with a hue`);
}
