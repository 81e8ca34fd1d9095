#!/usr/bin/env node
// Runs ../extension.js outside VS Code, against stub `vscode` and
// `vscode-languageclient/node` modules, to check that it starts `policyc lsp`
// over stdio when it can and degrades to highlighting only when it cannot.
//
//   node extension_smoke.js POLICYC_OK POLICYC_NO_LSP
// (two executables: one whose `lsp --help` exits 0, one whose exits 2).
'use strict';

const assert = require('assert');
const Module = require('module');
const path = require('path');

const [okCommand, noLspCommand] = process.argv.slice(2);
const events = [];
let settings = {};
let clientAvailable = true;

const vscodeStub = {
  window: {
    createOutputChannel: () => ({ appendLine: (m) => events.push(['log', m]) }),
    showInformationMessage: (m) => events.push(['info', m]),
  },
  workspace: {
    getConfiguration: () => ({ get: (key, dflt) => (key in settings ? settings[key] : dflt) }),
    createFileSystemWatcher: (glob) => ({ glob }),
    onDidChangeConfiguration: () => ({ dispose() {} }),
  },
  commands: { registerCommand: (name) => ({ name, dispose() {} }) },
};

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    events.push(['client', serverOptions.run.command, serverOptions.run.args, serverOptions.run.transport,
      clientOptions.documentSelector[0].language]);
  }
  start() { events.push(['start']); return Promise.resolve(); }
  stop() { events.push(['stop']); return Promise.resolve(); }
}
const clientStub = { LanguageClient, TransportKind: { stdio: 0 } };

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === 'vscode') return vscodeStub;
  if (request === 'vscode-languageclient/node') {
    if (!clientAvailable) {
      const err = new Error("Cannot find module 'vscode-languageclient/node'");
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    }
    return clientStub;
  }
  return originalLoad.call(this, request, parent, isMain);
};

const extension = require(path.join(__dirname, '..', 'extension.js'));

async function run(name, setup, check) {
  events.length = 0;
  setup();
  const context = { subscriptions: [] };
  await extension.activate(context);
  await extension.deactivate();
  try {
    check(events, context);
  } catch (err) {
    console.error(`${name}: ${err.message}\nevents: ${JSON.stringify(events)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

(async () => {
  await run('starts policyc lsp over stdio', () => { settings = { path: okCommand }; clientAvailable = true; },
    (ev, context) => {
      assert.deepStrictEqual(ev.find((e) => e[0] === 'client'), ['client', okCommand, ['lsp'], 0, 'pol']);
      assert.ok(ev.some((e) => e[0] === 'start'));
      assert.ok(ev.some((e) => e[0] === 'stop'));
      assert.strictEqual(context.subscriptions.length, 2);
    });
  await run('missing policyc: highlighting only', () => { settings = { path: '/nonexistent/policyc' }; },
    (ev) => {
      assert.ok(!ev.some((e) => e[0] === 'client'));
      assert.ok(ev.some((e) => e[0] === 'info' && e[1].includes('cannot run')));
    });
  await run('policyc without lsp: highlighting only', () => { settings = { path: noLspCommand }; },
    (ev) => {
      assert.ok(!ev.some((e) => e[0] === 'client'));
      assert.ok(ev.some((e) => e[0] === 'info' && e[1].includes('is not available')));
    });
  await run('no vscode-languageclient: highlighting only', () => {
    settings = { path: okCommand }; clientAvailable = false;
  }, (ev) => {
    assert.ok(!ev.some((e) => e[0] === 'client'));
    assert.ok(ev.some((e) => e[0] === 'log' && e[1].includes('vscode-languageclient is not installed')));
  });
  await run('disabled by setting', () => { settings = { path: okCommand, 'lsp.enable': false }; clientAvailable = true; },
    (ev) => assert.deepStrictEqual(ev, []));
})();
