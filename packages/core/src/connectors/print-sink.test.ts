import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.test-helper.ts';

const JOB = fileURLToPath(new URL('./test-jobs/print-lines.ts', import.meta.url));

/** Runs the print job through the CLI with stdout a pipe, as `sluice run job.ts | grep ...` does. */
function runPiped(args: string[]) {
  return runCli(['run', JOB, ...args], { timeoutMs: 180_000 });
}

/** The lines the job prints, by a plain loop over the same events. */
function expectedLines(events: number, width: number): string[] {
  const counts = new Map<string, number>();
  for (let i = 0; i < events; i++) {
    const id = `k${i % 7} ${Math.floor((i * 10) / 1000) * 1000}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...counts].map(([id, n]) => `${id} ${n} ${'x'.repeat(width)}`).sort();
}

describe('printSink', () => {
  // Lines printed in a slot thread travel to the main thread, which writes them; the CLI ended
  // with some still on the way, so through a pipe a run printed 35 of 420 lines, or none. Timing
  // decides how many are lost, so each case runs three times.
  it.each([
    [1, 40],
    [2, 40],
    [4, 5_000],
  ])(
    'writes every line, whole, through a pipe at parallelism %i (lines of %i characters)',
    async (p, width) => {
      const events = 6_000;
      for (let run = 0; run < 3; run++) {
        const { code, stdout, stderr } = await runPiped([
          '-p',
          String(p),
          '--arg',
          `events=${events}`,
          '--arg',
          `width=${width}`,
        ]);
        expect(code, stderr).toBe(0);
        const printed = stdout
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => l.replace(/^\d+> /, ''));
        expect(printed.sort()).toEqual(expectedLines(events, width));
      }
    },
    300_000,
  );
});
