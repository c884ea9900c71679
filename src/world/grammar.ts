// The prompt grammar: English prompts ⇄ typed scene specifications.
//
//   prompt  := clause ( ("," | "and" | ", and") clause )*
//   clause  := phrase [ relation phrase ]
//   phrase  := determiner adjective* shape          (adjectives: size, colour, texture, any order)
//   determiner := a | an | one | two | three        (two/three take the plural shape: "two circles")
//   relation := to the left of | left of | on the left of | to the right of | right of | …
//               | above | over | below | under | beneath | touching
//
// Printing is canonical ("a small red striped circle above a large blue square"), so
// parse(format(spec)) equals spec for every spec the grammar can express.
import {
  COLORS,
  COUNT_WORD,
  DETERMINERS,
  RELATION_PHRASES,
  SHAPES,
  SHAPE_PLURAL,
  SIZES,
  TEXTURES,
  isColor,
  isShape,
  isSize,
  isTexture,
  type RelationType,
  type Shape,
} from './vocab.js';
import { describeObject, validateSpec, type EntitySpec, type RelationSpec, type SceneSpec } from './spec.js';

/** A prompt that does not parse: says which word, where, and what would have been accepted. */
export class PromptError extends Error {
  constructor(
    message: string,
    readonly prompt: string,
    readonly word: string | null,
    readonly position: number | null,
    readonly expected: string[],
  ) {
    super(message);
    this.name = 'PromptError';
  }
}

const PLURAL_TO_SHAPE = new Map<string, Shape>(SHAPES.map((s) => [SHAPE_PLURAL[s], s]));

interface RelationPhrase {
  type: RelationType;
  words: string[];
}
/** All relation phrases, longest first (so "to the left of" wins over "left of"). */
const RELATION_LIST: RelationPhrase[] = Object.entries(RELATION_PHRASES)
  .flatMap(([type, phrases]) => phrases.map((p) => ({ type: type as RelationType, words: p.split(' ') })))
  .sort((a, b) => b.words.length - a.words.length);

const KNOWN_WORDS = new Set<string>([
  ...SHAPES,
  ...Object.values(SHAPE_PLURAL),
  ...COLORS,
  ...SIZES,
  ...TEXTURES,
  ...Object.keys(DETERMINERS),
  'and',
  ',',
  ...RELATION_LIST.flatMap((r) => r.words),
]);

const EXPECT_DETERMINER = `a determiner (${Object.keys(DETERMINERS).join(', ')})`;
const EXPECT_ADJ_OR_SHAPE = [
  `a size (${SIZES.join(', ')})`,
  `a colour (${COLORS.join(', ')})`,
  `a texture (${TEXTURES.join(', ')})`,
  `a shape (${SHAPES.join(', ')})`,
];
const EXPECT_AFTER_PHRASE = [
  `a relation (${Object.values(RELATION_PHRASES).flat().join(', ')})`,
  `'and' or ',' before another object`,
  'the end of the prompt',
];

function tokenize(prompt: string): string[] {
  return prompt
    .toLowerCase()
    .replace(/,/g, ' , ')
    .replace(/[.!]+\s*$/, '')
    .split(/\s+/)
    .filter((t) => t.length > 0);
}

/** Parses an English prompt into a validated scene specification; throws PromptError. */
export function parsePrompt(prompt: string): SceneSpec {
  const toks = tokenize(prompt);
  let i = 0;
  const fail = (msg: string, expected: string[]): never => {
    const word = toks[i] ?? null;
    const where = word === null ? 'at the end' : `'${word}' (word ${i + 1})`;
    const unknown = word !== null && !KNOWN_WORDS.has(word);
    const head = unknown ? `unknown word ${where}` : word === null ? `prompt ends too early` : `unexpected word ${where}`;
    throw new PromptError(`${head} in "${prompt}": ${msg}; expected ${expected.join(', or ')}`, prompt, word, word === null ? null : i, expected);
  };
  if (toks.length === 0) throw new PromptError(`empty prompt; expected e.g. "a red circle above a blue square"`, prompt, null, null, [EXPECT_DETERMINER]);

  const entities: EntitySpec[] = [];
  const relations: RelationSpec[] = [];

  const phrase = (): EntitySpec => {
    const det = toks[i];
    if (det === undefined || !(det in DETERMINERS)) return fail('an object starts with a determiner', [EXPECT_DETERMINER]);
    const count = DETERMINERS[det]!;
    i++;
    const e: Partial<EntitySpec> = { count };
    for (;;) {
      const w = toks[i];
      if (w === undefined) return fail('an object ends with a shape', EXPECT_ADJ_OR_SHAPE);
      const set = (key: 'size' | 'color' | 'texture', kind: string) => {
        if (e[key] !== undefined) {
          throw new PromptError(
            `two ${kind}s ('${e[key]}' and '${w}', word ${i + 1}) for one object in "${prompt}"; give each object at most one ${kind}`,
            prompt, w, i, [],
          );
        }
        (e as Record<string, unknown>)[key] = w;
        i++;
      };
      if (isSize(w)) set('size', 'size');
      else if (isColor(w)) set('color', 'colour');
      else if (isTexture(w)) set('texture', 'texture');
      else if (isShape(w) || PLURAL_TO_SHAPE.has(w)) {
        const plural = PLURAL_TO_SHAPE.has(w);
        if (count === 1 && plural) {
          throw new PromptError(`'${det}' takes a single shape, not '${w}' (word ${i + 1}) in "${prompt}"; say '${det} … ${PLURAL_TO_SHAPE.get(w)}' or 'two … ${w}'`, prompt, w, i, [PLURAL_TO_SHAPE.get(w)!]);
        }
        if (count > 1 && !plural) {
          throw new PromptError(`'${det}' needs a plural shape, not '${w}' (word ${i + 1}) in "${prompt}"; say '${det} … ${SHAPE_PLURAL[w as Shape]}'`, prompt, w, i, [SHAPE_PLURAL[w as Shape]]);
        }
        e.shape = plural ? PLURAL_TO_SHAPE.get(w)! : (w as Shape);
        i++;
        return e as EntitySpec;
      } else return fail('an object is described by a size, colour and texture, then a shape', EXPECT_ADJ_OR_SHAPE);
    }
  };

  const relation = (): RelationType | null => {
    for (const r of RELATION_LIST) {
      if (r.words.every((w, k) => toks[i + k] === w)) {
        i += r.words.length;
        return r.type;
      }
    }
    return null;
  };

  for (;;) {
    const a = phrase();
    entities.push(a);
    const rel = relation();
    if (rel !== null) {
      const b = phrase();
      entities.push(b);
      if (a.count !== 1 || b.count !== 1) {
        throw new PromptError(`relation '${rel.replace('_', ' ')}' in "${prompt}" needs a single object on each side ('a …'), not a count`, prompt, null, null, []);
      }
      relations.push({ type: rel, subject: entities.length - 2, object: entities.length - 1 });
    }
    if (i >= toks.length) break;
    if (toks[i] === ',') {
      i++;
      if (toks[i] === 'and') i++;
    } else if (toks[i] === 'and') i++;
    else fail('after an object comes a relation, another object, or the end', EXPECT_AFTER_PHRASE);
  }
  const spec = { entities, relations };
  try {
    validateSpec(spec);
  } catch (e) {
    throw new PromptError(`"${prompt}": ${(e as Error).message.replace(/^scene: /, '')}`, prompt, null, null, []);
  }
  return spec;
}

function phraseText(e: EntitySpec): string {
  const body = describeObject(e, e.count > 1);
  if (e.count > 1) return `${COUNT_WORD[e.count]} ${body}`;
  return `${/^[aeiou]/.test(body) ? 'an' : 'a'} ${body}`;
}

/** The canonical English prompt of a scene; throws if the relations do not follow the clause order. */
export function formatPrompt(spec: SceneSpec): string {
  validateSpec(spec);
  const clauses: string[] = [];
  const used = new Set<number>();
  for (let k = 0; k < spec.entities.length; k++) {
    const rIdx = spec.relations.findIndex((r) => r.subject === k && r.object === k + 1);
    const e = spec.entities[k]!;
    if (rIdx >= 0) {
      used.add(rIdx);
      const r = spec.relations[rIdx]!;
      clauses.push(`${phraseText(e)} ${RELATION_PHRASES[r.type][0]} ${phraseText(spec.entities[k + 1]!)}`);
      k++;
    } else clauses.push(phraseText(e));
  }
  if (used.size !== spec.relations.length) {
    throw new Error('formatPrompt: a relation must link an object to the next one (subject k, object k+1)');
  }
  if (clauses.length === 1) return clauses[0]!;
  return `${clauses.slice(0, -1).join(', ')} and ${clauses[clauses.length - 1]}`;
}
