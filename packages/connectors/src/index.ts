/**
 * Connectors for Sluice jobs beyond the built-in collection, generator, print and collect ones.
 *
 * Files: `textFileSource` reads the lines of text files, split over the source's subtasks by byte
 * ranges; `fileSink` writes one file of lines per subtask, exactly once (two-phase commit) when
 * the job checkpoints.
 *
 * @example
 * import { fileSink, textFileSource } from '@sluice/connectors';
 *
 * env
 *   .fromSource(textFileSource('input.txt'))
 *   .map((line) => line.toUpperCase())
 *   .sinkTo(fileSink('out'));
 */
export { type FileSinkOptions, fileSink } from './file/file-sink.ts';
export { FileConnectorError, type TextFileSourceOptions, textFileSource } from './file/text-file-source.ts';
export type {
  FetchedBatch,
  FetchOptions,
  KafkaClient,
  KafkaClientFactory,
  KafkaProducer,
  OutgoingKafkaRecord,
  PartitionFetcher,
  PartitionInfo,
  PartitionOffset,
  RawKafkaRecord,
  TransactionalProducer,
  TransactionHandle,
} from './kafka/client.ts';
export type {
  KafkaDeserializer,
  KafkaFormat,
  KafkaRecord,
  KafkaSerializer,
  ValueOf,
} from './kafka/formats.ts';
export { type KafkaSinkOptions, kafkaSink } from './kafka/kafka-sink.ts';
export {
  type BadRecordPolicy,
  DEAD_LETTER_HEADERS,
  KafkaRecordError,
  type KafkaSourceOptions,
  type KafkaStartOffsets,
  type KafkaWatermarks,
  kafkaSource,
} from './kafka/kafka-source.ts';
export { type KafkajsClientOptions, kafkajsClient } from './kafka/kafkajs-client.ts';
