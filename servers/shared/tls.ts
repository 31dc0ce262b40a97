// TLS material: configured certificates are used as given; otherwise a local CA and a server
// certificate are generated once under tls.dir (git-ignored) and reused on later starts.
import { X509Certificate, webcrypto, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata'; // @peculiar/x509 (via tsyringe) needs it loaded first
import * as x509 from '@peculiar/x509';
import type { Config } from '../../config/load.js';
import type { Logger } from '../../core/index.js';
import type { TlsMaterial } from './types.js';

// Node's webcrypto is the standard Crypto; its types differ only in lib declarations.
x509.cryptoProvider.set(webcrypto as never);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

const serial = () => createHash('sha256').update(webcrypto.getRandomValues(new Uint8Array(16))).digest('hex').slice(0, 16);

export async function generateCertificates(dir: string, hostnames: readonly string[]): Promise<void> {
  const notBefore = new Date(Date.now() - 60_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Cairn local CA, O=Cairn',
    notBefore,
    notAfter: new Date(Date.now() + 10 * 365 * 86400_000),
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  // libldap verifies a `localhost` URL against the machine's hostname, so the dev certificate
  // names that too.
  const names = [...new Set(['localhost', ...hostnames, hostname()])];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.find((n) => n !== 'localhost') ?? 'localhost'}, O=Cairn`,
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(Date.now() + 825 * 86400_000),
    signingKey: caKeys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.map((value) => ({ type: 'dns' as const, value })),
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'ca.key'), await pkcs8Pem(caKeys.privateKey), { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), ca.toString('pem') + '\n');
  writeFileSync(join(dir, 'server.key'), await pkcs8Pem(keys.privateKey), { mode: 0o600 });
  writeFileSync(join(dir, 'server.crt'), cert.toString('pem') + '\n');
}

export async function loadTls(config: Readonly<Config>, log: Logger): Promise<TlsMaterial> {
  const t = config.tls;
  if (t.certFile) {
    const read = (key: string, file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        throw new Error(`${key}: cannot read ${file}`);
      }
    };
    const cert = read('tls.certFile', t.certFile);
    const caFile = t.caFile || t.certFile;
    const ca = read('tls.caFile', caFile);
    return { cert, key: read('tls.keyFile', t.keyFile), ca, caFile, caFingerprint: fingerprint(ca) };
  }
  const dir = t.dir;
  if (!existsSync(join(dir, 'server.crt'))) {
    await generateCertificates(dir, t.hostnames);
    const caFingerprint = fingerprint(readFileSync(join(dir, 'ca.crt'), 'utf8'));
    log.warn({ dir, caFingerprint }, 'generated a local CA and server certificate; clients must trust certs/ca.crt');
  }
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  return { key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.crt'), 'utf8'), ca, caFile: join(dir, 'ca.crt'), caFingerprint: fingerprint(ca) };
}
