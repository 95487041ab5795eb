/**
 * CPU time and memory of other processes (a local cluster's task managers), read from Linux's
 * /proc: a contestant's own `process.cpuUsage()` and `maxRSS` do not include its child
 * processes while they run. Elsewhere every figure reads as unavailable (undefined).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat's times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of process `pid` (all its threads), to 1/CLK_TCK s; undefined if gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The kernel's peak RSS of process `pid` so far (VmHWM), bytes; undefined if gone. */
export function processPeakRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** What `ProcessSampler` saw of one process. */
export interface SampledProcess {
  readonly pid: number;
  /** Highest VmHWM read (the last read before it exited, within `everyMs`). */
  readonly peakRssBytes: number;
  /** Its CPU seconds at the last read. */
  readonly cpuSeconds: number;
}

/**
 * Samples a changing set of processes every `everyMs` and on demand (`sample()`): their peak RSS
 * and their CPU time. A process keeps the figures of its last read after it has exited, so the
 * sum of CPU times never goes backwards.
 */
export class ProcessSampler {
  readonly #pids: () => readonly number[];
  readonly #seen = new Map<number, { peakRssBytes: number; cpuSeconds: number }>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(pids: () => readonly number[], everyMs = 100) {
    this.#pids = pids;
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.#timer.unref();
    this.sample();
  }

  /** Reads every process now; returns the CPU seconds of all processes seen so far, summed. */
  sample(): number {
    for (const pid of this.#pids()) {
      const cpuSeconds = processCpuSeconds(pid);
      const peakRssBytes = processPeakRssBytes(pid);
      if (cpuSeconds === undefined || peakRssBytes === undefined) continue;
      const seen = this.#seen.get(pid);
      this.#seen.set(pid, { cpuSeconds, peakRssBytes: Math.max(peakRssBytes, seen?.peakRssBytes ?? 0) });
    }
    let cpu = 0;
    for (const seen of this.#seen.values()) cpu += seen.cpuSeconds;
    return cpu;
  }

  stop(): SampledProcess[] {
    clearInterval(this.#timer);
    return [...this.#seen].map(([pid, seen]) => ({ pid, ...seen }));
  }
}
