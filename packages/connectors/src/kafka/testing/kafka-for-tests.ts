import { type LocalKafka, startLocalKafka } from './local-broker.ts';

export type KafkaForTests = { brokers: string; stop(): Promise<void> } | { skipped: string };

/** The broker this process started, shared by every caller until the last one stops. */
let shared: { started: Promise<LocalKafka>; users: number } | undefined;
/** Why starting failed: remembered, so that every test file does not wait for the same failure again. */
let failure: string | undefined;

/**
 * A Kafka broker for tests. `KAFKA_BROKERS` (a bootstrap list) selects an existing one, which is
 * never stopped. Otherwise a local broker is started (see `startLocalKafka`) and shared by all
 * callers in this process; it stops when the last caller's `stop()` resolves, or when the process
 * exits. Call it once per test file, in a top-level `beforeAll`, and `stop()` in `afterAll`:
 * vitest ends its worker processes right after, and a broker still running then is only killed.
 *
 * When the broker cannot start (no Java, no Maven, no network for the first download) tests
 * should skip, and this returns the reason, also printed to stderr so the skip is noticed. Not on
 * CI (`CI=true`): there it throws, failing the tests instead of letting them pass without Kafka.
 */
export async function kafkaForTests(): Promise<KafkaForTests> {
  const external = process.env.KAFKA_BROKERS;
  if (external !== undefined && external.trim().length > 0) {
    return { brokers: external.trim(), stop: async () => {} };
  }
  if (failure !== undefined) return skip(failure);

  shared ??= { started: startLocalKafka(), users: 0 };
  const current = shared;
  current.users++;
  let kafka: LocalKafka;
  try {
    kafka = await current.started;
  } catch (error) {
    if (shared === current) shared = undefined;
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI === 'true') {
      throw new Error(`Kafka tests cannot run on CI: the local broker did not start: ${reason}`, {
        cause: error,
      });
    }
    failure = reason;
    return skip(reason);
  }

  let stopped = false;
  return {
    brokers: kafka.brokers,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      current.users--;
      if (current.users > 0) return;
      if (shared === current) shared = undefined;
      await kafka.stop();
    },
  };
}

function skip(reason: string): { skipped: string } {
  process.stderr.write(
    `\nKafka tests SKIPPED: ${reason}\n` +
      '(set KAFKA_BROKERS=host:port to use a running broker; with CI=true this is an error)\n\n',
  );
  return { skipped: reason };
}
