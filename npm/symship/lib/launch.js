'use strict';
// Runs the native symship binary that the platform package (@symship/<os>-<cpu>, an optional
// dependency) carries, under the name it was called by: `posthog-cli` makes the binary behave as
// posthog-cli 0.19.0 (its personality is chosen by argv[0]), `symship` as itself. Arguments,
// stdin/stdout/stderr and the environment pass through; the exit code (or signal) comes back.
const { spawnSync } = require('child_process');
const path = require('path');

const PLATFORMS = {
  'linux x64': '@symship/linux-x64',
  'linux arm64': '@symship/linux-arm64',
  'darwin x64': '@symship/darwin-x64',
  'darwin arm64': '@symship/darwin-arm64',
  'win32 x64': '@symship/win32-x64',
};

function binaryPath() {
  // SYMSHIP_BINARY_PATH: a binary of your own (a source build, an unsupported platform).
  if (process.env.SYMSHIP_BINARY_PATH) return process.env.SYMSHIP_BINARY_PATH;
  const key = `${process.platform} ${process.arch}`;
  const pkg = PLATFORMS[key];
  if (!pkg) {
    throw new Error(
      `symship has no prebuilt binary for ${key}. Build it with \`cargo install symship-cli\` ` +
        'and set SYMSHIP_BINARY_PATH, or point the plugin\'s cliBinaryPath at it.'
    );
  }
  const exe = process.platform === 'win32' ? 'symship.exe' : 'symship';
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', exe);
  } catch (e) {
    throw new Error(
      `symship: the package ${pkg} that carries the binary for ${key} is not installed. ` +
        'It is an optional dependency of symship: reinstall without --no-optional / --omit=optional ' +
        '(and, with a lockfile made on another platform, let npm add it).'
    );
  }
}

function run(name) {
  let bin;
  try {
    bin = binaryPath();
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(2);
  }
  // argv0: the binary sees `name` as its program name (Node passes it as argv[0]).
  const r = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit', argv0: name, windowsHide: true });
  if (r.error) {
    process.stderr.write(`error: could not run ${bin}: ${r.error.message}\n`);
    process.exit(2);
  }
  if (r.signal) {
    process.kill(process.pid, r.signal);
    return;
  }
  process.exit(r.status === null ? 1 : r.status);
}

module.exports = { run, binaryPath, PLATFORMS };
