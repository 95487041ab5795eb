/**
 * What a sink writer hands over, sent in order, one request after another, while its task goes
 * on. Records handed over while a request is on the wire wait, and all of them go in the next
 * request (as the Java producer's accumulator joins records while it waits for the broker): the
 * task's work overlaps the round trip, and the slower the broker, the larger the requests.
 *
 * The task waits (its backpressure) only when `maxPending` records or more are waiting; `drain`
 * waits until everything handed over is acknowledged. A failed request fails every call after it
 * (the records behind it are dropped: the job fails and restarts from a checkpoint, which never
 * completes without a `drain` that succeeded).
 */
export class SendPipeline<R> {
  readonly #send: (records: R[]) => Promise<void>;
  readonly #maxPending: number;
  #pending: R[] = [];
  /** The sending loop, while there is something to send. */
  #running: Promise<void> | undefined;
  /** The request on the wire. */
  #inFlight: Promise<void> | undefined;
  #failure: { readonly error: unknown } | undefined;

  constructor(send: (records: R[]) => Promise<void>, maxPending: number) {
    this.#send = send;
    this.#maxPending = maxPending;
  }

  /** Queues `records` (taken over, not copied); a promise when the caller should wait before more. */
  add(records: R[]): Promise<void> | undefined {
    this.#throwIfFailed();
    if (records.length === 0) return undefined;
    if (this.#pending.length === 0) this.#pending = records;
    else for (const record of records) this.#pending.push(record);
    if (this.#running === undefined) {
      this.#running = this.#run();
      // Failures surface through the next add or drain; the loop's own promise is not awaited.
      this.#running.catch(() => {});
    }
    if (this.#pending.length < this.#maxPending) return undefined;
    // Once the request on the wire is done, the waiting records are the next one.
    return this.#inFlight;
  }

  /** Waits until every record handed over is acknowledged; rejects with the first failure. */
  async drain(): Promise<void> {
    while (this.#running !== undefined) await this.#running.catch(() => {});
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  async #run(): Promise<void> {
    try {
      while (this.#pending.length > 0 && this.#failure === undefined) {
        const records = this.#pending;
        this.#pending = [];
        this.#inFlight = this.#send(records);
        await this.#inFlight;
      }
    } catch (error) {
      this.#failure ??= { error };
      this.#pending = [];
      throw error;
    } finally {
      this.#inFlight = undefined;
      this.#running = undefined;
    }
  }
}
