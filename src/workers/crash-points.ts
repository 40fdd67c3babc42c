/**
 * Named crash points for the crash-safety tests: when the test-only variable
 * TEST_CRASH_AT names a point, the process SIGKILLs itself there — no cleanup,
 * no flush, exactly like a power cut. Unset in production, so this is a no-op.
 */
export type CrashPointName =
  | 'consumer:after-insert'
  | 'consumer:after-enqueue'
  | 'worker:after-processing-commit'
  | 'worker:after-gateway-call'
  | 'worker:after-terminal-commit'
  | 'relay:after-publish'
  | 'relay:before-mark-published'
  | 'refund:after-reserve-commit'
  | 'refund:after-gateway-call'
  | 'refund:after-outcome-commit';

const armed = process.env.TEST_CRASH_AT;

export function crashPoint(name: CrashPointName): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
