// HttpServer: the Beast transport. The only place Beast and Asio are used.
//
// Threads: `io_threads` event loops, each its own io_context on its own thread (accept, parse
// headers, move bytes between sockets and buffers; a connection stays on one loop); `workers`
// run everything that may block — authentication, metadata and blob I/O, hashing, multipart
// parsing — so an event loop never waits on disk, SQLite or a remote store.
//
// A request's body is moved through two buffers of `io_buffer_bytes`: while a worker hands
// one to the BodySink, the event loop fills the other. Memory per upload is therefore two
// buffers, whatever the part or file size. They come from a pool shared by all connections and
// go back to it when the request ends: a connection between requests holds none. A worker that
// finds the other buffer filled when it is done goes on with it, unless other tasks wait for a
// worker: the disk then never waits for two hand-offs between threads per buffer. The buffers are
// aligned, and each read lands where the sink's BodySink::Placement says, so a local blob store
// writes the bytes with O_DIRECT from where they were received. Downloads of local blobs are sent
// with sendfile by a worker (the one that looked the file up sends the header and first bytes), in
// turns of 16 MiB when others wait for workers; the loop only waits for a full socket to drain.
// Other downloads mirror uploads: a worker reads the next buffer from the blob while the event
// loop writes the current one to the socket.
//
// An answer whose body is in memory (JSON objects, lists, errors) is sent by the worker that
// produced it, which then starts the read of the next request; the loop takes over only what
// a full socket would make it wait for. A request that needs no body thus costs one hand-off
// between threads (loop to worker), not two. When the connection's next request head has
// already arrived by then (a pipelining client, or one that asked again at once), that worker
// reads and serves it too, up to 16 in a row, and such a request costs no hand-off at all.
// When it has not arrived yet and the pool is idle (no task waiting, another worker free),
// the worker waits for it on the socket for up to a millisecond first: a client asking one
// request at a time is then served like a pipelining one. While a worker waits on a socket
// and serves what arrives, the socket is out of its loop's epoll set, so those requests do not
// wake the loop too; it goes back before the loop is handed anything of the connection.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/api.h"
#include "common/status.h"

namespace fileport {

// The CPUs this process may run on (its affinity mask, so a cpuset limit counts), at least 1.
int UsableCpus();

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: pick a free port (see HttpServer::port)
  // One event loop per CPU (as nginx's `worker_processes auto`), at most 16.
  int io_threads = std::min(UsableCpus(), 16);
  // Threads for blocking store work. Twice the CPUs, at least 4: enough to keep a local disk
  // busy, few enough that a small request does not wake a new thread each time. Remote stores
  // (S3, PostgreSQL) wait on the network in these threads: give them more.
  int workers = std::clamp(2 * UsableCpus(), 4, 64);
  std::chrono::seconds header_timeout{30};  // a whole header must arrive within this
  std::chrono::seconds idle_timeout{60};    // no body byte read or written for this long
  std::chrono::seconds keepalive_timeout{75};
  std::size_t header_limit = 64 * 1024;
  std::size_t io_buffer_bytes = 1 << 20;
  // I/O buffers kept for the next requests once the requests that used them have ended; a
  // connection between requests holds none. More are allocated while more are in use.
  int idle_io_buffers = 4;
  int max_connections = 4096;
};

class HttpServer {
 public:
  // Binds and starts serving on background threads. Unavailable when the address is in use.
  static Result<std::unique_ptr<HttpServer>> Start(Api& api, const ServerOptions& options);
  ~HttpServer();

  // The bound port (useful with port 0).
  std::uint16_t port() const;
  // Stops accepting, closes connections, and joins every thread. Idempotent.
  void Stop();
  // A graceful stop: closes the listening socket, lets the requests in progress finish (their
  // answers close their connections) for up to `timeout`, then Stop()s. Returns true when
  // every request finished in time. A Stop() from another thread ends the wait at once.
  bool Drain(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fileport
