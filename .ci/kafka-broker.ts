/**
 * CI step: provisions the Kafka broker the tests use (fetches the jars into the cache on a fresh
 * machine) and proves it starts and stops, so that a broker problem fails as its own step with the
 * broker's own output, not as a test timeout.
 */
import { startLocalKafka } from '../packages/connectors/src/kafka/testing/local-broker.ts';

const started = performance.now();
const kafka = await startLocalKafka({ log: (line) => process.stdout.write(`${line}\n`) });
process.stdout.write(
  `Kafka broker up at ${kafka.brokers} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
await kafka.stop();
