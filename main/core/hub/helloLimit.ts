import type { Socket } from 'node:net';
import type { Peer } from './peer';

/**
 * Until its hello is accepted a connection is a stranger allowed a few KiB: its bytes are counted as they
 * arrive on the socket, so a frame of hundreds of megabytes is cut off at its start instead of being
 * buffered whole by ws (whose frame limit is the authenticated workers' maxPayload).
 */
export function limitBeforeHello(
  socket: Socket,
  maxBytes: number,
  peer: Pick<Peer, 'state'>,
  onExceeded: () => void,
): void {
  let received = 0;
  const count = (chunk: Buffer) => {
    if (peer.state !== 'pending') {
      socket.off('data', count);
      return;
    }
    received += chunk.length;
    if (received <= maxBytes) return;
    socket.off('data', count);
    onExceeded();
  };
  socket.on('data', count);
}
