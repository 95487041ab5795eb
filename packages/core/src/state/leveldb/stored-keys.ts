/**
 * Reading whole keys from disk in one call: the manifests of a batch's missing keys and every
 * entry they list. Internal to `state/`; runs where the database is (the LevelDB host thread in a
 * job, see `level-store/level-store-host.ts`), so that a prefetch costs the slot thread one round
 * trip to the host, not two.
 *
 * Why it is shaped this way. A key's entries are listed by its manifest (`key-codec.ts`), so the
 * entries' record keys are known only once the manifest is read: two dependent reads. Done from
 * the slot thread, each was a message to the host and back, and the second waited for the first
 * plus the slot's decoding of the manifests. Here both happen in the host, and most keys need
 * only the first read anyway: the entries of the default namespace `''` of the states the caller
 * *guesses* (the ones most keys had last time, see the backend's `#guessedStates`) are read along
 * with the manifests in one `getMany`. Entries the guess missed (window namespaces, a state the
 * key has and the guess lacked) are read by a second `getMany` right there. A wrong guess costs
 * one read of an absent record (LevelDB's bloom filters answer most of those without a block read).
 *
 * Both reads see one LevelDB snapshot taken when the call is issued, so the entries are those of
 * the manifests read (the backend never reads a key with a write pending either way).
 */

import { describeKey } from '../errors.ts';
import type { Key } from '../key-groups.ts';
import {
  decodeRecordKey,
  diskCodec,
  encodeEntryKey,
  encodeStateName,
  levelDbStateError,
} from './key-codec.ts';

/** What {@link readStoredKeys} returns. */
export interface StoredKeys {
  /** The manifest of each key asked for, `undefined` where the key has none (no state on disk). */
  readonly manifests: Array<Buffer | undefined>;
  /**
   * For each manifest in order, the entry of each `[stateName, namespace]` it lists, in the order
   * listed ({@link parseManifest}); `undefined` where a listed entry is missing (corrupt data).
   */
  readonly entries: Array<Buffer | undefined>;
}

/** One LevelDB `getMany`, on the snapshot the read started with. */
export type GetMany = (keys: Buffer[]) => Promise<Array<Buffer | undefined>>;

/**
 * Reads the manifests at `prefixes` (`encodeKeyPrefix` of each key) and every entry they list:
 * one `getMany` for the manifests and the guessed entries, and a second only for listed entries
 * that were not guessed.
 *
 * @throws {StateError} `SLUICE_STATE_STORAGE_CORRUPT` if a manifest is malformed.
 */
export async function readStoredKeys(
  getMany: GetMany,
  prefixes: readonly Buffer[],
  guessedStates: readonly string[],
): Promise<StoredKeys> {
  const n = prefixes.length;
  const g = guessedStates.length;
  const guessIndex = new Map<string, number>();
  for (let s = 0; s < g; s++) guessIndex.set(guessedStates[s]!, s);
  const encodedGuesses = guessedStates.map(encodeStateName);
  // The manifests first, then key i's guessed entry s at n + i * g + s.
  const keys = new Array<Buffer>(n * (1 + g));
  for (let i = 0; i < n; i++) {
    const prefix = prefixes[i]!;
    keys[i] = prefix;
    for (let s = 0; s < g; s++) keys[n + i * g + s] = encodeEntryKey(prefix, encodedGuesses[s]!, '');
  }
  const first = await getMany(keys);
  const manifests = first.slice(0, n);
  const entries: Array<Buffer | undefined> = [];
  const unguessed: Buffer[] = [];
  const unguessedAt: number[] = [];
  for (let i = 0; i < n; i++) {
    const bytes = manifests[i];
    if (bytes === undefined) continue;
    for (const [name, namespaces] of parseManifest(bytes, () => decodeRecordKey(prefixes[i]!).key)) {
      const s = guessIndex.get(name);
      let encodedName: Buffer | undefined;
      for (const namespace of namespaces) {
        if (namespace === '' && s !== undefined) {
          entries.push(first[n + i * g + s]);
          continue;
        }
        encodedName ??= encodeStateName(name);
        unguessedAt.push(entries.length);
        entries.push(undefined);
        unguessed.push(encodeEntryKey(prefixes[i]!, encodedName, namespace));
      }
    }
  }
  if (unguessed.length > 0) {
    const values = await getMany(unguessed);
    for (let j = 0; j < values.length; j++) entries[unguessedAt[j]!] = values[j];
  }
  return { manifests, entries };
}

/**
 * Validates a manifest's shape, `[[stateName, [namespace, ...]], ...]`, and returns it. `key`
 * names the key in the error (computed only then).
 *
 * @throws {StateError} `SLUICE_STATE_STORAGE_CORRUPT` if it is not of that shape.
 */
export function parseManifest(bytes: Buffer, key: () => Key): Array<[string, string[]]> {
  const manifest: unknown = diskCodec.unpack(bytes);
  const ok =
    Array.isArray(manifest) &&
    manifest.every(
      (item) =>
        Array.isArray(item) &&
        item.length === 2 &&
        typeof item[0] === 'string' &&
        Array.isArray(item[1]) &&
        item[1].every((ns: unknown) => typeof ns === 'string'),
    );
  if (!ok) {
    throw levelDbStateError(
      'SLUICE_STATE_STORAGE_CORRUPT',
      `the manifest of key ${describeKeyOrNot(key)} is not a list of [stateName, namespaces] pairs`,
    );
  }
  return manifest as Array<[string, string[]]>;
}

/** The key for an error message; a record key too broken to decode is reported as such. */
function describeKeyOrNot(key: () => Key): string {
  try {
    return describeKey(key());
  } catch {
    return '(with an undecodable record key)';
  }
}
