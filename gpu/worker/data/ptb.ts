import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from './errors';
import { readDatasetFile, requireFolder, type DatasetFile } from './files';
import type { Dataset, TokenSplit } from './types';

export const PTB_FILES = { train: 'ptb.train.txt', valid: 'ptb.valid.txt', test: 'ptb.test.txt' } as const;
const EXPECTED = [PTB_FILES.train, `${PTB_FILES.valid} (optional)`, PTB_FILES.test];
export const EOS = '<eos>';
export const UNK = '<unk>';
/**
 * The Penn Treebank's vocabulary (Mikolov's text, rare words already <unk>): 10000 words, <eos> and
 * <unk> included. The model's embedding and decoder grow with it, so a larger one is refused.
 */
export const MAX_PTB_VOCABULARY = 10_000;

export interface PtbLoadOptions {
  /** Keep only the first N tokens of the training text (the vocabulary still comes from all of it). */
  trainLimit?: number;
  /** Keep only the first N tokens of the test (and validation) text. */
  testLimit?: number;
}

/**
 * Word-level Penn Treebank (Mikolov's ptb.train/valid/test.txt). Each line's words are followed
 * by <eos>; the vocabulary is the training text's words in order of first appearance (10000 with
 * <eos> for the real data), plus <unk> if absent; words of the other files outside it become <unk>.
 */
export function loadPtb(folder: string | undefined, options: PtbLoadOptions = {}): Dataset {
  const dir = requireFolder('ptb', folder, EXPECTED);
  const trainFile = readDatasetFile('ptb', dir, PTB_FILES.train, EXPECTED, { gzip: false });
  const testFile = readDatasetFile('ptb', dir, PTB_FILES.test, EXPECTED, { gzip: false });
  const vocabulary: string[] = [];
  const ids = new Map<string, number>();
  const trainWords = words(trainFile);
  for (const word of trainWords) {
    if (!ids.has(word)) {
      if (vocabulary.length === MAX_PTB_VOCABULARY - (word === UNK || ids.has(UNK) ? 0 : 1)) {
        throw new DatasetError(
          `${trainFile.name}: more than ${MAX_PTB_VOCABULARY} distinct words (<eos> and <unk> included) at "${word.slice(0, 40)}"; ` +
            'word-level Penn Treebank text with rare words as <unk> expected',
          trainFile.path,
        );
      }
      ids.set(word, vocabulary.length);
      vocabulary.push(word);
    }
  }
  if (!ids.has(UNK)) {
    ids.set(UNK, vocabulary.length);
    vocabulary.push(UNK);
  }
  const unk = ids.get(UNK)!;
  const encode = (list: string[], limit: number | undefined): TokenSplit => {
    const size = Math.min(list.length, limit ?? list.length);
    const tokens = new Int32Array(size);
    for (let i = 0; i < size; i++) tokens[i] = ids.get(list[i]!) ?? unk;
    return { kind: 'tokens', tokens, size, vocabularySize: vocabulary.length };
  };
  const dataset: Dataset = {
    info: { name: 'ptb', task: 'language-model', inputShape: [], numClasses: vocabulary.length },
    train: encode(trainWords, options.trainLimit),
    test: encode(words(testFile), options.testLimit),
    vocabulary,
  };
  if (existsSync(join(dir, PTB_FILES.valid))) {
    dataset.validation = encode(
      words(readDatasetFile('ptb', dir, PTB_FILES.valid, EXPECTED, { gzip: false })),
      options.testLimit,
    );
  }
  return dataset;
}

/** The file's words, with <eos> after every line (blank lines included, as in the reference code). */
function words(file: DatasetFile): string[] {
  const nul = file.bytes.indexOf(0);
  if (nul >= 0) {
    throw new DatasetError(
      `${file.name}: text expected, found a NUL byte at offset ${nul} (a binary file?)`,
      file.path,
    );
  }
  const text = new TextDecoder('utf-8').decode(file.bytes);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: string[] = [];
  for (const line of lines) {
    for (const word of line.split(/\s+/)) if (word) out.push(word);
    out.push(EOS);
  }
  if (out.length === lines.length) {
    throw new DatasetError(`${file.name}: no words found; word-level Penn Treebank text expected`, file.path);
  }
  return out;
}
