import { createServer, type Server } from 'node:net';
import t from 'tap';

import { allocateAddressBlock } from '../src/launcher/address-block.js';
import { canBindTcp, choosePorts, STANDARD_PUBLIC_PORT } from '../src/launcher/ports.js';

function listen(address: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: address, port }, () => resolve(server));
  });
}

void t.test('port taken on one address', async (t) => {
  // A real block, so no running cluster uses these addresses while the test binds them.
  const block = await allocateAddressBlock();
  t.teardown(() => block.release());
  const addresses = [block.address(1), block.address(10), block.address(11)];
  const dnsAddress = block.address(53);

  const blocker = await listen(addresses[2]!, STANDARD_PUBLIC_PORT).catch(() => undefined);
  t.teardown(() => new Promise<void>((resolve) => (blocker === undefined ? resolve() : blocker.close(() => resolve()))));
  t.notOk(await canBindTcp(addresses[2]!, STANDARD_PUBLIC_PORT), 'port 443 unavailable on the third address');

  const plan = await choosePorts(addresses, dnsAddress);
  t.not(plan.public, STANDARD_PUBLIC_PORT, 'fallback public port');
  t.equal(plan.internal - plan.public, 10_000, 'internal port pairs with the public port');
  t.match(plan.fallbackReason ?? '', /cannot be bound/, 'reason recorded');
  for (const address of addresses) {
    t.ok(await canBindTcp(address, plan.public), `public port free on ${address}`);
    t.ok(await canBindTcp(address, plan.internal), `internal port free on ${address}`);
  }
});

void t.test('standard ports skipped on request', async (t) => {
  const block = await allocateAddressBlock();
  t.teardown(() => block.release());
  const plan = await choosePorts([block.address(1)], block.address(53), { standardPorts: false });
  t.not(plan.public, STANDARD_PUBLIC_PORT, 'fallback public port');
  t.not(plan.dns, 53, 'fallback DNS port');
  t.match(plan.fallbackReason ?? '', /were not requested/, 'reason names the request');
});
