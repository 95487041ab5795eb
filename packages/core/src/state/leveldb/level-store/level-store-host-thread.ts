/** The LevelDB host thread (see `level-store-host.ts`): serves each connection it is given. */

import { parentPort } from 'node:worker_threads';
import { LevelStoreServer } from './level-store-server.ts';
import type { HostControl, HostReply } from './wire.ts';

const servers = new Map<number, LevelStoreServer>();
const control = parentPort!;

control.on('message', (message: HostControl) => {
  switch (message.type) {
    case 'connect':
      servers.set(message.connection, new LevelStoreServer(message.port));
      return;
    case 'release': {
      const closing = message.connections.map((connection) => {
        const server = servers.get(connection);
        servers.delete(connection);
        return server?.close();
      });
      void Promise.allSettled(closing).then(() => {
        const reply: HostReply = { type: 'released', request: message.request };
        control.postMessage(reply);
      });
      return;
    }
    case 'shutdown':
      // Close every database, then let the thread end (nothing else keeps it alive).
      void Promise.allSettled([...servers.values()].map((server) => server.close())).then(() =>
        control.close(),
      );
  }
});
