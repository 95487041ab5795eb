import { Agent, get } from 'node:http';
import { collectSink, defineJob, type ProcessFunction } from '@sluice/core';

export interface AsyncEnrichArgs {
  /** The lookup service's port on 127.0.0.1. */
  readonly port: number;
  readonly records: number;
  readonly ordered: boolean;
  readonly capacity: number;
}

export interface Enriched {
  readonly id: number;
  readonly value: number;
  readonly subtask: number;
}

// Keep-alive connections, as a service client would: one pool per thread (each worker imports
// this module). node:http rather than fetch: about twice the requests per second of CPU here.
const agent = new Agent({ keepAlive: true, maxSockets: 1_000 });

/** The service's answer for `id`: a plain-text number over HTTP. */
export function lookup(port: number, id: number): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: `/lookup?id=${id}`, agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => {
        if (response.statusCode === 200) resolve(Number(body));
        else reject(new Error(`lookup ${id}: HTTP ${response.statusCode}: ${body}`));
      });
    }).on('error', reject);
  });
}

/** Tags each result with its subtask, so that the benchmark can check the order per subtask. */
class TagSubtask implements ProcessFunction<{ id: number; value: number }, Enriched> {
  #subtask = -1;
  open(context: { subtaskIndex: number }): void {
    this.#subtask = context.subtaskIndex;
  }
  processElement(
    record: { id: number; value: number },
    _ctx: unknown,
    out: { collect(v: Enriched): void },
  ): void {
    out.collect({ id: record.id, value: record.value, subtask: this.#subtask });
  }
}

/** Enriches ids 0..records-1 from the local lookup service, `capacity` requests in flight per subtask. */
export default defineJob<AsyncEnrichArgs>({ name: 'async-enrich' }, (env, args) => {
  env
    .fromSequence(0, args.records - 1)
    .mapAsync(async (id) => ({ id, value: await lookup(args.port, id) }), {
      ordered: args.ordered,
      capacity: args.capacity,
      timeoutMs: 30_000,
    })
    .process(new TagSubtask())
    .sinkTo(collectSink('enriched'));
});
