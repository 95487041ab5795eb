import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.ts';
import { DEFAULT_SECRET_ENV, loadClusterSecret } from './secret.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadClusterSecret', () => {
  it('reads a file (ignoring surrounding whitespace) before the environment', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, '  0123456789abcdef0123456789abcdef\n');
    const env = { [DEFAULT_SECRET_ENV]: 'from-the-environment-000000' };
    expect(loadClusterSecret({ secretFile: file, env }).toString()).toBe('0123456789abcdef0123456789abcdef');
    expect(loadClusterSecret({ env }).toString()).toBe('from-the-environment-000000');
    expect(loadClusterSecret({ secretEnv: 'MY_SECRET', env: { MY_SECRET: 'x'.repeat(16) } }).toString()).toBe(
      'x'.repeat(16),
    );
  });

  it('refuses no secret, a short one, an unreadable or oversized file, naming where it looked', () => {
    expect(() => loadClusterSecret({ env: {} })).toThrow(ConfigError);
    expect(() => loadClusterSecret({ env: {} })).toThrow(
      /set the environment variable SLUICE_CLUSTER_SECRET/,
    );
    expect(() => loadClusterSecret({ secretEnv: 'MINE', env: { MINE: '   ' } })).toThrow(/MINE/);
    expect(() => loadClusterSecret({ env: { [DEFAULT_SECRET_ENV]: 'short' } })).toThrow(
      /5 bytes; it must be at least 16/,
    );
    expect(() => loadClusterSecret({ secretFile: join(dir, 'missing') })).toThrow(
      /cannot read the cluster secret file/,
    );
    const big = join(dir, 'big');
    writeFileSync(big, 'x'.repeat(5000));
    expect(() => loadClusterSecret({ secretFile: big })).toThrow(/a secret is at most 4096/);
  });
});
