/**
 * Which source subtask reads a partition: Flink's rule (`KafkaSourceEnumerator.getSplitOwner`),
 * so that a topic's partitions spread round-robin from a start that depends on the topic name,
 * and several small topics do not all land on subtask 0.
 */
export function partitionOwner(topic: string, partition: number, parallelism: number): number {
  const startIndex = ((Math.imul(javaStringHash(topic), 31) & 0x7fffffff) >>> 0) % parallelism;
  return (startIndex + partition) % parallelism;
}

/** Java's `String.hashCode` (UTF-16 code units, 32-bit wrap-around). */
function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}
