// policyc for VS Code: highlighting comes from package.json (the TextMate grammar);
// this file only starts the language server, `policyc lsp`, over stdio.
//
// It degrades gracefully: when `vscode-languageclient` is not installed next to
// this file, when `policyc` is not found, or when the installed policyc has no
// `lsp` command yet, the extension says so once and keeps highlighting.
'use strict';

const childProcess = require('child_process');
const vscode = require('vscode');

let client = null;
let output = null;

function log(message) {
  if (!output) output = vscode.window.createOutputChannel('policyc');
  output.appendLine(message);
}

// Whether `<command> lsp --help` runs: policyc is installed and has the server.
function hasLsp(command) {
  const probe = childProcess.spawnSync(command, ['lsp', '--help'], {
    encoding: 'utf8',
    timeout: 10000,
    shell: false,
  });
  if (probe.error) {
    return { ok: false, why: `cannot run \`${command}\`: ${probe.error.message}` };
  }
  if (probe.status !== 0) {
    return { ok: false, why: `\`${command} lsp\` is not available in this policyc (exit ${probe.status})` };
  }
  return { ok: true };
}

async function start(context) {
  const config = vscode.workspace.getConfiguration('policyc');
  if (!config.get('lsp.enable', true)) return;
  const command = config.get('path', 'policyc') || 'policyc';

  let lc;
  try {
    lc = require('vscode-languageclient/node');
  } catch (err) {
    log('vscode-languageclient is not installed (run `npm install` in the extension folder): highlighting only');
    return;
  }
  const probe = hasLsp(command);
  if (!probe.ok) {
    log(`${probe.why}: highlighting only`);
    vscode.window.showInformationMessage(
      `policyc: ${probe.why}. .pol files are highlighted; set \`policyc.path\` or install a policyc with \`policyc lsp\` for diagnostics.`);
    return;
  }
  const serverOptions = {
    run: { command, args: ['lsp'], transport: lc.TransportKind.stdio },
    debug: { command, args: ['lsp'], transport: lc.TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'pol' }, { scheme: 'untitled', language: 'pol' }],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/{*.pol,pyproject.toml,policyc.toml}'),
    },
    outputChannelName: 'policyc language server',
  };
  client = new lc.LanguageClient('policyc', 'policyc language server', serverOptions, clientOptions);
  try {
    await client.start();
    log(`started \`${command} lsp\``);
  } catch (err) {
    log(`\`${command} lsp\` failed to start: ${err && err.message ? err.message : err}`);
    client = null;
  }
}

async function stop() {
  if (!client) return;
  const running = client;
  client = null;
  try {
    await running.stop();
  } catch (err) {
    log(`stopping the language server: ${err && err.message ? err.message : err}`);
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('policyc.restartServer', async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('policyc')) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
