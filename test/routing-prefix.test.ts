import t from 'tap';

import { ConfigError } from '../src/util/errors.js';
import {
  PrefixError,
  formatIpv4,
  parseClientAddress,
  parsePrefix,
  parsePrefixList,
  parsePrefixText,
  prefixContains,
} from '../src/routing/prefix.js';

const location = { nodeName: 'eu-traffic1', line: 3 };
const MASK_RULE = 'the mask must be 0-32 or a contiguous dotted mask';

void t.test('parsePrefix accepts valid forms', (t) => {
  const cases: { value: string; text: string; network: number; length: number }[] = [
    { value: '10.0.0.0/8', text: '10.0.0.0/8', network: 0x0a000000, length: 8 },
    { value: '192.168.1.7', text: '192.168.1.7/32', network: 0xc0a80107, length: 32 },
    { value: '0.0.0.0/0', text: '0.0.0.0/0', network: 0, length: 0 },
    { value: '255.255.255.255/32', text: '255.255.255.255/32', network: 0xffffffff, length: 32 },
    { value: '127.30.0.0/16', text: '127.30.0.0/16', network: 0x7f1e0000, length: 16 },
    { value: '172.16.0.0/255.240.0.0', text: '172.16.0.0/12', network: 0xac100000, length: 12 },
    { value: '10.1.16.0/255.255.240.0', text: '10.1.16.0/20', network: 0x0a011000, length: 20 },
    { value: '0.0.0.0/0.0.0.0', text: '0.0.0.0/0', network: 0, length: 0 },
    { value: '10.0.0.1/255.255.255.255', text: '10.0.0.1/32', network: 0x0a000001, length: 32 },
    { value: '128.0.0.0/1', text: '128.0.0.0/1', network: 0x80000000, length: 1 },
    { value: '10.0.0.0/255.255.255.254', text: '10.0.0.0/31', network: 0x0a000000, length: 31 },
  ];
  for (const { value, text, network, length } of cases) {
    const prefix = parsePrefix(value, location);
    t.equal(prefix.text, text, `${value} text`);
    t.equal(prefix.network, network, `${value} network`);
    t.equal(prefix.length, length, `${value} length`);
  }
  t.end();
});

void t.test('parsePrefix rejects invalid forms', (t) => {
  const cases: { value: unknown; reason: string }[] = [
    { value: '', reason: 'the line is empty; remove it or write a.b.c.d[/mask]' },
    { value: ' 10.0.0.0/8', reason: 'it contains whitespace; write the prefix without spaces' },
    { value: '10.0.0.0 /8', reason: 'it contains whitespace; write the prefix without spaces' },
    { value: '10.0.0.0/8\r', reason: 'it contains whitespace; write the prefix without spaces' },
    { value: '10.0.0.0/33', reason: MASK_RULE },
    { value: '10.0.0.0/-1', reason: MASK_RULE },
    { value: '10.0.0.0/+8', reason: MASK_RULE },
    { value: '10.0.0.0/8a', reason: MASK_RULE },
    { value: '10.0.0.0/', reason: `the mask after "/" is empty; ${MASK_RULE}` },
    { value: '10.0.0.0/08', reason: 'mask "08" has a leading zero; write 8' },
    { value: '10.0.0.0/255.0.255.0', reason: `mask 255.0.255.0 is not contiguous; ${MASK_RULE}` },
    { value: '10.0.0.0/0.255.255.255', reason: `mask 0.255.255.255 is not contiguous; ${MASK_RULE}` },
    { value: '10.0.0.0/255.255.256.0', reason: 'mask octet 256 is out of range 0-255' },
    { value: '10.0.0.0/255.255.0', reason: 'the mask must be 4 dot-separated decimal octets' },
    { value: '10.0.0.0/255.255.000.0', reason: 'mask octet "000" has a leading zero, which is ambiguous (octal or decimal); write 0' },
    { value: '256.0.0.0/8', reason: 'address octet 256 is out of range 0-255' },
    { value: '10.0.0.1000', reason: 'address octet 1000 is out of range 0-255' },
    { value: '010.0.0.1', reason: 'address octet "010" has a leading zero, which is ambiguous (octal or decimal); write 10' },
    { value: '10.0.0', reason: 'the address must be 4 dot-separated decimal octets' },
    { value: '10.0.0.0.0', reason: 'the address must be 4 dot-separated decimal octets' },
    { value: '10..0.0', reason: 'the address must be 4 dot-separated decimal octets, and "" is not a decimal number' },
    { value: '0x0a.0.0.0', reason: 'the address must be 4 dot-separated decimal octets, and "0x0a" is not a decimal number' },
    { value: '1e1.0.0.0', reason: 'the address must be 4 dot-separated decimal octets, and "1e1" is not a decimal number' },
    { value: '１０.0.0.0', reason: 'the address must be 4 dot-separated decimal octets, and "１０" is not a decimal number' },
    { value: 'a.b.c.d', reason: 'the address must be 4 dot-separated decimal octets, and "a" is not a decimal number' },
    { value: 'eu.example.test', reason: 'the address must be 4 dot-separated decimal octets' },
    { value: '10.0.0.0/8/8', reason: 'it contains more than one "/"; write a.b.c.d[/mask]' },
    { value: '10.1.2.3/8', reason: 'host bits are set for a /8 mask; write the network address 10.0.0.0/8' },
    { value: '192.168.1.7/255.255.255.0', reason: 'host bits are set for a /24 mask; write the network address 192.168.1.0/24' },
    { value: '10.0.0.1/0', reason: 'host bits are set for a /0 mask; write the network address 0.0.0.0/0' },
    { value: '2001:db8::/32', reason: 'IPv6 prefixes are not supported; write an IPv4 prefix a.b.c.d[/mask]' },
    { value: '::ffff:10.0.0.0/104', reason: 'IPv6 prefixes are not supported; write an IPv4 prefix a.b.c.d[/mask]' },
    { value: 8, reason: 'expected a string such as 10.0.0.0/8' },
    { value: null, reason: 'expected a string such as 10.0.0.0/8' },
  ];
  for (const { value, reason } of cases) {
    const quotedValue = typeof value === 'string' ? JSON.stringify(value) : String(value);
    t.throws(
      () => parsePrefix(value, location),
      { name: 'PrefixError', message: `trafficNodes[eu-traffic1].prefixes line 3: ${quotedValue} is not a valid prefix; ${reason}` },
      `rejects ${quotedValue}`,
    );
  }
  t.end();
});

void t.test('PrefixError fields', (t) => {
  let caught: unknown;
  try {
    parsePrefix('10.0.0.0/33', location);
  } catch (error) {
    caught = error;
  }
  t.ok(caught instanceof PrefixError, 'is a PrefixError');
  t.ok(caught instanceof ConfigError, 'is a ConfigError');
  const error = caught as PrefixError;
  t.equal(
    error.message,
    'trafficNodes[eu-traffic1].prefixes line 3: "10.0.0.0/33" is not a valid prefix; the mask must be 0-32 or a contiguous dotted mask',
  );
  t.equal(error.name, 'PrefixError');
  t.equal(error.nodeName, 'eu-traffic1');
  t.equal(error.field, 'prefixes');
  t.equal(error.line, 3);
  t.equal(error.value, '10.0.0.0/33');
  t.equal(error.reason, MASK_RULE);
  t.end();
});

void t.test('parsePrefix custom field', (t) => {
  t.throws(() => parsePrefix('x', { nodeName: 'n1', line: 1, field: 'extraPrefixes' }), {
    message: /^trafficNodes\[n1\]\.extraPrefixes line 1: "x" is not a valid prefix/,
  });
  t.end();
});

void t.test('parsePrefixList', (t) => {
  const parsed = parsePrefixList(['10.0.0.0/8', '10.1.0.0/255.255.0.0', '10.1.2.3'], 'us-traffic1');
  t.same(
    parsed.map((prefix) => prefix.text),
    ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3/32'],
    'canonical texts in order',
  );
  t.same(parsePrefixList([], 'us-traffic1'), [], 'empty list is valid');
  t.throws(() => parsePrefixList(['10.0.0.0/8', '10.1.0.0/16', '10.0.0.0/33'], 'eu-traffic1'), {
    name: 'PrefixError',
    line: 3,
    nodeName: 'eu-traffic1',
    message: 'trafficNodes[eu-traffic1].prefixes line 3: "10.0.0.0/33" is not a valid prefix; the mask must be 0-32 or a contiguous dotted mask',
  });
  t.throws(() => parsePrefixList(['', '10.0.0.0/8'], 'eu-traffic1'), { name: 'PrefixError', line: 1 }, 'first line is line 1');
  t.end();
});

void t.test('parsePrefixText returns the reason', (t) => {
  t.equal(parsePrefixText('10.0.0.0/33'), MASK_RULE);
  t.same(parsePrefixText('10.0.0.0/8'), { network: 0x0a000000, length: 8, text: '10.0.0.0/8' });
  t.end();
});

void t.test('prefixContains and formatIpv4', (t) => {
  const prefix = parsePrefix('10.1.0.0/16', location);
  t.ok(prefixContains(prefix, 0x0a010000), 'first address');
  t.ok(prefixContains(prefix, 0x0a01ffff), 'last address');
  t.notOk(prefixContains(prefix, 0x0a020000), 'address after');
  t.notOk(prefixContains(prefix, 0x0a00ffff), 'address before');
  t.ok(prefixContains(parsePrefix('0.0.0.0/0', location), 0xffffffff), '/0 contains everything');
  t.equal(formatIpv4(0xffffffff), '255.255.255.255', 'format highest address');
  t.equal(formatIpv4(0), '0.0.0.0', 'format lowest address');
  t.end();
});

void t.test('parseClientAddress', (t) => {
  const cases: { ip: string; expected: number | null }[] = [
    { ip: '127.20.0.5', expected: 0x7f140005 },
    { ip: '::ffff:127.20.0.5', expected: 0x7f140005 },
    { ip: '::FFFF:127.20.0.5', expected: 0x7f140005 },
    { ip: '::ffff:7f14:5', expected: 0x7f140005 },
    { ip: '0:0:0:0:0:ffff:7f14:0005', expected: 0x7f140005 },
    { ip: '::ffff:255.255.255.255', expected: 0xffffffff },
    { ip: '0.0.0.0', expected: 0 },
    { ip: '::1', expected: null },
    { ip: '::', expected: null },
    { ip: '2001:db8::1', expected: null },
    { ip: '::127.20.0.5', expected: null },
    { ip: 'fe80::1%eth0', expected: null },
  ];
  for (const { ip, expected } of cases) {
    t.equal(parseClientAddress(ip), expected, ip);
  }
  for (const ip of ['', 'example.test', '010.0.0.1', '256.0.0.1', '127.0.0.1/8']) {
    t.throws(() => parseClientAddress(ip), TypeError, `rejects ${JSON.stringify(ip)}`);
  }
  t.end();
});
