import { SOFTWARE_VERSION } from '../config/constants.js';
import type { Logger } from '../logging/logger.js';
import { APPLIANCE_NONCE_BYTES, applianceMac, createNonce, verifyApplianceMac, type AuthTranscript } from '../protocol/appliance-auth.js';
import { CLOSE_PROTOCOL_ERROR, ProtocolError, errorCodeName, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import type { Channel, MessageHandler } from './channel.js';
import { connectChannel, type ConnectOptions } from './ws-client.js';

/** Time from the WebSocket opening to ApplianceAuthOk before the connecting side gives up. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** The connecting side of an appliance-channel handshake. */
export interface ConnectorIdentity {
  name: string;
  guid: string;
  /** Term sent in ApplianceAuth; 0 for a process that is no master. */
  term: number;
}

/** A channel whose peer proved the pre-shared key, with what each side sent in the handshake. */
export interface AuthenticatedChannel {
  channel: Channel;
  challenge: atlas.ApplianceChallenge;
  authOk: atlas.ApplianceAuthOk;
  /**
   * Sets the message handler. Messages that arrived after ApplianceAuthOk
   * and before this call are passed to it first, in order.
   */
  attach(handler: MessageHandler): void;
}

/** A handshake that failed, with the error code the peer sent or the local reason. */
export class HandshakeError extends Error {
  override name = 'HandshakeError';

  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/**
 * Opens a TLS WebSocket and runs the connecting side of the appliance
 * handshake: waits for ApplianceChallenge, answers with ApplianceAuth and
 * checks the MAC in ApplianceAuthOk. Rejects with a HandshakeError (after
 * closing the channel) when the peer's MAC does not verify, the peer sends an
 * Error envelope, or the channel closes or times out first. A connect failure
 * rejects with the ConnectError of connectChannel.
 */
export async function openAuthenticatedChannel(
  deps: { logger: Logger },
  options: ConnectOptions & { psk: Uint8Array; self: ConnectorIdentity; handshakeTimeoutMs?: number },
): Promise<AuthenticatedChannel> {
  const channel = await connectChannel(deps, options);
  const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const pending: { envelope: DecodedEnvelope; raw: Buffer }[] = [];
  let handler: MessageHandler | undefined;

  const authenticated = await new Promise<Omit<AuthenticatedChannel, 'attach' | 'channel'>>((resolve, reject) => {
    let transcript: AuthTranscript | undefined;
    let challenge: atlas.ApplianceChallenge | undefined;
    let done = false;
    const finish = (error: HandshakeError | undefined, result?: Omit<AuthenticatedChannel, 'attach' | 'channel'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      channel.off('close', onClose);
      if (error !== undefined) {
        channel.close(CLOSE_PROTOCOL_ERROR, error.message);
        reject(error);
      } else if (result !== undefined) {
        resolve(result);
      }
    };
    const onClose = (close: { code: number; reason: string }): void => {
      finish(new HandshakeError(ErrorCode.ERROR_UNSPECIFIED, `the peer closed the appliance channel during the handshake (code ${close.code}${close.reason ? `, ${close.reason}` : ''})`));
    };
    const timer = setTimeout(() => finish(new HandshakeError(ErrorCode.ERROR_HEARTBEAT_TIMEOUT, `appliance handshake did not finish within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    channel.once('close', onClose);

    channel.onMessage((envelope, raw) => {
      if (done) {
        if (handler === undefined) pending.push({ envelope, raw });
        else return handler(envelope, raw);
        return;
      }
      if (envelope.body === 'error') {
        const error = envelope.error as atlas.Error;
        finish(new HandshakeError(error.code, `the peer rejected the handshake with ${errorCodeName(error.code)}: ${error.message}`));
      } else if (envelope.body === 'applianceChallenge' && challenge === undefined) {
        challenge = envelope.applianceChallenge as atlas.ApplianceChallenge;
        if (challenge.nonce.length !== APPLIANCE_NONCE_BYTES) {
          throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `challenge nonce has ${challenge.nonce.length} bytes; expected ${APPLIANCE_NONCE_BYTES}`);
        }
        const nonce = createNonce();
        transcript = { acceptorNonce: challenge.nonce, connectorNonce: nonce, acceptorName: challenge.nodeName, connectorName: options.self.name };
        channel.send({
          applianceAuth: {
            nodeName: options.self.name,
            applianceGuid: options.self.guid,
            nonce,
            mac: applianceMac(options.psk, 'connector', transcript),
            softwareVersion: SOFTWARE_VERSION,
            term: options.self.term,
          },
        });
      } else if (envelope.body === 'applianceAuthOk' && transcript !== undefined && challenge !== undefined) {
        const authOk = envelope.applianceAuthOk as atlas.ApplianceAuthOk;
        if (!verifyApplianceMac(options.psk, 'acceptor', transcript, authOk.mac)) {
          channel.fail(ErrorCode.ERROR_AUTH_FAILED, 'appliance MAC does not verify; the inter-appliance pre-shared keys differ');
          finish(new HandshakeError(ErrorCode.ERROR_AUTH_FAILED, `${challenge.nodeName}: inter-appliance key does not match`));
          return;
        }
        finish(undefined, { challenge, authOk });
      } else {
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `appliance handshake expected ${transcript === undefined ? 'applianceChallenge' : 'applianceAuthOk'}, got ${envelope.body}`);
      }
    });
  });

  return {
    channel,
    ...authenticated,
    attach(next) {
      handler = next;
      channel.onMessage(next);
      for (const { envelope, raw } of pending.splice(0)) void next(envelope, raw);
    },
  };
}

/** What the accepting side learnt from a verified ApplianceAuth. */
export interface VerifiedConnector {
  auth: atlas.ApplianceAuth;
  transcript: AuthTranscript;
}

/**
 * Checks an ApplianceAuth against the challenge nonce this side sent: the
 * MAC over the pre-shared key and the software version. Throws a
 * ProtocolError that the channel sends back before it closes.
 */
export function verifyConnector(envelope: DecodedEnvelope, psk: Uint8Array, nonce: Uint8Array, acceptorName: string): VerifiedConnector {
  if (envelope.body !== 'applianceAuth' || envelope.applianceAuth == null) {
    throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `expected ApplianceAuth after the challenge, got ${envelope.body}`);
  }
  const auth = envelope.applianceAuth as atlas.ApplianceAuth;
  const transcript: AuthTranscript = { acceptorNonce: nonce, connectorNonce: auth.nonce, acceptorName, connectorName: auth.nodeName };
  if (transcript.connectorNonce.length !== APPLIANCE_NONCE_BYTES || !verifyApplianceMac(psk, 'connector', transcript, auth.mac)) {
    throw new ProtocolError(ErrorCode.ERROR_AUTH_FAILED, 'appliance authentication failed: the MAC does not verify; check that both appliances use the same inter-appliance pre-shared key');
  }
  if (auth.softwareVersion !== SOFTWARE_VERSION) {
    throw new ProtocolError(ErrorCode.ERROR_SOFTWARE_VERSION, `software version ${JSON.stringify(auth.softwareVersion)} does not match this appliance's ${SOFTWARE_VERSION}; upgrade both appliances to the same version`);
  }
  return { auth, transcript };
}

/** MAC the accepting side puts in ApplianceAuthOk. */
export function acceptorMac(psk: Uint8Array, verified: VerifiedConnector): Buffer {
  return applianceMac(psk, 'acceptor', verified.transcript);
}

export { createNonce };
