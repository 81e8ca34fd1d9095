#!/usr/bin/env node
// Tokenizes .pol files with VS Code's own TextMate engine (vscode-textmate +
// vscode-oniguruma) and checks the scopes.
//
//   node tokenize.js SPEC.json
//
// SPEC.json (written by tests/editors/test_textmate_grammar.py from the real lark lexer):
//   { "grammar": "<path of pol.tmLanguage.json>",
//     "files": [ { "path": "<file to read>", "display": "<name in messages>",
//                  "tokens_out": "<where to write the token stream>" | null,
//                  "expect": [[line, start, end, "<scope regex>", "<what>"], ...] } ] }
// `line` is 1-based, `start`/`end` are UTF-16 offsets in the line (end exclusive).
// Every TextMate token overlapping [start, end) must carry a scope matching the
// regex. Whatever the spec says, a token holding a letter or a digit must have a
// scope of its own (not only `source.pol`). Exit 0 when all holds, 1 otherwise.
// The token streams written to `tokens_out` are compared with their golden files by
// the Python side (tests/helpers/golden.py: a missing golden fails).
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const ROOT_SCOPE = 'source.pol';

async function loadRegistry(grammarPath) {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== ROOT_SCOPE) return null;
      const text = fs.readFileSync(grammarPath, 'utf8');
      return vsctm.parseRawGrammar(text, grammarPath);
    },
  });
  const grammar = await registry.loadGrammar(ROOT_SCOPE);
  if (!grammar) throw new Error(`cannot load ${grammarPath}`);
  return grammar;
}

function tokenizeText(grammar, text) {
  const lines = text.split(/\r?\n/);
  let stack = vsctm.INITIAL;
  const out = [];
  lines.forEach((line, i) => {
    const result = grammar.tokenizeLine(line, stack);
    stack = result.ruleStack;
    const tokens = result.tokens.map((t) => ({
      start: t.startIndex,
      end: Math.min(t.endIndex, line.length),
      text: line.slice(t.startIndex, t.endIndex),
      scopes: t.scopes,
    }));
    out.push({ line: i + 1, source: line, tokens });
  });
  return out;
}

function goldenText(display, lines) {
  const rows = [`# TextMate tokens of ${display}: line:column "text" scopes (without source.pol)`];
  for (const { line, tokens } of lines) {
    for (const t of tokens) {
      const scopes = t.scopes.filter((s) => s !== ROOT_SCOPE);
      if (scopes.length === 0 && /^\s*$/.test(t.text)) continue;
      rows.push(`${line}:${t.start} ${JSON.stringify(t.text)} ${scopes.join(' ')}`);
    }
  }
  return rows.join('\n') + '\n';
}

function checkFile(file, lines, failures) {
  let checked = 0;
  const fail = (lineNo, col, message) => {
    const source = lines[lineNo - 1] ? lines[lineNo - 1].source : '';
    failures.push(`${file.display}:${lineNo}:${col + 1}: ${message}\n  | ${source}\n  | ${' '.repeat(col)}^`);
  };
  for (const { line, tokens } of lines) {
    for (const t of tokens) {
      if (/[A-Za-z0-9]/.test(t.text) && t.scopes.every((s) => s === ROOT_SCOPE)) {
        fail(line, t.start, `${JSON.stringify(t.text)} has only the top-level scope`);
      }
    }
  }
  for (const [lineNo, start, end, pattern, what] of file.expect || []) {
    const entry = lines[lineNo - 1];
    if (!entry) {
      fail(lineNo, 0, `no line ${lineNo} for ${what}`);
      continue;
    }
    const re = new RegExp(pattern);
    const overlapping = entry.tokens.filter((t) => t.start < end && t.end > start);
    if (overlapping.length === 0) fail(lineNo, start, `no token for ${what}`);
    for (const t of overlapping) {
      checked += 1;
      if (!t.scopes.some((s) => re.test(s))) {
        fail(lineNo, Math.max(start, t.start),
          `${what}: token ${JSON.stringify(t.text)} is scoped [${t.scopes.join(', ')}], ` +
          `expected a scope matching /${pattern}/`);
      }
    }
  }
  return checked;
}

async function main() {
  const args = process.argv.slice(2);
  const specPath = args.find((a) => !a.startsWith('--'));
  if (!specPath) {
    console.error('usage: node tokenize.js SPEC.json');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const grammar = await loadRegistry(spec.grammar);
  const failures = [];
  let nTokens = 0;
  let nChecked = 0;
  for (const file of spec.files) {
    const text = fs.readFileSync(file.path, 'utf8');
    const lines = tokenizeText(grammar, text);
    nTokens += lines.reduce((n, l) => n + l.tokens.length, 0);
    nChecked += checkFile(file, lines, failures);
    if (file.tokens_out) {
      fs.mkdirSync(path.dirname(file.tokens_out), { recursive: true });
      fs.writeFileSync(file.tokens_out, goldenText(file.display, lines));
    }
  }
  if (failures.length) {
    console.error(failures.join('\n'));
    console.error(`${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log(`${spec.files.length} files, ${nTokens} tokens, ${nChecked} expected scopes checked: ok`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(2);
});
