import type { Sink, SinkWriter } from '../../api/sink.ts';
import { AbstractStreamOperator, type OperatorSetup, userTimestamp } from '../operator.ts';

export class SinkOperator extends AbstractStreamOperator<unknown, never> {
  readonly #sink: Sink<unknown>;
  #writer!: SinkWriter<unknown>;
  #sendToCoordinator!: OperatorSetup['sendToCoordinator'];

  constructor(sink: Sink<unknown>) {
    super();
    this.#sink = sink;
  }

  override setup(setup: OperatorSetup): void {
    super.setup(setup);
    this.#sendToCoordinator = setup.sendToCoordinator;
  }

  override open(): void | Promise<void> {
    const { runtime } = this;
    this.#writer = this.#sink.createWriter({
      jobName: runtime.jobName,
      operatorId: runtime.operatorId,
      subtaskIndex: runtime.subtaskIndex,
      parallelism: runtime.parallelism,
      sendToCoordinator: this.#sendToCoordinator,
    });
    return this.#writer.open?.();
  }

  processElement(value: unknown, timestamp: number): void {
    this.#writer.write(value, userTimestamp(timestamp));
  }

  override processWatermark(watermark: number): void {
    this.currentWatermark = watermark;
  }

  override processWatermarkStatus(): void {}

  override flush(): void | Promise<void> {
    return this.#writer.flush?.();
  }

  override close(): void | Promise<void> {
    return this.#writer?.close?.();
  }
}
