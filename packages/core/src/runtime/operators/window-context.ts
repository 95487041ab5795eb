import type { KeyedStateAccess, WindowContext } from '../../contracts/functions.ts';
import type { OutputTag } from '../../contracts/output-tag.ts';
import { ConfigError } from '../../errors.ts';
import type { AnyStateDescriptor, KeyedStateBackend } from '../../state/backend/keyed-state-backend.ts';
import type { Key } from '../../state/key-groups.ts';
import { DEFAULT_NAMESPACE, type InternalKvState } from '../../state/state.ts';
import type { TimeWindow } from '../../time/windows.ts';

/** What the window context needs from its operator. */
export interface WindowContextHost {
  readonly watermark: number;
  now(): number;
  emitSide(tag: string, value: unknown): void;
  readonly stateBackend: KeyedStateBackend;
  readonly operatorName: string;
}

/**
 * The context a ProcessWindowFunction sees, one object per operator, pointed at each window as it
 * fires. Window state lives under the window's namespace; the descriptors used through it are
 * remembered so that the window's state can be dropped with the window.
 */
export class WindowContextImpl implements WindowContext<Key> {
  key: Key = '';
  window: TimeWindow = { start: 0, end: 0 };
  /** The namespace of `window`'s own state. */
  namespace = '';
  readonly #host: WindowContextHost;
  readonly #merging: boolean;
  readonly #windowDescriptors = new Map<string, AnyStateDescriptor>();
  readonly #windowAccess: KeyedStateAccess;
  readonly #globalAccess: KeyedStateAccess;

  constructor(host: WindowContextHost, merging: boolean) {
    this.#host = host;
    this.#merging = merging;
    this.#windowAccess = {
      getState: ((descriptor: AnyStateDescriptor) => {
        if (this.#merging) {
          throw new ConfigError(
            `${host.operatorName}: windowState() is not available with merging (session) windows, as in Flink; use globalState()`,
          );
        }
        const state = host.stateBackend.getState(descriptor);
        this.#windowDescriptors.set(descriptor.name, descriptor);
        state.setNamespace(this.namespace);
        return state;
      }) as unknown as KeyedStateAccess['getState'],
    };
    this.#globalAccess = {
      getState: ((descriptor: AnyStateDescriptor) => {
        const state = host.stateBackend.getState(descriptor);
        state.setNamespace(DEFAULT_NAMESPACE);
        return state;
      }) as unknown as KeyedStateAccess['getState'],
    };
  }

  currentWatermark(): number {
    return this.#host.watermark;
  }

  currentProcessingTime(): number {
    return this.#host.now();
  }

  output<X>(tag: OutputTag<X>, value: X): void {
    this.#host.emitSide(tag.id, value);
  }

  windowState(): KeyedStateAccess {
    return this.#windowAccess;
  }

  globalState(): KeyedStateAccess {
    return this.#globalAccess;
  }

  /** Clears the window state of the current key under `namespace`, for every descriptor used through windowState(). */
  clearWindowState(namespace: string): void {
    for (const descriptor of this.#windowDescriptors.values()) {
      const state = this.#host.stateBackend.getState(descriptor) as InternalKvState & { clear(): void };
      state.setNamespace(namespace);
      state.clear();
    }
  }
}
