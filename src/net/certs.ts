import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZONE } from '../config/constants.js';
import { errorMessage } from '../util/errors.js';

/** The cluster CA and the one leaf certificate every server presents, as files and as loaded bytes. */
export interface ClusterCerts {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Names the leaf certificate covers: the site hostname and every hostname one label below it. */
export const CERTIFICATE_NAMES = [ZONE, `*.${ZONE}`] as const;
/** Validity of a newly generated CA and leaf. */
export const CERTIFICATE_LIFETIME_DAYS = 365;
/** Certificates that expire within this time are replaced by the next call of ensureClusterCerts. */
export const CERTIFICATE_RENEW_BEFORE_MS = 24 * 60 * 60 * 1000;
/** How far back `notBefore` is set, so that a certificate made a moment ago is already valid. */
const NOT_BEFORE_BACKDATE_MS = 60 * 60 * 1000;

const CA_FILE = 'ca.pem';
const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';

/** A lock older than this was left by a process that died while replacing the folder. */
const STALE_LOCK_MS = 60_000;
const LOCK_POLL_MS = 100;
const MAX_ENSURE_ROUNDS = 50;

/**
 * Default certificate folder: `certs/` at the project root. This module sits
 * two levels below the root both as source (src/net/certs.ts) and as build
 * output (dist/net/certs.js).
 */
export function defaultCertsDir(): string {
  return fileURLToPath(new URL('../../certs/', import.meta.url));
}

function filesOf(dir: string): Pick<ClusterCerts, 'dir' | 'caFile' | 'certFile' | 'keyFile'> {
  return { dir, caFile: join(dir, CA_FILE), certFile: join(dir, CERT_FILE), keyFile: join(dir, KEY_FILE) };
}

/**
 * Throws when the certificate does not cover `hostname` under the TLS rules
 * Node.js applies (RFC 6125): a wildcard matches exactly one label, so
 * `us-traffic1.support.example.test` is covered and `a.b.support.example.test` is not.
 */
export function assertCertificateCovers(hostname: string, certPem: string | Buffer): void {
  const certificate = new X509Certificate(certPem);
  if (certificate.checkHost(hostname, { wildcards: true, multiLabelWildcards: false }) !== undefined) return;

  const names = (certificate.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim().replace(/^DNS:/, ''))
    .filter((entry) => entry !== '');
  throw new Error(
    `the cluster certificate does not cover the hostname "${hostname}": it covers ${names.join(', ') || 'no DNS names'}. ` +
      `A wildcard matches exactly one label, so node hostnames must be one label under ${ZONE} (for example "us-traffic1.${ZONE}"); rename the node.`,
  );
}

/** Reads the folder and returns the certificates, or the reason they cannot be used. */
async function loadValidCerts(dir: string): Promise<ClusterCerts | string> {
  const files = filesOf(dir);
  let ca: Buffer;
  let cert: Buffer;
  let key: Buffer;
  try {
    [ca, cert, key] = await Promise.all([readFile(files.caFile), readFile(files.certFile), readFile(files.keyFile)]);
  } catch (error) {
    return `cannot read the certificate files: ${errorMessage(error)}`;
  }

  try {
    const caCertificate = new X509Certificate(ca);
    const leaf = new X509Certificate(cert);
    const now = Date.now();
    if (!caCertificate.ca) return 'the CA certificate is not a CA';
    if (!leaf.checkIssued(caCertificate) || !leaf.verify(caCertificate.publicKey)) return 'the leaf certificate is not signed by the CA';
    for (const [label, certificate] of [['CA', caCertificate], ['leaf', leaf]] as const) {
      if (Date.parse(certificate.validFrom) > now) return `the ${label} certificate is not valid before ${certificate.validFrom}`;
      if (Date.parse(certificate.validTo) - now < CERTIFICATE_RENEW_BEFORE_MS) return `the ${label} certificate expires at ${certificate.validTo}`;
    }
    for (const name of [ZONE, `node.${ZONE}`]) {
      if (leaf.checkHost(name) === undefined) return `the leaf certificate does not cover ${name}`;
    }
    if (!leaf.checkPrivateKey(createPrivateKey(key))) return 'the private key does not belong to the leaf certificate';
  } catch (error) {
    return `the certificate files cannot be parsed: ${errorMessage(error)}`;
  }
  return { ...files, ca, cert, key };
}

async function writeFileSynced(file: string, data: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Generates a P-256 CA and a leaf signed by it, both SHA-256, into `dir`.
 * The CA private key is used once and never written. Nothing signs later, and
 * without the key a copied certs folder cannot mint new certificates.
 */
async function generateInto(dir: string): Promise<void> {
  const notBeforeDate = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfterDate = new Date(notBeforeDate.getTime() + CERTIFICATE_LIFETIME_DAYS * 24 * 60 * 60 * 1000);
  const common = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate, notAfterDate } as const;

  // The random suffix gives each CA its own subject. Without one, a client holding another cluster's CA
  // would match it by name and report a signature failure instead of an unknown issuer.
  const caName = `atlas-sim cluster CA ${randomBytes(4).toString('hex')}`;

  // selfsigned loads a large X.509 library. Importing it here keeps it off the
  // start-up path of every process that only reads existing certificates.
  const { generate } = await import('selfsigned');
  const ca = await generate([{ name: 'commonName', value: caName }, { name: 'organizationName', value: 'atlas-sim' }], {
    ...common,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: ZONE }, { name: 'organizationName', value: 'atlas-sim' }], {
    ...common,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: CERTIFICATE_NAMES.map((value) => ({ type: 2 as const, value })) },
    ],
  });

  await writeFileSynced(join(dir, CA_FILE), ca.cert, 0o644);
  await writeFileSynced(join(dir, CERT_FILE), leaf.cert, 0o644);
  await writeFileSynced(join(dir, KEY_FILE), leaf.private, 0o600);
}

function isCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && codes.includes(code);
}

/**
 * Generates into a temporary folder beside `dir` and renames it into place.
 * rename() onto an existing non-empty folder fails, so when several processes
 * race only one folder lands and the others discard theirs.
 */
async function installNew(dir: string): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  // NOTE: a process killed between mkdtemp and rename leaves this hidden folder behind; nothing removes it later.
  const temporary = await mkdtemp(join(parent, `.${basename(dir)}-new-`));
  try {
    await generateInto(temporary);
    await rename(temporary, dir);
  } catch (error) {
    if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * Moves an unusable certificate folder out of the way, under a lock folder so
 * that two processes never both decide to replace it. The check is repeated
 * under the lock because another process may have installed good files meanwhile.
 */
async function removeUnusable(dir: string): Promise<void> {
  const lock = `${dir}.lock`;
  try {
    await mkdir(lock);
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
    const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age > STALE_LOCK_MS) await rm(lock, { recursive: true, force: true });
    else await sleep(LOCK_POLL_MS);
    return;
  }

  try {
    if (typeof (await loadValidCerts(dir)) === 'string') {
      const aside = `${dir}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      await rename(dir, aside).catch((error: unknown) => {
        if (!isCode(error, 'ENOENT')) throw error;
      });
      await rm(aside, { recursive: true, force: true });
    }
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/**
 * Returns the cluster certificates in `dir` (default: certs/ at the project
 * root), generating them on first use or when they are missing, invalid or
 * about to expire. Safe when several processes call it at the same moment:
 * all of them end up with the same files.
 */
export async function ensureClusterCerts(dir: string = defaultCertsDir()): Promise<ClusterCerts> {
  const target = resolve(dir);
  let problem = '';
  for (let round = 1; round <= MAX_ENSURE_ROUNDS; round++) {
    const loaded = await loadValidCerts(target);
    if (typeof loaded !== 'string') return loaded;
    problem = loaded;

    if (await exists(target)) await removeUnusable(target);
    else await installNew(target);
  }
  throw new Error(`cluster certificates in ${target} are still unusable after ${MAX_ENSURE_ROUNDS} attempts (${problem}); delete the folder and retry`);
}
