/** The contiguous share `[start, end)` of `count` items that subtask `index` of `parallelism` reads. */
export function splitRange(count: number, index: number, parallelism: number): [start: number, end: number] {
  const start = Math.floor((count * index) / parallelism);
  const end = Math.floor((count * (index + 1)) / parallelism);
  return [start, end];
}
