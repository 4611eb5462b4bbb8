import t from 'tap';

import type { DelegationConfig } from '../src/config/delegation-config.js';
import { delegatedTarget, learnedReason } from '../src/master/delegated-assignment.js';

const DELEGATION: DelegationConfig = {
  srvName: '_atlas._tcp.support.example.test',
  sharedHostname: 'traffic.support.example.test',
  trafficPort: 443,
  resolvers: [
    { name: 'eu-dns', sources: ['127.30.0.0/16'] },
    { name: 'eu-host', sources: ['127.30.0.9'] },
  ],
  anycast: { address: '127.100.0.4', port: 443, routes: [{ prefix: '127.30.0.0/16', node: 'eu-1' }, { prefix: '127.30.0.0/24', node: 'eu-2' }], defaultNode: 'us-1' },
};

void t.test('delegated targets per method', (t) => {
  t.same(delegatedTarget('srv', DELEGATION), { host: '', port: 0, srvName: DELEGATION.srvName, tlsName: '' }, 'srv hands out the SRV name');
  t.same(delegatedTarget('a-record', DELEGATION), { host: DELEGATION.sharedHostname, port: 443, srvName: '', tlsName: DELEGATION.sharedHostname }, 'a-record hands out the shared hostname');
  t.same(delegatedTarget('anycast', DELEGATION), { host: '127.100.0.4', port: 443, srvName: '', tlsName: DELEGATION.sharedHostname }, 'anycast hands out the IP address');
  t.throws(() => delegatedTarget('anycast', { ...DELEGATION, anycast: undefined }), /needs an anycast address/, 'anycast without a router');
  t.end();
});

void t.test('learned reasons per method', (t) => {
  const member = { name: 'eu-1', srvPriority: 10, srvWeight: 0 };
  const cases: [string, Parameters<typeof learnedReason>[0], string, string][] = [
    ['srv names priority and weight', 'srv', '127.30.0.5', 'srv priority 10 weight 0'],
    ['a-record view by prefix', 'a-record', '127.30.0.5', 'a-record via eu-dns'],
    ['a-record longest source wins', 'a-record', '127.30.0.9', 'a-record via eu-host'],
    ['a-record mapped IPv6 address', 'a-record', '::ffff:127.30.0.5', 'a-record via eu-dns'],
    ['a-record outside every view', 'a-record', '127.40.0.5', 'a-record via the default view'],
    ['anycast longest route', 'anycast', '127.30.0.5', 'anycast route 127.30.0.0/24'],
    ['anycast shorter route', 'anycast', '127.30.1.5', 'anycast route 127.30.0.0/16'],
    ['anycast default route', 'anycast', '127.40.0.5', 'anycast default route'],
  ];
  for (const [name, method, clientIp, text] of cases) {
    const reason = learnedReason(method, DELEGATION, member, clientIp);
    t.equal(reason.text, text, `${name}: text`);
    t.equal(reason.method, method, `${name}: method`);
  }
  t.equal(learnedReason('anycast', DELEGATION, member, '127.30.0.5').prefixLength, 24, 'anycast reason carries the prefix length');
  t.end();
});
