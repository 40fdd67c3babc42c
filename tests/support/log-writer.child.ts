// Run by logger-output.test.ts as a process of its own: logs with the service's
// default destination (stdout), then exits the way argv[2] says.
import { createLogger } from '../../src/observability/logger.js';

const log = createLogger('info');
const mode = process.argv[2];
log.info({ orderId: 'order-1' }, 'first line');
if (mode === 'exit-at-once') {
  log.info({ orderId: 'order-2' }, 'last line before exit');
  process.exit(0);
}
// 'stay': alive until the parent has read the line (it closes stdin), so the line must come out by itself.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
