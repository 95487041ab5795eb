/** `@sluice/connectors/testing`: a local Kafka broker and helpers, for tests and examples. */
export { type KafkaForTests, kafkaForTests } from './kafka-for-tests.ts';
export {
  kafkaToolsClasspath,
  type LocalKafka,
  type LocalKafkaOptions,
  startLocalKafka,
} from './local-broker.ts';
export { type ReadRecord, readTopic } from './read-topic.ts';
