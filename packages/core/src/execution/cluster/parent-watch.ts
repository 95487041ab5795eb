/**
 * Children of a local cluster (the job manager and task managers of `sluice run --task-managers`,
 * the task managers of `runJob({ cluster })`) end with the process that started them: killed, it
 * leaves them re-parented, running a job nobody waits for.
 *
 * The starter names itself in the child's environment. Comparing `process.ppid` with the pid seen
 * when the child started is not enough: a starter killed while the child was still loading its
 * modules is gone before that first look, and the child would watch its new parent (init, a
 * subreaper) for ever.
 */

const EXIT_WITH_PARENT = 'SLUICE_EXIT_WITH_PARENT';
const PARENT_PID = 'SLUICE_PARENT_PID';
/** How often a child looks whether its starter is still its parent. */
const CHECK_INTERVAL_MS = 500;

/** What a child's environment needs so that it ends with this process. */
export function exitWithThisProcessEnv(): Record<string, string> {
  return { [EXIT_WITH_PARENT]: '1', [PARENT_PID]: String(process.pid) };
}

/**
 * In a child started with {@link exitWithThisProcessEnv}: calls `onGone` (once) when the process
 * that started it is no longer its parent, at once if it is already gone. Does nothing in a process
 * started otherwise. Takes the two variables out of `process.env`, so that processes the job's own
 * code starts do not inherit them.
 */
export function watchParent(onGone: (parent: number) => void): void {
  const asked = process.env[EXIT_WITH_PARENT] === '1';
  const named = Number(process.env[PARENT_PID]);
  delete process.env[EXIT_WITH_PARENT];
  delete process.env[PARENT_PID];
  if (!asked) return;
  // Asked without a pid (the variable set by hand): the parent seen now is the best guess.
  const parent = Number.isInteger(named) && named > 0 ? named : process.ppid;
  if (process.ppid !== parent) {
    onGone(parent);
    return;
  }
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, CHECK_INTERVAL_MS);
  timer.unref();
}
