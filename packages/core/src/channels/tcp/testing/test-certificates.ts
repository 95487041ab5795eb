/**
 * Test certificates made with `openssl` (node:crypto cannot make X.509 ones): a CA, a server
 * certificate for 127.0.0.1 that also serves as a client one (a task manager is both), a client
 * certificate, and a second CA that signed nothing. Without openssl the tests fail, never skip.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  /** The path of `ca.crt`, `server.crt`, `server.key`, `client.crt`, `client.key`, `other.crt`, ... */
  file(name: string): string;
  remove(): void;
}

/** `openssl` makes the test certificates (node:crypto cannot make X.509 ones); without it the tests fail, never skip. */
function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch (cause) {
    throw new Error(
      'the TLS tests need the openssl command to make certificates (Debian: apt-get install openssl)',
      {
        cause,
      },
    );
  }
}

/** A test CA, and a server (127.0.0.1) and a client certificate it signed, made now. */
export function makeTestCertificates(): TestCertificates {
  requireOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=sluice-test-ca',
  );
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'sluice-tm'],
    ['client', 'sluice-client'],
  ] as const) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    );
  }
  // A second CA, which signed nothing the servers use.
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'other.key',
    '-out',
    'other.crt',
    '-days',
    '1',
    '-subj',
    '/CN=other-ca',
  );
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
