import { ConfigError } from '@sluice/core';

/** The `brokers` option of a Kafka connector: `host:port` addresses, as a list or comma-separated. */
export function parseBrokers(option: unknown, connector: string): string[] {
  const brokers = typeof option === 'string' ? option.split(',').map((b) => b.trim()) : option;
  if (
    !Array.isArray(brokers) ||
    brokers.length === 0 ||
    brokers.some((b) => typeof b !== 'string' || !b.includes(':'))
  ) {
    throw new ConfigError(
      `${connector}: option "brokers" must list host:port addresses, got ${String(option)}`,
    );
  }
  return [...(brokers as string[])];
}
