#!/usr/bin/env node
'use strict';
// PostHog's bundler plugins find `posthog-cli` in node_modules/.bin: this runs symship under that name.
require('../lib/launch.js').run('posthog-cli');
