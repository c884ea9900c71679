// Prompts outside the vocabulary: warnings name the user's words (not fragments), every dropped
// character class is reported, and warnings stay short for long prompts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer, UNK, MAX_ECHO } from '../../src/models/tokenizer.js';
import { tinyWords } from '../helpers/tiny-model.js';

function tok(): { t: Tokenizer; warnings: string[] } {
  const warnings: string[] = [];
  return { t: new Tokenizer({ words: tinyWords, maxLength: 8 }, (m) => warnings.push(m)), warnings };
}

test('tokenizer: a word with non-ASCII letters is one unknown word, named as written', () => {
  const { t, warnings } = tok();
  const ids = t.tokenize('a red café circle');
  assert.deepEqual(ids.length, 4);
  assert.equal(ids[2], UNK);
  assert.deepEqual(warnings, ["tokenizer: unknown word 'café' (non-ASCII letters) (encoded as <unk>)"]);
  assert.ok(!warnings.some((w) => /'caf'/.test(w)), 'no fragment');
});

test('tokenizer: emoji and CJK are dropped with a warning naming the class and the characters', () => {
  const { t, warnings } = tok();
  assert.deepEqual(t.tokenize('a 🔴 red circle'), t.tokenize('a red circle'));
  assert.deepEqual(t.tokenize('a red circle 红色'), t.tokenize('a red circle'));
  assert.deepEqual(t.tokenize('a red🔴 circle'), t.tokenize('a red circle'));
  assert.match(warnings.join('\n'), /dropped emoji '🔴'/);
  assert.match(warnings.join('\n'), /dropped CJK characters '红色'/);
  assert.match(warnings.join('\n'), /dropped emoji '🔴' from the word 'red🔴'/);
  t.tokenize('a 🔴 red circle');
  assert.equal(warnings.length, 3, 'each warning once');
});

test('tokenizer: a long prompt\'s truncation warning does not echo the whole prompt', () => {
  const { t, warnings } = tok();
  const long = 'a red circle above a blue square '.repeat(40);
  t.encode([long]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /a prompt of 280 words \('a red circle above .*…'\) is truncated to its first 6/);
  assert.ok(warnings[0]!.length < MAX_ECHO + 80, `${warnings[0]!.length} characters`);
  const { t: t2, warnings: w2 } = tok();
  t2.tokenize(`a ${'x'.repeat(500)}`);
  assert.ok(w2[0]!.length < MAX_ECHO + 60, 'an unknown word is echoed bounded too');
});
