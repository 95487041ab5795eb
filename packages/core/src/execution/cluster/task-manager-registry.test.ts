import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ControlConnection,
  connectControl,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
} from '../../channels/tcp/control-connection.ts';
import type { TransportError } from '../../channels/tcp/errors.ts';
import { ManualHeartbeatClock } from '../../channels/tcp/testing/tcp-test-helpers.ts';
import { silentLogger } from '../../contracts/logger.ts';
import { TO_JOB_MANAGER } from './protocol.ts';
import { type RegisteredTaskManager, TaskManagerRegistry } from './task-manager-registry.ts';

/**
 * How soon the job manager notices a lost task manager, on the injected heartbeat clock: time
 * passes only when the test advances it, so the outcome does not depend on the machine's load.
 * The defaults are what `sluice jobmanager` and `sluice taskmanager` run with.
 */

const registries: TaskManagerRegistry[] = [];
const connections: ControlConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  for (const registry of registries.splice(0)) await registry.close();
});

interface Lost {
  readonly manager: RegisteredTaskManager;
  readonly error: TransportError | undefined;
  /** On the job manager's heartbeat clock. */
  readonly atMs: number;
}

/** A registry on a manual clock, and a task manager registered at it whose own clock stands still. */
async function registered(): Promise<{
  registry: TaskManagerRegistry;
  clock: ManualHeartbeatClock;
  taskManager: ControlConnection;
  lost: Lost[];
}> {
  const secret = randomBytes(32);
  const clock = new ManualHeartbeatClock();
  const registry = await TaskManagerRegistry.listen({ jobName: 'job', secret, clock, logger: silentLogger });
  registries.push(registry);
  const lost: Lost[] = [];
  registry.onLost((manager, error) => lost.push({ manager, error, atMs: clock.now() }));
  // The task manager's heartbeats come from its own clock, which the test never advances: once
  // registered, it says nothing more, as a frozen or partitioned process would.
  const taskManager = await connectControl({
    id: 'tm-0',
    secret,
    host: registry.address.host,
    port: registry.address.port,
    clock: new ManualHeartbeatClock(),
  });
  connections.push(taskManager);
  await taskManager.request(TO_JOB_MANAGER.register, { slots: 1, dataHost: '127.0.0.1', pid: 4242 });
  await expect
    .poll(() => registry.managers.map((m) => m.id), { timeout: 60_000, interval: 1 })
    .toEqual(['tm-0']);
  return { registry, clock, taskManager, lost };
}

describe('TaskManagerRegistry: a lost task manager is noticed within 2 s', () => {
  it('a silent task manager (frozen, or cut off without a reset) is lost after the heartbeat timeout and within 2 s of its last sign of life, on the injected clock', async () => {
    const { registry, clock, lost } = await registered();
    // The registration was its last sign of life: on the job manager's clock, now.
    const lastHeardMs = clock.now();
    while (clock.now() + 100 - lastHeardMs <= DEFAULT_HEARTBEAT_TIMEOUT_MS) {
      clock.advance(100);
      expect(lost).toEqual([]);
      expect(registry.managers.map((m) => m.id)).toEqual(['tm-0']);
    }
    // The check that sees the timeout passed comes at most one heartbeat interval later.
    while (lost.length === 0 && clock.now() - lastHeardMs < 10_000) clock.advance(100);
    expect(lost).toHaveLength(1);
    const [{ manager, error, atMs }] = lost as [Lost];
    expect(manager.id).toBe('tm-0');
    expect(manager.pid).toBe(4242);
    expect(error?.code).toBe('SLUICE_PEER_DEAD');
    expect(atMs - lastHeardMs).toBeGreaterThan(DEFAULT_HEARTBEAT_TIMEOUT_MS);
    expect(atMs - lastHeardMs).toBeLessThanOrEqual(2_000);
    expect(registry.managers).toEqual([]);
    expect(registry.totalSlots).toBe(0);
  });

  it('a killed task manager (its connection reset by the kernel) is lost at once: no heartbeat time passes', async () => {
    const { registry, clock, taskManager, lost } = await registered();
    const before = clock.now();
    // What the kernel does to the sockets of a SIGKILLed process.
    taskManager.destroy();
    await expect.poll(() => lost.length, { timeout: 60_000, interval: 1 }).toBe(1);
    expect(lost[0]!.atMs).toBe(before);
    expect(lost[0]!.error?.code).toBe('SLUICE_CONNECTION_LOST');
    expect(registry.managers).toEqual([]);
  });
});

describe('TaskManagerRegistry: task manager ids', () => {
  const dial = async (registry: TaskManagerRegistry, secret: Uint8Array, pid: number) => {
    const connection = await connectControl({
      id: 'tm-0',
      secret,
      host: registry.address.host,
      port: registry.address.port,
      clock: new ManualHeartbeatClock(),
    });
    connections.push(connection);
    return connection.request(TO_JOB_MANAGER.register, { slots: 1, dataHost: '127.0.0.1', pid });
  };

  it('a second live process under the same id is refused; the same id after a heartbeat interval of silence takes over', async () => {
    const secret = randomBytes(32);
    const clock = new ManualHeartbeatClock();
    const registry = await TaskManagerRegistry.listen({
      jobName: 'job',
      secret,
      clock,
      logger: silentLogger,
    });
    registries.push(registry);
    await dial(registry, secret, 1);
    // Heard from just now (no clock time has passed): another process with the same --id.
    await expect(dial(registry, secret, 2)).rejects.toThrow(
      /task manager id 'tm-0' is in use by a live task manager \(pid 1\): every task manager needs its own --id/,
    );
    expect(registry.managers.map((m) => m.pid)).toEqual([1]);
    // Silent for longer than a heartbeat interval: the same task manager back after a cut.
    clock.advance(600);
    await dial(registry, secret, 3);
    expect(registry.managers.map((m) => m.pid)).toEqual([3]);
  });
});
