import { encodeRecords } from '../channels/record-codec.ts';
import { silentLogger } from '../contracts/logger.ts';
import { ConfigError, SluiceError } from '../errors.ts';
import type { Attempt, DriverHooks } from '../execution/attempt.ts';
import { type DriverBindings, type DriverInput, driverSinkChannel } from '../execution/driver-bindings.ts';
import type { JobModuleRef } from '../execution/job-loader.ts';
import type { RunJobOptions } from '../execution/job-options.ts';
import type { SlotMessage } from '../execution/messages.ts';
import type { PlannedJob } from '../execution/planner.ts';
import { type JobHandle, type JobResult, startJobWith } from '../execution/run-job.ts';
import { SharedManualClock } from '../time/clock.ts';

/*
 * A whole job under test, on its worker threads, at any parallelism, with processing time that
 * moves only when the test says so (Kafka Streams' TopologyTestDriver, for a parallel job).
 *
 * How "the job has done everything it can" is known without sleeping: every step of the driver
 * (input sent, time advanced) gets an epoch number, sent to every slot after the step's input on
 * the same port. A slot that runs out of work (no record to read, no timer due at the simulated
 * time, nothing in flight) reports the newest epoch it has seen and its doorbell's sequence.
 * Whoever hands a slot work rings its doorbell, so when every slot's newest report is for this
 * epoch and no doorbell has rung since, no record is in a channel and none is being processed:
 * the step is over. Sinks' records are posted before the report on the same port, so they have
 * arrived too.
 */

export interface JobTestDriverOptions<A = unknown>
  extends Omit<RunJobOptions<A>, 'signal' | 'restartStrategy'> {
  /** The sources the test feeds instead of the job's own, by id (uid) or name. */
  readonly inputs?: readonly string[];
  /** The sinks whose records the test reads instead of the job's own, by id (uid) or name. */
  readonly outputs?: readonly string[];
  /** The processing time at the start (ms since the epoch; default 0). */
  readonly startTime?: number;
  /**
   * How long a step may take in real time before the driver gives up and says which slots are
   * still busy (default 60 s): a safety net against a job that never goes quiet (an unbounded
   * source the test does not drive), not a part of any result.
   */
  readonly stepTimeoutMs?: number;
}

export interface SendOptions<T> {
  /** Event time of each record (for sources whose records carry timestamps). */
  readonly timestamp?: (record: T, index: number) => number;
  /** The source subtask that reads the records (default: dealt round-robin over its subtasks). */
  readonly subtask?: number;
}

/** One source of the job, fed by the test. */
export interface TestInput<T> {
  /** Sends records into the source; they are processed at the next `settle`/`advanceTime`. */
  send(records: readonly T[], options?: SendOptions<T>): void;
  /** A watermark from every subtask of the source, after the records sent before it. */
  watermark(timestamp: number): void;
  /** Ends the source (a bounded input); the job finishes once all its sources have ended. */
  end(): void;
}

/** One sink of the job, read by the test. */
export interface TestOutput<T> {
  /** Every record the sink received so far (over all its subtasks). */
  all(): T[];
  /** The records received since the last `take`, and forgets them. */
  take(): T[];
}

type IdleReport = Extract<SlotMessage, { type: 'idle' }>;

/** Starts a job under the test driver. Close it (or `await using`) when done. */
export class JobTestDriver {
  readonly #clock: SharedManualClock;
  readonly #hooks: DriverHooks;
  readonly #outputs = new Map<string, { records: unknown[]; taken: number }>();
  readonly #inputs = new Map<string, { subtasks: number; next: number }>();
  readonly #stepTimeoutMs: number;
  /** The test's names of inputs and outputs (`input:<name>`, `output:<name>`) to operator ids. */
  readonly #names = new Map<string, string>();
  #handle: JobHandle | undefined;
  #attempt: Attempt | undefined;
  #epoch = 0;
  readonly #reports = new Map<number, IdleReport>();
  #check: (() => void) | undefined;
  #ended: { readonly result?: JobResult; readonly error?: unknown } | undefined;

  private constructor(clock: SharedManualClock, stepTimeoutMs: number, requested: DriverBindings) {
    this.#clock = clock;
    this.#stepTimeoutMs = stepTimeoutMs;
    let bindings: DriverBindings = requested;
    this.#hooks = {
      clock,
      get bindings() {
        return bindings;
      },
      onPlanned: (planned) => {
        bindings = this.#resolve(planned, requested);
      },
      onAttempt: (attempt) => {
        this.#attempt = attempt;
        this.#reports.clear();
      },
      onIdle: (report) => {
        this.#reports.set(report.slotIndex, report);
        this.#check?.();
      },
    };
  }

  /**
   * Starts the job module on worker threads with a simulated clock. Unless `bufferTimeoutMs` says
   * otherwise, batches are sent downstream at the end of every step of a task (a flush timeout
   * of 0), so no record waits in a half-full batch for simulated time to pass. The job does not
   * restart after a failure: the next step rejects with it.
   */
  static async start<A = unknown>(
    module: JobModuleRef,
    options: JobTestDriverOptions<A> = {},
  ): Promise<JobTestDriver> {
    const { inputs = [], outputs = [], startTime = 0, stepTimeoutMs = 60_000, ...runOptions } = options;
    if (!Number.isFinite(startTime) || startTime < 0) {
      throw new ConfigError(
        `JobTestDriver: option "startTime" must be a time >= 0 in ms, got ${String(startTime)}`,
      );
    }
    const driver = new JobTestDriver(new SharedManualClock(startTime), stepTimeoutMs, {
      sources: [...inputs],
      sinks: [...outputs],
    });
    const userSinkData = runOptions.onSinkData;
    const handle = await startJobWith(
      module,
      {
        ...runOptions,
        // A failure rejects the test's next step with the error: by default, no log lines besides.
        ...(runOptions.logger === undefined && runOptions.log === undefined ? { logger: silentLogger } : {}),
        bufferTimeoutMs: runOptions.bufferTimeoutMs ?? 0,
        restartStrategy: { kind: 'none' },
        onSinkData: (channel, payload) => {
          driver.#received(channel, payload as unknown[]);
          userSinkData?.(channel, payload);
        },
      } as RunJobOptions<A>,
      driver.#hooks,
    );
    driver.#handle = handle;
    handle.result.then(
      (result) => {
        driver.#ended = { result };
        driver.#check?.();
      },
      (error: unknown) => {
        driver.#ended = { error };
        driver.#check?.();
      },
    );
    try {
      await driver.settle();
    } catch (error) {
      // Nobody holds the driver to close it: stop the job's threads before reporting.
      await handle.cancel();
      throw error;
    }
    return driver;
  }

  /** The simulated processing time (ms). */
  get currentTime(): number {
    return this.#clock.now();
  }

  input<T = unknown>(name: string): TestInput<T> {
    return this.#inputOf<T>(name, this.#idOf(name, 'input'));
  }

  #inputOf<T>(name: string, id: string): TestInput<T> {
    const state = this.#inputs.get(id)!;
    const post = (subtask: number, input: Omit<DriverInput, 'type' | 'operatorId' | 'subtaskIndex'>): void =>
      this.#running().send(subtask, {
        type: 'driver-input',
        operatorId: id,
        subtaskIndex: subtask,
        ...input,
      });
    return {
      send: (records, sendOptions = {}) => {
        const { subtask, timestamp } = sendOptions;
        if (
          subtask !== undefined &&
          !(Number.isInteger(subtask) && subtask >= 0 && subtask < state.subtasks)
        ) {
          throw new ConfigError(
            `input '${name}': subtask ${String(subtask)} does not exist (the source runs ${state.subtasks} subtasks)`,
          );
        }
        const bySubtask = Array.from({ length: state.subtasks }, () => ({
          values: [] as T[],
          timestamps: [] as number[],
        }));
        records.forEach((record, index) => {
          const target = bySubtask[subtask ?? state.next++ % state.subtasks]!;
          target.values.push(record);
          if (timestamp !== undefined) target.timestamps.push(timestamp(record, index));
        });
        bySubtask.forEach(({ values, timestamps }, index) => {
          if (values.length === 0) return;
          post(index, {
            records: encodeRecords(values),
            timestamps: timestamp === undefined ? null : timestamps,
            watermark: undefined,
            end: false,
          });
        });
      },
      watermark: (watermark) => {
        for (let i = 0; i < state.subtasks; i++) {
          post(i, { records: undefined, timestamps: null, watermark, end: false });
        }
      },
      end: () => {
        for (let i = 0; i < state.subtasks; i++) {
          post(i, { records: undefined, timestamps: null, watermark: undefined, end: true });
        }
      },
    };
  }

  output<T = unknown>(name: string): TestOutput<T> {
    const id = this.#idOf(name, 'output');
    const state = this.#outputs.get(driverSinkChannel(id))!;
    return {
      all: () => state.records.slice() as T[],
      take: () => {
        const taken = state.records.slice(state.taken) as T[];
        state.taken = state.records.length;
        return taken;
      },
    };
  }

  /**
   * Moves processing time forward by `ms`: what was sent before is processed at the time it was
   * sent, then the clock moves, then the job runs until it is quiet (see `settle`). Time jumps:
   * timers due in between fire at the new time (with their own timestamps).
   */
  async advanceTime(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new ConfigError(`advanceTime: expected a duration >= 0 in ms, got ${String(ms)}`);
    }
    await this.setTime(this.#clock.now() + ms);
  }

  /** Sets processing time (never backwards), as `advanceTime` does. */
  async setTime(timeMs: number): Promise<void> {
    if (!Number.isFinite(timeMs) || timeMs < this.#clock.now()) {
      throw new ConfigError(
        `setTime: processing time cannot go back (or be infinite): from ${this.#clock.now()} to ${String(timeMs)}`,
      );
    }
    await this.settle();
    this.#clock.set(timeMs);
    await this.settle();
  }

  /**
   * Runs until the job has done all it can at the current processing time: the records sent are
   * processed, the timers due have fired, and what sinks received is in the outputs. Rejects
   * with the job's failure.
   */
  async settle(): Promise<void> {
    const attempt = this.#running();
    const epoch = ++this.#epoch;
    attempt.broadcast({ type: 'driver-epoch', epoch });
    await new Promise<void>((resolve, reject) => {
      const safetyNet = setTimeout(() => {
        this.#check = undefined;
        clearInterval(poll);
        const busy = attempt.doorbells
          .map((_, slot) => slot)
          .filter((slot) => !attempt.endedSlots.has(slot) && !this.#isQuiet(attempt, slot, epoch));
        reject(
          new SluiceError(
            'SLUICE_TEST_DRIVER_TIMEOUT',
            `the job did not go quiet within ${this.#stepTimeoutMs} ms of real time (slots still busy: ${busy.join(', ')}): a source the test does not drive (list it in "inputs"), or a function that never returns, keeps it working`,
          ),
        );
      }, this.#stepTimeoutMs);
      // Slots that end report nothing more: look again now and then, as well as on each report.
      const poll = setInterval(() => this.#check?.(), 10);
      this.#check = () => {
        const ended = this.#ended;
        // A failed slot counts as ended, so the others can look quiet before the job's result
        // rejects: once the attempt has failed, a step waits for that result, never resolves.
        const quiet =
          attempt.failure === undefined &&
          attempt.doorbells.every(
            (_, slot) => attempt.endedSlots.has(slot) || this.#isQuiet(attempt, slot, epoch),
          );
        if (ended === undefined && !quiet) return;
        this.#check = undefined;
        clearTimeout(safetyNet);
        clearInterval(poll);
        if (ended?.error !== undefined) reject(ended.error);
        else resolve();
      };
      this.#check();
    });
  }

  /** Ends every input, waits for the job to finish, and returns its result. */
  async finish(): Promise<JobResult> {
    if (this.#ended === undefined) {
      for (const id of this.#inputs.keys()) this.#inputOf(id, id).end();
    }
    return this.#handle!.result;
  }

  /** Takes a savepoint into `folder` (needs the `checkpointing` option); resolves once it is durable. */
  savepoint(folder: string): Promise<string> {
    return this.#handle!.savepoint(folder);
  }

  /** Takes a savepoint, then cancels the job. */
  stopWithSavepoint(folder: string): Promise<string> {
    return this.#handle!.stopWithSavepoint(folder);
  }

  /** Cancels the job if it still runs; resolves once every worker thread is gone. */
  async close(): Promise<void> {
    await this.#handle?.cancel();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #isQuiet(attempt: Attempt, slot: number, epoch: number): boolean {
    const report = this.#reports.get(slot);
    return (
      report !== undefined &&
      report.epoch === epoch &&
      report.doorbellSequence === attempt.doorbells[slot]!.sequence
    );
  }

  #running(): Attempt {
    if (this.#ended !== undefined) {
      if (this.#ended.error !== undefined) throw this.#ended.error;
      throw new SluiceError('SLUICE_JOB_NOT_RUNNING', 'the job under test has already finished');
    }
    if (this.#attempt === undefined) throw new Error('bug: the test driver has no running attempt');
    return this.#attempt;
  }

  #received(channel: string, records: unknown[]): void {
    const output = this.#outputs.get(channel);
    if (output !== undefined) output.records.push(...records);
  }

  #idOf(name: string, what: 'input' | 'output'): string {
    const id = this.#names.get(`${what}:${name}`);
    if (id === undefined) {
      throw new ConfigError(
        `the test driver has no ${what} '${name}' (${what}s: ${[...this.#names.keys()]
          .filter((k) => k.startsWith(`${what}:`))
          .map((k) => `'${k.slice(what.length + 1)}'`)
          .join(', ')}); list it in the "${what}s" option`,
      );
    }
    return id;
  }

  /** Turns the test's names (ids or names of sources and sinks) into operator ids, once planned. */
  #resolve(planned: PlannedJob, requested: DriverBindings): DriverBindings {
    const nodes = planned.streamGraph.nodes;
    const find = (name: string, role: 'source' | 'sink'): { id: string; parallelism: number } => {
      const candidates = nodes.filter((n) => n.role === role);
      const byId = candidates.find((n) => n.id === name);
      const byName = candidates.filter((n) => n.name === name);
      const node = byId ?? (byName.length === 1 ? byName[0] : undefined);
      if (node === undefined) {
        throw new ConfigError(
          `the test driver cannot find ${role === 'source' ? 'a source' : 'a sink'} '${name}' in job '${planned.streamGraph.jobName}'${
            byName.length > 1 ? ` (${byName.length} have that name: give them uids)` : ''
          } (its ${role}s: ${candidates.map((n) => `'${n.id}'${n.name === n.id ? '' : ` (${n.name})`}`).join(', ') || 'none'})`,
        );
      }
      return { id: node.id, parallelism: node.parallelism };
    };
    const sources = requested.sources.map((name) => {
      const { id, parallelism } = find(name, 'source');
      this.#names.set(`input:${name}`, id);
      this.#inputs.set(id, { subtasks: parallelism, next: 0 });
      return id;
    });
    const sinks = requested.sinks.map((name) => {
      const { id } = find(name, 'sink');
      this.#names.set(`output:${name}`, id);
      this.#outputs.set(driverSinkChannel(id), { records: [], taken: 0 });
      return id;
    });
    return { sources, sinks };
  }
}
