/**
 * Runs a local Kafka broker in the foreground until Ctrl-C, for demos and manual tests:
 *
 *   pnpm kafka start [--port N] [--log-dir DIR] [--quiet]
 *
 * Prints `KAFKA_BROKERS=127.0.0.1:PORT` on stdout once the broker answers (so
 * `eval "$(pnpm -s kafka start | head -1)"` style scripting works); Maven's and the broker's
 * own lines (WARN and above) go to stderr unless --quiet.
 */
import { parseArgs } from 'node:util';
import { startLocalKafka } from './local-broker.ts';

const USAGE = 'usage: pnpm kafka start [--port N] [--log-dir DIR] [--quiet]';

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'start') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    process.stderr.write(`--port must be an integer in 1..65535, got '${values.port}'\n`);
    return 2;
  }

  // startLocalKafka cannot be cancelled: a signal while it runs (fetching jars, starting the JVM)
  // exits at once, and the 'exit' handler it installed kills Maven or the JVM.
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => {
    process.stderr.write(`${signal} while starting: exiting\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);

  const started = Date.now();
  const kafka = await startLocalKafka({
    port,
    logDir: values['log-dir'],
    log: values.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(
    `Kafka broker ready in ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C stops it\n`,
  );
  process.stdout.write(`KAFKA_BROKERS=${kafka.brokers}\n`);

  // The broker does not keep this process alive by itself (see startLocalKafka).
  const keepAlive = setInterval(() => {}, 1 << 30);
  const outcome = await new Promise<{ signal: NodeJS.Signals } | { crashed: true }>((resolve) => {
    onSignal = (signal) => resolve({ signal });
    void kafka.exited.then(() => resolve({ crashed: true }));
  });
  clearInterval(keepAlive);

  if ('crashed' in outcome) {
    const exit = await kafka.exited;
    process.stderr.write(
      `The Kafka broker exited on its own (${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}); its last lines:\n${exit.output}\n`,
    );
    await kafka.stop(); // removes its temporary directory
    return 1;
  }
  process.stderr.write(`${outcome.signal}: stopping the Kafka broker\n`);
  await kafka.stop();
  process.stderr.write('Kafka broker stopped\n');
  return 0;
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'log-dir': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
