import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startModuleWorker } from '../../../threads/module-worker.ts';
import { LevelStoreClient } from './level-store-client.ts';
import { LevelStoreHost } from './level-store-host.ts';
import { LocalLevelStore } from './local-level-store.ts';
import { PackedBuilder, packBuffers } from './wire.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-level-host-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const b = (s: string) => Buffer.from(s);
const execFileAsync = promisify(execFile);

describe('LevelStoreHost', () => {
  it('serves gets, batches, snapshots and paged ranges to a client in another thread', async () => {
    const host = LevelStoreHost.start();
    try {
      const connection = host.connect();
      const client = new LevelStoreClient(connection.port);
      const store = client.store(join(await tempDir(), 'db'));
      await store.open();
      // 3,000 entries: more than two pages of a range read.
      const ops = Array.from({ length: 3000 }, (_, i) => ({
        type: 'put' as const,
        key: b(`k${String(i).padStart(5, '0')}`),
        value: b(`v${i}`),
      }));
      await store.batch(ops);
      await store.batch([{ type: 'del', key: b('k00001') }]);
      // Packed puts (a bulk load) land as batch() puts do.
      const packed = new PackedBuilder();
      for (const text of ['p1', 'p2']) {
        packed.begin();
        packed.append(b('packed-'));
        packed.appendString(text);
        packed.end();
      }
      const values = packBuffers([b('v-p1'), b('')]);
      await store.putPacked(packed.build(), values);
      expect((await store.getMany([b('packed-p1'), b('packed-p2')])).map((v) => v?.toString())).toEqual([
        'v-p1',
        '',
      ]);
      expect(
        (await store.getMany([b('k00000'), b('k00001'), b('nope'), b('k02999')])).map((v) => v?.toString()),
      ).toEqual(['v0', undefined, undefined, 'v2999']);
      const snapshot = await store.snapshot();
      await store.batch([{ type: 'put', key: b('k00000'), value: b('changed') }]);
      const seen: Array<[string, string]> = [];
      for await (const page of snapshot.range(b('k00000'), b('k02000'), false)) {
        expect(page.length).toBeLessThanOrEqual(1024);
        for (const [key, value] of page) seen.push([key.toString(), value.toString()]);
      }
      await snapshot.close();
      expect(seen.length).toBe(1999);
      expect(seen[0]).toEqual(['k00000', 'v0']); // as of the snapshot
      expect(seen[1]).toEqual(['k00002', 'v2']);
      // A range left early closes its cursor.
      const again = await store.snapshot();
      for await (const page of again.range(b('k'), b('l'), true)) {
        expect(page[0]![1].length).toBe(0); // keys only
        break;
      }
      await again.close();
      await store.close();
      client.close();
      await host.release([connection.id]);
    } finally {
      await host.shutdown();
    }
  });

  it('reports a failed call with its cause, and fails pending calls when the host is gone', async () => {
    const directory = join(await tempDir(), 'db');
    const holder = new LocalLevelStore(directory); // holds the LOCK, so the host cannot open it
    await holder.open();
    const host = LevelStoreHost.start();
    const client = new LevelStoreClient(host.connect().port);
    try {
      await expect(client.store(directory).open()).rejects.toThrow(
        new RegExp(`opening ${directory} failed: .*`),
      );
    } finally {
      await holder.close();
    }
    await host.shutdown();
    await expect(client.store(join(await tempDir(), 'other')).open()).rejects.toThrow(
      /LevelDB host thread closed the connection/,
    );
  });

  it('survives 30 terminations of a client thread in the middle of writing, with every batch whole', async () => {
    const host = LevelStoreHost.start();
    const directory = join(await tempDir(), 'db');
    try {
      for (let kill = 0; kill < 30; kill++) {
        const connection = host.connect();
        const worker = startModuleWorker(
          new URL('./level-store-host.test-worker.ts', import.meta.url),
          { port: connection.port, directory },
          { transferList: [connection.port] },
        );
        let failure: unknown;
        worker.on('error', (error) => {
          failure = error;
        });
        await new Promise((resolve) => worker.once('message', resolve));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 50));
        await worker.terminate();
        expect(failure).toBeUndefined();
        // The host closes the killed client's database, so the next client can open it again.
        await host.release([connection.id]);
      }
    } finally {
      await host.shutdown();
    }
    const store = new LocalLevelStore(directory);
    await store.open();
    const keys = [b('round'), ...Array.from({ length: 100 }, (_, i) => b(`key-${i}`))];
    const values = (await store.getMany(keys)).map((v) => v?.toString());
    await store.close();
    expect(Number(values[0])).toBeGreaterThan(0);
    expect(new Set(values).size).toBe(1);
  }, 60_000);

  // In a process of its own: this one loaded classic-level in its main thread already (above).
  it.runIf(process.platform === 'linux')(
    'leaves no LevelDB thread behind when a host whose databases compacted ends',
    async () => {
      const { stdout } = await execFileAsync(process.execPath, [
        fileURLToPath(new URL('./level-store-host.test-process.ts', import.meta.url)),
      ]);
      const counts = JSON.parse(stdout) as number[];
      expect(counts).toHaveLength(4);
      // The first round may start LevelDB's background thread, once per process; later rounds
      // start none (one more per host before the addon was kept loaded: [12, 13, 14, 15]).
      for (const count of counts.slice(1)) expect(count).toBeLessThanOrEqual(counts[0]!);
    },
    60_000,
  );
});
