// A word-level tokenizer over a closed vocabulary (the embedded world's words), with padding,
// start, end and unknown tokens. Its vocabulary is saved in the model's config.json.

import { z } from 'zod';

/** The tokenizer's part of a model's config.json: its vocabulary and the sequence length. */
export const TokenizerConfigSchema = z.object({ words: z.array(z.string()).min(1), maxLength: z.number().int().min(3) }).strict();

export const SPECIAL_TOKENS = ['<pad>', '<bos>', '<eos>', '<unk>'] as const;
export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
export const UNK = 3;

export interface TokenizerConfig {
  /** the words, in id order after the special tokens */
  words: string[];
  /** sequence length including <bos> and <eos> */
  maxLength: number;
}

export interface Encoded {
  /** [B·maxLength] token ids, row-major */
  ids: Int32Array;
  /** [B·maxLength] 1 for real tokens (incl. <bos>/<eos>), 0 for padding */
  mask: Uint8Array;
  /** position of <eos> in each row */
  eosIndex: Int32Array;
  batch: number;
  maxLength: number;
}

/** Splits lower-cased text into words and punctuation-free tokens ("a red circle, above" → a red circle above). */
export function splitWords(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9-]+/).filter((w) => w.length > 0);
}

/** The longest excerpt of user text a warning echoes. */
export const MAX_ECHO = 60;

/** `s` quoted, cut to MAX_ECHO characters with an ellipsis, so that a warning stays short. */
export function echo(s: string, max = MAX_ECHO): string {
  const chars = [...s];
  return `'${chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : s}'`;
}

/** Classes of characters the vocabulary cannot hold, which tokenize() drops and reports. */
const DROPPED_CLASSES: { name: string; re: RegExp }[] = [
  { name: 'emoji', re: /\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Modifier}|\u{FE0F}|\u{200D}/u },
  { name: 'CJK characters', re: /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303F\uFF00-\uFFEF]/u },
];

/** A user's word as written (ASCII punctuation and spaces separate words; other characters stay in the word). */
function userWords(text: string): string[] {
  return text.split(/(?:\s|[^a-zA-Z0-9\-\u{80}-\u{10FFFF}])+/u).filter((w) => w.length > 0);
}

/** What tokenize() made of one user word: the vocabulary key (null: nothing left) and the characters dropped per class. */
function analyseWord(word: string): { key: string | null; nonAsciiLetters: boolean; dropped: Map<string, string> } {
  const dropped = new Map<string, string>();
  let kept = '';
  for (const ch of word) {
    if (ch.charCodeAt(0) < 0x80) {
      kept += ch;
      continue;
    }
    const cls = DROPPED_CLASSES.find((c) => c.re.test(ch))?.name ?? (/\p{L}|\p{M}|\p{N}/u.test(ch) ? null : 'other symbols');
    if (cls === null) {
      kept += ch; // a non-ASCII letter stays part of the word, which is then unknown as a whole
      continue;
    }
    dropped.set(cls, (dropped.get(cls) ?? '') + ch);
  }
  const key = kept.toLowerCase();
  const nonAsciiLetters = /[^a-z0-9-]/.test(key);
  return { key: key.length > 0 ? key : null, nonAsciiLetters, dropped };
}

export class Tokenizer {
  private readonly index = new Map<string, number>();
  private readonly warned = new Set<string>();

  constructor(readonly config: TokenizerConfig, private readonly warn: (msg: string) => void = (m) => console.warn(m)) {
    if (!Number.isSafeInteger(config.maxLength) || config.maxLength < 3) {
      throw new Error(`Tokenizer: maxLength must be an integer ≥ 3, got ${config.maxLength}`);
    }
    config.words.forEach((w, i) => {
      if (this.index.has(w)) throw new Error(`Tokenizer: the word '${w}' appears twice in the vocabulary`);
      this.index.set(w, SPECIAL_TOKENS.length + i);
    });
  }

  get vocabSize(): number {
    return SPECIAL_TOKENS.length + this.config.words.length;
  }

  /**
   * Token ids of one text, without <bos>/<eos>. ASCII punctuation and spaces separate words. A word
   * outside the vocabulary (one with non-ASCII letters such as 'café' included, as a whole) becomes
   * <unk> with a warning naming it; emoji, CJK and other non-ASCII symbols are dropped with a
   * warning naming the class, the characters and the word they were in. Each warning is given once
   * and is bounded in length.
   */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const word of userWords(text)) {
      const { key, nonAsciiLetters, dropped } = analyseWord(word);
      for (const [cls, chars] of dropped) {
        this.warnOnce(`drop:${cls}:${word}`, `tokenizer: dropped ${cls} ${echo(chars, 20)}${key !== null ? ` from the word ${echo(word)}` : ''} (outside the vocabulary)`);
      }
      if (key === null) continue;
      const id = nonAsciiLetters ? undefined : this.index.get(key);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      const shown = [...dropped.values()].length ? key : word.toLowerCase();
      this.warnOnce(`unk:${shown}`, `tokenizer: unknown word ${echo(shown)}${nonAsciiLetters ? ' (non-ASCII letters)' : ''} (encoded as <unk>)`);
      ids.push(UNK);
    }
    return ids;
  }

  private warnOnce(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(msg);
  }

  /** Encodes a batch as <bos> words <eos> <pad>…, truncating words that do not fit (with a warning). */
  encode(texts: string[]): Encoded {
    const L = this.config.maxLength;
    const ids = new Int32Array(texts.length * L);
    const mask = new Uint8Array(texts.length * L);
    const eosIndex = new Int32Array(texts.length);
    texts.forEach((text, b) => {
      let toks = this.tokenize(text);
      if (toks.length > L - 2) {
        this.warn(`tokenizer: a prompt of ${toks.length} words (${echo(text)}) is truncated to its first ${L - 2}`);
        toks = toks.slice(0, L - 2);
      }
      const row = [BOS, ...toks, EOS];
      row.forEach((id, i) => {
        ids[b * L + i] = id;
        mask[b * L + i] = 1;
      });
      eosIndex[b] = row.length - 1;
    });
    return { ids, mask, eosIndex, batch: texts.length, maxLength: L };
  }

  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === EOS) break;
      if (id === BOS || id === PAD) continue;
      out.push(id === UNK ? '<unk>' : (this.config.words[id - SPECIAL_TOKENS.length] ?? '<unk>'));
    }
    return out.join(' ');
  }
}
