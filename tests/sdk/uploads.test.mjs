// Uploads API through the official openai 6.x Node SDK (API.md §2, §3 "/v1/uploads", §4).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import {
  makeClient,
  exchanges,
  randomBytes,
  md5hex,
  tempFile,
  bytesOf,
  uniq,
  fakeId,
  assertFile,
  assertUpload,
  assertPart,
  expectError,
  assertAllExchangesJson,
  mediaType,
  THIRTY_DAYS,
  BAD_PURPOSE_MESSAGE,
} from './helpers.mjs';

const client = makeClient();
const T = { timeout: 60_000 };

async function newUpload(bytes, extra = {}) {
  const body = { bytes, filename: uniq('up') + '.jsonl', mime_type: 'text/jsonl', purpose: 'fine-tune', ...extra };
  const u = await client.uploads.create(body);
  assertUpload(u, { bytes, filename: body.filename, purpose: body.purpose, status: 'pending' });
  return u;
}

const addPart = async (uploadId, buf, name = 'part') =>
  client.uploads.parts.create(uploadId, { data: await toFile(buf, name) });

const getUpload = (id) => client.get(`/uploads/${id}`); // extension: GET /v1/uploads/{id}

test('uploads.create returns a pending Upload expiring in 1 h', T, async () => {
  const u = await client.uploads.create({ bytes: 1234, filename: 'train.jsonl', mime_type: 'text/jsonl', purpose: 'fine-tune' });
  assertUpload(u, { bytes: 1234, filename: 'train.jsonl', purpose: 'fine-tune', status: 'pending' });
  assert.equal(u.file, null);
  assert.equal(u.expires_at, u.created_at + 3600);
  assert.ok(u._request_id);
  const g = await getUpload(u.id);
  assert.deepEqual(g, u);
});

test('mime_type need not be type/subtype (OpenAI examples send "txt", "pdf")', T, async () => {
  for (const mime_type of ['txt', 'pdf']) {
    const u = await client.uploads.create({ bytes: 1, filename: `x.${mime_type}`, mime_type, purpose: 'assistants' });
    assert.equal(u.status, 'pending');
  }
});

test('3 parts in parallel, completed in another order with md5: exact file, idempotent complete', T, async () => {
  const bufs = [randomBytes(100_000), randomBytes(250_001), randomBytes(7)];
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const u = await newUpload(total);

  const parts = await Promise.all(bufs.map((b) => addPart(u.id, b)));
  parts.forEach((p) => assertPart(p, u.id));
  assert.equal(new Set(parts.map((p) => p.id)).size, 3);

  const order = [2, 0, 1];
  const expected = Buffer.concat(order.map((i) => bufs[i]));
  const part_ids = order.map((i) => parts[i].id);
  const done = await client.uploads.complete(u.id, { part_ids, md5: md5hex(expected) });
  assertUpload(done, { bytes: total, filename: u.filename, purpose: 'fine-tune', status: 'completed' });
  assert.equal(done.id, u.id);
  assert.equal(done.created_at, u.created_at);
  assertFile(done.file, { bytes: total, filename: u.filename, purpose: 'fine-tune' });

  // the produced File is a regular file
  assert.deepEqual(await client.files.retrieve(done.file.id), done.file);
  const res = await client.files.content(done.file.id);
  assert.equal(mediaType(res.headers.get('content-type')), 'text/jsonl');
  assert.deepEqual(await bytesOf(res), expected);

  // idempotent repeat
  const again = await client.uploads.complete(u.id, { part_ids, md5: md5hex(expected) });
  assert.equal(again.status, 'completed');
  assert.equal(again.file.id, done.file.id);
  assert.deepEqual(again, done);
  const again2 = await client.uploads.complete(u.id, { part_ids }); // md5 is optional
  assert.equal(again2.file.id, done.file.id);

  // a different order after completion is refused (400, not 409: the SDK would retry a 409)
  await expectError(
    client.uploads.complete(u.id, { part_ids: [parts[0].id, parts[1].id, parts[2].id] }),
    OpenAI.BadRequestError,
    { status: 400 },
  );
  assert.equal((await getUpload(u.id)).file.id, done.file.id);

  // GET extension shows the completed upload with its file
  const g = await getUpload(u.id);
  assert.equal(g.status, 'completed');
  assert.deepEqual(g.file, done.file);
});

test('parts sent as fs.createReadStream (chunked multipart) are accepted', T, async () => {
  const a = randomBytes(1024 * 1024 + 3);
  const b = randomBytes(77);
  const u = await newUpload(a.length + b.length, { purpose: 'assistants', filename: 'streamed.bin', mime_type: 'application/octet-stream' });
  const n = exchanges.length;
  const [pa, pb] = await Promise.all([
    client.uploads.parts.create(u.id, { data: fs.createReadStream(tempFile('a.bin', a)) }),
    client.uploads.parts.create(u.id, { data: fs.createReadStream(tempFile('b.bin', b)) }),
  ]);
  assertPart(pa, u.id);
  assertPart(pb, u.id);
  assert.ok(exchanges.slice(n).every((x) => x.streamingBody), 'expected streamed request bodies');
  const done = await client.uploads.complete(u.id, { part_ids: [pa.id, pb.id], md5: md5hex(a, b) });
  assertFile(done.file, { bytes: a.length + b.length, filename: 'streamed.bin', purpose: 'assistants' });
  assert.deepEqual(await bytesOf(await client.files.content(done.file.id)), Buffer.concat([a, b]));
});

test('wrong md5 → 400 param md5, upload stays pending and can then be completed', T, async () => {
  const bufs = [randomBytes(3000), randomBytes(4000)];
  const u = await newUpload(7000);
  const parts = await Promise.all(bufs.map((b) => addPart(u.id, b)));
  const part_ids = parts.map((p) => p.id);
  await expectError(client.uploads.complete(u.id, { part_ids, md5: md5hex(Buffer.from('something else')) }), OpenAI.BadRequestError, {
    status: 400,
    param: 'md5',
    message: 'The md5 checksum of the uploaded bytes does not match',
  });
  const g = await getUpload(u.id);
  assert.equal(g.status, 'pending');
  assert.equal(g.file, null);
  // md5 in upper case is fine
  const done = await client.uploads.complete(u.id, { part_ids, md5: md5hex(...bufs).toUpperCase() });
  assert.equal(done.status, 'completed');
  assert.equal(done.file.bytes, 7000);
  assert.deepEqual(await bytesOf(await client.files.content(done.file.id)), Buffer.concat(bufs));
});

test('bytes mismatch → 400 param part_ids with exact text; fix and complete', T, async () => {
  const u = await newUpload(10);
  const p1 = await addPart(u.id, Buffer.from('abcdef'));
  await expectError(client.uploads.complete(u.id, { part_ids: [p1.id] }), OpenAI.BadRequestError, {
    status: 400,
    param: 'part_ids',
    message: 'The number of bytes uploaded (6) does not match the expected number of bytes (10)',
  });
  assert.equal((await getUpload(u.id)).status, 'pending');
  const p2 = await addPart(u.id, Buffer.from('ghij'));
  // listing only the second part: 4 bytes
  await expectError(client.uploads.complete(u.id, { part_ids: [p2.id] }), OpenAI.BadRequestError, {
    status: 400,
    param: 'part_ids',
    message: 'The number of bytes uploaded (4) does not match the expected number of bytes (10)',
  });
  const done = await client.uploads.complete(u.id, { part_ids: [p2.id, p1.id] });
  assert.equal(done.status, 'completed');
  assert.equal((await bytesOf(await client.files.content(done.file.id))).toString(), 'ghijabcdef');
});

test('part ids: duplicates, unknown and foreign parts → 400, upload stays pending', T, async () => {
  const u = await newUpload(8);
  const other = await newUpload(4);
  const p1 = await addPart(u.id, Buffer.from('1234'));
  const p2 = await addPart(u.id, Buffer.from('5678'));
  const foreign = await addPart(other.id, Buffer.from('wxyz'));

  await expectError(client.uploads.complete(u.id, { part_ids: [p1.id, p1.id] }), OpenAI.BadRequestError, { status: 400 });

  const unknown = fakeId('part_');
  await expectError(client.uploads.complete(u.id, { part_ids: [p1.id, unknown] }), OpenAI.BadRequestError, {
    status: 400,
    param: 'part_ids',
    message: `Part ${unknown} does not belong to upload ${u.id}`,
  });
  await expectError(client.uploads.complete(u.id, { part_ids: [p1.id, foreign.id] }), OpenAI.BadRequestError, {
    status: 400,
    param: 'part_ids',
    message: `Part ${foreign.id} does not belong to upload ${u.id}`,
  });
  assert.equal((await getUpload(u.id)).status, 'pending');
  assert.equal((await getUpload(other.id)).status, 'pending');

  const done = await client.uploads.complete(u.id, { part_ids: [p1.id, p2.id] });
  assert.equal((await bytesOf(await client.files.content(done.file.id))).toString(), '12345678');
  const done2 = await client.uploads.complete(other.id, { part_ids: [foreign.id] });
  assert.equal((await bytesOf(await client.files.content(done2.file.id))).toString(), 'wxyz');
});

test('parts past twice the declared bytes → 400 param data, nothing counted', T, async () => {
  const u = await newUpload(10);  // parts may total 20 bytes
  await expectError(addPart(u.id, randomBytes(21)), OpenAI.BadRequestError, { status: 400, param: 'data' });
  const p1 = await addPart(u.id, Buffer.from('012345'));
  await expectError(addPart(u.id, Buffer.from('6789X'.repeat(3))), OpenAI.BadRequestError, { status: 400, param: 'data' });
  const p2 = await addPart(u.id, Buffer.from('6789'));
  const done = await client.uploads.complete(u.id, { part_ids: [p1.id, p2.id], md5: md5hex(Buffer.from('0123456789')) });
  assert.equal(done.file.bytes, 10);
});

test('a part sent again (its first answer lost) is accepted; the unlisted copy is discarded', T, async () => {
  const u = await newUpload(4);
  const a = await addPart(u.id, Buffer.from('ab'));
  const lost = await addPart(u.id, Buffer.from('cd'));
  const again = await addPart(u.id, Buffer.from('cd'));
  assert.notEqual(lost.id, again.id);
  const done = await client.uploads.complete(u.id, { part_ids: [a.id, again.id] });
  assert.equal(done.file.bytes, 4);
  assert.equal((await bytesOf(await client.files.content(done.file.id))).toString(), 'abcd');
});

test("data not sent as a named file: raw Buffer and unnamed Blob → 400 'data' is a required property", T, async () => {
  const u = await newUpload(3);
  const want = { status: 400, param: 'data', message: "'data' is a required property" };
  // The SDK serialises a raw Buffer as text fields data[0]=97, data[1]=98, …
  await expectError(client.uploads.parts.create(u.id, { data: Buffer.from('abc') }), OpenAI.BadRequestError, want);
  // …and sends an empty form for a Blob without a name.
  await expectError(client.uploads.parts.create(u.id, { data: new Blob([Buffer.from('abc')]) }), OpenAI.BadRequestError, want);
  // nothing was stored: the whole 3 bytes still fit
  const p = await addPart(u.id, Buffer.from('abc'));
  const done = await client.uploads.complete(u.id, { part_ids: [p.id] });
  assert.equal(done.file.bytes, 3);
});

test('cancel → cancelled; cancel again → 200; no parts or complete afterwards', T, async () => {
  const u = await newUpload(6);
  const p = await addPart(u.id, Buffer.from('abc'));
  const c = await client.uploads.cancel(u.id);
  assertUpload(c, { bytes: 6, filename: u.filename, purpose: 'fine-tune', status: 'cancelled' });
  assert.equal(c.file, null);
  const c2 = await client.uploads.cancel(u.id);
  assert.equal(c2.status, 'cancelled');
  assert.equal(c2.id, u.id);
  // API.md §3 says a part for a non-pending upload is refused with param `data`, while the §5
  // table gives param null for wrong-state errors; only status and text are checked here.
  await expectError(addPart(u.id, Buffer.from('def')), OpenAI.BadRequestError, {
    status: 400,
    message: `Upload ${u.id} has already been cancelled`,
  });
  await expectError(client.uploads.complete(u.id, { part_ids: [p.id] }), OpenAI.BadRequestError, {
    status: 400,
    message: `Upload ${u.id} has already been cancelled`,
  });
  assert.equal((await getUpload(u.id)).status, 'cancelled');
});

test('cancel of a completed upload → 400 "has already been completed"', T, async () => {
  const u = await newUpload(2);
  const p = await addPart(u.id, Buffer.from('ok'));
  const done = await client.uploads.complete(u.id, { part_ids: [p.id] });
  await expectError(client.uploads.cancel(u.id), OpenAI.BadRequestError, {
    status: 400,
    param: null,
    message: `Upload ${u.id} has already been completed`,
  });
  await expectError(addPart(u.id, Buffer.from('x')), OpenAI.BadRequestError, {
    status: 400,
    message: `Upload ${u.id} has already been completed`,
  });
  const g = await getUpload(u.id);
  assert.equal(g.status, 'completed');
  assert.equal(g.file.id, done.file.id);
});

test('0-byte upload: bytes 0 and part_ids [] → completed empty File', T, async () => {
  const u = await newUpload(0);
  const done = await client.uploads.complete(u.id, { part_ids: [] });
  assertUpload(done, { bytes: 0, filename: u.filename, purpose: 'fine-tune', status: 'completed' });
  assertFile(done.file, { bytes: 0, filename: u.filename, purpose: 'fine-tune' });
  const res = await client.files.content(done.file.id);
  assert.equal((await bytesOf(res)).length, 0);
  // with the md5 of nothing, too
  const u2 = await newUpload(0);
  const done2 = await client.uploads.complete(u2.id, { part_ids: [], md5: 'd41d8cd98f00b204e9800998ecf8427e' });
  assert.equal(done2.file.bytes, 0);
});

test('expires_after on the upload applies to the produced File; batch files expire after 30 days', T, async () => {
  const u = await newUpload(2, { purpose: 'assistants', expires_after: { anchor: 'created_at', seconds: 7200 } });
  assert.equal(u.expires_at, u.created_at + 3600, 'the Upload itself always expires after 1 h');
  const p = await addPart(u.id, Buffer.from('hi'));
  const done = await client.uploads.complete(u.id, { part_ids: [p.id] });
  assert.equal(done.file.expires_at, done.file.created_at + 7200);

  const b = await newUpload(3, { purpose: 'batch' });
  const pb = await addPart(b.id, Buffer.from('{}\n'));
  const doneB = await client.uploads.complete(b.id, { part_ids: [pb.id] });
  assertFile(doneB.file, { bytes: 3, filename: b.filename, purpose: 'batch', expiresAt: (c) => c + THIRTY_DAYS });
});

test('concurrent completes of one upload create exactly one File', T, async () => {
  const buf = randomBytes(5000);
  const u = await newUpload(buf.length, { purpose: 'user_data' });
  const p = await addPart(u.id, buf);
  const results = await Promise.allSettled([1, 2, 3, 4].map(() => client.uploads.complete(u.id, { part_ids: [p.id] })));
  const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  assert.ok(ok.length >= 1);
  for (const r of results.filter((r) => r.status === 'rejected')) {
    assert.ok(r.reason instanceof OpenAI.BadRequestError, `unexpected ${r.reason}`);
  }
  assert.equal(new Set(ok.map((x) => x.file.id)).size, 1);
  const named = [];
  for await (const f of client.files.list({ purpose: 'user_data' })) if (f.filename === u.filename) named.push(f.id);
  assert.deepEqual(named, [ok[0].file.id]);
});

test('uploads.create validation: bad purpose, missing filename, too many bytes', T, async () => {
  await expectError(
    client.uploads.create({ bytes: 1, filename: 'a.txt', mime_type: 'text/plain', purpose: 'nope' }),
    OpenAI.BadRequestError,
    { status: 400, param: 'purpose', message: BAD_PURPOSE_MESSAGE('nope') },
  );
  await expectError(client.uploads.create({ bytes: 1, mime_type: 'text/plain', purpose: 'assistants' }), OpenAI.BadRequestError, {
    status: 400,
    param: 'filename',
    message: "'filename' is a required property",
  });
  // 8 GiB is the limit: exactly 8 GiB is fine, one byte more is not (413 or 400 per API.md §5)
  const max = await client.uploads.create({ bytes: 8 * 1024 ** 3, filename: 'big.bin', mime_type: 'application/octet-stream', purpose: 'assistants' });
  assert.equal(max.bytes, 8589934592);
  await client.uploads.cancel(max.id);
  const err = await expectError(
    client.uploads.create({ bytes: 8 * 1024 ** 3 + 1, filename: 'big.bin', mime_type: 'application/octet-stream', purpose: 'assistants' }),
    OpenAI.APIError,
    { param: 'bytes' },
  );
  assert.ok([400, 413].includes(err.status), `status ${err.status}`);
});

test('extension: GET /v1/uploads/{id}/parts lists parts with bytes in arrival order', T, async () => {
  const u = await newUpload(9);
  const p1 = await addPart(u.id, Buffer.from('aaaa'));
  const p2 = await addPart(u.id, Buffer.from('bb'));
  const p3 = await addPart(u.id, Buffer.from('ccc'));
  const list = await client.get(`/uploads/${u.id}/parts`);
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((p) => p.id), [p1.id, p2.id, p3.id]);
  assert.deepEqual(list.data.map((p) => p.bytes), [4, 2, 3]);
  for (const p of list.data) assertPart(p, u.id);
  await client.uploads.cancel(u.id);
});

test('extension: Content-MD5 on a part is verified', T, async () => {
  const u = await newUpload(4);
  const good = Buffer.from('abcd');
  const b64 = (b) => crypto.createHash('md5').update(b).digest('base64');
  await expectError(
    client.uploads.parts.create(u.id, { data: await toFile(good, 'p') }, { headers: { 'Content-MD5': b64(Buffer.from('zzzz')) } }),
    OpenAI.BadRequestError,
    { status: 400 },
  );
  const p = await client.uploads.parts.create(u.id, { data: await toFile(good, 'p') }, { headers: { 'Content-MD5': b64(good) } });
  assertPart(p, u.id);
  const done = await client.uploads.complete(u.id, { part_ids: [p.id] });
  assert.equal(done.file.bytes, 4);
});

// openai-python has `client.uploads.upload_file(...)` (chunked helper). The Node SDK 6.x
// does not ship an equivalent (checked in node_modules/openai: no `uploadFile`), so this case
// runs only if a future 6.x adds it.
test('client.uploads.uploadFile helper (only if the installed SDK has it)', T, async (t) => {
  if (typeof client.uploads.uploadFile !== 'function') {
    t.skip('openai 6.x has no uploads.uploadFile helper');
    return;
  }
  const buf = randomBytes(200_000);
  const p = tempFile('helper.jsonl', buf);
  const up = await client.uploads.uploadFile({ file: p, mime_type: 'text/jsonl', purpose: 'fine-tune', bytes: buf.length });
  assert.equal(up.status, 'completed');
  assert.deepEqual(await bytesOf(await client.files.content(up.file.id)), buf);
  assert.equal(up.file.filename, path.basename(p));
});

test('every response the SDK saw was JSON (downloads excepted) with an x-request-id', () => {
  assertAllExchangesJson();
});
