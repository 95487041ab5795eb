/**
 * `sluice-k8s <command>`: `render` prints a job's manifests, `crd` the SluiceJob definition,
 * `operator` runs the controller. Exit codes: 0 done, 1 failed while running, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { parseArgs } from 'node:util';
import { K8sConfigError, K8sError } from '../errors.ts';
import { NAME_LENGTH_MAX } from '../job-spec.ts';
import { type RenderOptions, render, toYaml } from '../render.ts';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Where the image holds the job project; a relative job path is taken as relative to it. */
export const IMAGE_APP_DIR = '/app';

const HELP = `Usage: sluice-k8s <command> [options]

Commands:
  render <job> --image <image> -p <n> [options]   print the manifests of a job (YAML) on stdout
  deploy <job> --image <image> -p <n> [options]   make or update a SluiceJob (the operator runs it)
         [--wait [--timeout <s>]] [--checkpoint-claim <pvc>] [--kubeconfig <file>]
         [--upgrade-mode savepoint|last-state|stateless]   how the operator applies a change
  status <name> [-n <ns>] [--kubeconfig <file>]   print a SluiceJob's status
  savepoint <name> [-n <ns>] [--wait [--timeout <s>]] [--kubeconfig <file>]
                                                  take a savepoint of a running SluiceJob
  delete <name> [-n <ns>] [--kubeconfig <file>]   delete a SluiceJob (its pods go with it)
  crd                                             print the SluiceJob CustomResourceDefinition
  operator --namespace <ns> [options]             run the SluiceJob operator in a namespace
  operator-manifests -n <ns> --image <image>      print what runs the operator in a namespace
                     [--replicas <n>]             (ServiceAccount, Role, RoleBinding, Deployment)

render options:
  --image <image>              the image holding Node, @sluice/core and the job (required)
  -p, --parallelism <n>        task slots = task-manager pods (required)
  --name <name>                object name prefix (default: from the job's file name)
  -n, --namespace <ns>         namespace of every object (default: default)
  --max-parallelism <n>        key groups (--max-parallelism of sluice run)
  -a, --arg <key=value>        one job argument; repeat for more
  --checkpoint-interval <ms>   time between checkpoints (default 10000)
  --savepoint-timeout <ms>     how long SIGTERM waits for a savepoint (default 30000)
  --log-level <level>          trace, debug, info, warn, error, fatal, silent (default info)
  --image-pull-policy <p>      Always, IfNotPresent, Never (default IfNotPresent)
  --jobmanager-cpu <q>         CPU limit of the job manager (default 1)
  --jobmanager-memory <q>      memory request and limit of the job manager (default 512Mi)
  --taskmanager-cpu <q>        CPU limit of each task manager (default 1)
  --taskmanager-memory <q>     memory request and limit of each task manager (default 1Gi)
  --storage-class <class>      storage class of the ReadWriteMany checkpoint claim
  --storage-size <q>           size of the checkpoint claim (default 10Gi)
  --secret-file <file>         put this file's content in the rendered Secret (else 32 random bytes)
  --existing-secret <name>     use this Secret (key "secret") instead of rendering one

A relative <job> is taken as relative to ${IMAGE_APP_DIR} in the image.
`;

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'render':
        io.stdout(toYaml(render(renderOptions(rest))));
        return 0;
      case 'crd': {
        const { sluiceJobCrd } = await import('../crd/sluice-job-crd.ts');
        io.stdout(toYaml([sluiceJobCrd()]));
        return 0;
      }
      case 'deploy':
      case 'status':
      case 'savepoint':
      case 'delete': {
        const commands = await import('./job-commands.ts');
        const run = {
          deploy: commands.deployCommand,
          status: commands.statusCommand,
          savepoint: commands.savepointCommand,
          delete: commands.deleteCommand,
        }[command];
        return await run(rest, io);
      }
      case 'operator-manifests': {
        const { operatorManifests } = await import('../manifests/operator.ts');
        io.stdout(toYaml(operatorManifests(operatorManifestOptions(rest))));
        return 0;
      }
      case 'operator': {
        const { runOperatorCli } = await import('./operator-command.ts');
        return await runOperatorCli(rest, io);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(HELP);
        return command === undefined ? 2 : 0;
      default:
        io.stderr(`sluice-k8s: unknown command '${command}'\n\n${HELP}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof K8sConfigError || isParseArgsError(error)) {
      io.stderr(`sluice-k8s: ${(error as Error).message}\n`);
      return 2;
    }
    if (error instanceof K8sError) {
      io.stderr(`sluice-k8s: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

export function renderOptions(argv: readonly string[], command = 'render'): RenderOptions {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      image: { type: 'string' },
      parallelism: { type: 'string', short: 'p' },
      name: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'max-parallelism': { type: 'string' },
      arg: { type: 'string', short: 'a', multiple: true },
      'checkpoint-interval': { type: 'string' },
      'savepoint-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'image-pull-policy': { type: 'string' },
      'jobmanager-cpu': { type: 'string' },
      'jobmanager-memory': { type: 'string' },
      'taskmanager-cpu': { type: 'string' },
      'taskmanager-memory': { type: 'string' },
      'storage-class': { type: 'string' },
      'storage-size': { type: 'string' },
      'secret-file': { type: 'string' },
      'existing-secret': { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    throw new K8sConfigError(
      `${command} takes exactly one job path, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const jobArg = positionals[0] as string;
  if (values.image === undefined) throw new K8sConfigError(`${command} needs --image <image>`);
  if (values.parallelism === undefined) throw new K8sConfigError(`${command} needs -p, --parallelism <n>`);
  if (values['secret-file'] !== undefined && values['existing-secret'] !== undefined) {
    throw new K8sConfigError('--secret-file and --existing-secret exclude each other');
  }
  const job = posix.isAbsolute(jobArg) ? jobArg : posix.join(IMAGE_APP_DIR, jobArg);
  const options: {
    -readonly [K in keyof RenderOptions]: RenderOptions[K];
  } = {
    name: values.name ?? nameFromJob(jobArg),
    image: values.image,
    job,
    parallelism: integer('--parallelism', values.parallelism),
  };
  if (values.namespace !== undefined) options.namespace = values.namespace;
  if (values['max-parallelism'] !== undefined)
    options.maxParallelism = integer('--max-parallelism', values['max-parallelism']);
  if (values.arg !== undefined) options.args = jobArgs(values.arg);
  if (values['checkpoint-interval'] !== undefined) {
    options.checkpointIntervalMs = integer('--checkpoint-interval', values['checkpoint-interval']);
  }
  if (values['savepoint-timeout'] !== undefined) {
    options.savepointTimeoutMs = integer('--savepoint-timeout', values['savepoint-timeout']);
  }
  if (values['log-level'] !== undefined) options.logLevel = values['log-level'] as RenderOptions['logLevel'];
  if (values['image-pull-policy'] !== undefined) {
    options.imagePullPolicy = values['image-pull-policy'] as RenderOptions['imagePullPolicy'];
  }
  const jmCpu = values['jobmanager-cpu'];
  const jmMemory = values['jobmanager-memory'];
  if (jmCpu !== undefined || jmMemory !== undefined) {
    options.jobManagerResources = {
      requests: { ...(jmMemory === undefined ? {} : { memory: jmMemory }) },
      limits: {
        ...(jmCpu === undefined ? {} : { cpu: jmCpu }),
        ...(jmMemory === undefined ? {} : { memory: jmMemory }),
      },
    };
  }
  const tmCpu = values['taskmanager-cpu'];
  const tmMemory = values['taskmanager-memory'];
  if (tmCpu !== undefined || tmMemory !== undefined) {
    options.taskManagerResources = {
      requests: { ...(tmMemory === undefined ? {} : { memory: tmMemory }) },
      limits: {
        ...(tmCpu === undefined ? {} : { cpu: tmCpu }),
        ...(tmMemory === undefined ? {} : { memory: tmMemory }),
      },
    };
  }
  if (values['storage-class'] !== undefined || values['storage-size'] !== undefined) {
    options.checkpointStorage = {
      ...(values['storage-class'] === undefined ? {} : { storageClassName: values['storage-class'] }),
      ...(values['storage-size'] === undefined ? {} : { size: values['storage-size'] }),
    };
  }
  if (values['secret-file'] !== undefined) options.secret = readSecretFile(values['secret-file']);
  if (values['existing-secret'] !== undefined) options.existingSecret = values['existing-secret'];
  return options;
}

function operatorManifestOptions(argv: readonly string[]): {
  namespace: string;
  image: string;
  replicas?: number;
} {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      image: { type: 'string' },
      replicas: { type: 'string' },
    },
  });
  if (values.namespace === undefined)
    throw new K8sConfigError('operator-manifests needs -n, --namespace <ns>');
  if (values.image === undefined) throw new K8sConfigError('operator-manifests needs --image <image>');
  return {
    namespace: values.namespace,
    image: values.image,
    ...(values.replicas === undefined ? {} : { replicas: integer('--replicas', values.replicas) }),
  };
}

function integer(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text)) throw new K8sConfigError(`${flag} must be an integer, got '${text}'`);
  return Number(text);
}

function jobArgs(pairs: readonly string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new K8sConfigError(`--arg takes key=value, got '${pair}'`);
    args[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return args;
}

function readSecretFile(file: string): string {
  try {
    // A trailing newline (echo, an editor) is not part of the secret.
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new K8sConfigError(`--secret-file ${file}: ${(error as Error).message}`);
  }
}

/** `jobs/Click_Counts.ts` → `click-counts`: a valid object-name prefix from a file name. */
export function nameFromJob(jobPath: string): string {
  const base = posix.basename(jobPath).replace(/\.[cm]?[jt]s$/, '');
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, NAME_LENGTH_MAX)
    .replace(/-+$/, '');
  if (name === '') throw new K8sConfigError(`cannot make an object name from '${jobPath}': give --name`);
  return name;
}
