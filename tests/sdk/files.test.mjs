// Files API through the official openai 6.x Node SDK (API.md §2, §3 "/v1/files").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import OpenAI, { toFile } from 'openai';
import * as openaiModule from 'openai';
import {
  makeClient,
  exchanges,
  randomBytes,
  tempFile,
  bytesOf,
  assertFile,
  expectError,
  assertAllExchangesJson,
  mediaType,
  isoNow,
  THIRTY_DAYS,
  CREATE_PURPOSES,
} from './helpers.mjs';

const client = makeClient();
const T = { timeout: 60_000 };

test('files.create from toFile(Buffer) returns a complete File object', T, async () => {
  const buf = Buffer.from('{"a":1}\n{"b":2}\n');
  const before = isoNow();
  const f = await client.files.create({ file: await toFile(buf, 'name.jsonl'), purpose: 'assistants' });
  const after = isoNow();
  assertFile(f, { bytes: buf.length, filename: 'name.jsonl', purpose: 'assistants' });
  assert.ok(f.created_at >= before - 1 && f.created_at <= after + 1, `created_at ${f.created_at} not in [${before}, ${after}]`);
  // the response carried an x-request-id, surfaced by the SDK as _request_id
  assert.equal(typeof f._request_id, 'string');
  assert.ok(f._request_id.length > 0);
  const back = await client.files.content(f.id);
  assert.deepEqual(await bytesOf(back), buf);
});

test('files.create from fs.createReadStream (chunked, a few MiB of random bytes)', T, async () => {
  const buf = randomBytes(3 * 1024 * 1024 + 12345);
  const p = tempFile('random.bin', buf);
  const n = exchanges.length;
  const f = await client.files.create({ file: fs.createReadStream(p), purpose: 'assistants' });
  assertFile(f, { bytes: buf.length, filename: path.basename(p), purpose: 'assistants' });
  // 6.x encodes a stream lazily as multipart: the body is a ReadableStream, sent chunked
  // with no Content-Length.
  const sent = exchanges.slice(n).find((x) => x.method === 'POST' && x.path === '/v1/files');
  assert.ok(sent, 'the create request was not recorded');
  assert.equal(sent.streamingBody, true, 'expected the SDK to stream the body');
  assert.equal(sent.requestHeaders.get('content-length'), null);
  assert.deepEqual(await bytesOf(await client.files.content(f.id)), buf);
});

test('files.create with toStreamingFile (6.x streaming helper) from a Readable', T, async (t) => {
  if (typeof openaiModule.toStreamingFile !== 'function') {
    t.skip('this openai version has no toStreamingFile');
    return;
  }
  const chunks = [randomBytes(70_000), randomBytes(1), randomBytes(200_000)];
  const f = await client.files.create({
    file: openaiModule.toStreamingFile(Readable.from(chunks), 'streamed.jsonl', { type: 'application/jsonl' }),
    purpose: 'user_data',
  });
  const all = Buffer.concat(chunks);
  assertFile(f, { bytes: all.length, filename: 'streamed.jsonl', purpose: 'user_data' });
  const res = await client.files.content(f.id);
  assert.equal(mediaType(res.headers.get('content-type')), 'application/jsonl');
  assert.deepEqual(await bytesOf(res), all);
});

test('files.create accepts fields in either order (purpose before file, as Python sends)', T, async () => {
  const buf = randomBytes(1000);
  const f = await client.files.create({ purpose: 'assistants', file: await toFile(buf, 'order.bin') });
  assertFile(f, { bytes: 1000, filename: 'order.bin', purpose: 'assistants' });
  assert.deepEqual(await bytesOf(await client.files.content(f.id)), buf);
});

test('every create purpose is accepted; batch expires after 30 days, others never', T, async () => {
  for (const purpose of CREATE_PURPOSES.filter((p) => p !== 'vision')) {
    const buf = Buffer.from(`{"purpose":"${purpose}"}\n`);
    const f = await client.files.create({ file: await toFile(buf, `p-${purpose}.jsonl`), purpose });
    assertFile(f, {
      bytes: buf.length,
      filename: `p-${purpose}.jsonl`,
      purpose,
      expiresAt: purpose === 'batch' ? (c) => c + THIRTY_DAYS : undefined,
    });
    assert.deepEqual(await client.files.retrieve(f.id), f);
  }
});

test('purpose batch: expires_at = created_at + 2592000', T, async () => {
  const buf = Buffer.from('{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{}}\n');
  const f = await client.files.create({ file: await toFile(buf, 'batch.jsonl'), purpose: 'batch' });
  assertFile(f, { bytes: buf.length, filename: 'batch.jsonl', purpose: 'batch', expiresAt: (c) => c + 2592000 });
});

test('expires_after {anchor: created_at, seconds: 3600} sets expires_at = created_at + 3600', T, async () => {
  const f = await client.files.create({
    file: await toFile(Buffer.from('x'), 'exp.txt'),
    purpose: 'assistants',
    expires_after: { anchor: 'created_at', seconds: 3600 },
  });
  assertFile(f, { bytes: 1, filename: 'exp.txt', purpose: 'assistants', expiresAt: (c) => c + 3600 });
  const r = await client.files.retrieve(f.id);
  assert.equal(r.expires_at, f.created_at + 3600);
});

test('expires_after overrides the batch default (seconds: 2592000 boundary)', T, async () => {
  const f = await client.files.create({
    file: await toFile(Buffer.from('{}\n'), 'b2.jsonl'),
    purpose: 'batch',
    expires_after: { anchor: 'created_at', seconds: 86400 },
  });
  assert.equal(f.expires_at, f.created_at + 86400);
  const g = await client.files.create({
    file: await toFile(Buffer.from('y'), 'max.txt'),
    purpose: 'user_data',
    expires_after: { anchor: 'created_at', seconds: 2592000 },
  });
  assert.equal(g.expires_at, g.created_at + 2592000);
});

test('files.retrieve returns the same File', T, async () => {
  const f = await client.files.create({ file: await toFile(randomBytes(10), 'r.bin'), purpose: 'assistants' });
  const r = await client.files.retrieve(f.id);
  assert.deepEqual(r, f);
  assert.ok(r._request_id);
});

test('files.content: exact bytes and download headers', T, async () => {
  const buf = randomBytes(65_537);
  const f = await client.files.create({ file: await toFile(buf, 'name.jsonl'), purpose: 'assistants' });
  const res = await client.files.content(f.id);
  assert.ok(res instanceof Response);
  assert.equal(res.status, 200);
  // toFile without a type: the multipart part says application/octet-stream
  assert.equal(mediaType(res.headers.get('content-type')), 'application/octet-stream');
  assert.equal(res.headers.get('content-length'), String(buf.length));
  assert.equal(res.headers.get('content-disposition'), `attachment; filename="name.jsonl"; filename*=UTF-8''name.jsonl`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(res.headers.get('x-request-id'));
  assert.deepEqual(await bytesOf(res), buf);
});

test('files.content: stored MIME type from the multipart part is served back', T, async () => {
  const buf = Buffer.from('hello\n');
  const f = await client.files.create({ file: await toFile(buf, 'notes.txt', { type: 'text/plain' }), purpose: 'assistants' });
  const res = await client.files.content(f.id);
  assert.equal(mediaType(res.headers.get('content-type')), 'text/plain');
  assert.deepEqual(await bytesOf(res), buf);
});

test('UTF-8 filename round-trips in the File and in Content-Disposition filename*', T, async () => {
  const name = 'données été 日本.txt';
  const buf = Buffer.from('utf8');
  const f = await client.files.create({ file: await toFile(buf, name), purpose: 'assistants' });
  assert.equal(f.filename, name);
  const res = await client.files.content(f.id);
  const cd = res.headers.get('content-disposition');
  assert.match(cd, /^attachment; filename="[^"]*"; filename\*=UTF-8''/);
  const star = /filename\*=UTF-8''([^;\s]+)/.exec(cd)[1];
  assert.equal(decodeURIComponent(star), name);
  assert.deepEqual(await bytesOf(res), buf);
});

test('files.delete, then the id is 404 everywhere', T, async () => {
  const f = await client.files.create({ file: await toFile(randomBytes(100), 'del.bin'), purpose: 'assistants' });
  const d = await client.files.delete(f.id);
  assert.deepEqual({ ...d }, { id: f.id, object: 'file', deleted: true });
  const want = { status: 404, param: 'id', message: `No such File object: ${f.id}` };
  await expectError(client.files.retrieve(f.id), OpenAI.NotFoundError, want);
  await expectError(client.files.content(f.id), OpenAI.NotFoundError, want);
  await expectError(client.files.delete(f.id), OpenAI.NotFoundError, want);
  // and it is gone from listings
  const ids = [];
  for await (const x of client.files.list({ purpose: 'assistants' })) ids.push(x.id);
  assert.ok(!ids.includes(f.id));
});

test('files.list: pages of 2, auto-pagination, keyset order desc/asc, after a deleted id', T, async () => {
  // The only 'vision' files of the whole run are created here.
  const created = [];
  for (let i = 0; i < 5; i++) {
    created.push(
      await client.files.create({ file: await toFile(randomBytes(10 + i), `img-${i}.png`), purpose: 'vision' }),
    );
  }
  // Keyset order: (created_at, id) descending. Creation order within one second is not
  // observable through created_at, so the expectation is derived from the returned objects.
  const desc = [...created].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const descIds = desc.map((f) => f.id);

  // First page
  const page1 = await client.files.list({ limit: 2, purpose: 'vision' });
  assert.equal(page1.data.length, 2);
  assert.equal(page1.has_more, true);
  assert.deepEqual(page1.data.map((f) => f.id), descIds.slice(0, 2));
  const raw1 = await client.get('/files', { query: { limit: 2, purpose: 'vision' } });
  assert.equal(raw1.object, 'list');
  assert.equal(raw1.first_id, descIds[0]);
  assert.equal(raw1.last_id, descIds[1]);
  assert.equal(raw1.has_more, true);
  for (const f of raw1.data) assert.deepEqual(f, created.find((c) => c.id === f.id));

  // Manual paging
  assert.ok(page1.hasNextPage());
  const page2 = await page1.getNextPage();
  assert.deepEqual(page2.data.map((f) => f.id), descIds.slice(2, 4));
  assert.equal(page2.has_more, true);
  const page3 = await page2.getNextPage();
  assert.deepEqual(page3.data.map((f) => f.id), descIds.slice(4));
  assert.equal(page3.has_more, false);
  assert.equal(page3.hasNextPage(), false);

  // Auto-pagination
  const seen = [];
  for await (const f of client.files.list({ limit: 2, purpose: 'vision' })) seen.push(f.id);
  assert.deepEqual(seen, descIds);

  // Ascending
  const asc = [];
  for await (const f of client.files.list({ limit: 2, purpose: 'vision', order: 'asc' })) asc.push(f.id);
  assert.deepEqual(asc, [...descIds].reverse());

  // Default limit returns all of them in one page
  const all = await client.files.list({ purpose: 'vision' });
  assert.deepEqual(all.data.map((f) => f.id), descIds);
  assert.equal(all.has_more, false);

  // `after` keeps working when the cursor file has been deleted since.
  await client.files.delete(descIds[1]);
  const afterDeleted = await client.files.list({ limit: 2, purpose: 'vision', after: descIds[1] });
  assert.deepEqual(afterDeleted.data.map((f) => f.id), descIds.slice(2, 4));
  const rest = [];
  for await (const f of client.files.list({ limit: 2, purpose: 'vision' })) rest.push(f.id);
  assert.deepEqual(rest, descIds.filter((id) => id !== descIds[1]));
});

test('files.list: unknown purpose filter gives an empty list with null first/last ids', T, async () => {
  const raw = await client.get('/files', { query: { purpose: 'no-such-purpose' } });
  assert.deepEqual({ ...raw }, { object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  const page = await client.files.list({ purpose: 'no-such-purpose' });
  assert.deepEqual(page.data, []);
});

test('files.list without filters includes a fresh file', T, async () => {
  const f = await client.files.create({ file: await toFile(randomBytes(5), 'any.bin'), purpose: 'user_data' });
  const page = await client.files.list();
  assert.ok(page.data.some((x) => x.id === f.id));
  // newest first: anything listed before it was created in the same second
  for (const x of page.data.slice(0, page.data.findIndex((x) => x.id === f.id))) {
    assert.equal(x.created_at, f.created_at);
  }
  for (let i = 1; i < page.data.length; i++) assert.ok(page.data[i - 1].created_at >= page.data[i].created_at);
});

test('files.waitForProcessing resolves at once with status processed', T, async () => {
  const f = await client.files.create({ file: await toFile(Buffer.from('{}\n'), 'w.jsonl'), purpose: 'fine-tune' });
  const t0 = Date.now();
  // Small pollInterval/maxWait only bound the damage if the status is wrong: the SDK's defaults
  // (poll every 5 s for 30 min) would keep this process alive long after the test timed out.
  // A conforming server answers `processed` on the first retrieve, so no poll happens at all.
  const done = await client.files.waitForProcessing(f.id, { pollInterval: 250, maxWait: 2500 });
  assert.ok(Date.now() - t0 < 3000, 'waitForProcessing polled: status was not terminal at once');
  assert.equal(done.status, 'processed');
  assert.equal(done.id, f.id);
});

test('every response the SDK saw was JSON (downloads excepted) with an x-request-id', () => {
  assertAllExchangesJson();
});
