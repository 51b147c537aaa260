import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['test/support/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only make the concurrency tests slower, not the suite faster.
    maxWorkers: 2,
    // The servers and CLIs the tests start encrypt personal data (the bank's owner) under this key: on a
    // PostgreSQL server they refuse to start without one (docs/personal-data.md). A test key, nothing else.
    env: { FABULA_MASTER_KEY: 'XoCa0A2bgyH60C5L3Gdk492qF9MifsxreH191tdXOPI=' },
  },
});
