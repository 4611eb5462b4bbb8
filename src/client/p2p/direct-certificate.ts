import { X509Certificate } from 'node:crypto';

/** A client's certificate for its direct listener, with the fingerprint peers pin. */
export interface DirectCertificate {
  cert: string;
  key: string;
  /** SHA-256 fingerprint as Node.js formats it: colon-separated upper-case hex. */
  fingerprint: string;
}

/** Validity of a direct certificate; a client process makes one when it first needs it. */
const DIRECT_CERTIFICATE_LIFETIME_MS = 24 * 60 * 60 * 1000;
const NOT_BEFORE_BACKDATE_MS = 60 * 60 * 1000;

let cached: Promise<DirectCertificate> | undefined;

/**
 * Returns this process's self-signed P-256 certificate for direct
 * connections, generating it on the first call. Clients hold no key the
 * cluster CA signed, so a peer verifies this certificate by the fingerprint
 * it received through the master's control channel, as WebRTC does with the
 * fingerprint in its SDP.
 */
export function directCertificate(): Promise<DirectCertificate> {
  cached ??= generate();
  return cached;
}

async function generate(): Promise<DirectCertificate> {
  // selfsigned loads a large X.509 library, so it is imported only when a direct attempt needs it.
  const { generate: generateCertificate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfterDate = new Date(notBeforeDate.getTime() + DIRECT_CERTIFICATE_LIFETIME_MS);
  const pems = await generateCertificate([{ name: 'commonName', value: 'atlas-sim direct peer' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}
