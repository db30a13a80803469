// Tokenizers: CLIP BPE (Stable Diffusion 1.x / 2.x), BERT WordPiece (the paper's LDM-KL-8-G
// text-to-image model), and the word tokenizer of this project's own model packages.

export { ClipTokenizer, clipCleanText, clipPieces, CLIP_MAX_LENGTH, type ClipTokenizerOptions } from './clip.ts';
export { WordPieceTokenizer, bertWords } from './wordpiece.ts';
export { htmlUnescape } from './html-unescape.ts';
export { tokenizerResource, tokenizerResourcesDir } from './resources.ts';
export { TokenizerError, frame, type TextTokenizer } from './types.ts';
export { WordTokenizer, type WordTokenizerSpec } from '../tokenizer.ts';
