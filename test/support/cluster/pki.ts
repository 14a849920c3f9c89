/**
 * Throwaway PKI for one test cluster: a CA, serving certificates (apiserver, kubelet) and client
 * certificates (apiserver → kubelet). ECDSA P-256 through WebCrypto keeps generation in the
 * milliseconds; @peculiar/x509 does the X.509 encoding so no ASN.1 is written here.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its encoders through tsyringe, which needs it.
import { webcrypto, randomBytes, generateKeyPairSync } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_MS = 7 * 24 * 3600 * 1000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends PemPair {
  /** Issues a certificate signed by this CA. */
  issue(req: CertificateRequest): Promise<PemPair>;
}

export interface CertificateRequest {
  commonName: string;
  /** Subject O= values; Kubernetes reads them as the client's groups. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client';
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // Positive, non-zero, unique per certificate (RFC 5280 wants unique serials per CA).
  return '01' + randomBytes(15).toString('hex');
}

function subject(commonName: string, organizations: string[] = []): string {
  const escape = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [...organizations.map((o) => `O=${escape(o)}`), `CN=${escape(commonName)}`].join(', ');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

export async function createCertificateAuthority(commonName: string): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - 60_000); // tolerate small clock differences between processes
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject(commonName),
    notBefore,
    notAfter: new Date(notBefore.getTime() + VALIDITY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const caKeyPem = await exportKeyPem(keys.privateKey);

  async function issue(req: CertificateRequest): Promise<PemPair> {
    const leafKeys = await generateKeys();
    const names: x509.JsonGeneralName[] = [
      ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ];
    if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: subject(req.commonName, req.organizations),
      issuer: caCert.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + VALIDITY_MS),
      signingAlgorithm: ALGORITHM,
      publicKey: leafKeys.publicKey,
      signingKey: keys.privateKey,
      extensions,
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(leafKeys.privateKey) };
  }

  return { certPem: caCert.toString('pem') + '\n', keyPem: caKeyPem, issue };
}

/** Key pair for signing service-account tokens (the apiserver wants the private and the public half). */
export function createServiceAccountKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
