/**
 * `sluice-k8s operator`: runs the SluiceJob operator until SIGTERM or SIGINT, then releases its
 * Lease so another replica takes over at once. Credentials: the pod's service account in a
 * cluster, else the kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`).
 */
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { K8sConfigError } from '../errors.ts';
import { SluiceJobOperator } from '../operator/operator.ts';
import type { CliIo } from './main.ts';

export async function runOperatorCli(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      identity: { type: 'string' },
      'lease-name': { type: 'string' },
    },
  });
  const namespace = values.namespace ?? process.env.POD_NAMESPACE;
  if (namespace === undefined) throw new K8sConfigError('operator needs --namespace <ns> (or POD_NAMESPACE)');
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig !== undefined) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();
  const operator = new SluiceJobOperator({
    kubeConfig,
    namespace,
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    ...(values['lease-name'] === undefined ? {} : { leaseName: values['lease-name'] }),
    log: (level, message) =>
      io.stderr(`${JSON.stringify({ level, time: new Date().toISOString(), msg: message })}\n`),
  });
  operator.start();
  io.stderr(
    `${JSON.stringify({ level: 'info', msg: `sluice operator ${operator.identity} watching namespace ${namespace}` })}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await operator.stop();
  return 0;
}
