// Measures the official JavaScript ESDK (@aws-crypto/client-node, pinned in
// package.json) decrypting the committed Connect DTMF vectors, so that the Go
// service can be compared with what a Node.js Lambda would deploy.
//
// One Node process decrypts one message at a time (each decrypt is awaited
// before the next starts). The keyring and client are built once, as a Lambda
// would keep them between invocations. Every round is a timed loop of at least
// --round-ms milliseconds after a warm-up, and the output is one JSON object
// on stdout with each round and the median over rounds.
//
//   node bench.mjs --rounds 5 --round-ms 1000 --warmup-ms 2000 \
//     --vector connect-2048-pan16 --vector connect-4096-pan16

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { CommitmentPolicy, RawRsaKeyringNode, buildClient } from '@aws-crypto/client-node'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const manifestPath = join(root, 'testdata/vectors/manifest.json')

const require = createRequire(import.meta.url)
const esdkVersion = require('@aws-crypto/client-node/package.json').version

// Connect messages use suite 0x0378, which is not key-committing, so they
// decrypt only under REQUIRE_ENCRYPT_ALLOW_DECRYPT.
const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)

const { values: options } = parseArgs({
  options: {
    vector: { type: 'string', multiple: true, default: ['connect-2048-pan16', 'connect-4096-pan16'] },
    rounds: { type: 'string', default: '5' },
    'round-ms': { type: 'string', default: '1000' },
    'warmup-ms': { type: 'string', default: '2000' },
  },
})
const rounds = positiveInteger('rounds', options.rounds)
const roundMs = positiveInteger('round-ms', options['round-ms'])
const warmupMs = positiveInteger('warmup-ms', options['warmup-ms'])

function positiveInteger(name, text) {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`)
  }
  return n
}

const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))

// Builds the decrypt case of one named vector: its base64 text, a raw RSA
// keyring with the private key of its Key ID, and the expected plaintext.
function loadCase(name) {
  const vector = manifest.vectors.find((v) => v.name === name)
  if (!vector) {
    throw new Error(`vector ${JSON.stringify(name)} is not in ${manifestPath}`)
  }
  if (vector.scheme !== 'connect' || vector.error !== undefined) {
    throw new Error(`vector ${JSON.stringify(name)} is not a positive Connect vector`)
  }
  const key = manifest.connect_keys.find((k) => k.key_id === vector.key_id)
  if (!key) {
    throw new Error(`vector ${JSON.stringify(name)} names Key ID ${vector.key_id}, which the manifest does not list`)
  }
  const keyring = new RawRsaKeyringNode({
    keyNamespace: 'AmazonConnect',
    keyName: key.key_id,
    rsaKey: { privateKey: readFileSync(join(root, key.private_key), 'utf8') },
    oaepHash: 'sha512',
  })
  const text = readFileSync(join(root, 'testdata/vectors', vector.file), 'utf8')
  return { name, bits: key.bits, keyring, text, expected: Buffer.from(vector.plaintext, 'utf8') }
}

async function decryptOnce(c) {
  const { plaintext } = await decrypt(c.keyring, c.text, { encoding: 'base64' })
  const ok = plaintext.equals(c.expected)
  plaintext.fill(0)
  if (!ok) {
    throw new Error(`vector ${c.name} decrypted to an unexpected plaintext`)
  }
}

// Decrypts in a loop for at least ms milliseconds and returns the count, the
// wall time and the process CPU time (user + system, all threads).
async function timedLoop(c, ms) {
  const cpuStart = process.cpuUsage()
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(ms) * 1_000_000n
  let ops = 0
  let now = start
  while (now < deadline) {
    await decryptOnce(c)
    ops++
    now = process.hrtime.bigint()
  }
  const cpu = process.cpuUsage(cpuStart)
  return {
    ops,
    seconds: Number(now - start) / 1e9,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

async function benchCase(c) {
  await timedLoop(c, warmupMs)
  const results = []
  for (let i = 0; i < rounds; i++) {
    const r = await timedLoop(c, roundMs)
    results.push({
      ...r,
      ops_per_sec: r.ops / r.seconds,
      mean_ms: (r.seconds * 1e3) / r.ops,
      ops_per_cpu_sec: r.ops / r.cpu_seconds,
    })
  }
  return {
    vector: c.name,
    bits: c.bits,
    median_ops_per_sec: median(results.map((r) => r.ops_per_sec)),
    median_mean_ms: median(results.map((r) => r.mean_ms)),
    median_ops_per_cpu_sec: median(results.map((r) => r.ops_per_cpu_sec)),
    rounds: results,
  }
}

const cases = options.vector.map(loadCase)
const results = []
for (const c of cases) {
  results.push(await benchCase(c))
}

process.stdout.write(
  JSON.stringify(
    {
      esdk: '@aws-crypto/client-node',
      esdk_version: esdkVersion,
      node_version: process.version,
      commitment_policy: 'REQUIRE_ENCRYPT_ALLOW_DECRYPT',
      warmup_ms: warmupMs,
      round_ms: roundMs,
      results,
    },
    null,
    2,
  ) + '\n',
)
