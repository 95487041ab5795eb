import { kafkaSink, kafkaSource } from '@sluice/connectors';
import { count, defineJob, minutes, tumbling } from '@sluice/core';

export interface Login {
  readonly user: string;
  readonly country: string;
}

export interface CountryMinute {
  readonly country: string;
  readonly minute: number;
  readonly logins: number;
}

/** Logins per country per minute of processing time, from one Kafka topic to another. */
export default defineJob({ name: 'logins-per-country' }, (env) => {
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  env
    .fromSource(
      kafkaSource<Login>({
        brokers,
        topics: 'logins',
        format: (record) => JSON.parse(String(record.value)) as Login,
      }),
      { uid: 'logins' },
    )
    .keyBy((login) => login.country)
    .window(tumbling(minutes(1), { time: 'processing' }))
    .aggregate(
      count(),
      (country, window, logins): CountryMinute => ({ country, minute: window.start, logins }),
    )
    .sinkTo(kafkaSink<CountryMinute>({ brokers, topic: 'logins-per-country', format: 'json' }))
    .uid('per-country');
});
