/**
 * Errors of `@sluice/k8s`. Each carries a stable `code` (the same convention as `@sluice/core`'s
 * `SluiceError`) so callers branch on the code, never on the message, and a message naming what
 * was wrong and where (the option, the object, the API call).
 */
export class K8sError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A render or operator option that cannot be used: the message names the option and the value. */
export class K8sConfigError extends K8sError {
  constructor(message: string) {
    super('SLUICE_K8S_CONFIG', message);
  }
}

/** A SluiceJob object the operator cannot act on: the message names the object and the field. */
export class SluiceJobSpecError extends K8sError {
  constructor(message: string) {
    super('SLUICE_K8S_SPEC', message);
  }
}

/** A call to the Kubernetes API failed: names the verb, the object and the server's answer. */
export class KubernetesApiError extends K8sError {
  readonly status: number | undefined;

  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super('SLUICE_K8S_API', message, options);
    this.status = status;
  }
}

/**
 * A call to a job manager's REST API failed: unreachable, timed out, or refused (the message
 * quotes its answer, e.g. "job is restarting, not running"). The operator reports it in a
 * condition; it never fails a reconciliation.
 */
export class JobManagerApiError extends K8sError {
  readonly status: number | undefined;

  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super('SLUICE_K8S_JOBMANAGER', message, options);
    this.status = status;
  }
}
