/**
 * A test harness for one operator (Flink's `KeyedOneInputStreamOperatorTestHarness`): your
 * functions run in the operator the runtime would build for them, on this thread, with time
 * that moves only when the test says.
 *
 * The operator comes from the API, not from a class the test names: the build function gets a
 * stream and adds one operator to it with the API's own calls (`map`, `keyBy(...).process`,
 * `keyBy(...).window(...).aggregate`, ...), and the harness builds that operator from its
 * `OperatorSpec` with `createOperator`, as a slot does when it deploys. It sets the operator up
 * as a keyed subtask is set up (a heap state backend over the subtask's key-group range, a timer
 * service), restores state the way a checkpoint restore deals it, and then drives the calls a
 * task makes: records, watermarks, processing time, end of input. Where a task would flush its
 * operators (after each batch of input, after timers fire), the harness does too: each call is
 * a batch of one.
 */
import { inspect } from 'node:util';
import { DataStream, SingleOutputStream } from '../api/data-stream.ts';
import { StreamExecutionEnvironment } from '../api/environment.ts';
import { type Logger, silentLogger } from '../contracts/logger.ts';
import type { OutputTag } from '../contracts/output-tag.ts';
import { ConfigError, JobExecutionError, previewRecord } from '../errors.ts';
import { OperatorCounters } from '../metrics/operator-counters.ts';
import { nodeId, type StreamNode } from '../plan/stream-node.ts';
import {
  type KeyedContext,
  NO_TIMESTAMP,
  type OperatorMetrics,
  type StreamOperator,
} from '../runtime/operator.ts';
import { createOperator } from '../runtime/operators/index.ts';
import { HeapKeyedStateBackend } from '../state/heap/heap-keyed-state-backend.ts';
import {
  assignToKeyGroup,
  computeKeyGroupRangeForOperatorIndex,
  computeOperatorIndexForKeyGroup,
  DEFAULT_MAX_PARALLELISM,
  type Key,
  type KeyGroupRange,
  MAX_MAX_PARALLELISM,
} from '../state/key-groups.ts';
import { InternalTimerService } from '../time/timer-service.ts';
import { CapturedOutput, type HarnessEvent, type HarnessRecord } from './operator-harness-output.ts';
import {
  encodeHarnessSnapshot,
  type OperatorHarnessSnapshot,
  restoreFromSnapshots,
} from './operator-harness-state.ts';

/** Where the harness's subtask sits in its job, and what it starts from. */
export interface OperatorHarnessOptions {
  /** The job name user functions see in their runtime context; default `'operator-harness'`. */
  readonly jobName?: string;
  /** Number of key groups, as the job's `maxParallelism`; default 128 (the job's default). */
  readonly maxParallelism?: number;
  /** The operator's parallelism; default 1. A keyed subtask owns its share of the key groups. */
  readonly parallelism?: number;
  /** Which subtask this harness runs, from 0; default 0. */
  readonly subtaskIndex?: number;
  /** Where the function's `ctx.logger` writes; default a logger that writes nothing. */
  readonly logger?: Logger;
  /** The processing time (ms) the operator sees when it opens; default 0. */
  readonly processingTimeMs?: number;
  /**
   * State to start from: snapshots of the operator's subtasks (one per old subtask), dealt to
   * this subtask as a restore from a checkpoint deals them, also at another parallelism.
   */
  readonly restore?: OperatorHarnessSnapshot | readonly OperatorHarnessSnapshot[];
}

const DEFAULT_JOB_NAME = 'operator-harness';

/**
 * Builds the operator `build` adds to a stream, sets it up as one subtask of a job, restores
 * `options.restore` into it and opens it.
 *
 * @example
 * ```ts
 * const harness = await createOperatorHarness((clicks: DataStream<Click>) =>
 *   clicks.keyBy((click) => click.user).process(new SessionCounter()),
 * );
 * harness.processElement({ user: 'ann', page: '/' }, 1_000);
 * harness.setProcessingTime(60_000); // fires the processing-time timers due by then
 * expect(harness.outputValues()).toEqual(['ann: 1 click']);
 * ```
 *
 * @param build Adds exactly one operator to `input`, with the calls a job would use, and returns
 *   its output. Calls that add no operator (`keyBy`, `window`, `allowedLateness`,
 *   `sideOutputLateData`, `uid`, `name`) are welcome; sinks are not operators a harness runs.
 * @throws {ConfigError} naming the option or the mistake, for bad options or a build function
 *   that does not add exactly one operator.
 * @throws {JobExecutionError} when the operator fails to open (a user function's `open`).
 */
export async function createOperatorHarness<IN, OUT>(
  build: (input: DataStream<IN>) => DataStream<OUT>,
  options: OperatorHarnessOptions = {},
): Promise<OperatorHarness<IN, OUT>> {
  if (typeof build !== 'function') {
    throw new ConfigError('createOperatorHarness: expected a function that adds one operator to a stream');
  }
  const settings = validateOptions(options);
  const env = new StreamExecutionEnvironment(settings.jobName, settings.parallelism, settings.maxParallelism);
  // Stands for the operator's input: never deployed, so it needs no Source. Records pushed into
  // a harness may carry timestamps, so it declares them.
  const inputNode = env.addNode({ role: 'source', kind: 'source', inputs: [], emitsTimestamps: true });
  const output = build(DataStream.fromNode<IN>(env, inputNode));
  const node = theOperatorNode(env.nodes, output);
  const harness = new OperatorHarness<IN, OUT>(node, settings);
  await harness.start(settings.restore);
  return harness;
}

interface HarnessSettings {
  readonly jobName: string;
  readonly maxParallelism: number;
  readonly parallelism: number;
  readonly subtaskIndex: number;
  readonly processingTimeMs: number;
  readonly restore: readonly OperatorHarnessSnapshot[];
  readonly logger: Logger;
}

function validateOptions(options: OperatorHarnessOptions): HarnessSettings {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('createOperatorHarness: options must be an object');
  }
  const integer = (name: keyof OperatorHarnessOptions, value: number, min: number, max: number): number => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(
        `createOperatorHarness: option "${name}" must be an integer from ${min} to ${max}, got ${String(value)}`,
      );
    }
    return value;
  };
  const maxParallelism = integer(
    'maxParallelism',
    options.maxParallelism ?? DEFAULT_MAX_PARALLELISM,
    1,
    MAX_MAX_PARALLELISM,
  );
  const parallelism = integer('parallelism', options.parallelism ?? 1, 1, maxParallelism);
  const subtaskIndex = integer('subtaskIndex', options.subtaskIndex ?? 0, 0, parallelism - 1);
  const processingTimeMs = options.processingTimeMs ?? 0;
  if (typeof processingTimeMs !== 'number' || !Number.isFinite(processingTimeMs)) {
    throw new ConfigError(
      `createOperatorHarness: option "processingTimeMs" must be a finite number of ms, got ${String(processingTimeMs)}`,
    );
  }
  const jobName = options.jobName ?? DEFAULT_JOB_NAME;
  if (typeof jobName !== 'string' || jobName.length === 0) {
    throw new ConfigError('createOperatorHarness: option "jobName" must be a non-empty string');
  }
  const restore = options.restore === undefined ? [] : [options.restore].flat();
  const logger = options.logger ?? silentLogger;
  if (logger === null || typeof logger !== 'object' || typeof logger.child !== 'function') {
    throw new ConfigError('createOperatorHarness: option "logger" must be a pino-compatible logger');
  }
  return { jobName, maxParallelism, parallelism, subtaskIndex, processingTimeMs, restore, logger };
}

/** The one operator node the build function added, or an error saying what it did instead. */
function theOperatorNode(nodes: readonly StreamNode[], output: unknown): StreamNode {
  const added = nodes.slice(1);
  const sink = added.find((node) => node.role === 'sink');
  if (sink !== undefined) {
    throw new ConfigError(
      `createOperatorHarness: the build function added a sink ('${sink.name}'); a harness runs one operator and collects its output itself`,
    );
  }
  if (added.length !== 1) {
    throw new ConfigError(
      `createOperatorHarness: the build function must add exactly one operator (map, flatMap, filter, process, keyBy(...).process/reduce, keyBy(...).window(...).reduce/aggregate/process); it added ${added.length === 0 ? 'none' : `${added.length}: ${added.map((n) => n.kind).join(', ')}`}`,
    );
  }
  const node = added[0]!;
  if (!(output instanceof SingleOutputStream) || output.node !== node) {
    throw new ConfigError(
      `createOperatorHarness: the build function must return the stream its operator ('${node.kind}') produces`,
    );
  }
  return node;
}

/**
 * One subtask of one operator, driven by a test. Push records and watermarks, move processing
 * time, read what the operator emitted, snapshot its state and restore it into another harness.
 * Everything runs synchronously on the caller's thread, except opening, end of input, snapshots
 * and closing, which an operator may do asynchronously.
 *
 * A failure in the operator (a user function throwing, a record that cannot cross threads, a
 * state error) is thrown as a {@link JobExecutionError} naming the operator, the subtask and
 * the record, with the original error as its `cause`: what the job would report.
 */
export class OperatorHarness<IN, OUT> {
  /** The operator's id, as in a job's plan: `<kind>-<index>` (`process-1`), or the uid set in the build function. */
  readonly operatorId: string;
  /** The operator's name, as in a job's plan. */
  readonly operatorName: string;
  readonly parallelism: number;
  readonly subtaskIndex: number;
  readonly maxParallelism: number;
  readonly #operator: StreamOperator<unknown, unknown>;
  readonly #output = new CapturedOutput();
  readonly #metrics: OperatorMetrics = OperatorCounters.detached();
  readonly #jobName: string;
  readonly #logger: Logger;
  readonly #keySelector: ((value: unknown) => Key) | undefined;
  readonly #keyGroups: KeyGroupRange;
  #processingTimeMs: number;
  #timerDeadlineMs = Number.POSITIVE_INFINITY;
  #checkpointId = 0;
  #state: 'created' | 'open' | 'ended' | 'closed' = 'created';

  /** @internal Use {@link createOperatorHarness}. */
  constructor(node: StreamNode, settings: HarnessSettings) {
    this.operatorId = nodeId(node);
    this.operatorName = node.name;
    this.parallelism = settings.parallelism;
    this.subtaskIndex = settings.subtaskIndex;
    this.maxParallelism = settings.maxParallelism;
    this.#jobName = settings.jobName;
    this.#logger = settings.logger.child({ job: settings.jobName });
    this.#processingTimeMs = settings.processingTimeMs;
    this.#keySelector = node.keySelector as ((value: unknown) => Key) | undefined;
    this.#keyGroups = computeKeyGroupRangeForOperatorIndex(
      settings.maxParallelism,
      settings.parallelism,
      settings.subtaskIndex,
    );
    this.#operator = createOperator(node.operator!, this.#keySelector);
  }

  /** @internal Sets up, restores, initializes and opens the operator, in a deploy's order. */
  async start(restore: readonly OperatorHarnessSnapshot[]): Promise<void> {
    const operator = this.#operator;
    // As deploy.ts builds a keyed subtask's context (with the heap backend).
    const keyed: KeyedContext | undefined =
      this.#keySelector === undefined
        ? undefined
        : {
            backend: new HeapKeyedStateBackend({
              maxParallelism: this.maxParallelism,
              keyGroupRange: this.#keyGroups,
              // State TTL reads the harness's time, as timers do.
              clock: () => this.#processingTimeMs,
            }),
            timers: new InternalTimerService<Key>(),
          };
    const notASink = (): never => {
      throw new Error('bug: only sinks talk to the coordinator, and a harness runs no sink');
    };
    operator.setup({
      output: this.#output,
      runtime: {
        jobName: this.#jobName,
        operatorId: this.operatorId,
        subtaskIndex: this.subtaskIndex,
        parallelism: this.parallelism,
        maxParallelism: this.maxParallelism,
        logger: this.#logger.child({ operator: this.operatorId, subtask: this.subtaskIndex }),
      },
      metrics: this.#metrics,
      keyed,
      // The only time the operator sees: the harness's, moved by the test.
      clock: () => this.#processingTimeMs,
      sendToCoordinator: notASink,
      sendOnSuccess: notASink,
      checkpointing: false,
      // The harness steps only when the test calls it; it asks for deadlines after every call.
      wake: () => {},
    });
    const restored = restoreFromSnapshots(restore, {
      operatorId: this.operatorId,
      maxParallelism: this.maxParallelism,
      parallelism: this.parallelism,
      subtaskIndex: this.subtaskIndex,
      keyGroups: this.#keyGroups,
    });
    if (restored !== undefined) operator.restoreState?.(restored);
    await this.#callAsync(async () => {
      await operator.initializeState?.();
      await operator.open();
    });
    this.#state = 'open';
    this.#refreshTimerDeadline();
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  /**
   * Hands the operator one record, with its event timestamp in ms (none if omitted), as one
   * batch of input. A keyed harness takes only records whose key is in its subtask's key groups
   * (see {@link owns}): a job never routes it others.
   */
  processElement(value: IN, timestampMs?: number): void {
    this.#requireOpen('processElement');
    let timestamp = NO_TIMESTAMP;
    if (timestampMs !== undefined) {
      if (typeof timestampMs !== 'number' || !Number.isFinite(timestampMs)) {
        throw new ConfigError(
          `processElement: the timestamp must be a finite number of ms, got ${String(timestampMs)}`,
        );
      }
      timestamp = timestampMs;
    }
    if (this.#keySelector !== undefined) this.#requireOwned(value);
    this.#call(value, () => {
      this.#operator.processElement(value, timestamp);
      this.#afterInput();
    });
  }

  /** Hands the operator a watermark (ms): event-time timers up to it fire. */
  processWatermark(watermark: number): void {
    this.#requireOpen('processWatermark');
    if (typeof watermark !== 'number' || Number.isNaN(watermark)) {
      throw new ConfigError(`processWatermark: expected a number of ms, got ${String(watermark)}`);
    }
    this.#call(undefined, () => {
      this.#settled(this.#operator.processWatermark(watermark));
      this.#afterInput();
    });
  }

  /** Tells the operator its input is idle (or active again), as a watermark valve would. */
  processWatermarkStatus(idle: boolean): void {
    this.#requireOpen('processWatermarkStatus');
    this.#call(undefined, () => this.#operator.processWatermarkStatus(idle));
  }

  // ---------------------------------------------------------------------------------------------
  // Processing time

  /** The processing time (ms) the operator sees. */
  get processingTimeMs(): number {
    return this.#processingTimeMs;
  }

  /**
   * Moves processing time to `timeMs` and fires the processing-time timers due by then (as a
   * task does when its timer deadline passes). Processing time never goes back.
   */
  setProcessingTime(timeMs: number): void {
    this.#requireOpen('setProcessingTime');
    if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) {
      throw new ConfigError(`setProcessingTime: expected a finite number of ms, got ${String(timeMs)}`);
    }
    if (timeMs < this.#processingTimeMs) {
      throw new ConfigError(
        `setProcessingTime: processing time cannot go back, from ${this.#processingTimeMs} to ${timeMs}`,
      );
    }
    this.#processingTimeMs = timeMs;
    if (timeMs < this.#timerDeadlineMs) return;
    this.#call(undefined, () => {
      this.#settled(this.#operator.advanceProcessingTime(timeMs));
      this.#afterInput();
    });
  }

  /** Moves processing time forward by `ms`; see {@link setProcessingTime}. */
  advanceProcessingTime(ms: number): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw new ConfigError(`advanceProcessingTime: expected a finite number of ms >= 0, got ${String(ms)}`);
    }
    this.setProcessingTime(this.#processingTimeMs + ms);
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /** The records the operator emitted on its main output, with their timestamps. */
  output(): HarnessRecord<OUT>[] {
    const records: HarnessRecord<OUT>[] = [];
    for (const event of this.#output.events) {
      if (event.kind === 'record') records.push({ value: event.value as OUT, timestamp: event.timestamp });
    }
    return records;
  }

  /** The values of {@link output}. */
  outputValues(): OUT[] {
    return this.output().map((record) => record.value);
  }

  /** The records the operator sent to the side output `tag`. */
  sideOutput<X>(tag: OutputTag<X>): HarnessRecord<X>[] {
    const records: HarnessRecord<X>[] = [];
    for (const event of this.#output.events) {
      if (event.kind === 'side-output' && event.tag === tag.id) {
        records.push({ value: event.value as X, timestamp: event.timestamp });
      }
    }
    return records;
  }

  /** The watermarks the operator forwarded, in order. */
  watermarks(): number[] {
    const watermarks: number[] = [];
    for (const event of this.#output.events) if (event.kind === 'watermark') watermarks.push(event.watermark);
    return watermarks;
  }

  /** Everything the operator emitted (records, side outputs, watermarks, idleness), in order. */
  events(): HarnessEvent<OUT>[] {
    return this.#output.events.slice() as HarnessEvent<OUT>[];
  }

  /** Forgets what the operator emitted so far; later reads show only what comes after. */
  clearOutput(): void {
    this.#output.events.length = 0;
  }

  /** Records a window dropped because they came after their window's allowed lateness (no late side output set). */
  get lateRecordsDropped(): number {
    return this.#metrics.lateRecordsDropped;
  }

  /** Whether this subtask owns `value`'s key (always, for an operator that is not keyed). */
  owns(value: IN): boolean {
    if (this.#keySelector === undefined) return true;
    const keySelector = this.#keySelector;
    const keyGroup = this.#call(value, () => assignToKeyGroup(keySelector(value), this.maxParallelism));
    return this.#keyGroups.contains(keyGroup);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * The operator's state as a checkpoint takes it (its `snapshotState`, keyed state and timers
   * by key group), encoded at once as a state file holds it. Pass it (with the snapshots of the
   * other subtasks, to rescale) as the `restore` option of a new harness.
   */
  async snapshot(): Promise<OperatorHarnessSnapshot> {
    if (this.#state === 'created' || this.#state === 'closed') {
      throw new ConfigError(`snapshot: the harness is ${this.#state === 'closed' ? 'closed' : 'not open'}`);
    }
    const checkpointId = ++this.#checkpointId;
    const state = await this.#callAsync(async () => this.#operator.snapshotState?.(checkpointId));
    return encodeHarnessSnapshot(
      {
        operatorId: this.operatorId,
        maxParallelism: this.maxParallelism,
        parallelism: this.parallelism,
        subtaskIndex: this.subtaskIndex,
      },
      state,
    );
  }

  /**
   * End of input, as the end of a bounded job: the final watermark (`+Infinity`, firing every
   * event-time timer), then the operator's `finish` (pending processing-time timers fire once).
   */
  async endInput(): Promise<void> {
    this.#requireOpen('endInput');
    this.processWatermark(Number.POSITIVE_INFINITY);
    await this.#callAsync(async () => {
      await this.#operator.finish();
      await this.#operator.flush();
    });
    this.#state = 'ended';
  }

  /** Closes the operator (user functions' `close`) and releases its state. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#callAsync(async () => {
      await this.#operator.close();
      await this.#operator.disposeState?.();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // As a task: flush after input, track the timer deadline, attribute failures

  #afterInput(): void {
    this.#settled(this.#operator.flush());
    this.#refreshTimerDeadline();
  }

  #refreshTimerDeadline(): void {
    this.#timerDeadlineMs = this.#operator.nextProcessingTimeDeadline();
  }

  /** The heap backend keeps every call synchronous; a promise here would be our bug. */
  #settled(result: void | Promise<void>): void {
    if (result !== undefined)
      throw new Error('bug: an operator on the heap state backend returned a promise');
  }

  #requireOpen(what: string): void {
    if (this.#state !== 'open') {
      throw new ConfigError(
        `${what}: the harness is ${this.#state === 'ended' ? 'past end of input' : this.#state === 'closed' ? 'closed' : 'not open'}`,
      );
    }
  }

  #requireOwned(value: IN): void {
    if (this.owns(value)) return;
    const key = this.#keySelector!(value);
    const owner = computeOperatorIndexForKeyGroup(
      this.maxParallelism,
      this.parallelism,
      assignToKeyGroup(key, this.maxParallelism),
    );
    throw new ConfigError(
      `processElement: key ${inspect(key)} belongs to subtask ${owner} of ${this.parallelism}, not to this harness's subtask ${this.subtaskIndex}; a job never routes it here (use owns() to pick the harness)`,
    );
  }

  #call<T>(record: unknown, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.#failure(error, record);
    }
  }

  async #callAsync<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw this.#failure(error, undefined);
    }
  }

  /** The error a job would report: the operator, the subtask, the record, and the cause. */
  #failure(error: unknown, record: unknown): JobExecutionError {
    const cause = error instanceof Error ? error : new Error(`non-error thrown: ${inspect(error)}`);
    return new JobExecutionError(
      {
        jobName: this.#jobName,
        operatorId: this.operatorId,
        operatorName: this.operatorName,
        subtaskIndex: this.subtaskIndex,
        parallelism: this.parallelism,
        record: record === undefined ? undefined : previewRecord(record),
      },
      cause,
    );
  }
}
