// TEST ONLY. Generates AWS Encryption SDK (ESDK) interoperability vectors with
// the official JavaScript ESDK (@aws-crypto/client-node, pinned in
// package.json) and writes them, with manifest.json, next to this file.
//
// Run it through generate.sh, which starts local-kms (the Go command
// tools/local-kms-serve) on 127.0.0.1 and passes its endpoint and key ARNs in
// the file named by LOCAL_KMS_INFO.
//
// Ciphertexts differ on every run (random data keys, IVs and signing keys);
// the list of vectors, their metadata and expected outcomes do not. Card
// numbers are public test numbers.

import { createPublicKey, constants as cryptoConstants } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  KMS,
  KmsKeyringNode,
  MultiKeyringNode,
  RawRsaKeyringNode,
  buildClient,
  getClient,
} from '@aws-crypto/client-node'

const vectorsDir = dirname(fileURLToPath(import.meta.url))
const root = resolve(vectorsDir, '../..')
const keysDir = join(root, 'testdata/keys')
const outputDirs = ['connect', 'suites', 'kms', 'negative']

const require = createRequire(import.meta.url)
const esdkVersion = require('@aws-crypto/client-node/package.json').version

// Error codes of the service, one per failure class.
const E = {
  malformed: 'ciphertext_malformed',
  tooLarge: 'ciphertext_too_large',
  tooManyKeys: 'too_many_encrypted_data_keys',
  providerUnsupported: 'key_provider_unsupported',
  keyUnknown: 'key_unknown',
  commitment: 'commitment_policy_violation',
  suiteRejected: 'algorithm_suite_rejected',
  contextMismatch: 'encryption_context_mismatch',
  authFailed: 'ciphertext_authentication_failed',
}

// Service configuration the expected outcomes assume. It is written into the
// manifest so a test can configure the service the same way.
const service = {
  max_ciphertext_bytes: 16384,
  max_encrypted_data_keys: 3,
  dtmf_suites: ['0x0378', '0x0578'],
  kms_purpose: 'connect-secure-input',
  kms_intents: ['CollectPayment'],
}

// Public test card data.
const payloads = [
  { name: 'pan16', text: '4111111111111111', about: '16-digit Visa test PAN' },
  { name: 'pan15', text: '378282246310005', about: '15-digit American Express test PAN' },
  { name: 'pan19', text: '6205500000000000004', about: '19-digit UnionPay test PAN' },
  { name: 'cvv3', text: '123', about: '3-digit CVV' },
  { name: 'cvv4', text: '1234', about: '4-digit CID' },
  { name: 'expiry', text: '1230', about: 'MMYY expiry' },
]
const PAN = payloads[0].text

const S = AlgorithmSuiteIdentifier
const suiteHex = (id) => '0x' + id.toString(16).padStart(4, '0')
const committingSuites = new Set([S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384])
const signedSuites = new Set([
  S.ALG_AES128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
  S.ALG_AES192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
  S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
  S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
])
const CONNECT_SUITE = S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
const LEX_SUITE = S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384

const forbidClient = buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
const requireClient = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

// ---------------------------------------------------------------------------
// Keys

const keyIndex = JSON.parse(readFileSync(join(keysDir, 'connect-test-only-keys.json'), 'utf8'))
const connectKeys = keyIndex.keys.map((k) => ({
  ...k,
  publicPem: createPublicKey(readFileSync(join(keysDir, k.private_key))).export({ type: 'spki', format: 'pem' }),
}))
const rsa = {
  k2048: connectKeys.find((k) => k.bits === 2048 && k.configured),
  k3072: connectKeys.find((k) => k.bits === 3072),
  k4096: connectKeys.find((k) => k.bits === 4096),
  unconfigured: connectKeys.find((k) => !k.configured),
}
// A Key ID that no key has, for the wrong-key-name vectors.
const UNKNOWN_KEY_ID = '0e6bd3f4-52c1-4d5e-9a3b-7c1f00000000'

if (!process.env.LOCAL_KMS_INFO) {
  throw new Error('LOCAL_KMS_INFO is not set: run generate.sh, which starts local-kms and sets it')
}
const kmsInfo = JSON.parse(readFileSync(process.env.LOCAL_KMS_INFO, 'utf8'))
const kmsKeys = kmsInfo.keys
const kmsClientProvider = getClient(KMS, {
  endpoint: kmsInfo.endpoint,
  credentials: { accessKeyId: kmsInfo.access_key_id, secretAccessKey: kmsInfo.secret_access_key },
})

function rsaKeyring(key, { keyName = key.key_id, keyNamespace = 'AmazonConnect', oaepHash = 'sha512', padding } = {}) {
  return new RawRsaKeyringNode({
    keyName,
    keyNamespace,
    rsaKey: { publicKey: key.publicPem },
    oaepHash: padding === undefined ? oaepHash : undefined,
    padding,
  })
}

function multiKeyring(keyrings) {
  const [generator, ...children] = keyrings
  return children.length === 0 ? generator : new MultiKeyringNode({ generator, children })
}

function kmsKeyring(generatorKeyId, keyIds = []) {
  return new KmsKeyringNode({ generatorKeyId, keyIds, clientProvider: kmsClientProvider })
}

async function encrypt(keyring, plaintext, { suiteId = CONNECT_SUITE, encryptionContext = {}, frameLength } = {}) {
  const client = committingSuites.has(suiteId) ? requireClient : forbidClient
  const { result } = await client.encrypt(keyring, plaintext, { suiteId, encryptionContext, frameLength })
  return Buffer.from(result)
}

// ---------------------------------------------------------------------------
// Message layout (https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html),
// parsed only to find the byte range of each region for the mutations.

function parseMessage(buf) {
  const r = { edks: [], context: {}, frames: [] }
  let o = 0
  const take = (n) => {
    const range = [o, o + n]
    o += n
    return range
  }
  const version = buf[0]
  r.version = take(1)
  if (version === 1) r.type = take(1)
  const suite = buf.readUInt16BE(o)
  r.suite_id = take(2)
  r.message_id = take(version === 1 ? 16 : 32)
  const aadLength = buf.readUInt16BE(o)
  r.aad_length = take(2)
  r.aad = [o, o + aadLength]
  if (aadLength > 0) {
    const pairs = buf.readUInt16BE(o)
    take(2)
    for (let i = 0; i < pairs; i++) {
      const keyRange = take(2 + buf.readUInt16BE(o))
      const key = buf.subarray(keyRange[0] + 2, keyRange[1]).toString('utf8')
      const valueRange = take(2 + buf.readUInt16BE(o))
      r.context[key] = { key: [keyRange[0] + 2, keyRange[1]], value: [valueRange[0] + 2, valueRange[1]] }
    }
  }
  const edkCount = buf.readUInt16BE(o)
  r.edk_count = take(2)
  for (let i = 0; i < edkCount; i++) {
    const providerId = take(2 + buf.readUInt16BE(o))
    const providerInfo = take(2 + buf.readUInt16BE(o))
    const ciphertext = take(2 + buf.readUInt16BE(o))
    r.edks.push({
      provider_id: [providerId[0] + 2, providerId[1]],
      provider_info: [providerInfo[0] + 2, providerInfo[1]],
      ciphertext: [ciphertext[0] + 2, ciphertext[1]],
      ciphertext_length: [ciphertext[0], ciphertext[0] + 2],
    })
  }
  r.content_type = take(1)
  let ivLength = 12
  if (version === 1) {
    r.reserved = take(4)
    ivLength = buf[o]
    r.iv_length = take(1)
  }
  const frameLength = buf.readUInt32BE(o)
  r.frame_length = take(4)
  if (version === 2) r.suite_data = take(32)
  r.header = [0, o]
  if (version === 1) r.header_auth_iv = take(ivLength)
  r.header_auth_tag = take(16)
  r.body_start = o
  for (;;) {
    if (buf.readUInt32BE(o) === 0xffffffff) {
      const frame = { final: true, end_marker: take(4), sequence_number: take(4), iv: take(ivLength) }
      const contentLength = buf.readUInt32BE(o)
      frame.content_length = take(4)
      frame.content = take(contentLength)
      frame.tag = take(16)
      r.frames.push(frame)
      break
    }
    r.frames.push({ final: false, sequence_number: take(4), iv: take(ivLength), content: take(frameLength), tag: take(16) })
  }
  if (signedSuites.has(suite)) {
    r.footer = [o, buf.length]
    const signatureLength = buf.readUInt16BE(o)
    r.signature_length = take(2)
    r.signature = take(signatureLength)
  }
  if (o !== buf.length) throw new Error(`parsed ${o} of ${buf.length} bytes: the layout parser is wrong`)
  return { version, suite, frameLength, edkCount, regions: r }
}

const middle = ([start, end]) => start + Math.floor((end - start) / 2)

function flip(buf, offset, xor = 0x01) {
  const out = Buffer.from(buf)
  out[offset] ^= xor
  return out
}

function setBytes(buf, offset, bytes) {
  const out = Buffer.from(buf)
  Buffer.from(bytes).copy(out, offset)
  return out
}

// A small seeded PRNG (xorshift32), so that random-looking inputs are the same on every run.
function seededBytes(seed, n) {
  let x = seed >>> 0 || 1
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

// ---------------------------------------------------------------------------
// Manifest

const vectors = []
const names = new Set()

// add writes one vector file and records it. text is the exact input the
// service receives (normally base64 without a trailing newline).
function add(dir, v, text) {
  if (names.has(v.name)) throw new Error(`duplicate vector name ${v.name}`)
  names.add(v.name)
  const entry = { name: v.name }
  if (text !== undefined) {
    entry.file = `${dir}/${v.name}.b64`
    writeFileSync(join(vectorsDir, entry.file), text)
  }
  const { name, ...rest } = v
  vectors.push(Object.assign(entry, rest))
}

// describeMessage returns the manifest metadata that a parsed message shows.
function describeMessage(buf) {
  const m = parseMessage(buf)
  return { suite: suiteHex(m.suite), format_version: m.version, frame_length: m.frameLength, edk_count: m.edkCount }
}

const b64 = (buf) => buf.toString('base64')

// ---------------------------------------------------------------------------
// Connect-style messages: format 1, suite 0x0378, AmazonConnect, RSA-OAEP-SHA512.

async function connectVectors() {
  const bases = {}
  for (const key of [rsa.k2048, rsa.k3072, rsa.k4096]) {
    for (const p of payloads) {
      const msg = await encrypt(rsaKeyring(key), p.text)
      const name = `connect-${key.bits}-${p.name}`
      bases[name] = msg
      add('connect', {
        name,
        description: `Connect DTMF message, ${key.bits}-bit key, ${p.about}`,
        scheme: 'connect',
        key_id: key.key_id,
        ...describeMessage(msg),
        plaintext: p.text,
      }, b64(msg))
    }
  }

  const base = bases['connect-2048-pan16']
  add('connect', {
    name: 'connect-2048-pan16-surrounding-whitespace',
    description: 'Connect DTMF message with a leading newline and spaces and a trailing tab and CRLF, which the service strips',
    scheme: 'connect',
    key_id: rsa.k2048.key_id,
    ...describeMessage(base),
    plaintext: PAN,
  }, `\n  ${b64(base)}\t\r\n`)

  // Two active keys during a rotation: one encrypted data key per key.
  const twoKeys = [
    { name: 'connect-two-keys-2048-3072', keys: [rsa.k2048, rsa.k3072], decryptKey: rsa.k2048, about: 'wrapped for two active keys (2048 and 3072 bits)' },
    { name: 'connect-two-keys-4096-2048', keys: [rsa.k4096, rsa.k2048], decryptKey: rsa.k4096, about: 'wrapped for two active keys (4096 and 2048 bits)' },
    { name: 'connect-two-keys-unconfigured-first', keys: [rsa.unconfigured, rsa.k2048], decryptKey: rsa.k2048, about: 'wrapped for a key the service does not have, then a configured key; the service must skip the first encrypted data key' },
    { name: 'connect-three-keys', keys: [rsa.unconfigured, rsa.k3072, rsa.k4096], decryptKey: rsa.k3072, about: 'three encrypted data keys, at the default limit of 3' },
  ]
  for (const t of twoKeys) {
    const msg = await encrypt(multiKeyring(t.keys.map((k) => rsaKeyring(k))), PAN)
    add('connect', {
      name: t.name,
      description: `Connect DTMF message ${t.about}`,
      scheme: 'connect',
      key_id: t.decryptKey.key_id,
      key_ids: t.keys.map((k) => k.key_id),
      ...describeMessage(msg),
      plaintext: PAN,
    }, b64(msg))
  }

  // Framed messages with several frames.
  const framed = [
    { name: 'connect-framed-4-pan16', frameLength: 4, text: PAN, about: '16-digit PAN in frames of 4 bytes: four full frames and an empty final frame' },
    { name: 'connect-framed-5-pan19', frameLength: 5, text: payloads[2].text, about: '19-digit PAN in frames of 5 bytes: three full frames and a final frame of 4 bytes' },
    { name: 'connect-framed-1-cvv3', frameLength: 1, text: '123', about: '3-digit CVV in frames of 1 byte' },
    { name: 'connect-framed-16-pan16', frameLength: 16, text: PAN, about: '16-digit PAN in one full frame of 16 bytes and an empty final frame' },
  ]
  for (const f of framed) {
    const msg = await encrypt(rsaKeyring(rsa.k2048), f.text, { frameLength: f.frameLength })
    add('connect', {
      name: f.name,
      description: `Connect DTMF message, ${f.about}`,
      scheme: 'connect',
      key_id: rsa.k2048.key_id,
      ...describeMessage(msg),
      plaintext: f.text,
    }, b64(msg))
  }
  return bases
}

// ---------------------------------------------------------------------------
// Every other algorithm suite of the JavaScript ESDK, on the Connect keyring.

async function suiteVectors() {
  const outcomes = {
    [S.ALG_AES128_GCM_IV12_TAG16]: { error: E.suiteRejected, about: 'legacy suite without key derivation' },
    [S.ALG_AES192_GCM_IV12_TAG16]: { error: E.suiteRejected, about: 'legacy suite without key derivation' },
    [S.ALG_AES256_GCM_IV12_TAG16]: { error: E.suiteRejected, about: 'legacy suite without key derivation' },
    [S.ALG_AES128_GCM_IV12_TAG16_HKDF_SHA256]: { error: E.suiteRejected, about: 'HKDF suite, unsigned, not committing' },
    [S.ALG_AES192_GCM_IV12_TAG16_HKDF_SHA256]: { error: E.suiteRejected, about: 'HKDF suite, unsigned, not committing' },
    [S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256]: { error: E.suiteRejected, about: 'HKDF suite, unsigned, not committing' },
    [S.ALG_AES128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256]: { error: E.suiteRejected, about: 'HKDF suite, ECDSA P-256, not committing' },
    [S.ALG_AES192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384]: { error: E.suiteRejected, about: 'HKDF suite, ECDSA P-384, not committing' },
    [S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY]: {
      error: E.suiteRejected,
      about: 'committing HKDF suite, unsigned',
      note: 'Assumes the default DTMF allow-list of 0x0378 plus committing signed suites, so the unsigned committing suite 0x0478 is rejected.',
    },
    [S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384]: { about: 'committing HKDF suite, ECDSA P-384, message format 2' },
  }
  for (const [id, outcome] of Object.entries(outcomes)) {
    const suiteId = Number(id)
    const msg = await encrypt(rsaKeyring(rsa.k2048), PAN, { suiteId })
    const v = {
      name: `suite-${suiteHex(suiteId)}`,
      description: `Connect keyring message with suite ${suiteHex(suiteId)} (${S[suiteId]}): ${outcome.about}`,
      scheme: 'connect',
      key_id: rsa.k2048.key_id,
      ...describeMessage(msg),
      plaintext: PAN,
    }
    if (outcome.error) v.error = outcome.error
    if (outcome.note) v.note = outcome.note
    add('suites', v, b64(msg))
  }
}

// ---------------------------------------------------------------------------
// KMS-style (Lex fulfillment) messages against local-kms.

const lexContext = (intent = 'CollectPayment') => ({ purpose: 'connect-secure-input', intent })

async function kmsVectors() {
  const bases = {}
  const kmsMessage = async (name, v, { keyring, text = PAN, suiteId = LEX_SUITE, encryptionContext = lexContext() }) => {
    const msg = await encrypt(keyring, text, { suiteId, encryptionContext })
    bases[name] = msg
    add('kms', {
      name,
      scheme: 'kms',
      ...v,
      ...describeMessage(msg),
      encryption_context: encryptionContext,
    }, b64(msg))
  }

  for (const p of payloads) {
    await kmsMessage(`kms-${p.name}`, {
      description: `Lex token under the payment KMS key, ${p.about}`,
      key_arn: kmsKeys.payment,
      plaintext: p.text,
    }, { keyring: kmsKeyring(kmsKeys.payment), text: p.text })
  }
  await kmsMessage('kms-via-alias', {
    description: 'Lex token encrypted through the payment key alias; the encrypted data key names the key ARN',
    key_arn: kmsKeys.payment,
    plaintext: PAN,
  }, { keyring: kmsKeyring(kmsKeys.payment_alias) })
  await kmsMessage('kms-multi-region-primary', {
    description: 'Lex token under the multi-Region key in its primary Region; the service is configured with the replica ARN in the replica Region',
    key_arn: kmsKeys.multi_region,
    decrypt_key_arn: kmsKeys.multi_region_replica,
    plaintext: PAN,
  }, { keyring: kmsKeyring(kmsKeys.multi_region) })
  await kmsMessage('kms-multi-region-replica', {
    description: 'Lex token under the multi-Region key replica ARN, which the service is configured with',
    key_arn: kmsKeys.multi_region_replica,
    plaintext: PAN,
  }, { keyring: kmsKeyring(kmsKeys.multi_region_replica) })
  await kmsMessage('kms-two-keys', {
    description: 'Lex token wrapped for a KMS key the service does not have and then the payment key',
    key_arn: kmsKeys.payment,
    key_arns: [kmsKeys.other, kmsKeys.payment],
    plaintext: PAN,
  }, { keyring: kmsKeyring(kmsKeys.other, [kmsKeys.payment]) })
  await kmsMessage('kms-extra-context', {
    description: 'Lex token with the required context plus an extra key (contactId)',
    key_arn: kmsKeys.payment,
    plaintext: PAN,
    note: "The ESDK's required-encryption-context CMM accepts extra keys; this expects the service to accept them too. If the service rejects extra keys, the code is encryption_context_mismatch.",
  }, { keyring: kmsKeyring(kmsKeys.payment), encryptionContext: { ...lexContext(), contactId: '5f0d3a7e-0000-4000-8000-000000000001' } })
  await kmsMessage('kms-suite-0x0478', {
    description: 'Lex token with the committing unsigned suite 0x0478',
    key_arn: kmsKeys.payment,
    plaintext: PAN,
    note: 'Nothing fixes a KMS-path suite allow-list beyond commitment; expected to decrypt under REQUIRE_ENCRYPT_REQUIRE_DECRYPT. If the service allows only 0x0578 on this path, the code is algorithm_suite_rejected.',
  }, { keyring: kmsKeyring(kmsKeys.payment), suiteId: S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY })

  // With the reproduced context {purpose, intent}, the Go ESDK v0.4.0 reports
  // a wrong value as "Encryption context does not match reproduced
  // encryption context", but a key missing from the message as a keyring
  // failure, because the reproduced value joins the context sent to KMS.
  const missingNote = 'The Go ESDK reports this as "No Configured Keyring was able to decrypt the Data Key" (KMS rejects the context), so the service must see the missing key in the header to report encryption_context_mismatch.'
  const negatives = [
    { name: 'kms-wrong-purpose', about: 'purpose is "other-purpose"', context: { purpose: 'other-purpose', intent: 'CollectPayment' } },
    { name: 'kms-wrong-intent', about: 'intent is "TransferFunds", not in the allow-list', context: lexContext('TransferFunds') },
    { name: 'kms-missing-intent', about: 'context has purpose only', context: { purpose: 'connect-secure-input' }, note: missingNote },
    { name: 'kms-missing-purpose', about: 'context has intent only', context: { intent: 'CollectPayment' }, note: missingNote },
    { name: 'kms-empty-context', about: 'no encryption context of its own', context: {}, note: missingNote },
  ]
  for (const n of negatives) {
    const v = {
      description: `Lex token whose ${n.about}`,
      key_arn: kmsKeys.payment,
      plaintext: PAN,
      error: E.contextMismatch,
    }
    if (n.note) v.note = n.note
    await kmsMessage(n.name, v, { keyring: kmsKeyring(kmsKeys.payment), encryptionContext: n.context })
  }
  await kmsMessage('kms-non-committing', {
    description: 'KMS message with the non-committing suite 0x0378 (format 1), rejected on the KMS path under REQUIRE_ENCRYPT_REQUIRE_DECRYPT',
    key_arn: kmsKeys.payment,
    plaintext: PAN,
    error: E.commitment,
  }, { keyring: kmsKeyring(kmsKeys.payment), suiteId: CONNECT_SUITE })
  await kmsMessage('kms-non-committing-unsigned', {
    description: 'KMS message with the non-committing unsigned suite 0x0178 (format 1)',
    key_arn: kmsKeys.payment,
    plaintext: PAN,
    error: E.commitment,
    note: 'Both commitment and the suite allow-list reject it; commitment_policy_violation assumes the commitment check comes first.',
  }, { keyring: kmsKeyring(kmsKeys.payment), suiteId: S.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256 })
  await kmsMessage('kms-wrong-key', {
    description: 'Lex token under a KMS key that the service is not configured with',
    key_arn: kmsKeys.other,
    error: E.keyUnknown,
  }, { keyring: kmsKeyring(kmsKeys.other) })
  await kmsMessage('kms-four-keys', {
    description: 'KMS message with 4 encrypted data keys, over the default limit of 3',
    key_arn: kmsKeys.payment,
    key_arns: [kmsKeys.payment, kmsKeys.other, kmsKeys.multi_region, kmsKeys.multi_region_replica],
    plaintext: PAN,
    error: E.tooManyKeys,
  }, { keyring: kmsKeyring(kmsKeys.payment, [kmsKeys.other, kmsKeys.multi_region, kmsKeys.multi_region_replica]) })
  return bases
}

// ---------------------------------------------------------------------------
// Negative vectors derived from committed messages by fixed mutations.

function mutationVectors(connectBases, kmsBases) {
  const baseName = 'connect-2048-pan16'
  const base = connectBases[baseName]
  const layout = parseMessage(base).regions
  const edk = layout.edks[0]
  const finalFrame = layout.frames[layout.frames.length - 1]
  const pkValue = layout.context['aws-crypto-public-key'].value
  const connect = { scheme: 'connect', key_id: rsa.k2048.key_id, derived_from: baseName }

  const flips = [
    { region: 'version', offset: layout.version[0], xor: 0x01, error: E.malformed, about: 'version 0x01 becomes 0x00' },
    { region: 'version', name: 'version-2', offset: layout.version[0], xor: 0x03, error: E.malformed, about: 'version 0x01 becomes 0x02, so the format 1 header is read as format 2' },
    { region: 'type', offset: layout.type[0], xor: 0x01, error: E.malformed, about: 'message type 0x80 becomes 0x81' },
    {
      region: 'suite_id', offset: layout.suite_id[1] - 1, xor: 0x01, error: E.malformed,
      about: 'suite id 0x0378 becomes 0x0379, which no suite has',
      note: 'An unknown suite id fails header parsing; if the service reports unknown ids as algorithm_suite_rejected, use that.',
    },
    {
      region: 'suite_id', name: 'suite-id-0x0346', offset: layout.suite_id[1] - 1, xor: 0x78 ^ 0x46, error: E.suiteRejected,
      about: 'suite id 0x0378 becomes 0x0346, a real suite outside the allow-list',
      note: 'The header is otherwise intact, so the allow-list check on the header rejects it before the header authentication would fail (ciphertext_authentication_failed).',
    },
    { region: 'message_id', offset: middle(layout.message_id), xor: 0x01, error: E.authFailed, about: 'one bit of the message id, which feeds key derivation and the header authentication' },
    { region: 'aad_length', offset: layout.aad_length[1] - 1, xor: 0x01, error: E.malformed, about: 'the AAD length is off by one' },
    {
      region: 'aad', name: 'aad-context-key', offset: layout.context['aws-crypto-public-key'].key[1] - 1, xor: 0x01, error: E.authFailed,
      about: 'the context key aws-crypto-public-key becomes aws-crypto-public-kez, so the verification key is missing',
      note: 'The ESDK fails for want of the verification key before any tag check; read as tampering.',
    },
    {
      region: 'aad', name: 'aad-public-key', offset: middle(pkValue), xor: 0x01, error: E.authFailed,
      about: 'one bit of the base64 ECDSA verification key in the encryption context',
      note: 'The changed character may make the base64 or the curve point invalid, which the ESDK reports before any tag check; read as tampering.',
    },
    { region: 'edk_count', offset: layout.edk_count[1] - 1, xor: 0x01, error: E.malformed, about: 'encrypted data key count 1 becomes 0' },
    { region: 'edk_provider_id', offset: edk.provider_id[1] - 1, xor: 0x01, error: E.providerUnsupported, about: 'provider id AmazonConnect becomes AmazonConnecu' },
    { region: 'edk_key_name', offset: edk.provider_info[1] - 1, xor: 0x02, error: E.keyUnknown, about: 'the last character of the key name (Key ID) changes' },
    {
      region: 'edk_ciphertext', offset: middle(edk.ciphertext), xor: 0x01, error: E.authFailed,
      about: 'one bit of the RSA-OAEP encrypted data key',
      note: 'The raw RSA keyring cannot unwrap the data key; the ESDK reports that no encrypted data key could be decrypted.',
    },
    { region: 'content_type', offset: layout.content_type[0], xor: 0x01, error: E.malformed, about: 'content type 0x02 (framed) becomes 0x03' },
    { region: 'reserved', offset: layout.reserved[0] + 3, xor: 0x01, error: E.malformed, about: 'the reserved field is no longer zero' },
    { region: 'iv_length', offset: layout.iv_length[0], xor: 0x01, error: E.malformed, about: 'IV length 12 becomes 13' },
    {
      region: 'frame_length', offset: layout.frame_length[1] - 1, xor: 0x01, error: E.authFailed,
      about: 'frame length 4096 becomes 4097',
      note: 'The frame length is inside the authenticated header; with a single final frame the body still parses, so the header authentication fails.',
    },
    { region: 'header_auth_iv', offset: middle(layout.header_auth_iv), xor: 0x01, error: E.authFailed, about: 'one bit of the header authentication IV' },
    { region: 'header_auth_tag', offset: middle(layout.header_auth_tag), xor: 0x01, error: E.authFailed, about: 'one bit of the header authentication tag' },
    {
      region: 'frame_sequence_number', offset: finalFrame.sequence_number[1] - 1, xor: 0x02, error: E.malformed,
      about: 'the final frame sequence number 1 becomes 3',
      note: 'The ESDK checks the sequence number while parsing; if the service reports this as ciphertext_authentication_failed, use that.',
    },
    { region: 'frame_iv', offset: middle(finalFrame.iv), xor: 0x01, error: E.authFailed, about: 'one bit of the frame IV' },
    {
      region: 'frame_content_length', offset: finalFrame.content_length[1] - 2, xor: 0x01, error: E.malformed,
      about: 'the final frame content length 16 becomes 272, past the end of the message',
    },
    { region: 'frame_body', offset: middle(finalFrame.content), xor: 0x01, error: E.authFailed, about: 'one bit of the encrypted PAN in the final frame' },
    { region: 'frame_tag', offset: middle(finalFrame.tag), xor: 0x01, error: E.authFailed, about: 'one bit of the frame authentication tag' },
    {
      region: 'signature_length', offset: layout.signature_length[1] - 1, xor: 0x01, error: E.authFailed, about: 'the signature length is off by one',
      note: 'ESDK for Go v0.4.0 reads the shorter or longer signature and reports "Invalid signature", so the service classifies it as a failed authentication.',
    },
    { region: 'signature', offset: middle(layout.signature), xor: 0x01, error: E.authFailed, about: 'one bit of the ECDSA P-384 signature' },
  ]
  for (const f of flips) {
    const name = `flip-${f.name ?? f.region.replaceAll('_', '-')}`
    const v = {
      name,
      description: `Connect DTMF message with a byte changed in the ${f.region.replaceAll('_', ' ')} region: ${f.about}`,
      ...connect,
      error: f.error,
      mutation: { kind: 'xor', region: f.region, offset: f.offset, xor: f.xor },
    }
    if (f.note) v.note = f.note
    add('negative', v, b64(flip(base, f.offset, f.xor)))
  }

  const truncations = [
    { name: 'one-byte', length: 1, about: 'only the version byte' },
    { name: 'mid-header', length: middle(edk.ciphertext), about: 'cut inside the encrypted data key' },
    { name: 'header-only', length: layout.header[1], about: 'the header without its authentication' },
    { name: 'no-body', length: layout.body_start, about: 'the header and its authentication, no body' },
    { name: 'mid-frame', length: middle(finalFrame.content), about: 'cut inside the final frame' },
    { name: 'no-footer', length: layout.footer[0], about: 'everything but the signature footer' },
    { name: 'signature-short', length: base.length - 1, about: 'the last signature byte missing' },
  ]
  for (const t of truncations) {
    add('negative', {
      name: `truncated-${t.name}`,
      description: `Connect DTMF message truncated to ${t.length} bytes: ${t.about}`,
      ...connect,
      error: E.malformed,
      mutation: { kind: 'truncate', length: t.length },
    }, b64(base.subarray(0, t.length)))
  }
  add('negative', {
    name: 'trailing-byte',
    description: 'Connect DTMF message with one extra zero byte after the signature',
    ...connect,
    error: E.malformed,
    note: 'The ESDK rejects bytes after the footer; if the service ignores them the vector decrypts.',
    mutation: { kind: 'append', bytes: '00' },
  }, b64(Buffer.concat([base, Buffer.from([0])])))

  // Format 2 (KMS) mutations.
  const kmsName = 'kms-pan16'
  const kmsBase = kmsBases[kmsName]
  const k = parseMessage(kmsBase).regions
  const kmsEdk = k.edks[0]
  const kmsFinal = k.frames[k.frames.length - 1]
  const kmsMeta = { scheme: 'kms', key_arn: kmsKeys.payment, derived_from: kmsName }
  const kmsFlips = [
    { region: 'version', offset: k.version[0], xor: 0x03, error: E.malformed, about: 'version 0x02 becomes 0x01, so the format 2 header is read as format 1' },
    {
      region: 'suite_id', offset: k.suite_id[1] - 1, xor: 0x01, error: E.malformed,
      about: 'suite id 0x0578 becomes 0x0579, which no suite has',
      note: 'An unknown suite id fails header parsing; if the service reports unknown ids as algorithm_suite_rejected, use that.',
    },
    { region: 'message_id', offset: middle(k.message_id), xor: 0x01, error: E.authFailed, about: 'one bit of the 32-byte message id' },
    {
      region: 'aad', name: 'aad-purpose', offset: k.context.purpose.value[1] - 1, xor: 0x01, error: E.contextMismatch,
      about: 'purpose connect-secure-input becomes connect-secure-inpuu',
      note: 'The required-encryption-context check runs before the header authentication, so the first failure is the context; a service that authenticates first reports ciphertext_authentication_failed.',
    },
    { region: 'edk_key_arn', offset: kmsEdk.provider_info[1] - 1, xor: 0x01, error: E.keyUnknown, about: 'the last character of the key ARN in the encrypted data key changes' },
    {
      region: 'edk_ciphertext', offset: kmsEdk.ciphertext[1] - 8, xor: 0x01, error: E.authFailed,
      about: 'one bit of the KMS ciphertext blob (inside its AES-GCM tag)',
      note: 'KMS (local-kms) returns InvalidCiphertextException.',
    },
    { region: 'suite_data', offset: middle(k.suite_data), xor: 0x01, error: E.authFailed, about: 'one bit of the key commitment' },
    { region: 'header_auth_tag', offset: middle(k.header_auth_tag), xor: 0x01, error: E.authFailed, about: 'one bit of the header authentication tag' },
    { region: 'frame_body', offset: middle(kmsFinal.content), xor: 0x01, error: E.authFailed, about: 'one bit of the encrypted PAN' },
    { region: 'signature', offset: middle(k.signature), xor: 0x01, error: E.authFailed, about: 'one bit of the ECDSA P-384 signature' },
  ]
  for (const f of kmsFlips) {
    const v = {
      name: `kms-flip-${f.name ?? f.region.replaceAll('_', '-')}`,
      description: `Lex token with a byte changed in the ${f.region.replaceAll('_', ' ')} region: ${f.about}`,
      ...kmsMeta,
      error: f.error,
      mutation: { kind: 'xor', region: f.region, offset: f.offset, xor: f.xor },
    }
    if (f.note) v.note = f.note
    add('negative', v, b64(flip(kmsBase, f.offset, f.xor)))
  }
  add('negative', {
    name: 'kms-truncated-no-footer',
    description: 'Lex token without its signature footer',
    ...kmsMeta,
    error: E.malformed,
    mutation: { kind: 'truncate', length: k.footer[0] },
  }, b64(kmsBase.subarray(0, k.footer[0])))
}

// ---------------------------------------------------------------------------
// Keys, key names, namespaces and padding the service does not accept.

async function keyVectors() {
  const cases = [
    { name: 'wrong-key', keyring: rsaKeyring(rsa.unconfigured), keyId: rsa.unconfigured.key_id, error: E.keyUnknown, about: 'wrapped only for a Connect key the service is not given' },
    { name: 'wrong-key-name', keyring: rsaKeyring(rsa.k2048, { keyName: UNKNOWN_KEY_ID }), keyId: UNKNOWN_KEY_ID, error: E.keyUnknown, about: 'wrapped with the configured 2048-bit key under a Key ID that no configured key has' },
    { name: 'key-name-uppercase', keyring: rsaKeyring(rsa.k2048, { keyName: rsa.k2048.key_id.toUpperCase() }), keyId: rsa.k2048.key_id.toUpperCase(), error: E.keyUnknown, about: 'the configured Key ID in upper case; Key IDs match exactly, as in the ESDK raw keyring' },
    {
      name: 'key-name-swapped', keyring: rsaKeyring(rsa.k2048, { keyName: rsa.k3072.key_id }), keyId: rsa.k3072.key_id, error: E.authFailed,
      about: 'wrapped with the 2048-bit key but named with the Key ID of the configured 3072-bit key',
      note: 'The keyring for the named key cannot unwrap the data key.',
    },
    { name: 'wrong-namespace', keyring: rsaKeyring(rsa.k2048, { keyNamespace: 'AmazonConnectTest' }), keyId: rsa.k2048.key_id, error: E.providerUnsupported, about: 'key namespace AmazonConnectTest' },
    { name: 'namespace-lowercase', keyring: rsaKeyring(rsa.k2048, { keyNamespace: 'amazonconnect' }), keyId: rsa.k2048.key_id, error: E.providerUnsupported, about: 'key namespace amazonconnect; provider ids match exactly' },
    { name: 'oaep-sha256', keyring: rsaKeyring(rsa.k2048, { oaepHash: 'sha256' }), keyId: rsa.k2048.key_id, error: E.authFailed, about: 'RSA-OAEP with SHA-256 instead of SHA-512' },
    { name: 'oaep-sha1', keyring: rsaKeyring(rsa.k2048, { oaepHash: 'sha1' }), keyId: rsa.k2048.key_id, error: E.authFailed, about: 'RSA-OAEP with SHA-1 instead of SHA-512' },
    { name: 'pkcs1-padding', keyring: rsaKeyring(rsa.k2048, { padding: cryptoConstants.RSA_PKCS1_PADDING }), keyId: rsa.k2048.key_id, error: E.authFailed, about: 'RSA PKCS#1 v1.5 padding instead of OAEP' },
  ]
  for (const c of cases) {
    const msg = await encrypt(c.keyring, PAN)
    const v = {
      name: c.name,
      description: `Connect DTMF message ${c.about}`,
      scheme: 'connect',
      key_id: c.keyId,
      ...describeMessage(msg),
      error: c.error,
    }
    if (c.note) v.note = c.note
    add('negative', v, b64(msg))
  }

  const tooMany = [
    { count: 4, keyrings: [rsa.k2048, rsa.k3072, rsa.k4096, rsa.unconfigured].map((k) => rsaKeyring(k)) },
    {
      count: 5,
      keyrings: [rsa.k2048, rsa.k3072, rsa.k4096, rsa.unconfigured].map((k) => rsaKeyring(k)).concat(rsaKeyring(rsa.k2048, { keyName: UNKNOWN_KEY_ID })),
    },
  ]
  for (const t of tooMany) {
    const msg = await encrypt(multiKeyring(t.keyrings), PAN)
    add('negative', {
      name: `too-many-keys-${t.count}`,
      description: `Connect DTMF message with ${t.count} encrypted data keys, over the default limit of 3`,
      scheme: 'connect',
      key_id: rsa.k2048.key_id,
      ...describeMessage(msg),
      plaintext: PAN,
      error: E.tooManyKeys,
    }, b64(msg))
  }

  const oversize = '0123456789'.repeat(1740)
  const msg = await encrypt(rsaKeyring(rsa.k2048), oversize)
  add('negative', {
    name: 'oversize-message',
    description: `Valid Connect-keyring message of ${msg.length} bytes, over the default limit of ${service.max_ciphertext_bytes} decoded bytes`,
    scheme: 'connect',
    key_id: rsa.k2048.key_id,
    ...describeMessage(msg),
    error: E.tooLarge,
  }, b64(msg))
}

// ---------------------------------------------------------------------------
// Inputs that are not standard base64, not ESDK messages, or not there at all.

async function encodingVectors(connectBases) {
  const baseName = 'connect-2048-pan16'
  let base = connectBases[baseName]
  // Some vectors need a '+' or '/' and '=' padding in the base64 text; the
  // ciphertext is random, so encrypt again until one has them.
  for (let i = 0; !/[+/].*=$/.test(b64(base)); i++) {
    if (i === 50) throw new Error('no base64 text with + or / and padding after 50 tries')
    base = await encrypt(rsaKeyring(rsa.k2048), PAN)
  }
  const text = b64(base)
  const meta = { scheme: 'connect', key_id: rsa.k2048.key_id, ...describeMessage(base) }

  add('negative', {
    name: 'base64-url-alphabet',
    description: "Connect DTMF message in the URL-safe base64 alphabet ('-' and '_' instead of '+' and '/')",
    ...meta,
    error: E.malformed,
  }, text.replaceAll('+', '-').replaceAll('/', '_'))
  add('negative', {
    name: 'base64-stray-character',
    description: "Connect DTMF message with a '*' inserted in the base64 text",
    ...meta,
    error: E.malformed,
  }, text.slice(0, 40) + '*' + text.slice(40))
  add('negative', {
    name: 'base64-inner-space',
    description: 'Connect DTMF message with a space inside the base64 text',
    ...meta,
    error: E.malformed,
  }, text.slice(0, 40) + ' ' + text.slice(40))
  add('negative', {
    name: 'base64-no-padding',
    description: "Connect DTMF message in base64 without its '=' padding",
    ...meta,
    error: E.malformed,
  }, text.replace(/=+$/, ''))
  add('negative', {
    name: 'base64-line-wrapped',
    description: 'Connect DTMF message in MIME-style base64 wrapped at 76 characters',
    ...meta,
    error: E.malformed,
    plaintext: PAN,
    note: "Go's encoding/base64 skips CR and LF silently, so this decodes unless the service rejects inner line breaks. Standard base64 (RFC 4648) has no line breaks; if the service accepts them, the vector is positive.",
  }, text.match(/.{1,76}/g).join('\n'))
  add('negative', {
    name: 'plain-pan',
    description: 'A bare 16-digit PAN instead of a ciphertext; it is valid base64 and decodes to 12 bytes that are no ESDK message',
    scheme: 'none',
    error: E.malformed,
  }, PAN)
  add('negative', {
    name: 'empty',
    description: 'Empty input',
    scheme: 'none',
    error: E.malformed,
  }, '')
  add('negative', {
    name: 'whitespace-only',
    description: 'Input of spaces and a newline only',
    scheme: 'none',
    error: E.malformed,
  }, '  \n')
  add('negative', {
    name: 'random-512-bytes',
    description: '512 bytes from a seeded PRNG (xorshift32, seed 20260501), base64-encoded',
    scheme: 'none',
    error: E.malformed,
  }, b64(seededBytes(20260501, 512)))
  add('negative', {
    name: 'random-header-prefix',
    description: 'The first 64 bytes of a real Connect message followed by 448 seeded PRNG bytes',
    scheme: 'connect',
    key_id: rsa.k2048.key_id,
    error: E.malformed,
  }, b64(Buffer.concat([base.subarray(0, 64), seededBytes(7, 448)])))

  // 1 MiB of random bytes is made at test time rather than committed: the
  // 32 ASCII bytes of seed are the key of Go's math/rand/v2 ChaCha8.
  const seed = 'connect-secure-input-1MiB-vector'
  add('negative', {
    name: 'random-1mib-base64',
    description: '1 MiB of seeded random bytes, base64-encoded (about 1.33 MiB of text)',
    scheme: 'none',
    error: E.tooLarge,
    generate: { kind: 'random', bytes: 1 << 20, seed, encoding: 'base64' },
  })
  add('negative', {
    name: 'random-1mib-raw',
    description: '1 MiB of seeded random bytes as they are, not base64',
    scheme: 'none',
    error: E.tooLarge,
    note: 'Expects the service to bound the input length before decoding; a service that decodes first reports ciphertext_malformed.',
    generate: { kind: 'random', bytes: 1 << 20, seed, encoding: 'raw' },
  })
}

// ---------------------------------------------------------------------------

async function main() {
  for (const dir of outputDirs) {
    rmSync(join(vectorsDir, dir), { recursive: true, force: true })
    mkdirSync(join(vectorsDir, dir), { recursive: true })
  }

  const connectBases = await connectVectors()
  await suiteVectors()
  const kmsBases = await kmsVectors()
  mutationVectors(connectBases, kmsBases)
  await keyVectors()
  await encodingVectors(connectBases)

  const manifest = {
    about: 'TEST ONLY interoperability vectors made by gen.mjs with the official JavaScript AWS Encryption SDK. Regenerate with generate.sh. A vector without error decrypts to plaintext; a vector with error must fail with that code under the service configuration below. plaintext on a vector with error means the ESDK itself decrypts the message and only the service policy rejects it.',
    generator: {
      esdk: '@aws-crypto/client-node',
      esdk_version: esdkVersion,
      node_version: process.version,
    },
    service,
    connect_keys: connectKeys.map((k) => ({
      key_id: k.key_id,
      bits: k.bits,
      private_key: `testdata/keys/${k.private_key}`,
      ...(k.private_key_pkcs1 && { private_key_pkcs1: `testdata/keys/${k.private_key_pkcs1}` }),
      public_key: `testdata/keys/${k.public_key}`,
      configured: k.configured,
    })),
    kms: {
      account_id: kmsInfo.account_id,
      region: kmsInfo.region,
      replica_region: kmsInfo.replica_region,
      keys: kmsKeys,
      configured_key_arns: [kmsKeys.payment, kmsKeys.multi_region_replica],
    },
    vectors,
  }
  writeFileSync(join(vectorsDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  const negatives = vectors.filter((v) => v.error).length
  console.log(`wrote ${vectors.length} vectors (${vectors.length - negatives} positive, ${negatives} negative) with @aws-crypto/client-node ${esdkVersion}`)
}

await main()
