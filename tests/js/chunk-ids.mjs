#!/usr/bin/env node
// Usage: node chunk-ids.mjs [--parser node|web] [--check] <file.js|file.mjs|file.cjs>...
//
// Executes each (already injected) file in this node process under its real absolute filename, the way node
// itself loads it (`import()` of its file URL: ES modules as modules, everything else as CommonJS scripts,
// hashbang lines handled by node), then asks the real @posthog/core 1.67.3 for its filename -> chunk id map
// (`getFilenameToChunkIdMap`, the function posthog-js and posthog-node use to tag stack frames) and prints it
// as JSON on stdout: {"<filename>": "<chunk id>", ...}.
//
// The stack parser is the one posthog-node builds (`createStackParser('node:javascript', nodeStackLineParser)`);
// `--parser web` uses posthog-js's default browser parser (`createDefaultStackParser()`, chrome + gecko) instead,
// which keeps `file://` URLs as they appear in the stack.
//
// Browser bundles expect a DOM: `window` and `self` are set to globalThis (as in a browser, so the snippet writes
// to globalThis._posthogChunkIds) and `document` is a permissive stub. Whatever the app code throws after loading,
// and whatever it prints, goes to stderr; stdout carries only the JSON.
//
// With --check, each file's id in the map must also equal the id on the file's last line starting with
// `//# chunkId=` (the comment the injector appended), so a test needs no second source of truth.
//
// Exit status: 0 when every file named on the command line has a chunk id in the map (and, with --check, the id
// of its `//# chunkId=` comment), 1 otherwise (the missing or wrong files and the load errors are named on
// stderr), 2 on bad usage.
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Node 20 treats a `.js` file that uses import/export outside a `"type": "module"` package as CommonJS, and
// fails on it. `--experimental-detect-module` (default from node 22.7) makes node load such a file as an ES
// module, as a browser loading `<script type="module">` would.
const [major, minor] = process.versions.node.split('.').map(Number);
const detectIsDefault = major > 22 || (major === 22 && minor >= 7);
if (!detectIsDefault && !process.execArgv.includes('--experimental-detect-module')) {
  const child = spawnSync(
    process.execPath,
    ['--experimental-detect-module', '--no-warnings', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(child.status ?? 1);
}

const here = dirname(fileURLToPath(import.meta.url));
const usage = 'usage: node chunk-ids.mjs [--parser node|web] [--check] <file.js>...';

let parserKind = 'node';
let check = false;
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--parser') {
    parserKind = args[++i];
    if (parserKind !== 'node' && parserKind !== 'web') {
      console.error(`${usage}\n--parser must be node or web`);
      process.exit(2);
    }
  } else if (args[i] === '--check') {
    check = true;
  } else if (args[i] === '-h' || args[i] === '--help') {
    console.log(usage);
    process.exit(0);
  } else {
    files.push(args[i]);
  }
}
if (files.length === 0) {
  console.error(usage);
  process.exit(2);
}

// @posthog/core, as installed by `scripts/install-tools npm` (tests/js/node_modules -> the tools cache).
// `getFilenameToChunkIdMap` lives in dist/error-tracking/chunk-ids; the package's `exports` map does not list
// that file (error-properties-builder imports it internally), so it is loaded by path.
const corePkgDir = join(here, 'node_modules', '@posthog', 'core');
let ErrorTracking;
let getFilenameToChunkIdMap;
try {
  ({ ErrorTracking } = await import('@posthog/core'));
  ({ getFilenameToChunkIdMap } = await import(pathToFileURL(join(corePkgDir, 'dist', 'error-tracking', 'chunk-ids.mjs')).href));
} catch (err) {
  console.error(`chunk-ids: cannot load @posthog/core from ${corePkgDir}: ${err.message}`);
  console.error('chunk-ids: run scripts/install-tools npm (it installs tests/js/package-lock.json)');
  process.exit(2);
}
const { version: coreVersion } = JSON.parse(readFileSync(join(corePkgDir, 'package.json'), 'utf8'));
if (coreVersion !== '1.67.3') {
  console.error(`chunk-ids: expected @posthog/core 1.67.3, found ${coreVersion}; run scripts/install-tools npm`);
  process.exit(2);
}
const stackParser =
  parserKind === 'node'
    ? ErrorTracking.createStackParser('node:javascript', ErrorTracking.nodeStackLineParser)
    : ErrorTracking.createDefaultStackParser();

// --- a minimal browser-ish global environment -------------------------------------------------------------
function stub(name, fixed = {}) {
  return new Proxy(function () {}, {
    get(_target, prop) {
      if (Object.prototype.hasOwnProperty.call(fixed, prop)) return fixed[prop];
      if (prop === Symbol.toPrimitive) return () => '';
      if (typeof prop === 'symbol' || prop === 'then') return undefined;
      return stub(`${name}.${prop}`);
    },
    set: () => true,
    apply: () => stub(`${name}()`),
    construct: () => stub(`new ${name}`),
  });
}
const documentFixed = { nodeType: 9 };
const documentStub = stub('document', documentFixed);
const element = () => stub('element', { nodeType: 1, ownerDocument: documentStub });
Object.assign(documentFixed, { getElementById: element, querySelector: element, createElement: element });
globalThis.document = documentStub;
globalThis.window = globalThis;
globalThis.self = globalThis;

// --- run the files ----------------------------------------------------------------------------------------
const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, encoding, cb) => process.stderr.write(chunk, encoding, cb);
console.log = console.info = console.debug = console.error;
const realExit = process.exit;
process.exit = (code) => {
  throw new Error(`app code called process.exit(${code ?? ''})`);
};
let current = '(after loading)';
process.on('uncaughtException', (err) => console.error(`chunk-ids: note: ${current}: uncaught after load: ${err?.message ?? err}`));
process.on('unhandledRejection', (err) => console.error(`chunk-ids: note: ${current}: unhandled rejection: ${err?.message ?? err}`));

const targets = [];
for (const file of files) {
  let path;
  try {
    path = realpathSync(resolve(file));
  } catch (err) {
    console.error(`chunk-ids: ${file}: ${err.message}`);
    targets.push({ file, path: resolve(file), loadError: err.message });
    continue;
  }
  const target = { file, path };
  targets.push(target);
  current = file;
  const savedArgv = process.argv;
  process.argv = [process.execPath, path]; // as `node <file>` would see it
  try {
    await import(pathToFileURL(path).href);
  } catch (err) {
    // An exception from app code after the snippet ran is expected (no real DOM); a SyntaxError means the file
    // never ran at all. Either way the map below is the judge.
    target.loadError = `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
  } finally {
    process.argv = savedArgv;
  }
}
current = '(after loading)';

// The id on the last line that starts with `//# chunkId=` (how posthog-cli reads it back, spec 5.4).
function commentChunkId(path) {
  const prefix = '//# chunkId=';
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i].startsWith(prefix)) return lines[i].slice(prefix.length).trim();
  }
  return undefined;
}

const map = getFilenameToChunkIdMap(stackParser) ?? {};
let missing = 0;
for (const t of targets) {
  const id = map[t.path] ?? map[pathToFileURL(t.path).href];
  if (id === undefined) {
    missing++;
    console.error(`chunk-ids: MISSING ${t.file}: no chunk id for ${t.path}${t.loadError ? ` (load error: ${t.loadError})` : ''}`);
  } else {
    if (t.loadError) {
      console.error(`chunk-ids: note: ${t.file}: threw after its snippet ran: ${t.loadError}`);
    }
    if (check) {
      const expected = commentChunkId(t.path);
      if (expected !== id) {
        missing++;
        console.error(`chunk-ids: WRONG ${t.file}: the SDK reads ${id}, its //# chunkId= comment says ${expected ?? '(none)'}`);
      }
    }
  }
}
process.exitCode = missing === 0 ? 0 : 1;
realStdoutWrite(`${JSON.stringify(map, null, 2)}\n`, () => realExit(missing === 0 ? 0 : 1));
