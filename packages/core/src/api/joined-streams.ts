import type { Collector, KeySelector, ProcessWindowFunction } from '../contracts/functions.ts';
import type { CoGroupFunction, FlatJoinFunction, JoinFunction } from '../contracts/join-functions.ts';
import { ConfigError } from '../errors.ts';
import { LEFT, type TaggedRecord } from '../plan/tagged-union.ts';
import type { Key } from '../state/key-groups.ts';
import type { WindowAssigner } from '../time/windows.ts';
import type { DataStream, SingleOutputStream } from './data-stream.ts';
import { keyedUnion, requireKeySelector } from './keyed-union.ts';

/*
 * Window joins and co-groups, built as Flink builds them (`JoinedStreams`, `CoGroupedStreams`):
 * the two sides become one keyed stream of tagged records (`keyedUnion`), a keyed window collects
 * both sides' records per key and window, and when the window fires a window function splits them
 * by side and hands them to the co-group function. A join is the co-group that calls the join
 * function once for every (left, right) pair. So a join has every property of a keyed window: its
 * output is emitted when the window fires, with the window's max timestamp (end - 1); its state is
 * checkpointed and rescaled by key group; session windows merge across both sides.
 */

interface Sides<L, R, K extends Key> {
  readonly operation: 'join' | 'coGroup';
  readonly left: DataStream<L>;
  readonly right: DataStream<R>;
  readonly leftKey: KeySelector<L, K>;
  readonly rightKey: KeySelector<R, K>;
}

function requireAssigner(assigner: unknown, operation: string): asserts assigner is WindowAssigner {
  if (
    assigner === null ||
    typeof assigner !== 'object' ||
    typeof (assigner as WindowAssigner).assignWindows !== 'function'
  ) {
    throw new ConfigError(`${operation}: window expects a window assigner such as tumbling(seconds(10))`);
  }
}

function requireFunction(value: unknown, operation: string, what: string): void {
  if (typeof value !== 'function') {
    throw new ConfigError(`${operation}: expected a ${what}, got ${value === null ? 'null' : typeof value}`);
  }
}

/** The keyed window over both sides, with `coGroup` called once per key and window. */
function coGroupWindows<L, R, K extends Key, O>(
  sides: Sides<L, R, K>,
  assigner: WindowAssigner,
  coGroup: CoGroupFunction<L, R, O>,
): SingleOutputStream<O> {
  const windowFunction: ProcessWindowFunction<TaggedRecord<L | R>, O, K> = {
    process(_key, _ctx, elements, out) {
      const left: L[] = [];
      const right: R[] = [];
      for (const element of elements) {
        if (element.side === LEFT) left.push(element.value as L);
        else right.push(element.value as R);
      }
      coGroup(left, right, out);
    },
  };
  return keyedUnion(sides.operation, sides.left, sides.right, sides.leftKey, sides.rightKey)
    .window(assigner)
    .process(windowFunction)
    .name(`${sides.operation}(${assigner.describe()})`);
}

// ---------------------------------------------------------------------------------------------
// join

/** `left.join(right)`: choose the left key with `where`. */
export class JoinedStreams<L, R> {
  readonly #left: DataStream<L>;
  readonly #right: DataStream<R>;

  /** @internal */
  constructor(left: DataStream<L>, right: DataStream<R>) {
    this.#left = left;
    this.#right = right;
  }

  /** The key of a left record. */
  where<K extends Key>(keySelector: KeySelector<L, K>): JoinWhere<L, R, K> {
    requireKeySelector(keySelector, 'join: where');
    return new JoinWhere(this.#left, this.#right, keySelector);
  }
}

/** `...where(key)`: choose the right key with `equalTo`. */
export class JoinWhere<L, R, K extends Key> {
  readonly #left: DataStream<L>;
  readonly #right: DataStream<R>;
  readonly #leftKey: KeySelector<L, K>;

  /** @internal */
  constructor(left: DataStream<L>, right: DataStream<R>, leftKey: KeySelector<L, K>) {
    this.#left = left;
    this.#right = right;
    this.#leftKey = leftKey;
  }

  /** The key of a right record; records of both sides join when their keys are equal (`===`). */
  equalTo(keySelector: KeySelector<R, K>): JoinEqualTo<L, R, K> {
    requireKeySelector(keySelector, 'join: equalTo');
    return new JoinEqualTo({
      operation: 'join',
      left: this.#left,
      right: this.#right,
      leftKey: this.#leftKey,
      rightKey: keySelector,
    });
  }
}

/** `...equalTo(key)`: choose the windows with `window`. */
export class JoinEqualTo<L, R, K extends Key> {
  readonly #sides: Sides<L, R, K>;

  /** @internal */
  constructor(sides: Sides<L, R, K>) {
    this.#sides = sides;
  }

  /** Records of both sides join only within the same window (tumbling, sliding or session). */
  window(assigner: WindowAssigner): WindowedJoin<L, R, K> {
    requireAssigner(assigner, 'join');
    return new WindowedJoin(this.#sides, assigner);
  }
}

/** A window join, ready for its join function. */
export class WindowedJoin<L, R, K extends Key> {
  readonly #sides: Sides<L, R, K>;
  readonly #assigner: WindowAssigner;

  /** @internal */
  constructor(sides: Sides<L, R, K>, assigner: WindowAssigner) {
    this.#sides = sides;
    this.#assigner = assigner;
  }

  /**
   * An inner join: when a window fires, `fn` is called once for every pair (left, right) of
   * records with the same key in that window, and each result is emitted with the window's max
   * timestamp.
   */
  apply<O>(fn: JoinFunction<L, R, O>): SingleOutputStream<O> {
    requireFunction(fn, 'join: apply', 'join function (left, right) => output');
    return coGroupWindows<L, R, K, O>(this.#sides, this.#assigner, (left, right, out) => {
      for (const l of left) for (const r of right) out.collect(fn(l, r));
    });
  }

  /** As `apply`, with a function that emits any number of records per pair. */
  flatApply<O>(fn: FlatJoinFunction<L, R, O>): SingleOutputStream<O> {
    requireFunction(fn, 'join: flatApply', 'flat join function (left, right, out) => ...');
    return coGroupWindows<L, R, K, O>(this.#sides, this.#assigner, (left, right, out) => {
      for (const l of left) {
        for (const r of right) emitAll(fn(l, r, out), out);
      }
    });
  }
}

function emitAll<O>(result: ReturnType<FlatJoinFunction<unknown, unknown, O>>, out: Collector<O>): void {
  if (result !== undefined && result !== null) for (const item of result as Iterable<O>) out.collect(item);
}

// ---------------------------------------------------------------------------------------------
// coGroup

/** `left.coGroup(right)`: choose the left key with `where`. */
export class CoGroupedStreams<L, R> {
  readonly #left: DataStream<L>;
  readonly #right: DataStream<R>;

  /** @internal */
  constructor(left: DataStream<L>, right: DataStream<R>) {
    this.#left = left;
    this.#right = right;
  }

  /** The key of a left record. */
  where<K extends Key>(keySelector: KeySelector<L, K>): CoGroupWhere<L, R, K> {
    requireKeySelector(keySelector, 'coGroup: where');
    return new CoGroupWhere(this.#left, this.#right, keySelector);
  }
}

/** `...where(key)`: choose the right key with `equalTo`. */
export class CoGroupWhere<L, R, K extends Key> {
  readonly #left: DataStream<L>;
  readonly #right: DataStream<R>;
  readonly #leftKey: KeySelector<L, K>;

  /** @internal */
  constructor(left: DataStream<L>, right: DataStream<R>, leftKey: KeySelector<L, K>) {
    this.#left = left;
    this.#right = right;
    this.#leftKey = leftKey;
  }

  /** The key of a right record; records of both sides are grouped when their keys are equal (`===`). */
  equalTo(keySelector: KeySelector<R, K>): CoGroupEqualTo<L, R, K> {
    requireKeySelector(keySelector, 'coGroup: equalTo');
    return new CoGroupEqualTo({
      operation: 'coGroup',
      left: this.#left,
      right: this.#right,
      leftKey: this.#leftKey,
      rightKey: keySelector,
    });
  }
}

/** `...equalTo(key)`: choose the windows with `window`. */
export class CoGroupEqualTo<L, R, K extends Key> {
  readonly #sides: Sides<L, R, K>;

  /** @internal */
  constructor(sides: Sides<L, R, K>) {
    this.#sides = sides;
  }

  window(assigner: WindowAssigner): WindowedCoGroup<L, R, K> {
    requireAssigner(assigner, 'coGroup');
    return new WindowedCoGroup(this.#sides, assigner);
  }
}

/** A windowed co-group, ready for its co-group function. */
export class WindowedCoGroup<L, R, K extends Key> {
  readonly #sides: Sides<L, R, K>;
  readonly #assigner: WindowAssigner;

  /** @internal */
  constructor(sides: Sides<L, R, K>, assigner: WindowAssigner) {
    this.#sides = sides;
    this.#assigner = assigner;
  }

  /**
   * When a window fires, `fn` gets, for each key that has records in it, the left and the right
   * records of that key and window (one side may be empty); what it emits carries the window's
   * max timestamp.
   */
  apply<O>(fn: CoGroupFunction<L, R, O>): SingleOutputStream<O> {
    requireFunction(fn, 'coGroup: apply', 'co-group function (left[], right[], out) => void');
    return coGroupWindows<L, R, K, O>(this.#sides, this.#assigner, fn);
  }
}
