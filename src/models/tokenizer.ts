// A word-level tokenizer over a closed vocabulary (the embedded world's words), with padding,
// start, end and unknown tokens. Its vocabulary is saved in the model's config.json.

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

  /** Token ids of one text, without <bos>/<eos>; an unknown word becomes <unk> with a warning naming it (once). */
  tokenize(text: string): number[] {
    return splitWords(text).map((w) => {
      const id = this.index.get(w);
      if (id !== undefined) return id;
      if (!this.warned.has(w)) {
        this.warned.add(w);
        this.warn(`tokenizer: unknown word '${w}' (encoded as <unk>)`);
      }
      return UNK;
    });
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
        this.warn(`tokenizer: '${text}' has ${toks.length} words, truncated to ${L - 2}`);
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
