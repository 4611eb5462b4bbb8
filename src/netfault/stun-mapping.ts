/**
 * Keeps STUN reflexive addresses true behind the fault layer. The UDP proxy
 * sends a client's requests from the client's own IP but from another port,
 * so a STUN server behind it reports that port. The proxy stores the
 * client's real port per session and writes it back into each Binding
 * success response, much as a NAT's application-level gateway does.
 */
import type { SocketAddress } from './address.js';
import {
  StunAttributeType,
  StunClass,
  StunMethod,
  decodeStunMessage,
  encodeStunMessage,
  mappedAddressAttribute,
  parseIpAddress,
  xorMappedAddressAttribute,
  type StunAttribute,
} from '../stun-protocol/index.js';

/** Outcome of rewriteMappedAddress for one datagram. */
export type MappingOutcome = 'rewritten' | 'unchanged' | 'signed';

/**
 * Returns the datagram with MAPPED-ADDRESS and XOR-MAPPED-ADDRESS set to
 * `client`, when it is a STUN Binding success response. FINGERPRINT is
 * computed again when the response had one. Any other datagram is returned
 * as it is. A response with MESSAGE-INTEGRITY is also returned as it is,
 * with the outcome `signed`, because only the server's key could sign the
 * rewritten one.
 */
export function rewriteMappedAddress(datagram: Buffer, client: SocketAddress): { datagram: Buffer; outcome: MappingOutcome } {
  let message;
  try {
    message = decodeStunMessage(datagram);
  } catch {
    return { datagram, outcome: 'unchanged' };
  }
  if (message.method !== StunMethod.binding || message.messageClass !== StunClass.successResponse) return { datagram, outcome: 'unchanged' };
  if (message.messageIntegrity !== undefined) return { datagram, outcome: 'signed' };

  const family = parseIpAddress(client.address)?.family;
  if (family === undefined) return { datagram, outcome: 'unchanged' };
  const transportAddress = { family, address: client.address, port: client.port };
  let changed = false;
  const attributes: StunAttribute[] = [];
  for (const attribute of message.attributes) {
    if (attribute.type === StunAttributeType.fingerprint) continue;
    if (attribute.type === StunAttributeType.xorMappedAddress) {
      attributes.push(xorMappedAddressAttribute(transportAddress, message.transactionId));
      changed = true;
    } else if (attribute.type === StunAttributeType.mappedAddress) {
      attributes.push(mappedAddressAttribute(transportAddress));
      changed = true;
    } else {
      attributes.push({ type: attribute.type, value: attribute.value });
    }
  }
  if (!changed) return { datagram, outcome: 'unchanged' };
  const rewritten = encodeStunMessage({ method: message.method, messageClass: message.messageClass, transactionId: message.transactionId, attributes }, { fingerprint: message.fingerprint !== undefined });
  return { datagram: rewritten, outcome: 'rewritten' };
}
