/**
 * Waiting for a condition, the only way tests here wait: poll until it holds, with a hang guard
 * far above any expected time, so a slow machine makes a test slower, never red.
 */
export const HANG_GUARD_MS = 180_000;
const POLL_MS = 100;

export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = HANG_GUARD_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`waited ${timeoutMs / 1000} s for ${what}, in vain${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
