// The primary's HTTPS requests pass the same fence as its control channel:
// while it may not act as the primary, every path gets a 409 with the
// reason in that path's format and the handler behind it never runs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { silentLogger } from '../src/logging/logger.js';
import { fenceRequests } from '../src/master/http/fenced-requests.js';
import { ProtocolError } from '../src/protocol/envelope.js';
import { ErrorCode } from '../src/protocol/messages.js';

const REASON = 'master master1 was paused and is confirming that it is still the primary; reconnect through the site hostname';

interface Served {
  base: string;
  handled: string[];
  fenced: { on: boolean };
}

async function serve(t: Test): Promise<Served> {
  const handled: string[] = [];
  const fenced = { on: false };
  const fence = (): void => {
    if (fenced.on) throw new ProtocolError(ErrorCode.ERROR_NOT_PRIMARY, REASON);
  };
  const server: Server = createServer(fenceRequests(fence, silentLogger(), (request, response) => {
    handled.push(request.url ?? '');
    response.end('handled');
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handled, fenced };
}

void t.test('unfenced requests reach the handler', async (t) => {
  const served = await serve(t);
  const reply = await fetch(`${served.base}/api/cluster`);
  t.equal(reply.status, 200, 'status 200');
  t.equal(await reply.text(), 'handled', 'handler answered');
  t.same(served.handled, ['/api/cluster'], 'handler ran once');
});

void t.test('fenced requests get 409 per path', async (t) => {
  const served = await serve(t);
  served.fenced.on = true;
  const cases: { path: string; init?: RequestInit; type: RegExp; body: RegExp }[] = [
    { path: '/api/cluster', type: /application\/json/, body: /"error":"master master1 was paused/ },
    { path: '/api/command?action=get_connected_clients', type: /text\/xml/, body: /<error[^>]*>master master1 was paused/ },
    { path: '/api/command?action=get_connected_clients', init: { headers: { accept: 'application/json' } }, type: /application\/json/, body: /"error": "master master1 was paused/ },
    { path: '/oauth2/token', init: { method: 'POST', body: 'grant_type=client_credentials' }, type: /application\/json/, body: /"error":"not_primary"/ },
    { path: '/check_health', type: /text\/plain/, body: /^master master1 was paused/ },
  ];
  for (const { path, init, type, body } of cases) {
    const reply = await fetch(`${served.base}${path}`, init);
    t.equal(reply.status, 409, `${path}: status 409`);
    t.match(reply.headers.get('content-type'), type, `${path}: format of its path`);
    t.match(await reply.text(), body, `${path}: names the reason`);
  }
  t.same(served.handled, [], 'handler never ran');

  served.fenced.on = false;
  t.equal((await fetch(`${served.base}/api/cluster`)).status, 200, 'served again once the claim is confirmed');
});
