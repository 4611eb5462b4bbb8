import t from 'tap';
import {
  decodeErrorCode,
  decodeMappedAddress,
  decodeText,
  decodeUnknownAttributes,
  decodeXorMappedAddress,
  errorCodeAttribute,
  mappedAddressAttribute,
  softwareAttribute,
  unknownAttributesAttribute,
  usernameAttribute,
  xorMappedAddressAttribute,
} from '../src/stun-protocol/attributes.js';
import {
  decodeMessageType,
  decodeStunMessage,
  encodeMessageType,
  encodeStunMessage,
  findAttribute,
  StunDecodeError,
  type DecodedStunMessage,
} from '../src/stun-protocol/codec.js';
import { StunAttributeType, StunClass, StunMethod } from '../src/stun-protocol/constants.js';
import { longTermKey, shortTermKey, verifyFingerprint, verifyMessageIntegrity } from '../src/stun-protocol/integrity.js';
import { formatIpAddress, isLoopbackAddress, parseIpAddress, unmapIpv4Address } from '../src/stun-protocol/ip-address.js';
import { saslprep } from '../src/stun-protocol/saslprep.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// Test vectors of RFC 5769 ("Test Vectors for Session Traversal Utilities for NAT (STUN)"), sections 2.1-2.4,
// byte for byte. The padding of SOFTWARE and USERNAME in 2.1-2.3 is 0x20, not zero.
const SAMPLE_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const SAMPLE_IPV4_RESPONSE = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);
const SAMPLE_IPV6_RESPONSE = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);
const LONG_TERM_REQUEST = hex(`
  00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66`);

const SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const VECTOR_TRANSACTION_ID = hex('b7 e7 a7 01 bc 34 d6 86 fa 87 df ae');
const LONG_TERM_USERNAME = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
// The password of RFC 5769 section 2.4 before SASLprep; after SASLprep it is "TheMatrIX".
const LONG_TERM_PASSWORD = 'The\u00ADM\u00AAtr\u2168';

/**
 * Rebuilds a received message with zero padding but its original MESSAGE-INTEGRITY and
 * FINGERPRINT values, which is what a library that re-encodes before verifying checks.
 */
function reencodeKeepingTrailers(message: DecodedStunMessage): DecodedStunMessage {
  const body = message.attributes.filter((attribute) => attribute !== message.messageIntegrity && attribute !== message.fingerprint);
  const trailers = [message.messageIntegrity, message.fingerprint].filter((attribute) => attribute !== undefined);
  const bytes = encodeStunMessage({ ...message, attributes: [...body, ...trailers] });
  return decodeStunMessage(bytes);
}

void t.test('RFC 5769 sample request', (t) => {
  const message = decodeStunMessage(SAMPLE_REQUEST);
  t.equal(message.method, StunMethod.binding);
  t.equal(message.messageClass, StunClass.request);
  t.same(message.transactionId, VECTOR_TRANSACTION_ID);
  t.equal(decodeText(findAttribute(message, StunAttributeType.software)!), 'STUN test client');
  t.equal(decodeText(findAttribute(message, StunAttributeType.username)!), 'evtj:h6vY');
  t.same(findAttribute(message, 0x0024), hex('6e 00 01 ff'), 'PRIORITY');
  t.same(findAttribute(message, 0x8029), hex('93 2f f9 b1 51 26 3b 36'), 'ICE-CONTROLLED');
  t.ok(verifyMessageIntegrity(message, shortTermKey(SHORT_TERM_PASSWORD)), 'MESSAGE-INTEGRITY verifies');
  t.notOk(verifyMessageIntegrity(message, shortTermKey('wrong password')), 'MESSAGE-INTEGRITY fails with another password');
  t.ok(verifyFingerprint(message), 'FINGERPRINT verifies');
  t.same(SAMPLE_REQUEST.subarray(73, 76), Buffer.from('   '), 'USERNAME padding is 0x20');
  const reencoded = reencodeKeepingTrailers(message);
  t.notOk(verifyMessageIntegrity(reencoded, shortTermKey(SHORT_TERM_PASSWORD)), 'zero-padded re-encoding fails MESSAGE-INTEGRITY');
  t.notOk(verifyFingerprint(reencoded), 'zero-padded re-encoding fails FINGERPRINT');
  t.end();
});

void t.test('RFC 5769 IPv4 response', (t) => {
  const message = decodeStunMessage(SAMPLE_IPV4_RESPONSE);
  t.equal(message.messageClass, StunClass.successResponse);
  t.equal(decodeText(findAttribute(message, StunAttributeType.software)!), 'test vector');
  const mapped = decodeXorMappedAddress(findAttribute(message, StunAttributeType.xorMappedAddress)!, message.transactionId);
  t.same(mapped, { family: 'IPv4', address: '192.0.2.1', port: 32853 });
  t.same(xorMappedAddressAttribute(mapped, VECTOR_TRANSACTION_ID).value, hex('00 01 a1 47 e1 12 a6 43'), 'encoding gives the vector bytes');
  t.ok(verifyMessageIntegrity(message, shortTermKey(SHORT_TERM_PASSWORD)), 'MESSAGE-INTEGRITY verifies');
  t.ok(verifyFingerprint(message), 'FINGERPRINT verifies');
  t.end();
});

void t.test('RFC 5769 IPv6 response', (t) => {
  const message = decodeStunMessage(SAMPLE_IPV6_RESPONSE);
  t.equal(message.messageClass, StunClass.successResponse);
  const mapped = decodeXorMappedAddress(findAttribute(message, StunAttributeType.xorMappedAddress)!, message.transactionId);
  t.same(mapped, { family: 'IPv6', address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  t.same(
    xorMappedAddressAttribute(mapped, VECTOR_TRANSACTION_ID).value,
    hex('00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9'),
    'encoding gives the vector bytes',
  );
  t.ok(verifyMessageIntegrity(message, shortTermKey(SHORT_TERM_PASSWORD)), 'MESSAGE-INTEGRITY verifies');
  t.ok(verifyFingerprint(message), 'FINGERPRINT verifies');
  t.end();
});

void t.test('RFC 5769 long-term request', (t) => {
  const message = decodeStunMessage(LONG_TERM_REQUEST);
  t.equal(message.messageClass, StunClass.request);
  t.equal(decodeText(findAttribute(message, StunAttributeType.username)!), LONG_TERM_USERNAME);
  t.equal(decodeText(findAttribute(message, StunAttributeType.nonce)!), 'f//499k954d6OL34oL9FSTvy64sA');
  t.equal(decodeText(findAttribute(message, StunAttributeType.realm)!), 'example.org');
  t.equal(saslprep(LONG_TERM_PASSWORD), 'TheMatrIX');
  const key = longTermKey(LONG_TERM_USERNAME, 'example.org', LONG_TERM_PASSWORD);
  t.same(key, longTermKey(LONG_TERM_USERNAME, 'example.org', 'TheMatrIX'), 'SASLprep maps both passwords to one key');
  t.ok(verifyMessageIntegrity(message, key), 'MESSAGE-INTEGRITY verifies with the long-term key');
  t.notOk(verifyMessageIntegrity(message, longTermKey(LONG_TERM_USERNAME, 'example.org', 'thematrix')), 'MESSAGE-INTEGRITY fails with another password');
  t.equal(message.fingerprint, undefined, 'the vector has no FINGERPRINT');
  t.notOk(verifyFingerprint(message), 'verifyFingerprint is false without FINGERPRINT');
  t.end();
});

void t.test('long-term request re-encodes byte for byte', (t) => {
  // This vector pads with zeros, so the encoder must reproduce it, MESSAGE-INTEGRITY included.
  const message = decodeStunMessage(LONG_TERM_REQUEST);
  const key = longTermKey(LONG_TERM_USERNAME, 'example.org', LONG_TERM_PASSWORD);
  t.same(encodeStunMessage({ ...message, attributes: message.attributes.slice(0, 3) }, { integrityKey: key }), LONG_TERM_REQUEST);
  t.end();
});

void t.test('encode round trip', (t) => {
  const transactionId = Buffer.alloc(12, 7);
  const key = Buffer.from('secret');
  const encoded = encodeStunMessage(
    { method: StunMethod.binding, messageClass: StunClass.request, transactionId, attributes: [usernameAttribute('alice'), softwareAttribute('abc')] },
    { integrityKey: key, fingerprint: true },
  );
  t.equal(encoded.length % 4, 0, 'length is a multiple of 4');
  const decoded = decodeStunMessage(encoded);
  t.equal(decodeText(findAttribute(decoded, StunAttributeType.username)!), 'alice');
  t.equal(decodeText(findAttribute(decoded, StunAttributeType.software)!), 'abc');
  t.ok(verifyMessageIntegrity(decoded, key), 'MESSAGE-INTEGRITY verifies');
  t.ok(verifyFingerprint(decoded), 'FINGERPRINT verifies');
  const flipped = Buffer.from(encoded);
  flipped[24] = (flipped[24] ?? 0) ^ 1;
  t.notOk(verifyMessageIntegrity(decodeStunMessage(flipped), key), 'a flipped bit fails MESSAGE-INTEGRITY');
  t.notOk(verifyFingerprint(decodeStunMessage(flipped)), 'a flipped bit fails FINGERPRINT');
  t.end();
});

void t.test('message type bits', (t) => {
  t.equal(encodeMessageType(StunMethod.binding, StunClass.request), 0x0001);
  t.equal(encodeMessageType(StunMethod.binding, StunClass.indication), 0x0011);
  t.equal(encodeMessageType(StunMethod.binding, StunClass.successResponse), 0x0101);
  t.equal(encodeMessageType(StunMethod.binding, StunClass.errorResponse), 0x0111);
  t.equal(encodeMessageType(0xfff, StunClass.errorResponse), 0x3fff);
  t.same(decodeMessageType(0x0113), { method: 0x003, messageClass: StunClass.errorResponse });
  t.same(decodeMessageType(0x3fff), { method: 0xfff, messageClass: StunClass.errorResponse });
  t.throws(() => encodeMessageType(0x1000, StunClass.request), RangeError);
  t.end();
});

void t.test('attributes after MESSAGE-INTEGRITY ignored', (t) => {
  const key = Buffer.from('k');
  const signed = encodeStunMessage({ method: StunMethod.binding, messageClass: StunClass.request, transactionId: Buffer.alloc(12), attributes: [] }, { integrityKey: key });
  const extra = hex('00 99 00 04 01 02 03 04');
  const tampered = Buffer.concat([signed, extra]);
  tampered.writeUInt16BE(tampered.length - 20, 2);
  const decoded = decodeStunMessage(tampered);
  t.same(decoded.attributes.map((attribute) => attribute.type), [StunAttributeType.messageIntegrity]);
  t.ok(verifyMessageIntegrity(decoded, key), 'MESSAGE-INTEGRITY still verifies');
  t.end();
});

void t.test('decode rejects malformed input', (t) => {
  const good = encodeStunMessage({ method: StunMethod.binding, messageClass: StunClass.request, transactionId: Buffer.alloc(12, 1), attributes: [softwareAttribute('abc')] });
  const mutate = (change: (bytes: Buffer) => void): Buffer => {
    const bytes = Buffer.from(good);
    change(bytes);
    return bytes;
  };
  const cases: Array<[string, Buffer, string]> = [
    ['short header', good.subarray(0, 19), 'short-header'],
    ['top bits set', mutate((bytes) => (bytes[0] = 0x80)), 'not-stun'],
    ['bad cookie', mutate((bytes) => bytes.writeUInt32BE(0x2112a443, 4)), 'bad-cookie'],
    ['length not multiple of 4', mutate((bytes) => bytes.writeUInt16BE(6, 2)), 'bad-length'],
    ['truncated', good.subarray(0, good.length - 4), 'truncated'],
    ['trailing bytes', Buffer.concat([good, Buffer.alloc(4)]), 'trailing-bytes'],
    ['attribute overrun', mutate((bytes) => bytes.writeUInt16BE(9, 22)), 'attribute-overrun'],
    ['attribute after FINGERPRINT', (() => {
      const withFingerprint = encodeStunMessage({ method: 1, messageClass: StunClass.request, transactionId: Buffer.alloc(12), attributes: [] }, { fingerprint: true });
      const bytes = Buffer.concat([withFingerprint, hex('80 22 00 00')]);
      bytes.writeUInt16BE(bytes.length - 20, 2);
      return bytes;
    })(), 'after-fingerprint'],
  ];
  for (const [name, bytes, reason] of cases) {
    t.throws(() => decodeStunMessage(bytes), { name: 'StunDecodeError', reason }, name);
  }
  t.end();
});

void t.test('decode survives random bytes', (t) => {
  let rejected = 0;
  for (let index = 0; index < 2000; index++) {
    const bytes = Buffer.from(Array.from({ length: Math.floor(Math.random() * 80) }, () => Math.floor(Math.random() * 256)));
    try {
      const decoded = decodeStunMessage(bytes);
      verifyFingerprint(decoded);
    } catch (error) {
      if (!(error instanceof StunDecodeError)) {
        throw error;
      }
      rejected++;
    }
  }
  t.equal(rejected, 2000, 'random bytes never form a message with the magic cookie');
  t.end();
});

void t.test('address attributes', (t) => {
  const transactionId = Buffer.alloc(12, 0x5a);
  const addresses = [
    { family: 'IPv4' as const, address: '127.0.0.1', port: 1 },
    { family: 'IPv6' as const, address: '::1', port: 65535 },
    { family: 'IPv6' as const, address: '2001:db8::1:0:0:1', port: 3478 },
  ];
  for (const address of addresses) {
    t.same(decodeMappedAddress(mappedAddressAttribute(address).value), address, `MAPPED-ADDRESS ${address.address}`);
    t.same(decodeXorMappedAddress(xorMappedAddressAttribute(address, transactionId).value, transactionId), address, `XOR-MAPPED-ADDRESS ${address.address}`);
  }
  t.throws(() => decodeMappedAddress(hex('00 03 00 01 7f 00 00 01')), { name: 'StunDecodeError', reason: 'bad-address' }, 'unknown family');
  t.throws(() => decodeMappedAddress(hex('00 01 00 01 7f 00 00')), { name: 'StunDecodeError', reason: 'bad-address' }, 'short IPv4 value');
  t.throws(() => mappedAddressAttribute({ family: 'IPv4', address: 'localhost', port: 1 }), TypeError);
  t.end();
});

void t.test('error and unknown attributes', (t) => {
  const errorValue = errorCodeAttribute({ code: 420, reason: 'Unknown Attribute' }).value;
  t.same(errorValue.subarray(0, 4), hex('00 00 04 14'), 'class 4, number 20');
  t.same(decodeErrorCode(errorValue), { code: 420, reason: 'Unknown Attribute' });
  t.throws(() => errorCodeAttribute({ code: 200, reason: 'x' }), RangeError);
  t.throws(() => decodeErrorCode(hex('00 00 04')), { name: 'StunDecodeError', reason: 'bad-error-code' });
  t.same(decodeUnknownAttributes(unknownAttributesAttribute([0x0031, 0x7fff]).value), [0x0031, 0x7fff]);
  t.throws(() => decodeUnknownAttributes(hex('00 31 00')), { name: 'StunDecodeError', reason: 'bad-unknown-attributes' });
  t.end();
});

void t.test('text attribute limits', (t) => {
  t.doesNotThrow(() => softwareAttribute('x'.repeat(127)));
  t.throws(() => softwareAttribute('x'.repeat(128)), RangeError, 'SOFTWARE of 128 characters');
  t.doesNotThrow(() => usernameAttribute('u'.repeat(512)));
  t.throws(() => usernameAttribute('u'.repeat(513)), RangeError, 'USERNAME of 513 bytes');
  t.end();
});

void t.test('saslprep', (t) => {
  t.equal(saslprep('I\u00ADX'), 'IX', 'soft hyphen maps to nothing');
  t.equal(saslprep('a\u00A0b'), 'a b', 'no-break space maps to space');
  t.equal(saslprep('\u2168'), 'IX', 'NFKC');
  t.throws(() => saslprep('a\u0007b'), RangeError, 'control character');
  t.end();
});

void t.test('ip address helpers', (t) => {
  t.equal(formatIpAddress(parseIpAddress('2001:0DB8:0000:0000:0001:0000:0000:0001')!.bytes), '2001:db8::1:0:0:1');
  t.equal(formatIpAddress(parseIpAddress('1:0:2:0:3:0:4:0')!.bytes), '1:0:2:0:3:0:4:0');
  t.equal(formatIpAddress(parseIpAddress('::')!.bytes), '::');
  t.equal(formatIpAddress(parseIpAddress('::ffff:127.0.0.9')!.bytes), '::ffff:127.0.0.9');
  t.equal(formatIpAddress(parseIpAddress('1::')!.bytes), '1::');
  t.equal(parseIpAddress('fe80::1%eth0'), undefined, 'zone id');
  t.equal(parseIpAddress('127.0.0.256'), undefined, 'octet out of range');
  t.equal(unmapIpv4Address('::ffff:127.1.2.3'), '127.1.2.3');
  t.equal(unmapIpv4Address('::1'), '::1');
  t.ok(isLoopbackAddress('127.200.0.1'), '127.200.0.1 is loopback');
  t.ok(isLoopbackAddress('0:0:0:0:0:0:0:1'), 'long form of ::1 is loopback');
  t.notOk(isLoopbackAddress('128.0.0.1'), '128.0.0.1 is not loopback');
  t.notOk(isLoopbackAddress('::2'), '::2 is not loopback');
  t.notOk(isLoopbackAddress('localhost'), 'a hostname is not loopback');
  t.end();
});
