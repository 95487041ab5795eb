import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateLinesArgs } from './test-jobs/generate-lines.ts';

/**
 * What an operator does after the `sluice run` process dies: run the same command again. The
 * whole process — coordinator and worker threads — is SIGKILLed at points chosen by a seeded
 * random generator and decided by what the test observes (a line the CLI prints, a new checkpoint
 * folder, newly committed output), never by a sleep; then the same command starts again. The
 * output of the exactly-once file sink must hold every number once: no duplicate, none missing.
 */

const BIN = join(
  dirname(createRequire(import.meta.url).resolve('@sluice/core/package.json')),
  'src/cli/bin.ts',
);
const JOB = fileURLToPath(new URL('./test-jobs/generate-lines.ts', import.meta.url));
const KILLS = 10;
/** A hang guard per run, generous: a loaded machine may take long to start Node and its threads. */
const RUN_GUARD_MS = 180_000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-process-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Visible (committed) files of the sink, and their lines. */
async function committed(directory: string): Promise<{ files: string[]; lines: string[] }> {
  const names = await readdir(directory).catch(() => [] as string[]);
  const files = names.filter((name) => !name.startsWith('.')).sort();
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(join(directory, file), 'utf8').catch(() => '');
    if (text.length > 0) lines.push(...text.slice(0, -1).split('\n'));
  }
  return { files, lines };
}

async function checkpointFolders(directory: string): Promise<string[]> {
  return (await readdir(directory).catch(() => [] as string[])).filter((name) => name.startsWith('chk-'));
}

interface Run {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: readonly string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} did not end within ${RUN_GUARD_MS} ms\n${stderr}`));
    }, RUN_GUARD_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    });
  });
  return { child, stderr: () => stderr, exited };
}

/** Polls `condition` until it holds or the run ended; true when it held. */
async function until(run: Run, condition: () => Promise<boolean> | boolean): Promise<boolean> {
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  while (!ended) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

describe('sluice run, SIGKILLed and started again with the same command', () => {
  it(`resumes each time from the newest checkpoint: after ${KILLS} kills the file sink holds every record exactly once`, async () => {
    const output = join(dir, 'out');
    const checkpoints = join(dir, 'checkpoints');
    const args: GenerateLinesArgs = { count: 150_000, directory: output, ratePerSecond: 12_000 };
    const command = [
      'run',
      JOB,
      '-p',
      '2',
      '--checkpoint-dir',
      checkpoints,
      '--checkpoint-interval',
      '150',
      '--args',
      JSON.stringify(args),
    ];
    const next = random(14);
    const triggers: string[] = [];
    let kills = 0;
    let resumed = 0;
    for (;;) {
      const run = start(command);
      if (kills < KILLS) {
        // Where to kill this run, decided by what it is seen to do.
        const choice = next();
        const filesBefore = (await committed(output)).files.length;
        const foldersBefore = new Set(await checkpointFolders(checkpoints));
        let reached: boolean;
        if (choice < 0.2) {
          triggers.push('started');
          // As soon as the job is seen to run: while it restores, or as its first checkpoint starts.
          reached = await until(
            run,
            async () =>
              run.stderr().includes('resuming job') ||
              (await checkpointFolders(checkpoints)).some((name) => !foldersBefore.has(name)),
          );
        } else if (choice < 0.5) {
          triggers.push('checkpoint started');
          // A checkpoint folder appeared that was not there: kill it mid-checkpoint.
          reached = await until(run, async () =>
            (await checkpointFolders(checkpoints)).some((name) => !foldersBefore.has(name)),
          );
        } else {
          const wanted = 1 + Math.floor(next() * 3);
          triggers.push(`${wanted} new committed files`);
          reached = await until(
            run,
            async () => (await committed(output)).files.length >= filesBefore + wanted,
          );
        }
        if (reached) {
          run.child.kill('SIGKILL');
          const { signal } = await run.exited;
          if (signal === 'SIGKILL') {
            kills++;
            if (run.stderr().includes('resuming job')) resumed++;
            continue;
          }
        }
      }
      const { code } = await run.exited;
      if (code === 0) break;
      throw new Error(`sluice run exited with ${code}\n${run.stderr()}`);
    }
    expect(kills, triggers.join(', ')).toBeGreaterThanOrEqual(KILLS);
    // Some runs resumed (the kills came after checkpoints had completed).
    expect(resumed).toBeGreaterThan(0);
    const { lines } = await committed(output);
    // The plain loop: every number below count, once.
    const counts = new Map<string, number>();
    for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
    const duplicated = [...counts].filter(([, n]) => n > 1).length;
    const missing = Array.from({ length: args.count }, (_, i) => String(i)).filter(
      (n) => !counts.has(n),
    ).length;
    const unexpected = [...counts.keys()].filter((n) => !(Number(n) >= 0 && Number(n) < args.count)).length;
    expect({ duplicated, missing, unexpected, lines: lines.length }).toEqual({
      duplicated: 0,
      missing: 0,
      unexpected: 0,
      lines: args.count,
    });
    const hidden = (await readdir(output)).filter((name) => name.startsWith('.'));
    expect(hidden).toEqual([]);
  }, 900_000);
});
