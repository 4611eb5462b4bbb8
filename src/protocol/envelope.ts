import { Envelope, ErrorCode, type BodyName, type IEnvelope } from './messages.js';

/** Version carried in every envelope; a peer with another version is rejected. */
export const PROTOCOL_VERSION = 1;

/** Largest binary message any channel accepts; larger ones get ERROR_MESSAGE_TOO_LARGE. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * WebSocket close codes (RFC 6455 section 7.4.1 and the IANA registry) sent
 * after an Error envelope with the given code.
 */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_MESSAGE_TOO_BIG = 1009;
export const CLOSE_INTERNAL_ERROR = 1011;

/**
 * Close reason a traffic node sends, with CLOSE_NORMAL, once it has left the
 * cluster after a Disband; the master takes this close as the confirmation.
 */
export const DISBAND_CLOSE_REASON = 'disbanded';

const CLOSE_CODE_BY_ERROR: ReadonlyMap<ErrorCode, number> = new Map([
  [ErrorCode.ERROR_TEXT_FRAME, CLOSE_UNSUPPORTED_DATA],
  [ErrorCode.ERROR_MALFORMED, CLOSE_INVALID_PAYLOAD],
  [ErrorCode.ERROR_UNKNOWN_BODY, CLOSE_PROTOCOL_ERROR],
  [ErrorCode.ERROR_UNEXPECTED_MESSAGE, CLOSE_PROTOCOL_ERROR],
  [ErrorCode.ERROR_MESSAGE_TOO_LARGE, CLOSE_MESSAGE_TOO_BIG],
  [ErrorCode.ERROR_UNSUPPORTED_PROTOCOL, CLOSE_PROTOCOL_ERROR],
  [ErrorCode.ERROR_AUTH_FAILED, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_TICKET_INVALID, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_TICKET_EXPIRED, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_TICKET_REPLAYED, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_TICKET_WRONG_NODE, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_NOT_ACCEPTING, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_SOFTWARE_VERSION, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_STALE_CONFIG, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_SESSION_ENDED, CLOSE_NORMAL],
  [ErrorCode.ERROR_HEARTBEAT_TIMEOUT, CLOSE_GOING_AWAY],
  [ErrorCode.ERROR_TIMEOUT, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_INTERNAL, CLOSE_INTERNAL_ERROR],
  [ErrorCode.ERROR_STALE_TERM, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_NOT_PRIMARY, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_MODEL_MISMATCH, CLOSE_POLICY_VIOLATION],
  [ErrorCode.ERROR_SESSION_KEY_REJECTED, CLOSE_POLICY_VIOLATION],
]);

/** WebSocket close code that follows an Error envelope with `code`. */
export function closeCodeFor(code: ErrorCode): number {
  return CLOSE_CODE_BY_ERROR.get(code) ?? CLOSE_PROTOCOL_ERROR;
}

/** Name of an error code as the schema spells it, for logs and messages. */
export function errorCodeName(code: ErrorCode): string {
  return ErrorCode[code] ?? `ERROR_${String(code)}`;
}

/** A refusal that goes back to the peer as an Error envelope followed by a close. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';

  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }

  get closeCode(): number {
    return closeCodeFor(this.code);
  }
}

/** An envelope whose body is known to be set. */
export type DecodedEnvelope = Envelope & { body: BodyName };

/** Encodes one envelope, stamping the protocol version. */
export function encodeEnvelope(message: Omit<IEnvelope, 'protocolVersion'>): Uint8Array {
  return Envelope.encode({ ...message, protocolVersion: PROTOCOL_VERSION }).finish();
}

/**
 * Decodes one binary WebSocket message into an envelope, or throws a
 * ProtocolError saying why it cannot be used.
 */
export function decodeEnvelope(data: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): DecodedEnvelope {
  if (data.byteLength > maxBytes) {
    throw new ProtocolError(ErrorCode.ERROR_MESSAGE_TOO_LARGE, `message of ${data.byteLength} bytes exceeds the limit of ${maxBytes} bytes`);
  }

  let envelope: Envelope;
  try {
    envelope = Envelope.decode(data);
  } catch (error) {
    throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `malformed protobuf envelope: ${error instanceof Error ? error.message : String(error)}`);
  }

  if (envelope.protocolVersion !== PROTOCOL_VERSION) {
    throw new ProtocolError(ErrorCode.ERROR_UNSUPPORTED_PROTOCOL, `protocol version ${envelope.protocolVersion} is not supported; this process speaks version ${PROTOCOL_VERSION}`);
  }
  if (envelope.body === undefined) {
    throw new ProtocolError(ErrorCode.ERROR_UNKNOWN_BODY, 'envelope has no known body; the sender may use a newer schema');
  }
  return envelope as DecodedEnvelope;
}
