// A single-node Kafka of a suite's own with secured listeners, started by
// test/services/kafka.mjs (same jars, same KRaft layout) in a temp dir:
//   SECURE  SASL_SSL, SCRAM-SHA-512, certificate signed by a test CA
//   ROGUE   SASL_SSL, certificate signed by another CA (one clients must refuse)
//   MTLS    SSL with client certificates required (signed by the test CA)
// plus the PLAINTEXT listener the services' readiness probe and warm-up use.
// The SCRAM user is created when the storage is formatted (StorageTool
// --add-scram), as `kafka-storage format --add-scram` does.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './helpers.js';

interface KafkaServices {
  startKafka(
    dir: string,
    o: { timeoutMs?: number; listeners?: Record<string, { protocol: string }>; properties?: Record<string, string>; formatArgs?: string[] },
  ): Promise<{ brokers: string; pid: number; listeners: Record<string, string> }>;
  stopKafka(dir: string): Promise<boolean>;
}

export interface SecureBroker {
  /** PLAINTEXT listener (no TLS, no SASL). */
  plaintext: string;
  secure: string;
  rogue: string;
  mtls: string;
  /** PEM files: the test CA, a client certificate and key it signed. */
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  user: string;
  password: string;
  logsDir: string;
  stop(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (self-signed) as <name>-ca.key / <name>-ca.pem. */
function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name} test CA`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

/** A leaf <name>.key (PKCS#8, unencrypted) / <name>.pem signed by <ca>-ca. */
function makeLeaf(dir: string, ca: string, name: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}-ca.pem`, '-CAkey', `${ca}-ca.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

const SERVER_EXT = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';

/** The test PKI in `dir`: returns the PEM keystores (key + chain in one file) the listeners use. */
function makePki(dir: string): { server: string; rogue: string } {
  makeCa(dir, 'test');
  makeCa(dir, 'other');
  makeLeaf(dir, 'test', 'broker', SERVER_EXT);
  makeLeaf(dir, 'other', 'rogue-broker', SERVER_EXT);
  makeLeaf(dir, 'test', 'client', 'extendedKeyUsage=clientAuth\n');
  const keystore = (leaf: string, ca: string) => {
    const file = join(dir, `${leaf}-keystore.pem`);
    execFileSync('sh', ['-c', `cat ${leaf}.key ${leaf}.pem ${ca}-ca.pem > ${file}`], { cwd: dir });
    return file;
  };
  return { server: keystore('broker', 'test'), rogue: keystore('rogue-broker', 'other') };
}

export async function startSecureBroker(dir: string): Promise<SecureBroker> {
  const { server, rogue } = makePki(dir);
  const user = 'alice';
  const password = `tw-sasl-${randomBytes(12).toString('hex')}`;
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const properties: Record<string, string> = {
    'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
    'listener.name.secure.scram-sha-512.sasl.jaas.config': scram,
    'listener.name.secure.ssl.keystore.type': 'PEM',
    'listener.name.secure.ssl.keystore.location': server,
    'listener.name.rogue.scram-sha-512.sasl.jaas.config': scram,
    'listener.name.rogue.ssl.keystore.type': 'PEM',
    'listener.name.rogue.ssl.keystore.location': rogue,
    'listener.name.mtls.ssl.keystore.type': 'PEM',
    'listener.name.mtls.ssl.keystore.location': server,
    'listener.name.mtls.ssl.truststore.type': 'PEM',
    'listener.name.mtls.ssl.truststore.location': join(dir, 'test-ca.pem'),
    'listener.name.mtls.ssl.client.auth': 'required',
  };
  const services = (await import(pathToFileURL(join(ROOT, 'test/services/kafka.mjs')).href)) as KafkaServices;
  const kafkaDir = join(dir, 'kafka');
  let started: Awaited<ReturnType<KafkaServices['startKafka']>>;
  try {
    started = await services.startKafka(kafkaDir, {
      timeoutMs: 60_000,
      listeners: { SECURE: { protocol: 'SASL_SSL' }, ROGUE: { protocol: 'SASL_SSL' }, MTLS: { protocol: 'SSL' } },
      properties,
      formatArgs: ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${password}]`],
    });
  } catch (err) {
    // A broker that started but never answered is still running: stop it.
    await services.stopKafka(kafkaDir);
    throw err;
  }
  return {
    plaintext: started.brokers,
    secure: started.listeners.SECURE,
    rogue: started.listeners.ROGUE,
    mtls: started.listeners.MTLS,
    caFile: join(dir, 'test-ca.pem'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    user,
    password,
    logsDir: join(kafkaDir, 'logs'),
    stop: async () => {
      await services.stopKafka(kafkaDir);
    },
  };
}
