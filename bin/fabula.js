#!/usr/bin/env node
// The installed CLI runs the compiled files (npm run build, done by npm install through "prepare").
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('fabula: the compiled files are missing; run `npm run build` (or `npm install`) first');
  process.exit(1);
}
await import(main.href);
