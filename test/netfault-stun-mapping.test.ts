import { randomBytes } from 'node:crypto';
import t from 'tap';

import { silentLogger } from '../src/logging/logger.js';
import { FaultTable } from '../src/netfault/fault-table.js';
import { rewriteMappedAddress } from '../src/netfault/stun-mapping.js';
import { UdpProxy } from '../src/netfault/udp-proxy.js';
import { decodeMappedAddress, decodeText, decodeXorMappedAddress, mappedAddressAttribute, softwareAttribute, xorMappedAddressAttribute } from '../src/stun-protocol/attributes.js';
import { decodeStunMessage, encodeStunMessage, findAttribute } from '../src/stun-protocol/codec.js';
import { StunAttributeType, StunClass, StunMethod } from '../src/stun-protocol/constants.js';
import { verifyFingerprint } from '../src/stun-protocol/integrity.js';
import { queryStunBinding } from '../src/stun-protocol/client.js';
import { StunServer } from '../src/stun-protocol/server.js';

const CLIENT = { address: '127.20.0.5', port: 40_000 };
const SEEN_BY_SERVER = { family: 'IPv4' as const, address: '127.20.0.5', port: 51_234 };

function bindingResponse(options: { fingerprint?: boolean; integrityKey?: Buffer; messageClass?: StunClass } = {}): { bytes: Buffer; transactionId: Buffer } {
  const transactionId = randomBytes(12);
  const attributes = [xorMappedAddressAttribute(SEEN_BY_SERVER, transactionId), mappedAddressAttribute(SEEN_BY_SERVER), softwareAttribute('test server')];
  const bytes = encodeStunMessage(
    { method: StunMethod.binding, messageClass: options.messageClass ?? StunClass.successResponse, transactionId, attributes },
    { fingerprint: options.fingerprint ?? true, ...(options.integrityKey === undefined ? {} : { integrityKey: options.integrityKey }) },
  );
  return { bytes, transactionId };
}

void t.test('binding response gets the client port', (t) => {
  const { bytes, transactionId } = bindingResponse();
  const result = rewriteMappedAddress(bytes, CLIENT);
  t.equal(result.outcome, 'rewritten', 'outcome');
  const message = decodeStunMessage(result.datagram);
  t.same(decodeXorMappedAddress(findAttribute(message, StunAttributeType.xorMappedAddress)!, transactionId), { family: 'IPv4', ...CLIENT }, 'XOR-MAPPED-ADDRESS names the client port');
  t.same(decodeMappedAddress(findAttribute(message, StunAttributeType.mappedAddress)!), { family: 'IPv4', ...CLIENT }, 'MAPPED-ADDRESS names the client port');
  t.equal(decodeText(findAttribute(message, StunAttributeType.software)!), 'test server', 'SOFTWARE kept');
  t.ok(message.fingerprint !== undefined && verifyFingerprint(message), 'FINGERPRINT recomputed and valid');
  t.same(message.transactionId, transactionId, 'transaction ID kept');
  t.end();
});

void t.test('response without fingerprint stays without', (t) => {
  const { bytes } = bindingResponse({ fingerprint: false });
  const message = decodeStunMessage(rewriteMappedAddress(bytes, CLIENT).datagram);
  t.equal(message.fingerprint, undefined, 'no FINGERPRINT added');
  t.end();
});

void t.test('other datagrams pass unchanged', (t) => {
  const signed = bindingResponse({ integrityKey: Buffer.from('key') }).bytes;
  t.same(rewriteMappedAddress(signed, CLIENT), { datagram: signed, outcome: 'signed' }, 'signed response kept, outcome signed');
  const failure = bindingResponse({ messageClass: StunClass.errorResponse }).bytes;
  t.same(rewriteMappedAddress(failure, CLIENT), { datagram: failure, outcome: 'unchanged' }, 'error response kept');
  const notStun = Buffer.from('hello, not a STUN message');
  t.same(rewriteMappedAddress(notStun, CLIENT), { datagram: notStun, outcome: 'unchanged' }, 'non-STUN datagram kept');
  t.end();
});

void t.test('stun proxy keeps reflexive address', async (t) => {
  const server = new StunServer({ logger: silentLogger() }, { address: '127.31.0.12', port: 0 });
  const bound = await server.listen();
  t.teardown(() => server.close());
  for (const stun of [true, false]) {
    const proxy = new UdpProxy({ logger: silentLogger() }, { listen: { address: '127.31.0.12', port: 0 }, target: { address: bound.address, port: bound.port }, preserveSource: true, faults: new FaultTable(), stun });
    const listening = await proxy.listen();
    t.teardown(() => proxy.close());
    const result = await queryStunBinding({ server: listening, localAddress: '127.31.0.13', timeoutMs: 10_000 });
    t.equal(result.address, '127.31.0.13', `stun ${stun}: client IP preserved`);
    if (stun) {
      t.equal(result.port, result.local.port, 'stun proxy reports the client port');
      t.equal(proxy.counters().stunMappingsRewritten, 1, 'one response rewritten');
    } else {
      t.not(result.port, result.local.port, 'plain proxy reports its own session port');
    }
  }
});
