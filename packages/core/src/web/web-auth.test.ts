import { describe, expect, it } from 'vitest';
import { bearerToken, isLoopbackHost, tokensEqual } from './web-auth.ts';
import { validateWebOptions } from './web-server.ts';

describe('tokensEqual', () => {
  it('is true only for the same token, and never throws on different lengths', () => {
    const token = 'a-token-of-24-characters';
    expect(tokensEqual(token, token)).toBe(true);
    expect(tokensEqual(`${token}x`, token)).toBe(false);
    expect(tokensEqual(token.slice(1), token)).toBe(false);
    expect(tokensEqual('', token)).toBe(false);
    expect(tokensEqual(token.replace('a', 'b'), token)).toBe(false);
  });
});

describe('bearerToken', () => {
  it('reads the token of a Bearer header, and nothing else', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.10', false],
    ['example.com', false],
    ['127.0.0.1.example.com', false],
  ])('%s: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});

describe('validateWebOptions', () => {
  it('defaults to 127.0.0.1:8081 with no token', () => {
    expect(validateWebOptions({})).toEqual({
      port: 8081,
      host: '127.0.0.1',
      token: undefined,
      savepointDirectory: undefined,
      keepServingAfterEnd: false,
    });
  });

  it.each([
    [{ host: '0.0.0.0' }, /other machines can reach: set "web.token"/],
    [{ host: '::' }, /other machines can reach/],
    [{ port: 70000 }, /"web.port" must be an integer from 0 to 65535/],
    [{ port: 1.5 }, /"web.port"/],
    [{ token: 'short' }, /at least 16 characters/],
    [{ token: 'has a space in it, long enough' }, /without spaces/],
    [{ path: '/etc' }, /unknown option "web.path"/],
    [{ keepServingAfterEnd: 'yes' }, /"web.keepServingAfterEnd" must be true or false, got yes/],
  ])('refuses %j', (options, message) => {
    expect(() => validateWebOptions(options as never)).toThrow(message);
  });

  it('takes a non-loopback host with a token', () => {
    expect(validateWebOptions({ host: '0.0.0.0', token: '0123456789abcdef' }).host).toBe('0.0.0.0');
  });
});
