/**
 * `sluice-k8s deploy | status | savepoint | delete`: a SluiceJob from the command line, for a
 * cluster where the operator runs. `deploy` takes `render`'s flags, makes the SluiceJob (or
 * updates its spec), and with `--wait` waits until the operator reports it Running for this very
 * spec. `savepoint` sets a new `spec.savepointTriggerNonce`, which the operator answers with a
 * savepoint through the job manager's REST API.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { SLUICE_JOB } from '../crd/sluice-job-crd.ts';
import { K8sConfigError, K8sError } from '../errors.ts';
import { resolveJob, type SluiceJobSpec, UPGRADE_MODES, type UpgradeMode } from '../job-spec.ts';
import { apiError, KubeRest } from '../kube/rest.ts';
import { sluiceJobPath } from '../operator/reconcile.ts';
import type { SluiceJob } from '../operator/sluice-job.ts';
import type { RenderOptions } from '../render.ts';
import { type CliIo, renderOptions } from './main.ts';

const POLL_MS = 500;
/** Tries of `savepoint`'s compare-and-swap of the nonce before it gives up. */
const PATCH_ATTEMPTS = 10;

/** A wait that ran out, or a SluiceJob the operator reports Failed. */
export class DeployError extends K8sError {
  constructor(message: string) {
    super('SLUICE_K8S_DEPLOY', message);
  }
}

/** Removes `--name value` / `--name=value` / `-n value` (or the bare switch) from `argv`; returns its value. */
function take(argv: string[], name: string, hasValue: boolean, short?: string): string | true | undefined {
  const spellings = short === undefined ? [`--${name}`] : [`--${name}`, `-${short}`];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (hasValue && arg.startsWith(`--${name}=`)) {
      argv.splice(i, 1);
      return arg.slice(name.length + 3);
    }
    if (spellings.includes(arg)) {
      if (!hasValue) {
        argv.splice(i, 1);
        return true;
      }
      const value = argv[i + 1];
      if (value === undefined) throw new K8sConfigError(`${arg} needs a value`);
      argv.splice(i, 2);
      return value;
    }
  }
  return undefined;
}

function client(kubeconfig: string | undefined): KubeRest {
  const config = new KubeConfig();
  if (kubeconfig !== undefined) config.loadFromFile(kubeconfig);
  else config.loadFromDefault();
  return new KubeRest(config);
}

function seconds(flag: string, text: string | true | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (text === true || !/^\d+$/.test(text) || Number(text) < 1)
    throw new K8sConfigError(`${flag} takes a number of seconds, got '${text}'`);
  return Number(text);
}

/** The SluiceJob `deploy` writes for `render`'s options. */
export function sluiceJobFor(
  options: RenderOptions,
  checkpointClaim: string | undefined,
  upgradeMode?: UpgradeMode,
): SluiceJob {
  if (options.checkpointStorage !== undefined) {
    throw new K8sConfigError(
      'deploy does not make the checkpoint claim: drop --storage-class/--storage-size and name one with --checkpoint-claim',
    );
  }
  if (options.secret !== undefined) {
    throw new K8sConfigError(
      'deploy does not take --secret-file: the operator makes the Secret, or name yours with --existing-secret',
    );
  }
  const spec: { -readonly [K in keyof SluiceJobSpec]: SluiceJobSpec[K] } = {
    image: options.image,
    job: options.job,
    parallelism: options.parallelism,
  };
  if (options.imagePullPolicy !== undefined) spec.imagePullPolicy = options.imagePullPolicy;
  if (options.maxParallelism !== undefined) spec.maxParallelism = options.maxParallelism;
  if (options.args !== undefined) spec.args = options.args;
  if (options.checkpointIntervalMs !== undefined) spec.checkpointIntervalMs = options.checkpointIntervalMs;
  if (options.savepointTimeoutMs !== undefined) spec.savepointTimeoutMs = options.savepointTimeoutMs;
  if (options.logLevel !== undefined) spec.logLevel = options.logLevel;
  if (options.existingSecret !== undefined) spec.clusterSecret = options.existingSecret;
  if (checkpointClaim !== undefined) spec.checkpointClaim = checkpointClaim;
  if (upgradeMode !== undefined) spec.upgradeMode = upgradeMode;
  if (options.jobManagerResources !== undefined) spec.jobManager = { resources: options.jobManagerResources };
  if (options.taskManagerResources !== undefined)
    spec.taskManager = { resources: options.taskManagerResources };
  const namespace = options.namespace ?? 'default';
  // The operator checks the same; checking here names the flag before anything is sent.
  resolveJob(options.name, namespace, spec, 'deploy');
  return {
    apiVersion: SLUICE_JOB.apiVersion,
    kind: SLUICE_JOB.kind,
    metadata: { name: options.name, namespace, uid: '' },
    spec,
  };
}

export async function deployCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const rest = [...argv];
  const kubeconfig = take(rest, 'kubeconfig', true);
  const wait = take(rest, 'wait', false) === true;
  const timeoutS = seconds('--timeout', take(rest, 'timeout', true), 300);
  const claim = take(rest, 'checkpoint-claim', true);
  const mode = take(rest, 'upgrade-mode', true);
  if (mode !== undefined && !UPGRADE_MODES.includes(mode as UpgradeMode)) {
    throw new K8sConfigError(`--upgrade-mode must be one of ${UPGRADE_MODES.join(', ')}, got '${mode}'`);
  }
  const options = renderOptions(rest, 'deploy');
  const job = sluiceJobFor(
    options,
    typeof claim === 'string' ? claim : undefined,
    mode as UpgradeMode | undefined,
  );
  const api = client(typeof kubeconfig === 'string' ? kubeconfig : undefined);
  const { name, namespace } = job.metadata;
  const path = sluiceJobPath(namespace, name);
  const current = await api.get<SluiceJob>(path);
  let written: SluiceJob;
  if (current === undefined) {
    const { uid: _none, ...metadata } = job.metadata;
    written = await api.call<SluiceJob>('POST', sluiceJobPath(namespace), { body: { ...job, metadata } });
    io.stdout(`sluicejob ${namespace}/${name} created\n`);
  } else {
    // The spec as given replaces the old one: fields left out go back to their defaults (but
    // for the savepoint nonce, which is `sluice-k8s savepoint`'s, not the deployment's).
    const nonce = current.spec.savepointTriggerNonce;
    const body = {
      ...current,
      spec: { ...job.spec, ...(nonce === undefined ? {} : { savepointTriggerNonce: nonce }) },
    };
    written = await api.call<SluiceJob>('PUT', path, { body });
    io.stdout(
      `sluicejob ${namespace}/${name} ${written.metadata.generation === current.metadata.generation ? 'unchanged' : 'configured'}\n`,
    );
  }
  if (!wait) return 0;
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const now = await api.call<SluiceJob>('GET', path);
    const status = now.status;
    const current = status?.observedGeneration === written.metadata.generation;
    const upgraded = status?.conditions?.find((c) => c.type === 'Upgraded');
    if (current && upgraded?.status === 'False' && upgraded.reason === 'SavepointFailed') {
      throw new DeployError(`sluicejob ${namespace}/${name} not upgraded: ${upgraded.message}`);
    }
    if (current && status?.phase === 'Running' && status.upgrade === undefined) {
      io.stdout(`sluicejob ${namespace}/${name} running: ${status.readyTaskManagers} task managers\n`);
      return 0;
    }
    if (current && status?.phase === 'Failed') {
      throw new DeployError(
        `sluicejob ${namespace}/${name} failed: ${status.conditions?.find((c) => c.type === 'Ready')?.message ?? ''}`,
      );
    }
    if (Date.now() > deadline) {
      const ready =
        status?.conditions?.find((c) => c.type === 'Ready')?.message ??
        'no status from the operator (is it running?)';
      throw new DeployError(`sluicejob ${namespace}/${name} not running after ${timeoutS} s: ${ready}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function nameAndNamespace(
  argv: readonly string[],
  command: string,
): { rest: string[]; name: string; namespace: string; kubeconfig: string | undefined } {
  const rest = [...argv];
  const kubeconfig = take(rest, 'kubeconfig', true);
  const namespace = take(rest, 'namespace', true, 'n') ?? 'default';
  const flag = rest.find((a) => a.startsWith('-'));
  if (flag !== undefined) throw new K8sConfigError(`${command} does not take ${flag}`);
  if (rest.length !== 1) throw new K8sConfigError(`${command} takes one SluiceJob name, got ${rest.length}`);
  return {
    rest,
    name: rest[0] as string,
    namespace: namespace as string,
    kubeconfig: typeof kubeconfig === 'string' ? kubeconfig : undefined,
  };
}

export async function statusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { name, namespace, kubeconfig } = nameAndNamespace(argv, 'status');
  const job = await client(kubeconfig).get<SluiceJob>(sluiceJobPath(namespace, name));
  if (job === undefined) throw new DeployError(`no sluicejob ${namespace}/${name}`);
  const s = job.status ?? {};
  io.stdout(
    [
      `sluicejob ${namespace}/${name}`,
      `  phase:          ${s.phase ?? '(no status yet)'}`,
      `  parallelism:    ${job.spec.parallelism} asked, ${s.parallelism ?? 0} deployed, ${s.readyTaskManagers ?? 0} ready`,
      `  job manager:    ${s.jobManagerReady === true ? 'ready' : 'not ready'}`,
      `  replacements:   ${s.taskManagerReplacements ?? 0}`,
      `  generation:     ${job.metadata.generation ?? '?'} (observed ${s.observedGeneration ?? '-'})`,
      `  upgrade mode:   ${job.spec.upgradeMode ?? 'savepoint'}${s.start === undefined ? '' : `; deployed generation ${s.start.generation} (${s.start.mode}${s.start.savepoint === undefined ? '' : ` from ${s.start.savepoint}`})`}`,
      `  restarts:       ${s.restarts ?? '-'}`,
      `  checkpoint:     ${s.lastCheckpoint === undefined ? '-' : `${s.lastCheckpoint.id} completed at ${s.lastCheckpoint.completedAt} (${s.lastCheckpoint.location})`}`,
      `  savepoint:      ${s.lastSavepoint === undefined ? '-' : `${s.lastSavepoint.location} at ${s.lastSavepoint.time} (${s.lastSavepoint.trigger})`}`,
      ...(s.conditions ?? []).map((c) => `  ${c.type}: ${c.status} (${c.reason}) ${c.message}`),
      '',
    ].join('\n'),
  );
  return 0;
}

export async function savepointCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = [...argv];
  const wait = take(args, 'wait', false) === true;
  const timeoutS = seconds('--timeout', take(args, 'timeout', true), 300);
  const { name, namespace, kubeconfig } = nameAndNamespace(args, 'savepoint');
  const api = client(kubeconfig);
  const path = sluiceJobPath(namespace, name);
  // A new nonce: one more than any the job has seen. The merge patch carries the resourceVersion
  // read, so two concurrent calls cannot both claim the same nonce; the operator's status writes
  // change it too, so a conflict is tried again, a bounded number of times.
  let nonce = 0;
  for (let attempt = 1; ; attempt++) {
    const job = await api.get<SluiceJob>(path);
    if (job === undefined) throw new DeployError(`no sluicejob ${namespace}/${name}`);
    nonce = Math.max(job.spec.savepointTriggerNonce ?? 0, job.status?.savepointRequest?.nonce ?? 0) + 1;
    const answer = await api.send('PATCH', path, {
      body: {
        metadata: { resourceVersion: job.metadata.resourceVersion },
        spec: { savepointTriggerNonce: nonce },
      },
      contentType: 'application/merge-patch+json',
    });
    if (answer.status === 200) break;
    if (answer.status !== 409 || attempt === PATCH_ATTEMPTS) throw apiError('PATCH', path, answer);
  }
  io.stdout(`sluicejob ${namespace}/${name}: savepoint asked for (nonce ${nonce})\n`);
  if (!wait) return 0;
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const request = (await api.call<SluiceJob>('GET', path)).status?.savepointRequest;
    if (request?.nonce === nonce && request.state === 'Completed') {
      io.stdout(`sluicejob ${namespace}/${name}: savepoint written to ${request.location ?? ''}\n`);
      return 0;
    }
    if (request?.nonce === nonce && request.state === 'Failed') {
      throw new DeployError(`sluicejob ${namespace}/${name}: the savepoint failed: ${request.error ?? ''}`);
    }
    if (Date.now() > deadline) {
      throw new DeployError(`sluicejob ${namespace}/${name}: no savepoint reported after ${timeoutS} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export async function deleteCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { name, namespace, kubeconfig } = nameAndNamespace(argv, 'delete');
  const answer = await client(kubeconfig).send('DELETE', sluiceJobPath(namespace, name));
  if (answer.status === 404) throw new DeployError(`no sluicejob ${namespace}/${name}`);
  if (answer.status !== 200 && answer.status !== 202) {
    throw new DeployError(`deleting sluicejob ${namespace}/${name} answered HTTP ${answer.status}`);
  }
  io.stdout(`sluicejob ${namespace}/${name} deleted (its pods follow, by garbage collection)\n`);
  return 0;
}
