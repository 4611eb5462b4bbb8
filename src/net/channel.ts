import { EventEmitter } from 'node:events';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from '../logging/logger.js';
import { ErrorCode, type IEnvelope } from '../protocol/messages.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_NORMAL,
  DEFAULT_MAX_MESSAGE_BYTES,
  ProtocolError,
  closeCodeFor,
  decodeEnvelope,
  encodeEnvelope,
  errorCodeName,
  type DecodedEnvelope,
} from '../protocol/envelope.js';
import { errorMessage } from '../util/errors.js';

/** Time between two pings on an idle channel. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;
/**
 * Silence after which the peer counts as dead. Detection of a peer that
 * went silent takes from this minus one interval to this plus one interval:
 * 1.5 to 2.5 s with the defaults, inside the 3 s a blackholed traffic node
 * may take to be marked offline. Four intervals leave room for three pongs
 * delayed by a busy event loop before a live peer is dropped.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 2000;
/** How long a closing handshake may take before the socket is destroyed. */
export const CLOSE_GRACE_MS = 2000;

export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
}

export interface ChannelOptions {
  heartbeat?: Partial<HeartbeatOptions>;
  maxMessageBytes?: number;
}

export type MessageHandler = (envelope: DecodedEnvelope, raw: Buffer) => void | Promise<void>;

/** Reason and origin of a channel's close, as its 'close' event reports them. */
export interface ChannelClose {
  code: number;
  reason: string;
  /** True when this side closed it (a refusal, a heartbeat timeout or close()). */
  local: boolean;
}

/**
 * One WebSocket carrying protobuf envelopes. It rejects text frames, malformed,
 * unknown and oversized messages with an Error envelope and a close code, runs
 * ping/pong heartbeats, and turns a ProtocolError thrown by the message handler
 * into the same refusal. Nothing thrown by a handler escapes to the process.
 */
export class Channel extends EventEmitter<{ close: [ChannelClose] }> {
  readonly remoteAddress: string;
  private readonly heartbeat: HeartbeatOptions;
  private readonly maxMessageBytes: number;
  private handler: MessageHandler | undefined;
  private lastSeenMs = Date.now();
  private lastCheckMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private closing: ChannelClose | undefined;
  private closed = false;

  constructor(
    readonly ws: WebSocket,
    private readonly deps: { logger: Logger },
    options: ChannelOptions = {},
  ) {
    super();
    this.heartbeat = {
      intervalMs: options.heartbeat?.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      timeoutMs: options.heartbeat?.timeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    };
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const socket = (ws as unknown as { _socket?: { remoteAddress?: string } })._socket;
    this.remoteAddress = normaliseAddress(socket?.remoteAddress ?? '');

    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('pong', () => this.markSeen());
    ws.on('ping', () => this.markSeen());
    ws.on('error', (error) => this.deps.logger.warn({ err: errorMessage(error) }, 'websocket error'));
    ws.on('close', (code, reason) => this.finish({ code, reason: reason.toString(), local: false }));
    this.timer = setInterval(() => this.checkHeartbeat(), this.heartbeat.intervalMs);
    this.timer.unref();
  }

  /** Sets the function that receives every valid envelope, in arrival order. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  get isOpen(): boolean {
    return !this.closed && this.closing === undefined && this.ws.readyState === this.ws.OPEN;
  }

  /** Bytes queued in the socket but not yet written, for backpressure. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Sends one envelope; returns false when the channel is no longer open. */
  send(message: Omit<IEnvelope, 'protocolVersion'>, onWritten?: (error?: Error) => void): boolean {
    return this.sendRaw(encodeEnvelope(message), onWritten);
  }

  /** Sends an already encoded envelope unchanged (used by relays). */
  sendRaw(bytes: Uint8Array, onWritten?: (error?: Error) => void): boolean {
    if (!this.isOpen) return false;
    this.ws.send(bytes, { binary: true }, onWritten);
    return true;
  }

  /** Sends an Error envelope, then closes with the close code that belongs to `code`. */
  fail(code: ErrorCode, message: string): void {
    if (!this.isOpen) return;
    this.deps.logger.warn({ code: errorCodeName(code), reason: message, peer: this.remoteAddress }, 'rejecting peer');
    this.send({ error: { code, message } });
    this.close(closeCodeFor(code), truncateReason(message));
  }

  /** Starts the closing handshake; destroys the socket if the peer does not finish it in time. */
  close(code = CLOSE_NORMAL, reason = ''): void {
    if (this.closed || this.closing !== undefined) return;
    this.closing = { code, reason, local: true };
    this.ws.close(code, truncateReason(reason));
    const grace = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    grace.unref();
  }

  /** Drops the connection at once without a closing handshake. */
  terminate(reason: string): void {
    if (this.closed) return;
    this.closing ??= { code: CLOSE_GOING_AWAY, reason, local: true };
    this.ws.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    this.markSeen();
    if (!this.isOpen) return;
    if (!isBinary) {
      this.fail(ErrorCode.ERROR_TEXT_FRAME, 'text frames are not accepted; send one binary protobuf Envelope per message');
      return;
    }

    const raw = toBuffer(data);
    let envelope: DecodedEnvelope;
    try {
      envelope = decodeEnvelope(raw, this.maxMessageBytes);
    } catch (error) {
      this.reject(error);
      return;
    }
    this.dispatch(envelope, raw);
  }

  private dispatch(envelope: DecodedEnvelope, raw: Buffer): void {
    if (this.handler === undefined) {
      this.fail(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `no message is expected yet, got ${envelope.body}`);
      return;
    }
    try {
      const result = this.handler(envelope, raw);
      if (result instanceof Promise) result.catch((error: unknown) => this.reject(error));
    } catch (error) {
      this.reject(error);
    }
  }

  private reject(error: unknown): void {
    if (error instanceof ProtocolError) {
      this.fail(error.code, error.message);
      return;
    }
    this.deps.logger.error({ err: errorMessage(error), peer: this.remoteAddress }, 'message handler failed');
    this.fail(ErrorCode.ERROR_INTERNAL, 'internal error while handling the message');
  }

  private markSeen(): void {
    this.lastSeenMs = Date.now();
  }

  private checkHeartbeat(): void {
    if (this.closed) return;
    // A check that runs more than one interval late means this process did not
    // run (a long synchronous task, a loaded machine, SIGSTOP). Timers run
    // before the socket reads of the same loop turn, so pongs that arrived
    // meanwhile are still unread: the silence is this process's, not the peer's.
    const now = Date.now();
    const lateMs = now - this.lastCheckMs - this.heartbeat.intervalMs;
    this.lastCheckMs = now;
    if (lateMs > this.heartbeat.intervalMs) this.markSeen();
    // A socket paused for backpressure (ws.pause()) is not read, so the peer's
    // pongs wait unread. Silence while paused is no sign of a dead peer.
    if (this.ws.isPaused) this.markSeen();
    const silentMs = Date.now() - this.lastSeenMs;
    if (silentMs >= this.heartbeat.timeoutMs) {
      this.deps.logger.warn({ peer: this.remoteAddress, silentMs }, 'heartbeat timeout, dropping connection');
      this.closing ??= { code: CLOSE_GOING_AWAY, reason: `heartbeat timeout after ${silentMs} ms`, local: true };
      this.ws.terminate();
      return;
    }
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  private finish(remote: ChannelClose): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.emit('close', this.closing ?? remote);
  }
}

/** Strips the IPv4-mapped IPv6 prefix that dual-stack sockets report. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A close reason must fit in 123 bytes (RFC 6455 section 5.5). */
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason);
  return bytes.length <= 123 ? reason : bytes.subarray(0, 120).toString() + '...';
}
