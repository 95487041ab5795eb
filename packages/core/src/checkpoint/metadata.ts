/**
 * The `_metadata` file of a checkpoint or savepoint: what it holds, how it is checked, and how it
 * is laid out on disk.
 *
 * On disk it is one header line followed by the metadata as JSON (JSON is fine here: it is written
 * once per checkpoint, never on the hot path, and a person debugging a restore can read it):
 *
 * ```text
 * sluice-checkpoint-metadata v1 crc32=1c291ca3 bytes=1234\n
 * { ...1234 bytes of JSON, ending in a newline... }
 * ```
 *
 * `crc32` is the CRC-32 of exactly the `bytes` bytes after the header line, so a flipped byte in
 * the body fails the checksum (CRC-32 detects every error burst of up to 32 bits), a truncated or
 * extended file fails the length, and a flipped byte in the header either breaks the header's
 * strict syntax or changes one of the two numbers it states (which then no longer match).
 * A file that passes all three and still does not validate was written by a buggy or newer
 * Sluice; that is reported too, with the field that is wrong.
 */
import { ConfigError } from '../errors.ts';
import { crc32, crc32Hex } from './crc32.ts';
import type { CheckpointFileProblem } from './errors.ts';

/** Name of the file that makes a folder a checkpoint; written last, atomically. */
export const METADATA_FILE_NAME = '_metadata';
/** Where `_metadata` is written before it is renamed into place. Never read. */
export const METADATA_TEMP_FILE_NAME = '_metadata.tmp';

/** Longest state file name, in UTF-16 units (all ASCII): leaves room for a temp suffix under NAME_MAX (255). */
export const STATE_FILE_NAME_MAX_LENGTH = 200;
/** Largest `_metadata` read or written; far beyond any real job, small enough to hold in memory. */
export const METADATA_MAX_BYTES = 64 * 1024 * 1024;
/** Largest single state file: kept below 2 GiB so one `Buffer` holds it on every supported Node. */
export const STATE_FILE_MAX_BYTES = 2 ** 31 - 1;
/** Bounds on what one `_metadata` may list. */
export const JOB_NAME_MAX_LENGTH = 1024;
export const OPERATOR_ID_MAX_LENGTH = 1024;
export const OPERATORS_MAX = 10_000;
export const FILES_PER_SUBTASK_MAX = 10_000;
export const FILES_PER_CHECKPOINT_MAX = 1_000_000;
/** Flink's upper bound for `maxParallelism`, as in `state/key-groups.ts` (not imported: format constant). */
export const MAX_MAX_PARALLELISM = 32768;

/** One file written by {@link writeStateFile}: enough to find it and to prove it intact. */
export interface StateFileHandle {
  /** Path relative to the checkpoint folder (a plain file name: no separators). */
  readonly file: string;
  readonly bytes: number;
  /** CRC-32 (IEEE) of the whole file, unsigned. */
  readonly crc32: number;
}

/** The state of one subtask of one operator. Key group range is inclusive (`[0, -1]` is empty). */
export interface SubtaskStateMetadata {
  subtaskIndex: number;
  keyGroupStart: number;
  keyGroupEnd: number;
  files: StateFileHandle[];
}

export interface OperatorStateMetadata {
  parallelism: number;
  subtasks: SubtaskStateMetadata[];
}

/** Everything needed to restore a job from a checkpoint or savepoint folder. Plain JSON data. */
export interface CheckpointMetadata {
  version: 1;
  jobName: string;
  checkpointId: number;
  kind: 'checkpoint' | 'savepoint';
  createdAtMs: number;
  maxParallelism: number;
  /** Keyed by operator id (the stable uid, so state finds its operator after the job is edited). */
  operators: Record<string, OperatorStateMetadata>;
  /** Anything else the coordinator wants back on restore (source offsets, ...). Must be JSON. */
  extra?: Record<string, unknown>;
}

// Letters, digits, '.', '_', '-': portable to every file system and object store a checkpoint
// directory may be mounted from. Starting with a letter or digit keeps `.`-prefixed temp files
// and `_`-prefixed storage files (`_metadata`) out of the state file namespace.
const STATE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why `name` is not a valid state file name, or `undefined` when it is. */
export function stateFileNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `must be a string, got ${typeof name}`;
  if (name.length === 0 || name.length > STATE_FILE_NAME_MAX_LENGTH)
    return `must be 1 to ${STATE_FILE_NAME_MAX_LENGTH} characters long, got ${name.length}`;
  if (name.includes('..')) return `must not contain '..', got ${JSON.stringify(name)}`;
  if (!STATE_FILE_NAME.test(name))
    return `must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (no path separators), got ${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)}`;
  return undefined;
}

/** Throws a {@link ConfigError} naming `argument` unless `name` is a valid state file name. */
export function validateStateFileName(name: string, argument = 'name'): void {
  const problem = stateFileNameProblem(name);
  if (problem !== undefined) throw new ConfigError(`state file ${argument} ${problem}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Checks the structure and bounds of checkpoint metadata and returns the first problem found, as
 * `<field path> <what is wrong>`, or `undefined` when it is valid. Used both on what the
 * coordinator hands to `commit` and on what is read back from disk.
 */
export function metadataProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'metadata must be an object';
  const m = value;
  if (m.version !== 1) return `version must be 1, got ${JSON.stringify(m.version)}`;
  if (typeof m.jobName !== 'string' || m.jobName.length > JOB_NAME_MAX_LENGTH)
    return `jobName must be a string of at most ${JOB_NAME_MAX_LENGTH} characters`;
  if (!isIntegerIn(m.checkpointId, 0, Number.MAX_SAFE_INTEGER))
    return `checkpointId must be a non-negative safe integer, got ${JSON.stringify(m.checkpointId)}`;
  if (m.kind !== 'checkpoint' && m.kind !== 'savepoint')
    return `kind must be 'checkpoint' or 'savepoint', got ${JSON.stringify(m.kind)}`;
  if (typeof m.createdAtMs !== 'number' || !Number.isFinite(m.createdAtMs) || m.createdAtMs < 0)
    return `createdAtMs must be a finite non-negative number, got ${JSON.stringify(m.createdAtMs)}`;
  if (!isIntegerIn(m.maxParallelism, 1, MAX_MAX_PARALLELISM))
    return `maxParallelism must be an integer in [1, ${MAX_MAX_PARALLELISM}], got ${JSON.stringify(m.maxParallelism)}`;
  const maxParallelism = m.maxParallelism;
  if (m.extra !== undefined && !isPlainObject(m.extra)) return 'extra must be a plain object when present';
  if (!isPlainObject(m.operators)) return 'operators must be an object';
  const operatorIds = Object.keys(m.operators);
  if (operatorIds.length > OPERATORS_MAX)
    return `operators must list at most ${OPERATORS_MAX} operators, got ${operatorIds.length}`;
  let totalFiles = 0;
  for (const operatorId of operatorIds) {
    const where = `operators[${JSON.stringify(operatorId.slice(0, 64))}]`;
    if (operatorId.length === 0 || operatorId.length > OPERATOR_ID_MAX_LENGTH)
      return `${where}: operator ids must be 1 to ${OPERATOR_ID_MAX_LENGTH} characters long`;
    const operator = m.operators[operatorId];
    if (!isPlainObject(operator)) return `${where} must be an object`;
    if (!isIntegerIn(operator.parallelism, 1, maxParallelism))
      return `${where}.parallelism must be an integer in [1, maxParallelism = ${maxParallelism}], got ${JSON.stringify(operator.parallelism)}`;
    const parallelism = operator.parallelism;
    if (!Array.isArray(operator.subtasks) || operator.subtasks.length > parallelism)
      return `${where}.subtasks must be an array of at most parallelism = ${parallelism} entries`;
    const seen = new Set<number>();
    for (let s = 0; s < operator.subtasks.length; s++) {
      const at = `${where}.subtasks[${s}]`;
      const subtask: unknown = operator.subtasks[s];
      if (!isPlainObject(subtask)) return `${at} must be an object`;
      if (!isIntegerIn(subtask.subtaskIndex, 0, parallelism - 1))
        return `${at}.subtaskIndex must be an integer in [0, ${parallelism - 1}], got ${JSON.stringify(subtask.subtaskIndex)}`;
      if (seen.has(subtask.subtaskIndex)) return `${at}.subtaskIndex ${subtask.subtaskIndex} is listed twice`;
      seen.add(subtask.subtaskIndex);
      if (!isIntegerIn(subtask.keyGroupStart, 0, maxParallelism - 1))
        return `${at}.keyGroupStart must be an integer in [0, ${maxParallelism - 1}], got ${JSON.stringify(subtask.keyGroupStart)}`;
      if (!isIntegerIn(subtask.keyGroupEnd, subtask.keyGroupStart - 1, maxParallelism - 1))
        return `${at}.keyGroupEnd must be an integer in [keyGroupStart - 1, ${maxParallelism - 1}] (inclusive), got ${JSON.stringify(subtask.keyGroupEnd)}`;
      if (!Array.isArray(subtask.files) || subtask.files.length > FILES_PER_SUBTASK_MAX)
        return `${at}.files must be an array of at most ${FILES_PER_SUBTASK_MAX} entries`;
      totalFiles += subtask.files.length;
      if (totalFiles > FILES_PER_CHECKPOINT_MAX)
        return `a checkpoint may list at most ${FILES_PER_CHECKPOINT_MAX} files in all`;
      for (let f = 0; f < subtask.files.length; f++) {
        const problem = handleProblem(subtask.files[f]);
        if (problem !== undefined) return `${at}.files[${f}]${problem}`;
      }
    }
  }
  return undefined;
}

function handleProblem(handle: unknown): string | undefined {
  if (!isPlainObject(handle)) return ' must be an object';
  const nameProblem = stateFileNameProblem(handle.file);
  if (nameProblem !== undefined) return `.file ${nameProblem}`;
  if (!isIntegerIn(handle.bytes, 0, STATE_FILE_MAX_BYTES))
    return `.bytes must be an integer in [0, ${STATE_FILE_MAX_BYTES}], got ${JSON.stringify(handle.bytes)}`;
  if (!isIntegerIn(handle.crc32, 0, 0xffffffff))
    return `.crc32 must be an unsigned 32-bit integer, got ${JSON.stringify(handle.crc32)}`;
  return undefined;
}

/** Every distinct file a checkpoint lists, once each, in listing order. */
export function listedFiles(metadata: CheckpointMetadata): StateFileHandle[] {
  const byName = new Map<string, StateFileHandle>();
  for (const operator of Object.values(metadata.operators))
    for (const subtask of operator.subtasks)
      for (const handle of subtask.files) if (!byName.has(handle.file)) byName.set(handle.file, handle);
  return [...byName.values()];
}

/**
 * Files listed more than once with different sizes or checksums: a bug in whoever built the
 * metadata (or a corrupt one), since one file cannot have two contents.
 */
export function conflictingListings(metadata: CheckpointMetadata): CheckpointFileProblem[] {
  const byName = new Map<string, StateFileHandle>();
  const problems: CheckpointFileProblem[] = [];
  for (const operator of Object.values(metadata.operators))
    for (const subtask of operator.subtasks)
      for (const handle of subtask.files) {
        const first = byName.get(handle.file);
        if (first === undefined) byName.set(handle.file, handle);
        else if (first.bytes !== handle.bytes || first.crc32 !== handle.crc32)
          problems.push({
            file: handle.file,
            problem: `listed twice with different contents (${first.bytes} bytes crc32 ${crc32Hex(first.crc32)} and ${handle.bytes} bytes crc32 ${crc32Hex(handle.crc32)})`,
          });
      }
  return problems;
}

const HEADER_PREFIX = 'sluice-checkpoint-metadata v1 ';
// Strict: lowercase hex, no leading zeros in the length, so no two headers state the same values.
const HEADER = /^sluice-checkpoint-metadata v1 crc32=([0-9a-f]{8}) bytes=(0|[1-9][0-9]{0,15})\n$/;
const HEADER_MAX_BYTES = 128;

/** Serialises metadata to the `_metadata` format (header line + JSON). Validates it first. */
export function encodeMetadata(metadata: CheckpointMetadata): Uint8Array {
  const problem = metadataProblem(metadata);
  if (problem !== undefined) throw new ConfigError(`checkpoint metadata is invalid: ${problem}`);
  const body = Buffer.from(`${JSON.stringify(metadata, null, 2)}\n`, 'utf8');
  if (body.length > METADATA_MAX_BYTES)
    throw new ConfigError(
      `checkpoint metadata is ${body.length} bytes, more than the ${METADATA_MAX_BYTES} allowed`,
    );
  const header = Buffer.from(
    `${HEADER_PREFIX}crc32=${crc32Hex(crc32(body))} bytes=${body.length}\n`,
    'latin1',
  );
  return Buffer.concat([header, body]);
}

/** The outcome of reading `_metadata`: the metadata, or why the file is corrupt. */
export type DecodedMetadata = { ok: true; metadata: CheckpointMetadata } | { ok: false; problem: string };

/** Parses and verifies a `_metadata` file's bytes. Never throws. */
export function decodeMetadata(data: Uint8Array): DecodedMetadata {
  const corrupt = (why: string): DecodedMetadata => ({ ok: false, problem: `metadata corrupt: ${why}` });
  const newline = data.subarray(0, HEADER_MAX_BYTES).indexOf(0x0a);
  if (newline < 0)
    return corrupt(
      data.length < HEADER_PREFIX.length
        ? `truncated to ${data.length} bytes (no header line)`
        : 'no header line',
    );
  const headerText = Buffer.from(data.buffer, data.byteOffset, newline + 1).toString('latin1');
  const header = HEADER.exec(headerText);
  if (header === null) return corrupt(`unreadable header line ${JSON.stringify(headerText.slice(0, 80))}`);
  const expectedCrc = Number.parseInt(header[1]!, 16);
  const expectedBytes = Number(header[2]!);
  const body = data.subarray(newline + 1);
  if (body.length < expectedBytes)
    return corrupt(
      `truncated to ${data.length} of ${newline + 1 + expectedBytes} bytes (body has ${body.length} of ${expectedBytes})`,
    );
  if (body.length > expectedBytes)
    return corrupt(`has ${data.length} bytes, expected ${newline + 1 + expectedBytes} (trailing data)`);
  const actualCrc = crc32(body);
  if (actualCrc !== expectedCrc)
    return corrupt(
      `checksum mismatch (crc32 of the body is ${crc32Hex(actualCrc)}, header says ${header[1]})`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
  } catch (error) {
    return corrupt(`not valid JSON (${(error as Error).message})`);
  }
  const problem = metadataProblem(parsed);
  if (problem !== undefined) return corrupt(`checksum is right but the content is invalid: ${problem}`);
  return { ok: true, metadata: parsed as CheckpointMetadata };
}
