import { fileURLToPath } from 'node:url';
import { fileSink, textFileSource } from '@sluice/connectors';
import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  type OnTimerContext,
  valueState,
} from '@sluice/core';

export interface WordCountArgs {
  /** The text file to read (default: input.txt beside this module). */
  readonly input?: string;
  /** Write `word count` lines to part files in this directory instead of printing them. */
  readonly output?: string;
  /** Send the counts to a collect sink named 'counts' (for tests). */
  readonly collect?: boolean;
}

export interface WordCount {
  readonly word: string;
  readonly count: number;
}

/** The default input, resolved from this module so that the job runs from any directory. */
export const DEFAULT_INPUT = fileURLToPath(new URL('./input.txt', import.meta.url));

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

/** The lowercase words of a line: runs of letters and digits, with inner apostrophes. */
export function words(line: string): string[] {
  return line.toLowerCase().match(WORD) ?? [];
}

/**
 * The time of a timer that only the final watermark reaches: a bounded source ends with a
 * watermark of +Infinity, which fires every event-time timer, so each key's timer fires once, at
 * end of input, after all its words were counted.
 */
const END_OF_INPUT = Number.MAX_SAFE_INTEGER;

const countDescriptor = valueState<number>('count', { defaultValue: 0 });

/** Counts a word's occurrences in keyed state and emits the final count once, at end of input. */
const finalCount: KeyedProcessFunction<string, string, WordCount> = {
  processElement(_word: string, ctx: KeyedProcessContext<string>): void {
    const state = ctx.getState(countDescriptor);
    const count = state.value() ?? 0;
    if (count === 0) ctx.timerService.registerEventTimeTimer(END_OF_INPUT);
    state.update(count + 1);
  },
  onTimer(_timestamp: number, ctx: OnTimerContext<string>, out: Collector<WordCount>): void {
    out.collect({ word: ctx.key, count: ctx.getState(countDescriptor).value() ?? 0 });
  },
};

const format = (c: WordCount): string => `${c.word} ${c.count}`;

/** Counts the words of a text file: lines → lowercase words → keyBy(word) → one final count per word. */
export default defineJob<WordCountArgs | undefined>({ name: 'word-count' }, (env, args = {}) => {
  const counts = env
    .fromSource(textFileSource(args.input ?? DEFAULT_INPUT), { name: 'read-lines' })
    .flatMap((line: string) => words(line))
    .keyBy((word) => word)
    .process(finalCount);
  if (args.collect) counts.sinkTo(collectSink('counts'));
  else if (args.output !== undefined) counts.sinkTo(fileSink(args.output, { format }));
  else counts.print({ format });
});
