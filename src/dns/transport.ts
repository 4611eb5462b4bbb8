import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { errorMessage } from '../util/errors.js';

/** Binding attempts when the port is 0. UDP takes a free port, and TCP must then get the same port, which another process may hold. */
export const MAX_EPHEMERAL_PORT_ATTEMPTS = 20;
/** A TCP connection with no complete message for this long is closed (RFC 7766 recommends at least 10 s). */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;

export type Transport = 'udp' | 'tcp';

export interface DnsTransportHandlers {
  /**
   * Returns the encoded response to one message, or undefined to send
   * nothing. Over TCP, undefined also closes the connection.
   */
  answer(message: Buffer, clientAddress: string | undefined, transport: Transport): Buffer | undefined;
  malformed(transport: Transport, reason: string): void;
  socketError(transport: Transport, error: Error): void;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function bindUdp(address: string, port: number, handlers: DnsTransportHandlers): Promise<UdpSocket> {
  const socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind({ port, address, exclusive: true }, () => {
      socket.removeAllListeners('error');
      socket.on('error', (error) => handlers.socketError('udp', error));
      socket.on('message', (message, remote) => {
        const reply = handlers.answer(message, remote.address, 'udp');
        if (reply === undefined) return;
        socket.send(reply, remote.port, remote.address, (error) => {
          if (error) handlers.socketError('udp', error);
        });
      });
      resolve(socket);
    });
  });
}

/**
 * Reads length-prefixed messages (RFC 1035 section 4.2.2) from one TCP
 * connection and writes each response in order, so pipelined queries work.
 */
function serveTcpConnection(socket: Socket, handlers: DnsTransportHandlers, idleTimeoutMs: number): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  socket.on('error', (error) => handlers.socketError('tcp', error));
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2) {
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      const message = buffered.subarray(2, 2 + length);
      buffered = buffered.subarray(2 + length);

      const reply = handlers.answer(message, socket.remoteAddress, 'tcp');
      if (reply === undefined) {
        socket.destroy();
        return;
      }
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(reply.length);
      socket.write(Buffer.concat([prefix, reply]));
    }
  });
  socket.on('end', () => {
    if (buffered.length > 0) handlers.malformed('tcp', `connection closed in the middle of a message (${buffered.length} bytes pending)`);
  });
}

function listenTcp(address: string, port: number, handlers: DnsTransportHandlers, connections: Set<Socket>, idleTimeoutMs: number): Promise<Server> {
  const server = createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    serveTcpConnection(socket, handlers, idleTimeoutMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: address, exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', (error) => handlers.socketError('tcp', error));
      resolve(server);
    });
  });
}

/**
 * The UDP socket and TCP listener of one DNS server, on one address and port.
 * Messages go to the handlers as raw bytes, and the handlers parse them.
 */
export class DnsListeners {
  private constructor(
    readonly address: string,
    readonly port: number,
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    private readonly connections: Set<Socket>,
  ) {}

  /** Binds UDP, then TCP on the same port. With port 0, retries when TCP finds the chosen port taken. */
  static async bind(address: string, port: number, handlers: DnsTransportHandlers, idleTimeoutMs = DEFAULT_TCP_IDLE_TIMEOUT_MS): Promise<DnsListeners> {
    const attempts = port === 0 ? MAX_EPHEMERAL_PORT_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      let udp: UdpSocket;
      try {
        udp = await bindUdp(address, port, handlers);
      } catch (error) {
        throw new Error(`DNS server: binding UDP ${address}:${port} failed: ${errorMessage(error)}; choose a free port or stop the process that holds it`, { cause: error });
      }

      const udpPort = udp.address().port;
      const connections = new Set<Socket>();
      try {
        const tcp = await listenTcp(address, udpPort, handlers, connections, idleTimeoutMs);
        return new DnsListeners(address, udpPort, udp, tcp, connections);
      } catch (error) {
        udp.close();
        if (errorCode(error) !== 'EADDRINUSE' || attempt >= attempts) {
          throw new Error(`DNS server: listening on TCP ${address}:${udpPort} failed: ${errorMessage(error)}; choose a free port or stop the process that holds it`, { cause: error });
        }
      }
    }
  }

  /** Closes both sockets and drops open TCP connections. */
  async close(): Promise<void> {
    const udpClosed = new Promise<void>((resolve) => this.udp.close(() => resolve()));
    const tcpClosed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const socket of this.connections) socket.destroy();
    await Promise.all([udpClosed, tcpClosed]);
  }
}
