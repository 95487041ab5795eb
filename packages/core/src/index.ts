// The public surface of @sluice/core. Everything else is internal.
// First: on a Node older than Sluice supports, this throws a message saying so.
import './node-support.ts';

export { average, count, max, min, sum } from './api/aggregates.ts';
// connect(): two-input operators and broadcast state.
export {
  BroadcastConnectedStream,
  BroadcastStream,
  KeyedBroadcastConnectedStream,
} from './api/broadcast-stream.ts';
export { ConnectedStreams, KeyedConnectedStreams } from './api/connected-streams.ts';
export { DataStream, KeyedStream, SingleOutputStream, SinkHandle } from './api/data-stream.ts';
export { type NodeOptions, StreamExecutionEnvironment } from './api/environment.ts';
export { IntervalJoin, IntervalJoined } from './api/interval-join.ts';
export { defineJob, type JobBuilder, type JobConfig, type JobDefinition } from './api/job.ts';
export {
  CoGroupEqualTo,
  CoGroupedStreams,
  CoGroupWhere,
  JoinEqualTo,
  JoinedStreams,
  JoinWhere,
  WindowedCoGroup,
  WindowedJoin,
} from './api/joined-streams.ts';
export { WindowedStream } from './api/windowed-stream.ts';
export type { TlsServerFiles } from './channels/tcp/endpoint.ts';
export type {
  AbandonedCheckpointStats,
  CheckpointingOptions,
  CheckpointStats,
  CompletedCheckpointStats,
} from './checkpoint/checkpoint-coordinator.ts';
export {
  CheckpointCorruptError,
  type CheckpointFileProblem,
  CheckpointJobMismatchError,
  CheckpointNotFoundError,
  CheckpointSymlinkError,
  type CheckpointVerificationFailure,
} from './checkpoint/errors.ts';
export type { RestartStrategy } from './checkpoint/restart-strategy.ts';
export { collectSink } from './connectors/collect-sink.ts';
export { collectionSource } from './connectors/collection-source.ts';
export { type GeneratorOptions, generatorSource } from './connectors/generator-source.ts';
export { type PrintOptions, printSink } from './connectors/print-sink.ts';
export { splitRange } from './connectors/split.ts';
export {
  type AsyncFunction,
  type AsyncOptions,
  AsyncRequestFailedError,
  type AsyncRetryOptions,
  AsyncTimeoutError,
  type RetryBackoff,
} from './contracts/async-io.ts';
export type {
  BroadcastContext,
  BroadcastProcessFunction,
  BroadcastState,
  CoFlatMapFunction,
  CoMapFunction,
  CoProcessFunction,
  KeyedBroadcastContext,
  KeyedBroadcastOnTimerContext,
  KeyedBroadcastProcessFunction,
  KeyedCoProcessFunction,
  KeyedReadOnlyBroadcastContext,
  ReadOnlyBroadcastContext,
  ReadOnlyBroadcastState,
} from './contracts/co-functions.ts';
export type {
  Collector,
  FilterFunction,
  FlatMapFunction,
  KeyedProcessContext,
  KeyedProcessFunction,
  KeyedStateAccess,
  KeyedTimerService,
  KeySelector,
  MapFunction,
  OnTimerContext,
  OperatorStateAccess,
  ProcessContext,
  ProcessFunction,
  ProcessWindowFunction,
  ReduceFunction,
  RuntimeContext,
  TimerService,
  WatermarkOptions,
  WindowContext,
  WindowResultFunction,
} from './contracts/functions.ts';
export type {
  CoGroupFunction,
  FlatJoinFunction,
  FlatJoinResult,
  JoinFunction,
  ProcessJoinContext,
  ProcessJoinFunction,
} from './contracts/join-functions.ts';
export {
  type LineLevel,
  LOG_LEVELS,
  type LogFn,
  type Logger,
  type LogLevel,
  silentLogger,
} from './contracts/logger.ts';
export { OutputTag, outputTag } from './contracts/output-tag.ts';
export type { CommitAtEndContext, Sink, SinkWriter, SinkWriterContext } from './contracts/sink.ts';
export {
  PollStatus,
  type Source,
  type SourceOutput,
  type SourceProgress,
  type SourceReader,
  type SourceReaderContext,
} from './contracts/source.ts';
export {
  countEvictor,
  type Evictor,
  type EvictorContext,
  type EvictorOptions,
  type TimestampedValue,
  timeEvictor,
} from './contracts/window-evictor.ts';
export {
  countTrigger,
  eventTimeTrigger,
  neverTrigger,
  type OnMergeContext,
  processingTimeTrigger,
  purgingTrigger,
  type Trigger,
  type TriggerContext,
  type TriggerResult,
  type TriggerStateAccess,
} from './contracts/window-trigger.ts';
export { ConfigError, type FailureLocation, JobExecutionError, PlanError, SluiceError } from './errors.ts';
export { DEFAULT_EXECUTION_CONFIG, type ExecutionConfig } from './execution/execution-config.ts';
export { explainJob, type PlanFormat } from './execution/explain.ts';
export type { JobModuleRef } from './execution/job-loader.ts';
export type { ClusterOptions, JobManagerSpec, LocalClusterSpec } from './execution/job-options.ts';
export type { JobProgress } from './execution/progress.ts';
export {
  type ClusterHandle,
  JobCancelledError,
  type JobHandle,
  type JobResult,
  type RunJobOptions,
  runJob,
  startJob,
} from './execution/run-job.ts';
export { TaskHungError } from './execution/task-watchdog.ts';
export type { OperatorMetricsReport } from './metrics/job-metrics.ts';
export type {
  OperatorSnapshot,
  OperatorSubtaskSnapshot,
  SubtaskSnapshot,
  VertexSnapshot,
  WatermarkValue,
} from './metrics/vertex-snapshot.ts';
export type { AnyMapStateDescriptor } from './plan/co-operator-spec.ts';
export {
  RecordNotSerializableError,
  RecordTypeNotRegisteredError,
  type RegisterTypeOptions,
  registerType,
} from './records/record-codec.ts';
export { CheckpointFormatError, CheckpointStateError } from './runtime/checkpointing.ts';
export {
  BroadcastStateError,
  type BroadcastStateErrorCode,
} from './runtime/operators/broadcast-state.ts';
export { IntervalJoinTimestampError } from './runtime/operators/interval-join.ts';
export {
  type AggregateFunction,
  type AggregatingStateDescriptor,
  aggregatingState,
  type ListStateDescriptor,
  listState,
  type MapStateDescriptor,
  mapState,
  type ReducingStateDescriptor,
  reducingState,
  type StateOptions,
  type ValueStateDescriptor,
  valueState,
} from './state/descriptors.ts';
export type { Key } from './state/key-groups.ts';
export type { AggregatingState, ListState, MapState, ReducingState, ValueState } from './state/state.ts';
export type {
  ResolvedTtlConfig,
  StateTtlConfig,
  TtlIncrementalCleanup,
  TtlStateVisibility,
  TtlUpdateType,
} from './state/ttl/ttl-config.ts';
export * from './time/index.ts';
export type {
  CheckpointJson,
  CheckpointsJson,
  ExceptionJson,
  ExceptionsJson,
  JobStatus,
  JobStatusJson,
  PlanJson,
  SavepointRequestJson,
  VerticesJson,
} from './web/rest-types.ts';
export { DEFAULT_WEB_PORT, type WebAddress, type WebOptions } from './web/web-server.ts';
