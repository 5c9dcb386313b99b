// The tus anchor for bench/run: @tus/server with @tus/file-store writing to DIR, on 127.0.0.1,
// an ephemeral port. Prints "tus listening http://127.0.0.1:PORT/files/" once ready.
// Usage: node server.mjs DIR
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node server.mjs DIR');
  process.exit(2);
}
const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
const http = server.listen({ host: '127.0.0.1', port: 0 }, () => {
  console.log(`tus listening http://127.0.0.1:${http.address().port}/files/`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
