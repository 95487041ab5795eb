/**
 * The other end for `child-process.test.ts`: a task manager in a process of its own. It opens a
 * data port (secret from SLUICE_CLUSTER_SECRET), prints it, and relays channel 0 from the parent
 * back on channel 1, each record doubled, control elements as they are. It stops reading while
 * its output is blocked, as a task does, so the parent's backpressure crosses two connections'
 * worth of credit. Exits 0 once it has relayed the end of input and the parent has closed.
 */
import { ChannelItem } from '../../channel.ts';
import { DataPlane } from '../data-plane.ts';
import { loadClusterSecret } from '../secret.ts';
import { Wakeups } from './tcp-test-helpers.ts';

const plane = await DataPlane.start({
  id: 'tm-child',
  secret: loadClusterSecret(),
  bufferBytes: 1024,
  buffersPerChannel: 2,
});
process.stdout.write(`${JSON.stringify({ port: plane.address.port })}\n`);
const connection = await plane.connection('tm-parent');
const wakeups = new Wakeups();
const receiver = connection.receiver(0, wakeups.wake);
const sender = connection.sender(1, wakeups.wake);
const closed = new Promise<unknown>((resolve) => connection.onClose(resolve));
let ended = false;
while (!ended) {
  const seen = wakeups.count;
  let progressed = sender.isBlocked && sender.flushPending();
  while (!sender.isBlocked && !ended) {
    const kind = receiver.receive();
    if (kind === ChannelItem.None) break;
    progressed = true;
    switch (kind) {
      case ChannelItem.Batch:
        sender.sendBatch(
          (receiver.values as number[]).map((v) => v * 2),
          receiver.timestamps,
          false,
        );
        break;
      case ChannelItem.Watermark:
        sender.sendWatermark(receiver.watermark);
        break;
      case ChannelItem.WatermarkStatus:
        sender.sendWatermarkStatus(receiver.idle);
        break;
      case ChannelItem.Barrier:
        sender.sendBarrier(receiver.checkpointId);
        break;
      case ChannelItem.EndOfInput:
        sender.sendEndOfInput();
        ended = true;
        break;
    }
  }
  if (!progressed) await wakeups.after(seen);
}
while (sender.isBlocked) {
  const seen = wakeups.count;
  if (!sender.flushPending()) await wakeups.after(seen);
}
await closed;
await plane.close();
