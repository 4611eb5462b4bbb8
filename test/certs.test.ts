import { fork } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { generate } from 'selfsigned';
import t, { type Test } from 'tap';
import { assertCertificateCovers, ensureClusterCerts, type ClusterCerts } from '../src/net/certs.js';
import { clientTlsOptions, serverTlsOptions } from '../src/net/tls-options.js';

/** Loopback address of the TLS server in these tests. */
const TLS_ADDRESS = '127.53.0.2';
/** DER encoding of the OID ecdsa-with-SHA256 (1.2.840.10045.4.3.2). */
const ECDSA_WITH_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');

async function tempFolder(t: Test): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'atlas-certs-test-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

void t.test('certs generated once and reused', async (t) => {
  const dir = join(await tempFolder(t), 'certs');
  const first = await ensureClusterCerts(dir);
  t.equal(first.dir, dir);
  t.same((await readdir(dir)).sort(), ['ca.pem', 'cert.pem', 'key.pem'], 'three files, no CA key');
  t.equal((await stat(first.keyFile)).mode & 0o777, 0o600, 'key file mode 0600');

  const modified = (await stat(first.certFile)).mtimeMs;
  const second = await ensureClusterCerts(dir);
  t.ok(second.cert.equals(first.cert), 'same leaf');
  t.ok(second.ca.equals(first.ca), 'same CA');
  t.equal((await stat(second.certFile)).mtimeMs, modified, 'files untouched');
});

void t.test('certs content', async (t) => {
  const certs = await ensureClusterCerts(join(await tempFolder(t), 'certs'));
  const ca = new X509Certificate(certs.ca);
  const leaf = new X509Certificate(certs.cert);
  t.equal(ca.ca, true, 'CA is a CA');
  t.equal(leaf.ca, false, 'leaf is no CA');
  t.ok(leaf.checkIssued(ca), 'leaf issued by the CA');
  t.ok(leaf.verify(ca.publicKey), 'leaf signature verifies with the CA key');
  t.equal(leaf.subjectAltName, 'DNS:support.example.test, DNS:*.support.example.test', 'SANs listed');
  t.equal(ca.publicKey.asymmetricKeyType, 'ec', 'CA key is EC');
  t.equal(leaf.publicKey.asymmetricKeyType, 'ec', 'leaf key is EC');
  t.ok(leaf.raw.includes(ECDSA_WITH_SHA256), 'leaf signed with SHA-256');
  t.ok(ca.raw.includes(ECDSA_WITH_SHA256), 'CA signed with SHA-256');
  t.ok(Date.parse(leaf.validTo) - Date.now() > 300 * 24 * 3600 * 1000, 'leaf valid for about a year');
});

void t.test('certs replaced when broken', async (t) => {
  const dir = join(await tempFolder(t), 'certs');
  const original = await ensureClusterCerts(dir);

  await writeFile(original.certFile, 'not a certificate');
  const repaired = await ensureClusterCerts(dir);
  t.notOk(repaired.ca.equals(original.ca), 'garbage leaf: new CA');
  t.ok(new X509Certificate(repaired.cert).checkIssued(new X509Certificate(repaired.ca)), 'garbage leaf: new pair matches');

  await rm(repaired.keyFile);
  const rekeyed = await ensureClusterCerts(dir);
  t.notOk(rekeyed.ca.equals(repaired.ca), 'missing key: new CA');
  t.same((await readdir(dir)).sort(), ['ca.pem', 'cert.pem', 'key.pem'], 'missing key: three files again');
});

void t.test('certs replaced when expired', async (t) => {
  const dir = join(await tempFolder(t), 'certs');
  const original = await ensureClusterCerts(dir);

  const yearMs = 365 * 24 * 3600 * 1000;
  const common = { keyType: 'ec', algorithm: 'sha256', notBeforeDate: new Date(Date.now() - 2 * yearMs), notAfterDate: new Date(Date.now() - yearMs) } as const;
  const ca = await generate([{ name: 'commonName', value: 'expired CA' }], { ...common, extensions: [{ name: 'basicConstraints', cA: true }] });
  const leaf = await generate([{ name: 'commonName', value: 'support.example.test' }], {
    ...common,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'support.example.test' }, { type: 2, value: '*.support.example.test' }] }],
  });
  await writeFile(original.caFile, ca.cert);
  await writeFile(original.certFile, leaf.cert);
  await writeFile(original.keyFile, leaf.private);

  const renewed = await ensureClusterCerts(dir);
  t.notOk(renewed.ca.equals(Buffer.from(ca.cert)), 'expired CA replaced');
  t.ok(Date.parse(new X509Certificate(renewed.cert).validTo) > Date.now(), 'new leaf valid');
});

function forkCertsChild(dir: string): { ready: Promise<void>; result: Promise<{ ok: boolean; ca?: string; cert?: string; error?: string }>; go(): void } {
  const child = fork(new URL('./fixtures/ensure-certs-child.ts', import.meta.url), [dir], { stdio: 'inherit' });
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', () => resolve());
  });
  const result = new Promise<{ ok: boolean; ca?: string; cert?: string; error?: string }>((resolve, reject) => {
    child.on('message', (message) => {
      if (message !== 'ready') resolve(message as { ok: boolean });
    });
    child.once('exit', (code) => reject(new Error(`certs child exited with code ${code} before reporting`)));
  });
  result.catch(() => undefined);
  return { ready, result, go: () => child.send('go') };
}

void t.test('certs concurrent callers agree', async (t) => {
  const parent = await tempFolder(t);
  const dir = join(parent, 'certs');
  const children = [forkCertsChild(dir), forkCertsChild(dir), forkCertsChild(dir)];
  await Promise.all(children.map((child) => child.ready));
  for (const child of children) child.go();
  const results = await Promise.all(children.map((child) => child.result));

  for (const [index, result] of results.entries()) t.equal(result.ok, true, `child ${index} succeeded ${result.error ?? ''}`);
  t.equal(new Set(results.map((result) => result.ca)).size, 1, 'one CA');
  t.equal(new Set(results.map((result) => result.cert)).size, 1, 'one leaf');
  const onDisk = await ensureClusterCerts(dir);
  t.equal(new X509Certificate(onDisk.ca).fingerprint256, results[0]?.ca, 'the files on disk are the ones reported');
  t.same(await readdir(parent), ['certs'], 'no temporary folders left');
  t.same((await readdir(dir)).sort(), ['ca.pem', 'cert.pem', 'key.pem'], 'three files');
});

async function startTlsServer(t: Test, certs: ClusterCerts): Promise<number> {
  const server = createServer(serverTlsOptions(certs), (socket) => socket.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, TLS_ADDRESS, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

function tlsRead(port: number, options: ReturnType<typeof clientTlsOptions>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: TLS_ADDRESS, port, ...options });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
}

void t.test('certs TLS hostname checks', async (t) => {
  const certs = await ensureClusterCerts(join(await tempFolder(t), 'certs'));
  const port = await startTlsServer(t, certs);

  t.equal(await tlsRead(port, clientTlsOptions(certs, 'us-traffic1.support.example.test')), 'ok', 'node hostname accepted');
  t.equal(await tlsRead(port, clientTlsOptions(certs, 'support.example.test')), 'ok', 'site hostname accepted');
  await t.rejects(tlsRead(port, clientTlsOptions(certs, 'a.b.support.example.test')), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'two labels rejected');
  await t.rejects(tlsRead(port, clientTlsOptions(certs, 'us-traffic1.example.test')), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'other zone rejected');

  const other = await ensureClusterCerts(join(await tempFolder(t), 'other'));
  await t.rejects(tlsRead(port, clientTlsOptions(other, 'us-traffic1.support.example.test')), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: /unable to verify the first certificate/ }, 'another CA rejected');
});

void t.test('certs client options', async (t) => {
  const certs = await ensureClusterCerts(join(await tempFolder(t), 'certs'));
  const options = clientTlsOptions(certs, 'us-traffic1.support.example.test');
  t.equal(options.servername, 'us-traffic1.support.example.test', 'SNI set');
  t.equal(options.ca, certs.ca, 'only the cluster CA');
  t.equal(options.rejectUnauthorized, undefined, 'rejectUnauthorized left at its default');
  t.throws(() => clientTlsOptions(certs, '127.20.0.10'), /connect by hostname, not by IP address/, 'IP rejected as server name');
});

void t.test('assertCertificateCovers', async (t) => {
  const certs = await ensureClusterCerts(join(await tempFolder(t), 'certs'));
  t.doesNotThrow(() => assertCertificateCovers('us-traffic1.support.example.test', certs.cert), 'one label covered');
  t.doesNotThrow(() => assertCertificateCovers('support.example.test', certs.cert), 'site hostname covered');
  t.throws(
    () => assertCertificateCovers('a.b.support.example.test', certs.cert),
    /does not cover the hostname "a\.b\.support\.example\.test": it covers support\.example\.test, \*\.support\.example\.test\. A wildcard matches exactly one label, so node hostnames must be one label under support\.example\.test/,
    'two labels not covered',
  );
  t.throws(() => assertCertificateCovers('support.example.com', certs.cert.toString()), /does not cover the hostname "support\.example\.com"/, 'other domain not covered');
});
