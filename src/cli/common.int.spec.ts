import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const tmp = mkdtempSync(path.join(tmpdir(), 'crm-run-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A command whose main waits on what does not hold the process (as a store's idle thread does), then ends as told. */
const commandEnding = (ending: string) => {
  const file = path.join(tmp, `command-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(
    file,
    `import { runCli, UsageError } from ${JSON.stringify(path.join(__dirname, 'common.ts'))};
runCli('usage: the command', async () => {
  await new Promise((resolve) => setTimeout(resolve, 100).unref());
  ${ending}
});
`,
  );
  return run(process.execPath, ['--import', 'tsx', file]).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
};

describe('a command run by runCli', () => {
  it('is not ended with 0 while its main still waits on something unref\'d: a usage error still exits 2', async () => {
    const ended = await commandEnding(`throw new UsageError('There is no projection named nope');`);
    expect(ended.code).toBe(2);
    expect(ended.stderr).toContain('There is no projection named nope\n\nusage: the command');
  });

  it('exits 1 with the failure, and with the code main returns', async () => {
    const failed = await commandEnding(`throw new Error('the disk is full');`);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Error: the disk is full');
    expect((await commandEnding('return 3;')).code).toBe(3);
  });
});
