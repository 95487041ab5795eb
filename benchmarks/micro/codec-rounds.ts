/**
 * Run by hand: the codec group's encoders and decoders (`codec.ts`), interleaved a few ops at a
 * time for many rounds, each keeping its fastest round. On a shared, loaded machine the fastest
 * round is the figure least moved by other processes; benchmark.js's mean moves by ±20–40% there.
 * Ratios are to `msgpackr encode (before)` and `msgpackr decode (before)` of the same run. The
 * order of the contestants is reversed every other round.
 *
 *   node benchmarks/micro/codec-rounds.ts [rounds]
 */
import { codecFixture } from './codec.ts';

const rounds = Number(process.argv[2] ?? 40);
let sink = 0;
for (const size of ['small', 'large'] as const) {
  const fixture = codecFixture(size);
  const records = fixture.batch[0].length;
  // About a millisecond or more per round for each contestant.
  const opsPerRound = size === 'small' ? 60 : 6;
  const contestants: Record<string, () => void> = {
    'msgpackr encode (before)': () => {
      sink += fixture.encodeBefore().byteLength;
    },
    'record check + encode': () => {
      sink += fixture.checkAndEncode().byteLength;
    },
    'record check + msgpackr encode (before)': () => {
      sink += fixture.checkAndEncodeBefore().byteLength;
    },
    'record check': () => {
      fixture.check();
      sink++;
    },
    decode: () => {
      sink += fixture.decode(fixture.frame)[0].length;
    },
    'msgpackr decode (before)': () => {
      sink += fixture.decodeBefore(fixture.frameBefore)[0].length;
    },
  };
  const fastest = new Map<string, number>();
  const order = Object.entries(contestants);
  const reversed = [...order].reverse();
  for (let round = 0; round < rounds; round++) {
    // Every other round in reverse: a contestant's place in the round moved its time by 5-20%.
    for (const [name, op] of round % 2 === 0 ? order : reversed) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < opsPerRound; i++) op();
      const nsPerRecord = Number(process.hrtime.bigint() - started) / opsPerRound / records;
      fastest.set(name, Math.min(fastest.get(name) ?? Number.POSITIVE_INFINITY, nsPerRecord));
    }
  }
  for (const [name, ns] of fastest) {
    const baseline = name.includes('decode') ? 'msgpackr decode (before)' : 'msgpackr encode (before)';
    const ratio = fastest.get(baseline)! / ns;
    console.log(
      `${size.padEnd(5)}  ${name.padEnd(40)}  ${ns.toFixed(1).padStart(7)} ns/record  ${ratio.toFixed(2)}x`,
    );
  }
}
if (sink === 0) throw new Error('bug: no op ran');
