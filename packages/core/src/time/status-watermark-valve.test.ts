import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StatusWatermarkValve, type ValveOutput } from './status-watermark-valve.ts';

type Event =
  | { type: 'watermark'; channel: number; watermark: number }
  | { type: 'status'; channel: number; idle: boolean }
  | { type: 'finish'; channel: number };

/**
 * The rules, written as a from-scratch recomputation after every accepted event (the valve
 * itself works incrementally).
 */
class ModelValve {
  readonly channels: Array<{ wm: number; active: boolean; aligned: boolean; finished: boolean }>;
  out = Number.NEGATIVE_INFINITY;
  idle = false;

  constructor(n: number) {
    this.channels = Array.from({ length: n }, () => ({
      wm: Number.NEGATIVE_INFINITY,
      active: true,
      aligned: true,
      finished: false,
    }));
  }

  apply(e: Event): { watermark: number | undefined; statusChanged: 'idle' | 'active' | undefined } {
    const c = this.channels[e.channel]!;
    const none = { watermark: undefined, statusChanged: undefined };
    if (c.finished) return none;
    if (e.type === 'watermark') {
      if (!c.active || this.idle || e.watermark <= c.wm) return none;
      c.wm = e.watermark;
      if (!c.aligned && c.wm >= this.out) c.aligned = true;
    } else if (e.type === 'status') {
      if (c.active !== e.idle) return none;
      c.active = !e.idle;
      c.aligned = c.active && c.wm >= this.out;
    } else {
      Object.assign(c, { finished: true, active: false, aligned: false, wm: Number.POSITIVE_INFINITY });
    }
    const wasIdle = this.idle;
    let next = this.out;
    if (this.channels.every((ch) => ch.finished)) {
      this.idle = false;
      next = Number.POSITIVE_INFINITY;
    } else if (!this.channels.some((ch) => ch.active)) {
      this.idle = true;
      for (const ch of this.channels) if (!ch.finished) next = Math.max(next, ch.wm);
    } else {
      this.idle = false;
      const aligned = this.channels.filter((ch) => ch.active && ch.aligned).map((ch) => ch.wm);
      if (aligned.length > 0) next = Math.max(next, Math.min(...aligned));
    }
    const advanced = next > this.out ? next : undefined;
    this.out = next;
    return {
      watermark: advanced,
      statusChanged: wasIdle === this.idle ? undefined : this.idle ? 'idle' : 'active',
    };
  }
}

function send(
  valve: StatusWatermarkValve,
  e: Event,
): { watermark: number | undefined; statusChanged: ValveOutput['statusChanged'] } {
  if (e.type === 'watermark')
    return { watermark: valve.inputWatermark(e.watermark, e.channel), statusChanged: undefined };
  const out =
    e.type === 'status' ? valve.inputWatermarkStatus(e.idle, e.channel) : valve.channelFinished(e.channel);
  return { watermark: out.watermark, statusChanged: out.statusChanged };
}

const scenario = fc.integer({ min: 1, max: 4 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    events: fc.array(
      fc.oneof(
        {
          weight: 8,
          arbitrary: fc.record({
            type: fc.constant('watermark' as const),
            channel: fc.nat(n - 1),
            watermark: fc.integer({ min: -5, max: 60 }),
          }),
        },
        {
          weight: 3,
          arbitrary: fc.record({
            type: fc.constant('status' as const),
            channel: fc.nat(n - 1),
            idle: fc.boolean(),
          }),
        },
        { weight: 1, arbitrary: fc.record({ type: fc.constant('finish' as const), channel: fc.nat(n - 1) }) },
      ),
      { maxLength: 80, size: 'max' },
    ),
  }),
);

describe('StatusWatermarkValve vs a model', () => {
  it('emits what the model emits; output is monotonic and, while active, the min over active aligned channels', () => {
    fc.assert(
      fc.property(scenario, ({ n, events }) => {
        const valve = new StatusWatermarkValve(n);
        const model = new ModelValve(n);
        let last = Number.NEGATIVE_INFINITY;
        for (const e of events) {
          const got = send(valve, e);
          const expected = model.apply(e);
          expect(got).toEqual(expected);
          if (got.watermark !== undefined) {
            expect(got.watermark).toBeGreaterThan(last);
            last = got.watermark;
            if (!valve.isIdle && got.watermark !== Number.POSITIVE_INFINITY) {
              // it is the watermark of some active aligned channel, and no such channel is below it
              const counted = model.channels.filter((c) => c.active && c.aligned);
              expect(counted.map((c) => c.wm)).toContain(got.watermark);
              expect(Math.min(...counted.map((c) => c.wm))).toBe(got.watermark);
            }
          }
          expect(valve.currentWatermark).toBe(last);
          expect(valve.currentWatermark).toBe(model.out);
          expect(valve.isIdle).toBe(model.idle);
          for (let i = 0; i < n; i++) expect(valve.channelWatermark(i)).toBe(model.channels[i]!.wm);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('StatusWatermarkValve', () => {
  it('emits the minimum over channels, only when it advances', () => {
    const v = new StatusWatermarkValve(3);
    expect(v.inputWatermark(10, 0)).toBeUndefined();
    expect(v.inputWatermark(20, 1)).toBeUndefined();
    expect(v.inputWatermark(5, 2)).toBe(5);
    expect(v.inputWatermark(30, 0)).toBeUndefined(); // channel 0 was not the minimum
    expect(v.inputWatermark(25, 2)).toBe(20);
    expect(v.inputWatermark(15, 1)).toBeUndefined(); // a channel going back is ignored
    expect(v.channelWatermark(1)).toBe(20);
    expect(v.currentWatermark).toBe(20);
  });

  it('lets an idle channel stop holding the watermark back, and goes idle when all are', () => {
    const v = new StatusWatermarkValve(2);
    v.inputWatermark(10, 0);
    expect(v.inputWatermark(3, 1)).toBe(3);
    expect(v.inputWatermarkStatus(true, 1)).toEqual({ watermark: 10 });
    expect(v.inputWatermarkStatus(true, 1)).toEqual({}); // repeated status: no-op
    expect(v.inputWatermark(50, 1)).toBeUndefined(); // ignored while idle
    expect(v.inputWatermark(12, 0)).toBe(12);
    expect(v.inputWatermarkStatus(true, 0)).toEqual({ statusChanged: 'idle' });
    expect(v.isIdle).toBe(true);
    expect(v.inputWatermarkStatus(false, 1)).toEqual({ statusChanged: 'active' });
  });

  it('flushes to the maximum when all channels go idle', () => {
    const v = new StatusWatermarkValve(2);
    v.inputWatermark(10, 0);
    expect(v.inputWatermark(30, 1)).toBe(10);
    expect(v.inputWatermarkStatus(true, 1)).toEqual({});
    expect(v.inputWatermarkStatus(true, 0)).toEqual({ statusChanged: 'idle', watermark: 30 });
  });

  it('keeps a returning channel that is behind out of the minimum until it catches up', () => {
    const v = new StatusWatermarkValve(2);
    v.inputWatermark(5, 0);
    v.inputWatermark(5, 1);
    v.inputWatermarkStatus(true, 1);
    expect(v.inputWatermark(20, 0)).toBe(20);
    expect(v.inputWatermarkStatus(false, 1)).toEqual({}); // back at 5 < 20: unaligned
    expect(v.inputWatermark(25, 0)).toBe(25); // channel 1 does not hold it back
    expect(v.inputWatermark(24, 1)).toBeUndefined(); // still behind
    expect(v.inputWatermark(26, 1)).toBeUndefined(); // caught up: aligned again, but 25 is still the min
    expect(v.inputWatermark(30, 0)).toBe(26);
  });

  it('advances at once when a channel returns aligned while every other active channel is behind', () => {
    const v = new StatusWatermarkValve(3);
    v.inputWatermark(20, 0);
    v.inputWatermark(10, 1);
    expect(v.inputWatermark(5, 2)).toBe(5);
    expect(v.inputWatermarkStatus(true, 2)).toEqual({ watermark: 10 });
    expect(v.inputWatermarkStatus(false, 2)).toEqual({}); // 5 < 10: unaligned
    expect(v.inputWatermarkStatus(true, 0)).toEqual({}); // 20 > 10: was not the minimum
    expect(v.inputWatermarkStatus(true, 1)).toEqual({}); // held the minimum, but no aligned channel is left
    expect(v.currentWatermark).toBe(10);
    // Channel 0 returns at 20 >= 10: aligned, and the only aligned channel, so the output moves now.
    expect(v.inputWatermarkStatus(false, 0)).toEqual({ watermark: 20 });
    expect(v.inputWatermark(21, 0)).toBe(21);
  });

  it('treats a finished channel as +Infinity and ends with the final watermark', () => {
    const v = new StatusWatermarkValve(3);
    v.inputWatermark(10, 0);
    v.inputWatermark(20, 1);
    v.inputWatermark(30, 2);
    expect(v.currentWatermark).toBe(10);
    expect(v.channelFinished(0)).toEqual({ watermark: 20 });
    expect(v.channelFinished(0)).toEqual({});
    expect(v.inputWatermark(40, 0)).toBeUndefined();
    expect(v.inputWatermarkStatus(true, 2)).toEqual({});
    expect(v.channelFinished(1)).toEqual({ statusChanged: 'idle', watermark: 30 });
    expect(v.channelFinished(2)).toEqual({ statusChanged: 'active', watermark: Number.POSITIVE_INFINITY });
    expect(v.currentWatermark).toBe(Number.POSITIVE_INFINITY);
  });

  it('validates its arguments', () => {
    expect(() => new StatusWatermarkValve(0)).toThrow(/numChannels/);
    expect(() => new StatusWatermarkValve(1.5)).toThrow(RangeError);
    const v = new StatusWatermarkValve(2);
    expect(() => v.inputWatermark(1, 2)).toThrow(/inputWatermark: channelIndex/);
    expect(() => v.inputWatermark(1, -1)).toThrow(RangeError);
    expect(() => v.inputWatermarkStatus(true, 0.5)).toThrow(RangeError);
    expect(() => v.channelFinished(7)).toThrow(/channelFinished/);
    expect(() => v.inputWatermark(Number.NaN, 0)).toThrow(/watermark must be a number/);
  });
});
