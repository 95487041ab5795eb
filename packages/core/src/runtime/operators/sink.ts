import type { Sink, SinkWriter } from '../../contracts/sink.ts';
import {
  AbstractStreamOperator,
  type OperatorSetup,
  type OperatorStateSnapshot,
  type RestoredOperatorState,
  userTimestamp,
} from '../operator.ts';

/** The coordinator channel of `commitAtEnd` committables, followed by the sink's operator id. */
export const COMMIT_AT_END = 'commit-at-end:';

export class SinkOperator extends AbstractStreamOperator<unknown, never> {
  readonly #sink: Sink<unknown>;
  #writer: SinkWriter<unknown> | undefined;
  #setup!: OperatorSetup;
  #restored: readonly unknown[] | undefined;
  #restoredOfAll: readonly unknown[] | undefined;

  constructor(sink: Sink<unknown>) {
    super();
    this.#sink = sink;
  }

  override setup(setup: OperatorSetup): void {
    super.setup(setup);
    this.#setup = setup;
  }

  restoreState(state: RestoredOperatorState): void {
    this.#restored = state.operatorState;
    this.#restoredOfAll = state.operatorStateOfAll;
  }

  override open(): void | Promise<void> {
    const { runtime } = this;
    const writer = this.#sink.createWriter({
      jobName: runtime.jobName,
      operatorId: runtime.operatorId,
      subtaskIndex: runtime.subtaskIndex,
      parallelism: runtime.parallelism,
      logger: runtime.logger,
      sendToCoordinator: this.#setup.sendToCoordinator,
      sendOnSuccess: this.#setup.sendOnSuccess,
      commitAtEnd: (committables) =>
        this.#setup.sendOnSuccess(`${COMMIT_AT_END}${runtime.operatorId}`, committables),
      checkpointing: this.#setup.checkpointing,
      restoredState: this.#restored,
      restoredStateOfAllSubtasks: this.#restoredOfAll,
      restoredCheckpointId: this.#setup.restoredCheckpointId,
    });
    this.#writer = writer;
    return writer.open?.();
  }

  processElement(value: unknown, timestamp: number): void {
    this.#writer!.write(value, userTimestamp(timestamp));
  }

  override processWatermark(watermark: number): void {
    this.currentWatermark = watermark;
  }

  override processWatermarkStatus(): void {}

  override flush(): void | Promise<void> {
    return this.#writer!.flush?.();
  }

  snapshotState(checkpointId: number): OperatorStateSnapshot | Promise<OperatorStateSnapshot> | undefined {
    const writer = this.#writer!;
    if (writer.snapshotState === undefined) return undefined;
    const state = writer.snapshotState(checkpointId);
    return state instanceof Promise
      ? state.then((operatorState) => ({ operatorState }))
      : { operatorState: state };
  }

  notifyCheckpointComplete(checkpointId: number): void | Promise<void> {
    return this.#writer?.notifyCheckpointComplete?.(checkpointId);
  }

  override close(): void | Promise<void> {
    return this.#writer?.close?.();
  }
}
