/**
 * The testbed's certificates, made with `openssl` (no Go or Node PKI code to trust): one CA that
 * signs the API server's serving certificate (for 127.0.0.1 and localhost) and one client
 * certificate in `system:masters`, which every component and test uses; plus the key pair that
 * signs and verifies service-account tokens. Keys are RSA 2048: quick to make on a loaded machine.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestbedError } from './testbed-error.ts';

const run = promisify(execFile);

export interface TestbedCerts {
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new TestbedError(`openssl ${args.slice(0, 2).join(' ')} failed in ${dir}: ${stderr.trim()}`, {
      cause: error,
    });
  }
}

export async function makeCerts(dir: string): Promise<TestbedCerts> {
  const p = (name: string): string => join(dir, name);
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=sluice-testbed-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  ]);
  await writeFile(
    p('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' +
      'extendedKeyUsage=serverAuth\n',
  );
  await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const leaf = async (name: string, subject: string, ext: string): Promise<void> => {
    await openssl(dir, [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      subject,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    ]);
    await openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      `${name}.crt`,
    ]);
  };
  await leaf('server', '/CN=kube-apiserver', 'server.ext');
  await leaf('admin', '/O=system:masters/CN=sluice-testbed-admin', 'client.ext');
  await openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  await openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    serviceAccountKey: p('sa.key'),
    serviceAccountPub: p('sa.pub'),
  };
}
