import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import type { Channel, ChannelClose } from '../net/channel.js';
import { ProtocolError, errorCodeName, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type IEnvelope, type atlas } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import { backoffDelayMs, sleep, DEFAULT_RECONNECT_BACKOFF, type BackoffOptions } from './backoff.js';

/** Time allowed for the master to reply to ClientHello with ClientWelcome. */
export const DEFAULT_WELCOME_TIMEOUT_MS = 5000;

export type ControlState = 'connecting' | 'open' | 'retrying' | 'stopped';

export interface ControlLinkDeps {
  logger: Logger;
  /** Opens a TLS WebSocket to the site hostname, path /control. */
  connect: () => Promise<Channel>;
  /** Builds the hello for each connection, so the UTC offset is current after a daylight saving change. */
  hello: () => atlas.IClientHello;
}

export interface ControlLinkOptions {
  backoff?: BackoffOptions;
  welcomeTimeoutMs?: number;
}

type ControlEvents = {
  welcome: [atlas.ClientWelcome];
  message: [DecodedEnvelope];
  down: [string];
  /** The master rejected the hello for good (a rejected session key); the link stopped and does not retry. */
  rejected: [string];
};

/** A hello the master rejected with a code that retrying cannot fix. */
class HelloRejectedError extends Error {
  override name = 'HelloRejectedError';
}

/** Error codes after which the client stops instead of reconnecting. */
const FINAL_HELLO_ERRORS: readonly ErrorCode[] = [ErrorCode.ERROR_SESSION_KEY_REJECTED];

/**
 * The control channel to the master, kept open for as long as the client is
 * online. It sends ClientHello, waits for ClientWelcome and forwards every
 * later message. When the connection drops or cannot be opened it reconnects
 * with capped, jittered backoff.
 */
export class ControlLink extends EventEmitter<ControlEvents> {
  state: ControlState = 'connecting';
  welcome: atlas.ClientWelcome | undefined;
  /** Reason the last connection ended or the last attempt failed. */
  lastError: string | undefined;
  /**
   * Highest master term a ClientWelcome carried. A master that answers with
   * an older term has been replaced by a takeover, so the client does not
   * stay with it and resolves the site hostname again.
   */
  highestTerm = 0;
  private channel: Channel | undefined;
  private readonly abort = new AbortController();
  private finished: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ControlLinkDeps, private readonly options: ControlLinkOptions = {}) {
    super();
  }

  get isOpen(): boolean {
    return this.state === 'open' && this.channel?.isOpen === true;
  }

  start(): void {
    this.finished = this.run();
  }

  /** Closes the channel and stops reconnecting; resolves when the loop ended. */
  async stop(reason: string): Promise<void> {
    this.abort.abort();
    this.state = 'stopped';
    this.channel?.close(1000, reason);
    await this.finished;
  }

  /** Sends a message to the master; returns false when the channel is not open. */
  send(message: Omit<IEnvelope, 'protocolVersion'>): boolean {
    if (!this.isOpen) return false;
    return this.channel!.send(message);
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.abort.signal.aborted) {
      try {
        this.state = 'connecting';
        const channel = await this.deps.connect();
        if (this.abort.signal.aborted) {
          channel.close(1000, 'client stopping');
          break;
        }
        // Stored before the welcome, so that stop() can close a channel that is still greeting.
        this.channel = channel;
        const { closed } = await this.greet(channel);
        attempt = 0;
        const reason = await closed;
        this.lastError = reason;
        if (this.abort.signal.aborted) break;
        this.deps.logger.warn({ reason }, 'control channel to the master closed');
        this.emit('down', reason);
      } catch (error) {
        this.lastError = errorMessage(error);
        if (error instanceof HelloRejectedError) {
          this.deps.logger.error({ err: this.lastError }, 'the master rejected this client; not retrying');
          this.state = 'stopped';
          this.emit('rejected', this.lastError);
          return;
        }
      }
      if (this.abort.signal.aborted) break;

      attempt++;
      const delayMs = backoffDelayMs(attempt, this.options.backoff ?? DEFAULT_RECONNECT_BACKOFF);
      this.state = 'retrying';
      this.deps.logger.warn({ attempt, delayMs, err: this.lastError }, 'connecting to the master failed, retrying');
      await sleep(delayMs, this.abort.signal);
    }
    this.state = 'stopped';
  }

  /**
   * Sends ClientHello and waits for ClientWelcome. Resolves with a promise of
   * the reason the channel later closes, wrapped in an object because a
   * promise resolved with a promise waits for it. Rejects when no welcome arrives.
   */
  private greet(channel: Channel): Promise<{ closed: Promise<string> }> {
    const timeoutMs = this.options.welcomeTimeoutMs ?? DEFAULT_WELCOME_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      let peerError: atlas.IError | undefined;
      const timer = setTimeout(() => {
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ClientWelcome from the master`));
        channel.close(1000, 'no ClientWelcome in time');
      }, timeoutMs);
      const onCloseBeforeWelcome = (close: ChannelClose): void => {
        clearTimeout(timer);
        const final = peerError?.code !== undefined && peerError.code !== null && FINAL_HELLO_ERRORS.includes(peerError.code);
        const message = `the master closed the control channel before ClientWelcome (${describeClose(close, peerError)})`;
        reject(final ? new HelloRejectedError(message) : new Error(message));
      };
      channel.once('close', onCloseBeforeWelcome);

      channel.onMessage((envelope) => {
        if (envelope.body === 'error') {
          peerError = envelope.error ?? undefined;
          return;
        }
        if (envelope.body !== 'clientWelcome') {
          throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `expected ClientWelcome first, got ${envelope.body}`);
        }
        clearTimeout(timer);
        channel.off('close', onCloseBeforeWelcome);
        const welcome = envelope.clientWelcome as atlas.ClientWelcome;
        if (welcome.term < this.highestTerm) {
          reject(new Error(`master ${welcome.masterName} answered with term ${welcome.term}, older than term ${this.highestTerm} seen before; it was replaced, so the site hostname is resolved again`));
          channel.close(1000, 'stale master term');
          return;
        }
        this.highestTerm = welcome.term;
        // Everything below runs before the next message of the same read is dispatched, so none is missed.
        resolve({ closed: this.serve(channel, welcome) });
      });
      channel.send({ clientHello: this.deps.hello() });
    });
  }

  /** Makes `channel` the current one and forwards its messages; resolves with why it closed. */
  private serve(channel: Channel, welcome: atlas.ClientWelcome): Promise<string> {
    this.channel = channel;
    this.welcome = welcome;
    this.state = 'open';
    let peerError: atlas.IError | undefined;
    channel.onMessage((envelope) => {
      if (envelope.body === 'error') peerError = envelope.error ?? undefined;
      this.emit('message', envelope);
    });
    const closed = new Promise<string>((resolve) => {
      channel.once('close', (close) => {
        if (this.channel === channel) this.channel = undefined;
        if (this.state === 'open') this.state = 'retrying';
        resolve(describeClose(close, peerError));
      });
    });
    this.deps.logger.info({ master: welcome.masterName, term: welcome.term, clientId: welcome.clientId }, 'connected to the master');
    this.emit('welcome', welcome);
    return closed;
  }
}

function describeClose(close: ChannelClose, peerError: atlas.IError | undefined): string {
  const side = close.local ? 'closed by this client' : 'closed by the master';
  const cause = peerError !== undefined ? `; last error ${errorCodeName(peerError.code ?? ErrorCode.ERROR_UNSPECIFIED)}: ${peerError.message ?? ''}` : '';
  return `${side} with code ${close.code}${close.reason ? ` (${close.reason})` : ''}${cause}`;
}
