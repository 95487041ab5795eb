import { describe, expect, it } from 'vitest';
import { isSupportedNodeVersion } from './node-support.ts';

describe('isSupportedNodeVersion', () => {
  it.each([
    ['20.20.2', false],
    ['22.17.1', false],
    ['22.18.0', false],
    ['22.19.0', true],
    ['22.23.5', true],
    ['23.0.0', true],
    ['24.22.3', true],
    ['100.0.0', true],
  ])('%s → %s', (version, supported) => {
    expect(isSupportedNodeVersion(version)).toBe(supported);
  });

  it('holds for the Node running the tests (CI runs 22 and 24)', () => {
    expect(isSupportedNodeVersion(process.versions.node)).toBe(true);
  });
});
