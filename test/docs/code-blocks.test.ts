/**
 * Every TypeScript code block (```ts, ```typescript) of README.md and docs/*.md, and of the TSDoc
 * comments under src/ (`@example` blocks), is type-checked against the sources, so the documentation
 * cannot drift from the API.
 *
 * Each block becomes a module of its own (top-level await allowed) in which `fabula` and
 * `fabula/testing` are the package's sources and `examples/...` the reference domains. Two HTML
 * comments, invisible on a rendered page, may stand right before a block:
 *
 *   <!-- prelude: lines type-checked before the block, for names the block uses but the page defines
 *        elsewhere (import { BankAccount } from 'examples/bank/index.js'; declare const store: EventStore;) -->
 *   <!-- not-checked: why --> for a block that is deliberately partial (sparingly).
 *
 * (In TSDoc there are no such comments: an example there is complete, or written without a ```ts fence.)
 * A failure names the file and line of the offending code.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

export interface CodeBlock {
  /** Markdown file, relative to the root. */
  file: string;
  /** Line (1-based) of the block's first line of code. */
  line: number;
  code: string;
  prelude: string;
  notChecked?: string;
}

const fence = /^```(\w*)\s*$/;

/** The TypeScript blocks of a Markdown text, with the prelude or not-checked comment before each. */
export function codeBlocks(file: string, text: string): CodeBlock[] {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  let comment: { prelude: string; notChecked?: string } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const open = line.match(fence);
    if (open) {
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
      if (open[1] === 'ts' || open[1] === 'typescript') {
        blocks.push({ file, line: start + 1, code: lines.slice(start, end).join('\n'), prelude: '', ...comment });
      }
      comment = null;
      i = end;
      continue;
    }
    if (line.startsWith('<!--')) {
      let end = i;
      while (end < lines.length && !lines[end]!.includes('-->')) end++;
      const body = lines
        .slice(i, end + 1)
        .join('\n')
        .replace(/^<!--\s*/, '')
        .replace(/\s*-->\s*$/, '');
      const prelude = body.match(/^prelude:\s*([\s\S]*)$/);
      const notChecked = body.match(/^not-checked:\s*([\s\S]*)$/);
      if (prelude) comment = { prelude: prelude[1]! };
      else if (notChecked) comment = { prelude: '', notChecked: notChecked[1]!.trim() };
      i = end;
      continue;
    }
    if (line.trim() !== '') comment = null;
  }
  return blocks;
}

const markdownFiles = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
const sourceFiles = (fs.readdirSync(path.join(root, 'src'), { recursive: true }) as string[])
  .filter((name) => name.endsWith('.ts'))
  .map((name) => `src/${name.split(path.sep).join('/')}`);
/** A source file's text with the ` * ` that starts each line of a doc comment taken off (lines kept). */
const commentText = (text: string) =>
  text
    .split('\n')
    .map((line) => line.replace(/^\s*\*(?: |$)/, ''))
    .join('\n');
const blocks = [
  ...markdownFiles.flatMap((file) => codeBlocks(file, fs.readFileSync(path.join(root, file), 'utf8'))),
  ...sourceFiles.flatMap((file) =>
    codeBlocks(file, commentText(fs.readFileSync(path.join(root, file), 'utf8'))).map((b) => ({ ...b, prelude: '' })),
  ),
];

describe('TypeScript code blocks in README.md, docs/ and TSDoc', () => {
  const folder = fs.mkdtempSync(path.join(root, '.docs-check-'));
  afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('finds the blocks, and every block left unchecked says why', () => {
    expect(blocks.filter((b) => b.file.endsWith('.md')).length).toBeGreaterThan(5);
    expect(blocks.filter((b) => b.file.startsWith('src/')).length).toBeGreaterThan(2);
    expect(blocks.filter((b) => b.notChecked === '').map((b) => `${b.file}:${b.line}`)).toEqual([]);
  });

  it('type-check against the sources', () => {
    const checked = blocks.filter((b) => b.notChecked === undefined);
    const sources = new Map<string, { block: CodeBlock; preludeLines: number }>();
    checked.forEach((block, n) => {
      const name = path.join(folder, `${n}-${block.file.replace(/[^\w]+/g, '-')}-${block.line}.ts`);
      const prelude = block.prelude ? `${block.prelude}\n` : '';
      fs.writeFileSync(name, `${prelude}${block.code}\nexport {};\n`);
      sources.set(name, { block, preludeLines: prelude ? prelude.split('\n').length - 1 : 0 });
    });
    const configFile = path.join(folder, 'tsconfig.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: {
          noEmit: true,
          paths: {
            fabula: ['../src/index.ts'],
            'fabula/testing': ['../src/testing/index.ts'],
            'examples/*': ['../examples/*'],
          },
        },
        include: ['*.ts'],
      }),
    );
    const config = ts.getParsedCommandLineOfConfigFile(
      configFile,
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    )!;
    const program = ts.createProgram(config.fileNames, config.options);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || sources.has(path.resolve(d.file.fileName)))
      .map((d) => {
        const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (!d.file) return `error TS${d.code}: ${message}`;
        const { block, preludeLines } = sources.get(path.resolve(d.file.fileName))!;
        const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
        const where =
          line < preludeLines
            ? `${block.file}:${block.line} (the prelude before the block, its line ${line + 1})`
            : `${block.file}:${block.line + line - preludeLines}`;
        return `${where}: error TS${d.code}: ${message}`;
      });
    expect(problems).toEqual([]);
  });
});
