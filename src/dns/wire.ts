import { Packet, type Writer } from 'dns2';

/** UDP message size limit without EDNS (RFC 1035 section 4.2.1). */
export const CLASSIC_UDP_LIMIT_BYTES = 512;
/** Largest UDP response this server sends, whatever size a client advertises. */
export const MAX_UDP_RESPONSE_BYTES = 4096;

/**
 * Encodes a message without name compression. dns2 3.0 compresses every name,
 * SRV targets included, although RFC 2782 says SRV target names are not
 * compressed. Its writer compresses only when `writer.names` is a Map, so a
 * writer whose `names` is another object turns compression off for the whole
 * message. Responses stay small (a few hundred bytes), so the cost is nil.
 */
export function encodeWithoutCompression(packet: Packet): Buffer {
  const writer = new Packet.Writer() as Writer & { names?: object };
  writer.names = {};
  return (packet as unknown as { toBuffer(writer: Writer): Buffer }).toBuffer(writer);
}

/** Returns the UDP payload size the requester accepts: its EDNS OPT size (at least 512), or 512 without EDNS. */
export function udpResponseLimit(request: Packet): number {
  const opt = request.additionals.find((record) => record?.type === Packet.TYPE.EDNS);
  if (opt === undefined) return CLASSIC_UDP_LIMIT_BYTES;
  return Math.min(Math.max(opt.class, CLASSIC_UDP_LIMIT_BYTES), MAX_UDP_RESPONSE_BYTES);
}

/**
 * Encodes a response for UDP. When it does not fit the requester's limit the
 * result carries only the header (TC bit set), the question and the OPT
 * record, so the client retries over TCP.
 */
export function encodeForUdp(response: Packet, limit: number): { buffer: Buffer; truncated: boolean } {
  const full = encodeWithoutCompression(response);
  if (full.length <= limit) return { buffer: full, truncated: false };

  const truncated = new Packet();
  truncated.header = new Packet.Header({ ...response.header, tc: 1 });
  truncated.questions = response.questions.slice();
  truncated.additionals = response.additionals.filter((record) => record.type === Packet.TYPE.EDNS);
  return { buffer: encodeWithoutCompression(truncated), truncated: true };
}

const HEADER_BYTES = 12;
/** Smallest question: root name (1 byte), type and class. */
const MIN_QUESTION_BYTES = 5;
/** Smallest resource record: root name, type, class, TTL and RDLENGTH. */
const MIN_RECORD_BYTES = 11;

/**
 * Returns why a message cannot be a DNS message, before dns2 parses it, or
 * undefined when it may be one. dns2 3.0 loops over the header's record
 * counts and builds an exception for each record missing from the buffer. A
 * 12-byte packet claiming 65535 records of each kind took about 2.9 s of CPU
 * to parse (measured with Node.js 20.20 on a 2-core machine), so counts that
 * cannot fit the message length are rejected here instead.
 */
export function implausibleMessage(message: Buffer): string | undefined {
  if (message.length < HEADER_BYTES) return `message of ${message.length} bytes is shorter than a DNS header (${HEADER_BYTES} bytes)`;
  const questions = message.readUInt16BE(4);
  const records = message.readUInt16BE(6) + message.readUInt16BE(8) + message.readUInt16BE(10);
  const minimum = HEADER_BYTES + questions * MIN_QUESTION_BYTES + records * MIN_RECORD_BYTES;
  if (minimum > message.length) return `header claims ${questions} questions and ${records} records, which need at least ${minimum} bytes, but the message has ${message.length}`;
  return undefined;
}
