// Kept so scripts/embedded/train-ldm.ts keeps working: the word tokenizer is io/tokenizer.ts's
// WordTokenizer; loaded-model's packageTokenizer reads it from model.json. Import those instead.
export { packageTokenizer as wordTokenizer } from './loaded-model.ts';
