/**
 * The import graph of `src/` (static, dynamic and type-only imports, as madge resolves them): no
 * cycles, nothing from `examples/`, and dependencies pointing inward (docs/architecture.md).
 */
import path from 'node:path';
import madge from 'madge';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** Cycles known and being removed; each entry says by what. Paths are relative to `src/`. None now. */
const allowedCycles: Array<(cycle: string[]) => boolean> = [];

/**
 * Which parts of `src/` a part may import, besides itself: inner layers only. A top-level folder or
 * file of `src/` is a part; `processing` is listed ahead of its arrival.
 */
const mayImport: Record<string, readonly string[]> = {
  core: [],
  store: ['core'],
  processing: ['core', 'store'],
  projections: ['core', 'store', 'processing'],
  write: ['core', 'store'],
  processes: ['core', 'store', 'processing', 'write'],
  queries: ['core'],
  integration: ['core', 'store', 'processing', 'write'],
  'app-definition.ts': ['core', 'store', 'projections', 'processes', 'write', 'queries', 'integration'],
  server: ['core', 'store', 'processing', 'projections', 'processes', 'write', 'queries', 'integration', 'app-definition.ts'],
  cli: [
    'core',
    'store',
    'processing',
    'projections',
    'processes',
    'write',
    'queries',
    'integration',
    'app-definition.ts',
    'server',
  ],
  testing: ['core', 'store', 'write', 'queries', 'projections', 'processes', 'app-definition.ts'],
  'index.ts': ['core', 'store', 'processing', 'projections', 'processes', 'write', 'queries', 'integration', 'app-definition.ts'],
};

const partOf = (file: string) => file.split('/')[0]!;

describe('imports under src/', () => {
  let graph: Record<string, string[]>;
  let cycles: string[][];
  let skipped: string[];

  beforeAll(async () => {
    const result = await madge(path.join(root, 'src'), {
      fileExtensions: ['ts'],
      tsConfig: path.join(root, 'tsconfig.json'),
      // Type-only and dynamic imports count: a type-only cycle is still a cycle to read through.
      detectiveOptions: { ts: { skipTypeImports: false, skipAsyncImports: false } },
    });
    // Only the files of src/ (the graph also follows imports out of it, which the tests below report).
    graph = Object.fromEntries(Object.entries(result.obj()).filter(([file]) => !file.startsWith('../')));
    cycles = result.circular();
    skipped = result.warnings().skipped;
  });

  it('resolves every import of a file of the project (an unresolved one would hide its edges)', () => {
    expect(Object.keys(graph).length).toBeGreaterThan(50);
    // Packages are not part of the graph; madge reports those it cannot resolve (exports maps) as skipped.
    expect(skipped.filter((specifier) => specifier.startsWith('.'))).toEqual([]);
  });

  it('has no import cycles', () => {
    const unexpected = cycles.filter((cycle) => !allowedCycles.some((allowed) => allowed(cycle)));
    expect(unexpected.map((cycle) => [...cycle, cycle[0]].join(' -> '))).toEqual([]);
  });

  it('never imports examples/ (the reference app is passed like any application: --app or FABULA_APP)', () => {
    const offending = Object.entries(graph).flatMap(([file, deps]) =>
      deps.filter((dep) => dep.startsWith('../')).map((dep) => `${file} -> ${dep}`),
    );
    expect(offending).toEqual([]);
  });

  it('points dependencies inward: each part imports only the layers beneath it', () => {
    const offending = Object.entries(graph).flatMap(([file, deps]) => {
      const allowed = mayImport[partOf(file)];
      if (!allowed) return [`${file}: ${partOf(file)} is not a known part of src/; add it to mayImport and docs/architecture.md`];
      return deps
        .filter((dep) => partOf(dep) !== partOf(file) && !allowed.includes(partOf(dep)))
        .map((dep) => `${file} -> ${dep}`);
    });
    expect(offending).toEqual([]);
  });
});
