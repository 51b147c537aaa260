// The build's second step: tsc compiles TypeScript only; the store's SQL files ship beside the compiled
// modules that read them (src/store/sql -> dist/src/store/sql).
import { cpSync } from 'node:fs';

cpSync(new URL('../src/store/sql', import.meta.url), new URL('../dist/src/store/sql', import.meta.url), { recursive: true });
