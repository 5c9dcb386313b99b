// No node owns anything: three fileport nodes on one PostgreSQL database and one S3 bucket,
// driven by the official openai SDK. Started by tests/sdk/multinode/run.sh.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import test from 'node:test';
import OpenAI, { toFile } from 'openai';

const NODES = (process.env.FILEPORT_NODES ?? '').split(',').filter(Boolean);
const PIDS = (process.env.FILEPORT_NODE_PIDS ?? '').split(',').filter(Boolean).map(Number);
if (NODES.length !== 3) throw new Error('run through tests/sdk/multinode/run.sh');

const clients = NODES.map((origin) => new OpenAI({ baseURL: `${origin}/v1`, apiKey: 'sk-open', maxRetries: 0, timeout: 120_000 }));
const [A, B, C] = clients;
const MiB = 1 << 20;
const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');
const bytesOf = async (res) => Buffer.from(await res.arrayBuffer());
const addPart = async (client, uploadId, buf) => client.uploads.parts.create(uploadId, { data: await toFile(buf, 'part') });
const newUpload = (client, bytes) =>
  client.uploads.create({ bytes, filename: `mn-${crypto.randomBytes(4).toString('hex')}.bin`, mime_type: 'application/octet-stream', purpose: 'assistants' });

test('the parts of one upload go to all three nodes; complete on one, download from another', async () => {
  const parts = [0, 1, 2, 3, 4, 5].map(() => crypto.randomBytes(6 * MiB + 123));
  const whole = Buffer.concat(parts);
  const u = await newUpload(A, whole.length);
  // Parts in parallel, round-robin over the nodes.
  const ids = await Promise.all(parts.map((p, i) => addPart(clients[i % 3], u.id, p).then((r) => r.id)));
  const listed = await C.get(`/uploads/${u.id}/parts`);
  assert.deepEqual(new Set(listed.data.map((p) => p.id)), new Set(ids));
  const done = await B.uploads.complete(u.id, { part_ids: ids, md5: md5(whole) });
  assert.equal(done.status, 'completed');
  assert.equal(done.file.bytes, whole.length);
  for (const client of clients) {
    const got = await bytesOf(await client.files.content(done.file.id));
    assert.ok(got.equals(whole), 'downloaded bytes differ');
  }
  // A range that crosses part boundaries, from the third node.
  const res = await fetch(`${NODES[2]}/v1/files/${done.file.id}/content`, { headers: { Range: `bytes=${6 * MiB}-${13 * MiB}` } });
  assert.equal(res.status, 206);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(whole.subarray(6 * MiB, 13 * MiB + 1)));
  const seen = await A.files.retrieve(done.file.id);
  assert.equal(seen.bytes, whole.length);
});

test('two nodes completing the same upload at once make exactly one file', async () => {
  for (let round = 0; round < 5; round++) {
    const data = crypto.randomBytes(MiB);
    const u = await newUpload(C, data.length);
    const p = await addPart(A, u.id, data);
    const results = await Promise.allSettled([
      A.uploads.complete(u.id, { part_ids: [p.id] }),
      B.uploads.complete(u.id, { part_ids: [p.id] }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    assert.ok(ok.length >= 1, JSON.stringify(results.map((r) => r.reason?.message)));
    const fileIds = new Set(ok.map((v) => v.file.id));
    assert.equal(fileIds.size, 1, 'two files for one upload');
    const [fileId] = fileIds;
    const files = [];
    for await (const f of C.files.list({ purpose: 'assistants' })) files.push(f.id);
    assert.equal(files.filter((id) => id === fileId).length, 1);
    assert.ok((await bytesOf(await B.files.content(fileId))).equals(data));
  }
});

test('a cancel on one node racing parts on the others leaves a cancelled upload', async () => {
  const u = await newUpload(A, 8 * MiB);
  const sends = [0, 1, 2, 3].map((i) => addPart(clients[1 + (i % 2)], u.id, crypto.randomBytes(2 * MiB)).then(() => 'ok', (e) => e.status));
  const cancelled = await A.uploads.cancel(u.id);
  assert.equal(cancelled.status, 'cancelled');
  const outcomes = await Promise.all(sends);
  for (const o of outcomes) assert.ok(o === 'ok' || o === 400, `unexpected outcome ${o}`);
  // Whatever arrived, the upload stays cancelled everywhere and takes nothing more.
  for (const client of clients) {
    const got = await client.get(`/uploads/${u.id}`);
    assert.equal(got.status, 'cancelled');
  }
  await assert.rejects(addPart(C, u.id, Buffer.from('late')), (e) => e.status === 400);
  const parts = await B.get(`/uploads/${u.id}/parts`);
  assert.deepEqual(parts.data, []);
});

test('a node killed with SIGKILL mid-upload: the survivors carry on and nothing acknowledged is lost', async () => {
  const before = crypto.randomBytes(3 * MiB);
  const kept = await C.files.create({ file: await toFile(before, 'kept.bin'), purpose: 'assistants' });

  const parts = [0, 1, 2, 3].map(() => crypto.randomBytes(8 * MiB));
  const whole = Buffer.concat(parts);
  const u = await newUpload(A, whole.length);
  const first = await addPart(B, u.id, parts[0]);  // acknowledged by the node about to die
  // Part 1 is on its way to node B when it is killed.
  const doomed = addPart(B, u.id, parts[1]).then(() => 'stored', (e) => `failed: ${e.constructor.name}`);
  await new Promise((r) => setTimeout(r, 20));
  process.kill(PIDS[1], 'SIGKILL');
  const outcome = await doomed;
  // Whatever happened to it, the client sends part 1 again through a survivor.
  const second = await addPart(A, u.id, parts[1]);
  const rest = await Promise.all([addPart(C, u.id, parts[2]), addPart(A, u.id, parts[3])]);
  const done = await C.uploads.complete(u.id, { part_ids: [first.id, second.id, ...rest.map((p) => p.id)], md5: md5(whole) });
  assert.equal(done.status, 'completed', `part in flight: ${outcome}`);
  assert.ok((await bytesOf(await A.files.content(done.file.id))).equals(whole));
  assert.ok((await bytesOf(await A.files.content(kept.id))).equals(before));
  await assert.rejects(fetch(`${NODES[1]}/healthz`));
});

// Every object under the run's S3 prefix is accounted for in PostgreSQL (a file's segment, a
// part, or a garbage row the sweeper will act on), and every referenced blob exists: no node
// left an orphan behind, whatever raced or died above.
test('no orphan: every stored object is referenced or garbage, every reference is stored', async () => {
  const blobs = new URL(process.env.FILEPORT_MN_BLOBS.replace(/^s3:/, 'http:'));
  const bucket = blobs.hostname;
  const prefix = blobs.pathname.replace(/^\//, '') + '/';
  const endpoint = blobs.searchParams.get('endpoint');
  const region = blobs.searchParams.get('region') ?? 'us-east-1';
  const listing = execFileSync('curl', ['-sf', '--aws-sigv4', `aws:amz:${region}:s3`,
    '--user', `${process.env.AWS_ACCESS_KEY_ID}:${process.env.AWS_SECRET_ACCESS_KEY}`,
    '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD',
    `${endpoint}/${bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`]).toString();
  assert.ok(!listing.includes('<IsTruncated>true</IsTruncated>'), 'more than one listing page');
  const stored = new Set([...listing.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1].slice(prefix.length)));
  const sql = (q) => execFileSync('psql', [process.env.FILEPORT_MN_META, '-At', '-c', q]).toString().split('\n').filter(Boolean);
  const referenced = new Set([...sql('SELECT unnest(segment_keys) FROM files'), ...sql('SELECT blob_key FROM parts')]);
  const garbage = new Set(sql('SELECT blob_key FROM garbage'));
  assert.ok(stored.size > 0, 'nothing stored under the prefix');
  for (const key of stored) assert.ok(referenced.has(key) || garbage.has(key), `orphan object ${key}`);
  for (const key of referenced) assert.ok(stored.has(key), `referenced blob ${key} is missing`);
});
