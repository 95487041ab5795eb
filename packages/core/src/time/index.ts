/**
 * The public face of `time/`: what a job author writes (durations, window assigners) and the
 * window type they see in window functions. The runtime parts (`InternalTimerService`,
 * `StatusWatermarkValve`, `MergingWindowSet`) are imported from their own files by the
 * operators and are not part of the package's public surface.
 */
export { formatDuration, hours, milliseconds, minutes, seconds } from './duration.ts';
export {
  eventTimeSessionWindows,
  GLOBAL_WINDOW,
  type GlobalWindowAssigner,
  globalWindows,
  maxTimestamp,
  processingTimeSessionWindows,
  type SessionWindowAssigner,
  type SlidingWindowAssigner,
  sameWindow,
  session,
  sliding,
  slidingEventTimeWindows,
  slidingProcessingTimeWindows,
  type TimeWindow,
  type TumblingWindowAssigner,
  tumbling,
  tumblingEventTimeWindows,
  tumblingProcessingTimeWindows,
  type WindowAssigner,
  type WindowAssignerSpec,
  type WindowOptions,
  type WindowTime,
  windowAssignerFromSpec,
} from './windows.ts';
