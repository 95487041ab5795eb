import { collectionSource } from '../connectors/collection-source.ts';
import { type GeneratorOptions, generatorSource } from '../connectors/generator-source.ts';
import type { Source } from '../contracts/source.ts';
import { ConfigError } from '../errors.ts';
import type { PartitionerSpec, StreamInput, StreamNode } from '../plan/stream-node.ts';
import { DataStream, type SingleOutputStream } from './data-stream.ts';

export interface NodeOptions {
  readonly name?: string;
  readonly uid?: string;
  readonly parallelism?: number;
}

/**
 * The handle a job's build function receives. It records the logical graph; nothing runs until
 * the job is executed, and the same module rebuilds the same graph in every worker.
 */
export class StreamExecutionEnvironment {
  readonly jobName: string;
  /** The default parallelism of operators that do not set their own. */
  readonly parallelism: number;
  readonly maxParallelism: number;
  /** @internal The graph as the planner reads it. */
  readonly nodes: StreamNode[] = [];

  constructor(jobName: string, parallelism: number, maxParallelism: number) {
    this.jobName = jobName;
    this.parallelism = parallelism;
    this.maxParallelism = maxParallelism;
  }

  /** Reads from any `Source`: built-in ones, files, Kafka, your own. */
  fromSource<T>(source: Source<T>, options: NodeOptions = {}): SingleOutputStream<T> {
    if (source === null || typeof source !== 'object' || typeof source.createReader !== 'function') {
      throw new ConfigError(`fromSource: expected a Source with createReader(), got ${String(source)}`);
    }
    const node = this.addNode({
      role: 'source',
      kind: 'source',
      name: options.name ?? source.name,
      inputs: [],
      emitsTimestamps: source.emitsTimestamps === true,
      source: source as Source<unknown>,
      parallelismLimit: source.maxParallelism,
    });
    applyNodeOptions(node, options);
    return DataStream.fromNode<T>(this, node);
  }

  /** A bounded stream of the given items, split across the source's subtasks. */
  fromCollection<T>(items: readonly T[], options: NodeOptions = {}): SingleOutputStream<T> {
    return this.fromSource(collectionSource(items), { name: 'collection', ...options });
  }

  /** The integers `from` to `to` inclusive, split across the source's subtasks. */
  fromSequence(from: number, to: number, options: NodeOptions = {}): SingleOutputStream<number> {
    return this.fromSource(
      generatorSource((i) => from + i, { count: to - from + 1 }),
      { name: `sequence(${from}..${to})`, ...options },
    );
  }

  /**
   * Records made by `generate(index)`, bounded by `count` or unbounded, as fast as possible or
   * at `ratePerSecond` (spread over the subtasks).
   */
  generate<T>(
    generate: (index: number) => T,
    options: GeneratorOptions & NodeOptions = {},
  ): SingleOutputStream<T> {
    const { name, uid, parallelism, ...generatorOptions } = options;
    return this.fromSource(generatorSource(generate, generatorOptions), {
      name: name ?? 'generator',
      ...(uid === undefined ? {} : { uid }),
      ...(parallelism === undefined ? {} : { parallelism }),
    });
  }

  /** @internal */
  addNode(
    spec: Partial<StreamNode> & Pick<StreamNode, 'role' | 'kind' | 'inputs' | 'emitsTimestamps'>,
  ): StreamNode {
    const node: StreamNode = {
      index: this.nodes.length,
      name: spec.name ?? spec.kind,
      uid: undefined,
      parallelism: undefined,
      keySelector: undefined,
      requiresTimestamps: undefined,
      source: undefined,
      sink: undefined,
      operator: undefined,
      parallelismLimit: undefined,
      sideOutputs: new Set(),
      ...spec,
    };
    this.nodes.push(node);
    return node;
  }
}

export function applyNodeOptions(node: StreamNode, options: NodeOptions): void {
  if (options.name !== undefined) node.name = options.name;
  if (options.uid !== undefined) node.uid = options.uid;
  if (options.parallelism !== undefined) node.parallelism = options.parallelism;
}

export function inputsWith(inputs: readonly StreamInput[], partitioner: PartitionerSpec): StreamInput[] {
  return inputs.map((input) => ({ ...input, partitioner }));
}
