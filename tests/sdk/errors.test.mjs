// Error envelope, status → SDK exception mapping and exact error texts (API.md §1, §5).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import {
  makeClient,
  exchanges,
  fakeId,
  rawFetch,
  expectError,
  assertAllExchangesJson,
  BAD_PURPOSE_MESSAGE,
} from './helpers.mjs';

const client = makeClient();
const T = { timeout: 60_000 };

test('unknown file id → NotFoundError 404, param id, exact text (retrieve, content, delete)', T, async () => {
  const id = fakeId('file-');
  const want = { status: 404, param: 'id', code: null, message: `No such File object: ${id}` };
  const e = await expectError(client.files.retrieve(id), OpenAI.NotFoundError, want);
  assert.equal(e.message, `404 No such File object: ${id}`);
  await expectError(client.files.content(id), OpenAI.NotFoundError, want);
  await expectError(client.files.delete(id), OpenAI.NotFoundError, want);
});

test('ids are URL-decoded and treated as text: a path-like id is just unknown', T, async () => {
  for (const id of ['../../etc/passwd', 'file-abc def', 'file-%2e%2e', 'file-ü']) {
    await expectError(client.files.retrieve(id), OpenAI.NotFoundError, {
      status: 404,
      param: 'id',
      message: `No such File object: ${id}`,
    });
  }
});

test('unknown upload → NotFoundError 404, param upload_id (parts, complete, cancel, get)', T, async () => {
  const id = fakeId('upload_');
  const want = { status: 404, param: 'upload_id', message: `No such Upload object: ${id}` };
  await expectError(client.uploads.parts.create(id, { data: await toFile(Buffer.from('x'), 'p') }), OpenAI.NotFoundError, want);
  await expectError(client.uploads.complete(id, { part_ids: [] }), OpenAI.NotFoundError, want);
  await expectError(client.uploads.cancel(id), OpenAI.NotFoundError, want);
  await expectError(client.get(`/uploads/${id}`), OpenAI.NotFoundError, want);
});

test('files.create with a bad purpose → 400 param purpose, exact text', T, async () => {
  await expectError(client.files.create({ file: await toFile(Buffer.from('x'), 'a.txt'), purpose: 'nope' }), OpenAI.BadRequestError, {
    status: 400,
    param: 'purpose',
    message: "'nope' is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - 'purpose'",
  });
  assert.equal(BAD_PURPOSE_MESSAGE('nope'), "'nope' is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - 'purpose'");
  // produced-only purposes cannot be used on create
  await expectError(
    client.files.create({ file: await toFile(Buffer.from('x'), 'a.txt'), purpose: 'batch_output' }),
    OpenAI.BadRequestError,
    { status: 400, param: 'purpose', message: BAD_PURPOSE_MESSAGE('batch_output') },
  );
});

test('files.create with a missing field → 400 "\'<field>\' is a required property"', T, async () => {
  await expectError(client.files.create({ file: await toFile(Buffer.from('x'), 'a.txt') }), OpenAI.BadRequestError, {
    status: 400,
    param: 'purpose',
    message: "'purpose' is a required property",
  });
  await expectError(client.files.create({ purpose: 'assistants' }), OpenAI.BadRequestError, {
    status: 400,
    param: 'file',
    message: "'file' is a required property",
  });
});

test('fine-tune / batch files must be .jsonl → 400 param file, exact texts; nothing stored', T, async () => {
  const count = async (purpose) => {
    let n = 0;
    for await (const _ of client.files.list({ purpose })) n++;
    return n;
  };
  const ft0 = await count('fine-tune');
  const b0 = await count('batch');
  await expectError(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'train.txt'), purpose: 'fine-tune' }), OpenAI.BadRequestError, {
    status: 400,
    param: 'file',
    message: 'Invalid file format for Fine-Tuning API. Must be .jsonl',
  });
  await expectError(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'batch.csv'), purpose: 'batch' }), OpenAI.BadRequestError, {
    status: 400,
    param: 'file',
    message: 'Invalid file format for Batch API. Must be .jsonl',
  });
  assert.equal(await count('fine-tune'), ft0);
  assert.equal(await count('batch'), b0);
});

test('expires_after out of range or incomplete → 400', T, async () => {
  for (const expires_after of [
    { anchor: 'created_at', seconds: 3599 },
    { anchor: 'created_at', seconds: 2592001 },
    { anchor: 'created_at' },
    { seconds: 3600 },
    { anchor: 'last_active_at', seconds: 3600 },
  ]) {
    await expectError(
      client.files.create({ file: await toFile(Buffer.from('x'), 'e.txt'), purpose: 'assistants', expires_after }),
      OpenAI.BadRequestError,
      { status: 400 },
    );
  }
});

test('errors expose requestID (x-request-id), and every request gets its own', T, async () => {
  const id = fakeId('file-');
  const e1 = await expectError(client.files.retrieve(id), OpenAI.NotFoundError);
  const e2 = await expectError(client.files.retrieve(id), OpenAI.NotFoundError);
  assert.ok(e1.requestID && e2.requestID);
  assert.notEqual(e1.requestID, e2.requestID);
  assert.equal(e1.headers.get('x-request-id'), e1.requestID);
});

test('unknown route → NotFoundError "Invalid URL (METHOD /v1/...)"', T, async () => {
  await expectError(client.get('/nope'), OpenAI.NotFoundError, { status: 404, message: 'Invalid URL (GET /v1/nope)' });
  await expectError(client.post('/nope/deeper', { body: {} }), OpenAI.NotFoundError, {
    status: 404,
    message: 'Invalid URL (POST /v1/nope/deeper)',
  });
  await expectError(client.delete('/uploads'), OpenAI.NotFoundError, { status: 404, message: 'Invalid URL (DELETE /v1/uploads)' });
});

test('4xx state errors are not retried by a default client (maxRetries 2)', T, async () => {
  const retrying = makeClient({ maxRetries: 2 });
  const n = exchanges.length;
  const t0 = Date.now();
  await expectError(retrying.files.retrieve(fakeId('file-')), OpenAI.NotFoundError);
  await expectError(retrying.files.create({ file: await toFile(Buffer.from('x'), 'a.txt'), purpose: 'nope' }), OpenAI.BadRequestError);
  const u = await retrying.uploads.create({ bytes: 2, filename: 'r.txt', mime_type: 'text/plain', purpose: 'assistants' });
  const p = await retrying.uploads.parts.create(u.id, { data: await toFile(Buffer.from('ab'), 'p') });
  await expectError(retrying.uploads.complete(u.id, { part_ids: [p.id], md5: '0'.repeat(32) }), OpenAI.BadRequestError, { param: 'md5' });
  await retrying.uploads.complete(u.id, { part_ids: [p.id] });
  await expectError(retrying.uploads.cancel(u.id), OpenAI.BadRequestError);
  assert.equal(exchanges.length - n, 7, 'each call was sent exactly once');
  assert.ok(Date.now() - t0 < 5000, 'no retry backoff happened');
});

test('malformed request bodies → 400 JSON error envelopes (raw HTTP)', T, async () => {
  const auth = { Authorization: 'Bearer sk-test' };
  const cases = [
    ['/v1/uploads', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '{"bytes": 1,' }],
    ['/v1/uploads', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '[]' }],
    ['/v1/files', { method: 'POST', headers: { ...auth, 'Content-Type': 'multipart/form-data; boundary=xyz' }, body: '--xyz\r\ngarbage' }],
    ['/v1/files', { method: 'POST', headers: { ...auth, 'Content-Type': 'multipart/form-data' }, body: 'no boundary' }],
  ];
  for (const [p, init] of cases) {
    const r = await rawFetch(p, init);
    assert.equal(r.status, 400, `${p} ${init.body}: ${r.status} ${r.text}`);
    assert.equal(r.headers.get('content-type')?.split(';')[0], 'application/json');
    assert.ok(r.headers.get('x-request-id'));
    assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.ok(r.json.error.message.length > 0);
  }
});

test('cancel accepts Python\'s "Content-Type: application/json" with an empty body (raw HTTP)', T, async () => {
  const u = await client.uploads.create({ bytes: 1, filename: 'c.txt', mime_type: 'text/plain', purpose: 'assistants' });
  const r = await rawFetch(`/v1/uploads/${u.id}/cancel`, {
    method: 'POST',
    headers: { Authorization: 'Bearer sk-test', 'Content-Type': 'application/json', 'Content-Length': '0' },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'cancelled');
});

test('SDK/extra headers are tolerated (organization, project, Accept: application/binary)', T, async () => {
  const c = makeClient({ organization: 'org-123', project: 'proj_abc' });
  const f = await c.files.create({ file: await toFile(Buffer.from('h'), 'h.txt'), purpose: 'assistants' });
  assert.equal((await c.files.retrieve(f.id)).id, f.id);
  const res = await c.files.content(f.id); // sends Accept: application/binary
  assert.equal(Buffer.from(await res.arrayBuffer()).toString(), 'h');
});

test('every response the SDK saw was JSON (downloads excepted) with an x-request-id', () => {
  assertAllExchangesJson();
});
