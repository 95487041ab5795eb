import { K8sError } from '../errors.ts';

/** The testbed could not be built, started or stopped: says which component and why. */
export class TestbedError extends K8sError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_K8S_TESTBED', message, options);
  }
}
