// Tests of chunk-ids.mjs: run with `node --test` in tests/js (after `scripts/install-tools npm`).
// 1. On small files written here, it must report exactly the ids whose snippet ran, under the right filenames.
// 2. On posthog-cli 0.19.0's golden outputs (fixtures/*/expected-posthog-cli), the real SDK must read back every
//    chunk's id for its filename; the hashbang fixture, which posthog-cli breaks, must fail to load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '..', '..', 'fixtures');
const script = join(here, 'chunk-ids.mjs');

if (!existsSync(join(here, 'node_modules', '@posthog', 'core', 'package.json'))) {
  throw new Error('tests/js/node_modules/@posthog/core is missing: run scripts/install-tools npm');
}

// posthog-cli 0.19.0's chunk-id-only snippet (spec 5.1), byte for byte.
const snippet = (id) =>
  '!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{},n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]=' +
  JSON.stringify(id) +
  ')}catch(e){}}();';

function run(args) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
  let map;
  try {
    map = JSON.parse(r.stdout);
  } catch {
    map = undefined;
  }
  return { status: r.status, map, stdout: r.stdout, stderr: r.stderr };
}

function walkJs(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walkJs(p));
    else if (/\.(m|c)?js$/.test(entry.name)) out.push(p);
  }
  return out.sort();
}

test('reports the ids of injected files under their absolute filenames, and nothing else', () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'chunk-ids-test-')));
  try {
    const files = {
      'classic.js': `${snippet('11111111-1111-4111-8111-111111111111')}var x=1;console.log("app output");\n//# chunkId=11111111-1111-4111-8111-111111111111`,
      'module.mjs': `${snippet('22222222-2222-4222-8222-222222222222')}import{a}from"./dep.mjs";export const b=a+1;\n//# chunkId=22222222-2222-4222-8222-222222222222`,
      'dep.mjs': `${snippet('33333333-3333-4333-8333-333333333333')}export const a=1;document.getElementById("x").foo();\n//# chunkId=33333333-3333-4333-8333-333333333333`,
      'esm-in.js': `${snippet('44444444-4444-4444-8444-444444444444')}export default 4;\n//# chunkId=44444444-4444-4444-8444-444444444444`,
      'hashbang-ok.js': `#!/usr/bin/env node\n${snippet('55555555-5555-4555-8555-555555555555')}process.exitCode=0;\n//# chunkId=55555555-5555-4555-8555-555555555555`,
      'throws.js': `${snippet('66666666-6666-4666-8666-666666666666')}throw new Error("app failed after the snippet");\n//# chunkId=66666666-6666-4666-8666-666666666666`,
    };
    for (const [name, code] of Object.entries(files)) writeFileSync(join(dir, name), code);
    const r = run(['--check', ...Object.keys(files).map((n) => join(dir, n))]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.map, {
      [join(dir, 'classic.js')]: '11111111-1111-4111-8111-111111111111',
      [join(dir, 'dep.mjs')]: '33333333-3333-4333-8333-333333333333',
      [join(dir, 'module.mjs')]: '22222222-2222-4222-8222-222222222222',
      [join(dir, 'esm-in.js')]: '44444444-4444-4444-8444-444444444444',
      [join(dir, 'hashbang-ok.js')]: '55555555-5555-4555-8555-555555555555',
      [join(dir, 'throws.js')]: '66666666-6666-4666-8666-666666666666',
    });
    assert.match(r.stderr, /app output/, 'app output goes to stderr');
    assert.doesNotMatch(r.stdout, /app output/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fails on a file without snippet, a snippet before the hashbang, and a wrong //# chunkId=', () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'chunk-ids-test-')));
  try {
    writeFileSync(join(dir, 'plain.js'), 'var y=2;\n');
    writeFileSync(join(dir, 'broken.js'), `${snippet('77777777-7777-4777-8777-777777777777')}#!/usr/bin/env node\nvar z=3;`);
    writeFileSync(join(dir, 'lying.js'), `${snippet('88888888-8888-4888-8888-888888888888')}var w=4;\n//# chunkId=99999999-9999-4999-8999-999999999999`);
    for (const name of ['plain.js', 'broken.js']) {
      const r = run([join(dir, name)]);
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.deepEqual(r.map, {});
      assert.match(r.stderr, new RegExp(`MISSING .*${name}`));
    }
    assert.match(run([join(dir, 'broken.js')]).stderr, /SyntaxError/);
    const lying = run(['--check', join(dir, 'lying.js')]);
    assert.equal(lying.status, 1);
    assert.match(lying.stderr, /WRONG .*lying\.js/);
    assert.equal(run([join(dir, 'lying.js')]).status, 0, 'without --check the comment is not compared');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// posthog-cli 0.19.0's golden outputs: what the real SDK reads from them.
const golden = existsSync(fixtures)
  ? readdirSync(fixtures).filter((name) => existsSync(join(fixtures, name, 'expected-posthog-cli')))
  : [];
// Where posthog-cli itself yields no usable id: documented in each fixture's README.
const noIdByDesign = {
  'esbuild-node-hashbang': /SyntaxError/, // its snippet lands before `#!`, so node refuses the file
  'esbuild-inline': /MISSING/, // it reads no `data:` map, finds no pair and leaves the file alone
};

test('golden outputs exist', () => {
  assert.ok(golden.length >= 6, `expected fixtures/*/expected-posthog-cli, found ${golden.join(', ') || 'none'}`);
});

for (const name of golden) {
  const title = name in noIdByDesign
    ? `posthog-cli golden output of ${name}: the SDK gets no id, as its README documents`
    : `posthog-cli golden output of ${name}: the SDK reads back every chunk id for its filename`;
  test(title, () => {
    const dir = realpathSync(join(fixtures, name, 'expected-posthog-cli'));
    const files = walkJs(dir);
    assert.ok(files.length > 0, `${dir} has no JS`);
    const r = run(['--check', ...files]);
    if (name in noIdByDesign) {
      assert.equal(r.status, 1, r.stderr);
      assert.deepEqual(r.map, {});
      assert.match(r.stderr, noIdByDesign[name]);
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(Object.keys(r.map).sort(), files, 'exactly the fixture files, under their absolute paths');
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      assert.ok(text.endsWith(`\n//# chunkId=${r.map[file]}`), `${file}: id ${r.map[file]} is its trailing comment`);
    }
  });
}
