// The native op list is written in three places that must agree: the C++ op definitions
// (native/src/*.cc: `OP(name)` and the macros that expand to OP), the `REG(name)` registrations in
// the addon's Init, and the `NativeAddon` interface (src/torch/native.ts). This test reads the three
// from the sources and names every op that one of them has and another lacks; the built addon's
// exports are checked against the registrations too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { N } from '../../src/torch/native.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const NATIVE_SRC = join(ROOT, 'native/src');

/** C++ source without comments; string and character literals become empty ("", ''). */
function stripCpp(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' '); // keep the line structure
      i = stop;
    } else if (c === '"' || c === "'") {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === '\\' ? 2 : 1;
      i++;
      out += c + c;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The arguments of a call whose '(' is at `open`, split at top-level commas, and the index after its ')'. */
function callArgs(text: string, open: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return { args, end: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new Error(`unbalanced parentheses after offset ${open}`);
}

interface Macro {
  params: string[];
  body: string;
}

/** Splits stripped C++ into its #define macros (continuation lines joined) and the rest. */
function splitDefines(src: string): { macros: Map<string, Macro>; code: string } {
  const macros = new Map<string, Macro>();
  const lines = src.split('\n');
  const code: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (!/^\s*#\s*define\b/.test(line)) {
      code.push(line);
      continue;
    }
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!;
    const m = /^\s*#\s*define\s+(\w+)\(([^)]*)\)(.*)$/.exec(line);
    if (m) macros.set(m[1]!, { params: m[2]!.split(',').map((p) => p.trim()).filter(Boolean), body: m[3]! });
  }
  return { macros, code: code.join('\n') };
}

/** Every `NAME(...)` call of a macro in `code`, with its arguments. */
function macroCalls(code: string, name: string): string[][] {
  const calls: string[][] = [];
  const re = new RegExp(`\\b${name}\\s*\\(`, 'g');
  for (let m = re.exec(code); m; m = re.exec(code)) {
    const { args, end } = callArgs(code, m.index + m[0].length - 1);
    calls.push(args);
    re.lastIndex = end;
  }
  return calls;
}

/** Substitutes a macro's parameters in its body and applies token pasting (a ## b). */
function expand(macro: Macro, args: string[]): string {
  let body = macro.body;
  macro.params.forEach((p, k) => {
    body = body.replace(new RegExp(`\\b${p}\\b`, 'g'), args[k] ?? '');
  });
  return body.replace(/\s*##\s*/g, '');
}

/** The macros whose expansion defines ops: those that use OP, or another such macro. */
function opMacros(macros: Map<string, Macro>): Map<string, Macro> {
  const found = new Map<string, Macro>();
  const uses = (body: string, name: string) => new RegExp(`\\b${name}\\s*\\(`).test(body);
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, macro] of macros) {
      if (name === 'OP' || found.has(name)) continue;
      if (uses(macro.body, 'OP') || [...found.keys()].some((f) => uses(macro.body, f))) {
        found.set(name, macro);
        grew = true;
      }
    }
  }
  return found;
}

/**
 * The ops the C++ sources define: each `OP(name)` outside a #define, and each `OP(...)` in the
 * expansion of a macro that uses it (BINARY(mul, fn) defines mul and mulScalar), through any
 * depth of such macros. Duplicates are kept so that they can be reported.
 */
function definedOps(sources: string[]): string[] {
  const ops: string[] = [];
  for (const raw of sources) {
    const { macros, code } = splitDefines(stripCpp(raw));
    const generators = opMacros(macros);
    const opsIn = (text: string, depth: number): void => {
      if (depth > 8) throw new Error('op macros nested too deep');
      for (const args of macroCalls(text, 'OP')) ops.push(args[0]!);
      for (const [name, macro] of generators) {
        for (const args of macroCalls(text, name)) opsIn(expand(macro, args), depth + 1);
      }
    };
    opsIn(code, 0);
  }
  return ops;
}

/** The names given to REG(...) in the sources (the #define of REG itself left out). */
function registeredOps(sources: string[]): string[] {
  return sources.flatMap((raw) => macroCalls(splitDefines(stripCpp(raw)).code, 'REG').map((args) => args[0]!));
}

/** The member names of the NativeAddon interface in a TypeScript source. */
function interfaceOps(source: string, name = 'NativeAddon'): string[] {
  const file = ts.createSourceFile('native.ts', source, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const decl = file.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  if (!decl) throw new Error(`no interface ${name}`);
  return decl.members.map((m) => {
    if (!m.name || !(ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) throw new Error(`${name}: a member without a plain name`);
    return m.name.text;
  });
}

/** What disagrees between named op lists: duplicates within one, and for each pair what one has and the other lacks. */
function opListProblems(lists: Record<string, string[]>): string[] {
  const problems: string[] = [];
  const names = Object.keys(lists);
  for (const n of names) {
    const seen = new Set<string>();
    const dup = new Set<string>();
    for (const op of lists[n]!) (seen.has(op) ? dup : seen).add(op);
    if (dup.size) problems.push(`${n} lists more than once: ${[...dup].join(', ')}`);
  }
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const [a, b] = [names[i]!, names[j]!];
      const setA = new Set(lists[a]);
      const setB = new Set(lists[b]);
      const onlyA = [...setA].filter((op) => !setB.has(op)).sort();
      const onlyB = [...setB].filter((op) => !setA.has(op)).sort();
      if (onlyA.length) problems.push(`in ${a} but not in ${b}: ${onlyA.join(', ')}`);
      if (onlyB.length) problems.push(`in ${b} but not in ${a}: ${onlyB.join(', ')}`);
    }
  }
  return problems;
}

function nativeSources(): string[] {
  return readdirSync(NATIVE_SRC).filter((f) => f.endsWith('.cc')).sort().map((f) => readFileSync(join(NATIVE_SRC, f), 'utf8'));
}

const LABELS = {
  defined: 'the C++ op definitions (native/src/*.cc)',
  registered: 'the REG list (native/src/*.cc)',
  declared: 'the NativeAddon interface (src/torch/native.ts)',
};

test('the C++ op definitions, the REG list and the NativeAddon interface name the same ops', () => {
  const sources = nativeSources();
  const defined = definedOps(sources);
  const registered = registeredOps(sources);
  const declared = interfaceOps(readFileSync(join(ROOT, 'src/torch/native.ts'), 'utf8'));
  // the parsers see every kind of definition: plain OP, BINARY's two forms, UNARY, INPLACE
  for (const op of ['dispose', 'add', 'mul', 'mulScalar', 'neg', 'add_', 'mulScalar_', 'setRngState']) {
    assert.ok(defined.includes(op), `definition of ${op} found`);
    assert.ok(registered.includes(op), `REG(${op}) found`);
    assert.ok(declared.includes(op), `NativeAddon.${op} found`);
  }
  assert.ok(defined.length > 100, `${defined.length} ops defined`);
  const problems = opListProblems({ [LABELS.defined]: defined, [LABELS.registered]: registered, [LABELS.declared]: declared });
  assert.deepEqual(problems, [], `the native op lists disagree:\n  ${problems.join('\n  ')}`);
});

test('the built addon exports exactly the registered ops', () => {
  const exported = Object.keys(N).filter((k) => typeof (N as unknown as Record<string, unknown>)[k] === 'function');
  const problems = opListProblems({ [LABELS.registered]: registeredOps(nativeSources()), 'the built addon (npm run build:native)': exported });
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('a disagreement is reported with the ops each list misses, and duplicates', () => {
  const cc = `
    #define OP(name) Napi::Value op_##name(const Args& a)
    #define BINARY(name, fn) \\
      OP(name) { RET(fn(a.T(0), a.T(1))); } \\
      OP(name##Scalar) { RET(fn(a.T(0), a.scalar(1))); }
    #define TWICE(name) BINARY(name, at::name)
    OP(dispose) { return f("OP(notAnOp)", ')'); }
    // OP(commentedOut) { }
    /* OP(alsoCommentedOut) { } */
    BINARY(mul, at::mul)
    TWICE(div)
    OP(onlyDefined) { }
    Napi::Object Init(Napi::Env env, Napi::Object exports) {
    #define REG(name) exports.Set(#name, Napi::Function::New(env, guard<op_##name>, #name))
      REG(dispose); REG(mul); REG(mulScalar); REG(div); REG(divScalar); REG(onlyRegistered); REG(mul);
    }`;
  const defined = definedOps([cc]);
  assert.deepEqual([...defined].sort(), ['dispose', 'div', 'divScalar', 'mul', 'mulScalar', 'onlyDefined']);
  const registered = registeredOps([cc]);
  assert.deepEqual(registered, ['dispose', 'mul', 'mulScalar', 'div', 'divScalar', 'onlyRegistered', 'mul']);
  const declared = interfaceOps(`
    export interface NativeAddon {
      dispose(h: number): boolean;
      mul(a: number, b: number): number;
      mulScalar(a: number, s: number): number;
      div(a: number, b: number): number;
      memory(): { tensors: number; bytes: number };
    }`);
  assert.deepEqual(declared, ['dispose', 'mul', 'mulScalar', 'div', 'memory']);
  assert.deepEqual(opListProblems({ cc: defined, reg: registered, ts: declared }), [
    'reg lists more than once: mul',
    'in cc but not in reg: onlyDefined',
    'in reg but not in cc: onlyRegistered',
    'in cc but not in ts: divScalar, onlyDefined',
    'in ts but not in cc: memory',
    'in reg but not in ts: divScalar, onlyRegistered',
    'in ts but not in reg: memory',
  ]);
});
