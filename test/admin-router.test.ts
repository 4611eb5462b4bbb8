import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AdminApiError, AdminClient } from '../src/admin/admin-client.js';
import { silentLogger } from '../src/logging/logger.js';
import { ensureClusterCerts } from '../src/net/certs.js';
import { ADMIN_REALM, basicAuthorization, createBasicAuthenticator, parseBasicHeader } from '../src/net/http/basic-auth.js';
import { hashSecret } from '../src/util/scrypt-hash.js';
import { badRequest, HttpRouter, type HttpProblem } from '../src/net/http/router.js';
import { WsServer } from '../src/net/ws-server.js';

const HOST = 'master1.support.example.test';
const ADDRESS = `127.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.1`;
const PASSWORD = 'correct horse battery staple';

const dir = await mkdtemp(join(tmpdir(), 'atlas-admin-router-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const certs = await ensureClusterCerts(join(dir, 'certs'));
const passwordHash = await hashSecret(PASSWORD);

const logger = silentLogger();
const router = new HttpRouter({ logger }, { defaultAuth: createBasicAuthenticator({ logger }, { username: 'admin', passwordHash }), maxBodyBytes: 1024 });
const changes: unknown[] = [];
router.get('/api/items', () => ({ status: 200, body: { items: changes.length } }));
router.post('/api/items', (context) => {
  const body = context.body as { name?: unknown } | undefined;
  if (typeof body?.name !== 'string') throw badRequest('name', body?.name, 'is not a string; send { "name": "..." }');
  changes.push(body.name);
  return { status: 201, body: { name: body.name, principal: context.principal } };
});
router.delete('/api/items/:name', (context) => ({ status: 200, body: { deleted: context.params.name } }), { body: 'none' });
router.get('/api/public', () => ({ status: 200, text: 'hello\n' }), { auth: 'none' });
router.post('/api/form', (context) => ({ status: 200, body: context.body }), { body: 'form' });
router.get('/api/broken', () => {
  throw new Error('handler bug');
});

const server = new WsServer({ logger }, { host: ADDRESS, port: 0, tls: { cert: certs.cert, key: certs.key }, paths: {}, onRequest: router.handle });
const port = await server.listen();
t.teardown(() => server.close());

const lookup = ((_hostname: string, options: unknown, callback?: (...args: unknown[]) => void) => {
  const done = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  if (all) done(null, [{ address: ADDRESS, family: 4 }]);
  else done(null, ADDRESS, 4);
}) as unknown as LookupFunction;

/** Admin client with the given password; null sends no credentials at all. */
function client(password: string | null = PASSWORD): AdminClient {
  return new AdminClient({ host: HOST, port, ca: certs.ca, lookup, credentials: password === null ? undefined : { username: 'admin', password } });
}

/** Sends a raw request, for bodies and headers the client never sends. */
function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, method, path, headers, ca: certs.ca, servername: HOST, lookup, agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const auth = { authorization: basicAuthorization('admin', PASSWORD) };

void t.test('router answers a json route', async (t) => {
  const reply = await client().post<{ name: string; principal: string }>('/api/items', { name: 'first' });
  t.equal(reply.name, 'first', 'handler saw the body');
  t.equal(reply.principal, 'admin', 'principal from the credentials');
});

void t.test('router rejects missing credentials', async (t) => {
  const before = changes.length;
  const reply = await client(null).send('POST', '/api/items', { name: 'sneaky' });
  t.equal(reply.status, 401, 'status 401');
  t.match(String(reply.headers['www-authenticate']), new RegExp(`^Basic realm="${ADMIN_REALM}"`), 'challenge header');
  t.match((reply.body as HttpProblem).error, /authentication required/, 'problem says why');
  t.equal(changes.length, before, 'nothing changed');
});

void t.test('router rejects a wrong password', async (t) => {
  const before = changes.length;
  const error = await client('wrong password').post('/api/items', { name: 'sneaky' }).catch((caught: unknown) => caught);
  t.ok(error instanceof AdminApiError, 'client throws AdminApiError');
  t.equal((error as AdminApiError).status, 401, 'status 401');
  t.match((error as AdminApiError).problem.error, /user name or password is wrong/, 'reason');
  t.equal(changes.length, before, 'nothing changed');
});

void t.test('router rejects a wrong user name', async (t) => {
  const reply = await raw('GET', '/api/items', { authorization: basicAuthorization('root', PASSWORD) });
  t.equal(reply.status, 401, 'status 401');
});

void t.test('router rejects a malformed authorization header', async (t) => {
  const reply = await raw('GET', '/api/items', { authorization: 'Bearer abc' });
  t.equal(reply.status, 401, 'status 401');
});

void t.test('router answers 404 for an unknown path', async (t) => {
  const reply = await raw('GET', '/api/nothing', auth);
  t.equal(reply.status, 404, 'status 404');
  t.match((JSON.parse(reply.body) as HttpProblem).error, /no resource at \/api\/nothing/, 'names the path');
});

void t.test('router answers 405 with Allow', async (t) => {
  const reply = await raw('PUT', '/api/items', auth);
  t.equal(reply.status, 405, 'status 405');
  t.equal(reply.headers.allow, 'GET, POST', 'allowed methods');
});

void t.test('router answers 413 for a large body', async (t) => {
  const before = changes.length;
  const reply = await raw('POST', '/api/items', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ name: 'x'.repeat(2000) }));
  t.equal(reply.status, 413, 'status 413');
  t.match((JSON.parse(reply.body) as HttpProblem).error, /larger than the limit of 1024 bytes/, 'names the limit');
  t.equal(changes.length, before, 'nothing changed');
});

void t.test('router answers 415 for another content type', async (t) => {
  const reply = await raw('POST', '/api/items', { ...auth, 'content-type': 'text/plain' }, 'name=x');
  t.equal(reply.status, 415, 'status 415');
  t.equal((JSON.parse(reply.body) as HttpProblem).field, 'content-type', 'names the header');
});

void t.test('router answers 400 for invalid json', async (t) => {
  const reply = await raw('POST', '/api/items', { ...auth, 'content-type': 'application/json' }, '{"name": ');
  const problem = JSON.parse(reply.body) as HttpProblem;
  t.equal(reply.status, 400, 'status 400');
  t.equal(problem.field, '(body)', 'field');
  t.equal(problem.value, '{"name": ', 'value');
  t.match(problem.reason, /is not valid JSON/, 'reason');
});

void t.test('router answers 400 from a handler', async (t) => {
  const reply = await client().send('POST', '/api/items', { name: 7 });
  const problem = reply.body as HttpProblem;
  t.equal(reply.status, 400, 'status 400');
  t.equal(problem.field, 'name', 'field');
  t.equal(problem.value, 7, 'value');
  t.equal(problem.reason, 'is not a string; send { "name": "..." }', 'reason');
  t.equal(problem.error, 'name: 7 is not a string; send { "name": "..." }', 'one-line message');
});

void t.test('router rejects a body where none is taken', async (t) => {
  const reply = await raw('DELETE', '/api/items/a', { ...auth, 'content-type': 'application/json' }, '{}');
  t.equal(reply.status, 400, 'status 400');
});

void t.test('router decodes path parameters', async (t) => {
  const reply = await client().delete<{ deleted: string }>('/api/items/us%20traffic');
  t.equal(reply.deleted, 'us traffic', 'decoded parameter');
});

void t.test('router serves a public text route', async (t) => {
  const reply = await raw('GET', '/api/public', {});
  t.equal(reply.status, 200, 'status 200 without credentials');
  t.equal(reply.body, 'hello\n', 'text body');
});

void t.test('router parses form bodies', async (t) => {
  const reply = await raw('POST', '/api/form', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, 'grant_type=client_credentials&scope=a+b');
  t.same(JSON.parse(reply.body), { grant_type: 'client_credentials', scope: 'a b' }, 'fields decoded');
});

void t.test('router hides handler exceptions', async (t) => {
  const reply = await raw('GET', '/api/broken', auth);
  t.equal(reply.status, 500, 'status 500');
  t.notMatch(reply.body, /handler bug/, 'exception message not sent');
});

void t.test('router rejects a duplicate route', (t) => {
  t.throws(() => router.get('/api/items', () => ({ status: 200 })), /already registered/);
  t.end();
});

void t.test('basic header parsing', (t) => {
  t.same(parseBasicHeader(basicAuthorization('admin', 'a:b')), { username: 'admin', password: 'a:b' }, 'colon in the password kept');
  t.equal(parseBasicHeader('Basic !!!'), undefined, 'not base64');
  t.equal(parseBasicHeader(undefined), undefined, 'absent');
  t.end();
});
