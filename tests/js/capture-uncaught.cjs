// Usage: SYMSHIP_CAPTURE_HOST=http://127.0.0.1:PORT SYMSHIP_CAPTURE_TOKEN=phc_... \
//          node --require tests/js/capture-uncaught.cjs <app.js> [args...]
//
// Preloaded into a node app, this reports the app's uncaught exception to PostHog the way an SDK
// built on the real @posthog/core 1.67.3 does, then exits 1: a client extending `PostHogCore`
// (the class posthog-node and posthog-react-native extend) calls `captureException(error)`, which
// builds `$exception_list` with `ErrorPropertiesBuilder` and the default stack parser, tags each
// frame with the chunk id the injected snippet registered (`getFilenameToChunkIdMap`), and sends
// the batch to `{host}/batch/` with its own fetch call, gzip-compressed (Content-Encoding: gzip)
// unless SYMSHIP_CAPTURE_COMPRESSION=none. Nothing of the harness is on the stack of the error:
// it is thrown by the app and caught by node's `uncaughtException` event.
//
// The client's own platform hooks are the only code here: fetch (node's), an in-memory store,
// library name and version. Exit status: 1 after the event was accepted (the app failed, as it
// would without the harness), 3 if the capture request failed (the reason on stderr).
'use strict';

const { PostHogCore } = require('@posthog/core');

const host = process.env.SYMSHIP_CAPTURE_HOST;
const token = process.env.SYMSHIP_CAPTURE_TOKEN;
if (!host || !token) {
  console.error('capture-uncaught: set SYMSHIP_CAPTURE_HOST and SYMSHIP_CAPTURE_TOKEN');
  process.exit(2);
}

class HarnessClient extends PostHogCore {
  constructor() {
    super(token, {
      host,
      flushAt: 1,
      flushInterval: 0,
      preloadFeatureFlags: false,
      disableRemoteConfig: true,
      disableCompression: process.env.SYMSHIP_CAPTURE_COMPRESSION === 'none',
      fetchRetryCount: 0,
    });
    this.store = {};
    this.failures = [];
    this.on('error', (e) => this.failures.push(e));
  }
  fetch(url, options) {
    return fetch(url, options);
  }
  getLibraryId() {
    return 'symship-tests-js';
  }
  getLibraryVersion() {
    return '0.0.0';
  }
  getCustomUserAgent() {
    return 'symship-tests-js';
  }
  getPersistedProperty(key) {
    return this.store[key];
  }
  setPersistedProperty(key, value) {
    this.store[key] = value == null ? undefined : value;
  }
}

const client = new HarnessClient();
process.on('uncaughtException', async (error) => {
  client.captureException(error);
  try {
    await client.flush();
  } catch (e) {
    console.error(`capture-uncaught: the capture request failed: ${e && e.stack ? e.stack : e}`);
    process.exit(3);
  }
  if (client.failures.length > 0) {
    console.error(`capture-uncaught: ${client.failures.map(String).join('; ')}`);
    process.exit(3);
  }
  console.error(`capture-uncaught: reported ${error && error.name}: ${error && error.message}`);
  process.exit(1);
});
