// The Beast transport: listener, per-connection session, body and download pipelines.
#include "http/server.h"

#include <poll.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <deque>
#include <iterator>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "api/errors.h"
#include "common/aligned_buffer.h"
#include "common/ids.h"
#include "http/response_head.h"

namespace fileport {

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t kDrainSmallBody = 64 * 1024;   // bodies read and dropped to keep alive
constexpr std::size_t kLingerBytes = 64ull << 20;     // read and dropped after an early answer
constexpr auto kLingerTime = std::chrono::seconds(2);
// What one worker turn of a zero-copy download sends before yielding the worker to a task that
// waits for one (with none waiting, the turn goes on; see SendfileSome).
constexpr std::int64_t kSendfileTurnBytes = 16ll << 20;
// Requests of one connection a worker serves in a row before the loop takes it back, when a
// task waits for a worker (with none waiting, the worker goes on: see NextRequestHere).
constexpr int kRequestsHere = 16;
// How long a worker with nothing else to do waits on its connection for the next request
// before handing it back to the loop.
constexpr auto kWaitHereTime = std::chrono::milliseconds(1);

// The session whose next request head this worker thread has just read (NextRequestHere).
thread_local const void* t_head_here = nullptr;

// The body and download buffers of every connection: a request takes two when it starts
// moving a body and gives them back when it ends, so an idle keep-alive connection holds none,
// and a buffer taken again is already in memory (a fresh one costs a page fault per 4 KiB on
// first touch). At most `keep` buffers wait here (ServerOptions::idle_io_buffers); one given back
// beyond that is freed.
class BufferPool {
 public:
  BufferPool(std::size_t bytes, std::size_t keep, Metrics& metrics)
      : bytes_(bytes), keep_(keep), metrics_(metrics) {}

  std::size_t buffer_bytes() const { return bytes_; }

  AlignedBuffer Take() {
    metrics_.io_buffers_in_use++;
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        AlignedBuffer b = std::move(idle_.back());
        idle_.pop_back();
        metrics_.io_buffers_idle--;
        return b;
      }
    }
    return AllocateAligned(bytes_);
  }

  void Give(AlignedBuffer b) {
    if (!b) return;
    metrics_.io_buffers_in_use--;
    {
      std::lock_guard lock(mu_);
      if (idle_.size() < keep_) {
        idle_.push_back(std::move(b));
        metrics_.io_buffers_idle++;
        return;
      }
    }
    // b is freed here, outside the lock
  }

 private:
  const std::size_t bytes_;
  const std::size_t keep_;
  Metrics& metrics_;
  std::mutex mu_;
  std::vector<AlignedBuffer> idle_;
};

struct Shared {
  Api& api;
  ServerOptions options;
  net::thread_pool& pool;
  Metrics& metrics;
  BufferPool buffers;
  std::atomic<bool> draining{false};  // answers carry Connection: close from now on
  // Worker tasks posted and not yet begun, and begun and not yet ended: the measure of an idle
  // pool that Asio's thread_pool does not give (Session::NoTaskWaits, Session::WaitHere).
  std::atomic<int> queued{0};
  std::atomic<int> running{0};
};

// Runs fn on the worker pool, counted in Shared::queued until it begins and in
// Shared::running until it ends.
template <class F>
void PostToPool(Shared& shared, F&& fn) {
  shared.queued.fetch_add(1, std::memory_order_relaxed);
  net::post(shared.pool, [&shared, fn = std::forward<F>(fn)]() mutable {
    shared.running.fetch_add(1, std::memory_order_relaxed);
    shared.queued.fetch_sub(1, std::memory_order_relaxed);
    struct Ended {
      std::atomic<int>& running;
      ~Ended() { running.fetch_sub(1, std::memory_order_relaxed); }
    } ended{shared.running};
    fn();
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ContainsToken(std::string_view value, std::string_view token) {
  return Lower(value).find(token) != std::string::npos;
}

// One of a connection's two pipeline buffers, aligned so that storage can write from it
// directly (O_DIRECT), and held only while a request moves a body through it.
class IoBuffer {
 public:
  void Take(BufferPool& pool) {
    if (data_) return;
    data_ = pool.Take();
    size_ = pool.buffer_bytes();
  }
  void Give(BufferPool& pool) {
    pool.Give(std::move(data_));
    size_ = 0;
  }
  char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  AlignedBuffer data_;
  std::size_t size_ = 0;
};

// The first iov.size() buffers of a buffer sequence, as iovecs for recvmsg; returns
// how many were set.
template <class Buffers>
std::size_t ToIovecs(const Buffers& buffers, std::array<iovec, 16>& iov) {
  std::size_t count = 0;
  for (const auto b : beast::buffers_range_ref(buffers)) {
    if (count == iov.size()) break;
    iov[count++] = {const_cast<void*>(static_cast<const void*>(b.data())), b.size()};
  }
  return count;
}

// A socket as Beast's SyncReadStream for reads that never wait: a socket with nothing to read
// says would_block. Used by workers, on a socket that may be out of the loop's reactor.
struct NoWaitReader {
  int fd;

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    std::array<iovec, 16> iov;
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = ToIovecs(buffers, iov);
    ec = {};
    for (;;) {
      const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) {
        ec = net::error::eof;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ec = net::error::would_block;
      } else {
        ec = beast::error_code(errno, beast::system_category());
      }
      return 0;
    }
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared)
      : stream_(std::move(socket)), shared_(shared), idle_timer_(stream_.get_executor()) {
    shared_.metrics.connections_open++;
    shared_.metrics.connections_total++;
    // Beast sizes each socket read by the buffer's free capacity (at least 512 bytes): give
    // headers and chunked bodies room for 64 KiB reads.
    buffer_.reserve(64 * 1024);
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    remote_ = peer.address().to_string(ec);
    protocol_ = peer.protocol();
  }
  ~Session() {
    if (loose_fd_ >= 0) ::close(loose_fd_);
    ReleaseBuffers();
    shared_.metrics.connections_open--;
  }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      // Workers send downloads with sendfile, which must meet a full socket with EAGAIN.
      beast::error_code ec;
      self->stream_.socket().native_non_blocking(true, ec);
      if (ec) return self->Shutdown();
      self->ReadHeader();
    });
  }


 private:
  // ---------------------------------------------------------------- request header
  void ReadHeader() {
    PrepareHeader();
    WaitForHeader();
  }

  // The connection's I/O buffers go back to the pool (Shared::buffers), for other requests.
  // Only while no read, write or worker uses them.
  void ReleaseBuffers() {
    for (auto& b : bufs_) b.Give(shared_.buffers);
  }

  void PrepareHeader() {
    ReleaseBuffers();  // the last request is over (a download's end, say)
    raw_body_ = false;
    raw_left_ = 0;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.header_limit));
    parser_->body_limit(boost::none);  // limits are the API's to judge, per route
    req_ = ApiRequest{};
    response_started_ = false;
    head_bytes_ = 0;
  }

  // The loop reads the rest of the header (what has arrived of it is already parsed).
  void WaitForHeader() {
    RejoinLoop();
    stream_.expires_after(first_request_ ? shared_.options.header_timeout
                                         : shared_.options.keepalive_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->head_bytes_ += n;
                              self->OnHeader(ec);
                            });
  }

  // On a worker that has just sent an answer in full: when the client's next request head has
  // already arrived (or arrives while the worker waits for it, see WaitHere), it is read and
  // served on this worker (by ServeWaiting), sparing the event loop a wake-up and the pool a
  // hand-off; a keep-alive client that asks again as soon as it has its answer often gets here
  // first. Anything else goes back to the loop as before: nothing yet or only part of a head
  // (the loop waits for the rest), an error, a client this worker has already served
  // kRequestsHere times in a row while a task waits for a worker (the others get their turn),
  // or, with nothing buffered, a pool too busy for the worker to wait (WaitHere), whose queued
  // tasks then go first. With no task waiting, a connection handed back would only move to
  // another thread, often on the other CPU: a client asking for one range after another was
  // served 12-21% slower that way than by one worker throughout.
  void NextRequestHere() {
    body_.clear();
    bytes_in_ = bytes_out_ = 0;
    PrepareHeader();
    if (served_here_ < kRequestsHere || NoTaskWaits()) {
      beast::error_code ec;
      // With nothing buffered, the worker waits before it reads: a client that asks once it
      // has its answer has seldom asked yet, and a read first would fail (EAGAIN), one system
      // call per request for nothing; where the bytes are there, the wait returns at once.
      const bool buffered = buffer_.size() > 0;
      if ((buffered && ReadHeaderNoWait(ec)) || (!ec && WaitHere() && ReadHeaderNoWait(ec))) {
        t_head_here = this;  // served by ServeWaiting when this worker's task returns
        return;
      }
      if (ec) return OnLoop([self = shared_from_this(), ec] { self->OnHeader(ec); });
    }
    WaitForHeader();
  }

  // Whether no worker task waits in the pool's queue: a worker may go on with this
  // connection's work rather than queue the rest behind others.
  bool NoTaskWaits() const { return shared_.queued.load(std::memory_order_relaxed) == 0; }

  // On a worker: waits up to kWaitHereTime for bytes on the socket, when the pool is idle
  // enough that this costs nobody a worker (no task waits for one and another worker is free).
  // A client that asks as soon as it has its answer (one request at a time, or one range after
  // another) then costs no hand-off between threads per request, which on a virtual machine
  // costs tens to hundreds of microseconds. True when bytes arrived (or the socket failed: the
  // read that follows says how).
  bool WaitHere() {
    if (!NoTaskWaits() ||
        shared_.running.load(std::memory_order_relaxed) >= shared_.options.workers) {
      return false;
    }
    LeaveLoop();
    pollfd p{SocketFd(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(kWaitHereTime.count())) > 0;  // EINTR: not ready
  }

  // The loop's reactor watches each of its sockets for arriving bytes (edge-triggered), so
  // every request that arrives while a worker serves the connection would wake the loop for
  // nothing: on a client asking one request after another, a second thread wake-up and
  // context switch per request. A worker about to wait for the next request takes the socket
  // out of the reactor (Asio's release: one epoll_ctl) and keeps it out while it serves the
  // requests that follow; whatever hands the connection back to the loop puts it back first
  // (RejoinLoop). Only the thread that owns the session calls either.
  void LeaveLoop() {
    if (loose_fd_ >= 0) return;
    beast::error_code ec;
    const int fd = stream_.socket().release(ec);
    if (!ec) loose_fd_ = fd;
  }

  void RejoinLoop() {
    if (loose_fd_ < 0) return;
    const int fd = std::exchange(loose_fd_, -1);
    beast::error_code ec;
    stream_.socket().assign(protocol_, fd, ec);
    if (ec) {
      // The reactor would not take it (out of memory): the connection ends; the loop's next
      // operation on the closed socket says so.
      spdlog::warn("connection from {} dropped: {}", remote_, ec.message());
      ::close(fd);
    }
  }

  // The socket's descriptor, in the loop's reactor or not.
  int SocketFd() { return loose_fd_ >= 0 ? loose_fd_ : stream_.socket().native_handle(); }

  // Parses what the socket has of the next head, without waiting (NoWaitReader): true when the
  // head is complete; false with `ec` clear when more must be waited for, else with the error.
  bool ReadHeaderNoWait(beast::error_code& ec) {
    NoWaitReader socket{SocketFd()};
    head_bytes_ += http::read_header(socket, buffer_, *parser_, ec);
    if (ec == net::error::would_block) {
      ec = {};
      return false;
    }
    if (!ec && !HeadWithinLimit()) ec = http::error::header_limit;
    return !ec;
  }

  // Beast's header_limit bounds only what one parse of the buffer must scan for the head's end:
  // fields it has already parsed do not count, so a head that arrives in pieces could pass the
  // limit. The bytes the parser took for this head are counted here instead.
  bool HeadWithinLimit() const { return head_bytes_ <= shared_.options.header_limit; }

  void OnHeader(beast::error_code ec) {
    if (!ec && !HeadWithinLimit()) ec = http::error::header_limit;
    if (ec) {
      if (ec == http::error::end_of_stream || ec == net::error::eof ||
          ec == beast::error::timeout || ec == net::error::operation_aborted ||
          ec == net::error::connection_reset) {
        return Shutdown();
      }
      // A malformed request: answer 400 and close; nothing after it is parsed.
      req_.request_id = NewRequestId();
      req_.method = "?";
      ApiResponse r;
      if (ec == http::error::header_limit) {
        r = ErrorResponse(InvalidArgument("Request header fields are too large: the limit is " +
                                          std::to_string(shared_.options.header_limit) +
                                          " bytes"));
        r.status = 431;
      } else {
        r = ErrorResponse(InvalidArgument("Malformed HTTP request: " + ec.message()));
      }
      r.close = true;
      return WriteResponse(std::move(r));
    }
    BeginRequest();
    served_here_ = 0;
    // Routing, authentication and the first store look-ups may block: run them on a worker.
    OnWorker([self = shared_from_this()] { self->Serve(); });
  }

  // The request whose head the parser holds.
  void BeginRequest() {
    first_request_ = false;
    start_ = std::chrono::steady_clock::now();
    auto& msg = parser_->get();
    req_.method = std::string(msg.method_string());
    req_.target = std::string(msg.target());
    req_.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
    for (const auto& f : msg) {
      req_.headers.push_back({Lower(f.name_string()), std::string(f.value())});
    }
    if (auto cl = parser_->content_length()) req_.content_length = *cl;
    req_.chunked = parser_->chunked();
    req_.remote = remote_;
    req_.request_id = NewRequestId();
    keep_alive_ = parser_->keep_alive();
    const std::string* expect = req_.Header("expect");
    expect_continue_ = expect && ContainsToken(*expect, "100-continue");
    shared_.metrics.requests_total++;
    shared_.metrics.in_flight++;
    in_flight_ = true;
  }

  // On a worker, at the end of each of this session's worker tasks: serves each next request
  // NextRequestHere found waiting. The mark is the thread's own: once a task has handed the
  // session on, another thread may be serving it already.
  void ServeWaiting() {
    while (t_head_here == this) {
      t_head_here = nullptr;
      // Counted up to the cap only: a connection a worker keeps while no task waits may be
      // served here for days on end.
      served_here_ = std::min(served_here_ + 1, kRequestsHere);
      BeginRequest();
      Serve();
    }
  }

  // On a worker: routes and answers the request begun.
  void Serve() {
    auto d = std::make_shared<Dispatch>(shared_.api.OnHeaders(req_));
    if (SendDirect(*d)) return;
    if (d->kind == Dispatch::Kind::kRespond && CanRespondHere(d->response)) {
      return RespondHere(std::move(d->response));
    }
    OnLoop([self = shared_from_this(), d] { self->OnDispatch(std::move(*d)); });
  }

  // Runs fn on the worker pool; an exception becomes a 500 for this request.
  template <class F>
  void OnWorker(F&& fn) {
    PostToPool(shared_, [self = shared_from_this(), fn = std::forward<F>(fn)]() mutable {
      try {
        fn();
        self->ServeWaiting();
      } catch (const std::exception& e) {
        t_head_here = nullptr;
        spdlog::error("{} worker failed: {}", self->req_.request_id, e.what());
        self->OnLoop([self] {
          ApiResponse r = ErrorResponse(Internal("The server had an error processing the request"));
          r.close = true;
          self->WriteResponse(std::move(r));
        });
      }
    });
  }

  template <class F>
  void OnLoop(F&& fn) {
    RejoinLoop();
    net::post(stream_.get_executor(), std::forward<F>(fn));
  }

  bool BodyPending() const {
    if (raw_body_) return raw_left_ > 0;
    return !parser_->is_done();
  }

  void OnDispatch(Dispatch d) {
    switch (d.kind) {
      case Dispatch::Kind::kRespond: {
        ApiResponse r = std::move(d.response);
        if (BodyPending()) {
          if (req_.content_length && *req_.content_length <= kDrainSmallBody) {
            // Small unread body: read and drop it so the connection stays usable.
            body_limit_ = kDrainSmallBody;
            discard_body_ = true;
            pending_response_ = std::make_unique<ApiResponse>(std::move(r));
            return ReadWholeBody();
          }
          r.close = true;  // not read: the connection cannot carry another request
        }
        return WriteResponse(std::move(r));
      }
      case Dispatch::Kind::kBuffer: {
        if (req_.content_length && *req_.content_length > d.body_limit) {
          ApiResponse r = ErrorResponse(
              TooLarge("Request body is too large: the limit is " + std::to_string(d.body_limit) +
                       " bytes"));
          r.close = true;
          return WriteResponse(std::move(r));
        }
        body_limit_ = d.body_limit;
        discard_body_ = false;
        on_body_ = std::move(d.on_body);
        return SendContinueThen([self = shared_from_this()] { self->ReadWholeBody(); });
      }
      case Dispatch::Kind::kStream:
        sink_ = std::move(d.sink);
        return SendContinueThen([self = shared_from_this()] { self->StartBodyPipeline(); });
    }
  }

  template <class F>
  void SendContinueThen(F&& next) {
    if (!expect_continue_ || !BodyPending()) return next();
    auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                   parser_->get().version());
    stream_.expires_after(shared_.options.idle_timeout);
    http::async_write(stream_, *cont,
                      [self = shared_from_this(), cont, next = std::forward<F>(next)](
                          beast::error_code ec, std::size_t) mutable {
                        if (ec) return self->Shutdown();
                        next();
                      });
  }

  // ---------------------------------------------------------------- buffered bodies
  void ReadWholeBody() {
    if (!BodyPending()) return OnWholeBody();
    if (small_buf_.size() < 64 * 1024) small_buf_.resize(64 * 1024);
    parser_->get().body().data = small_buf_.data();
    parser_->get().body().size = small_buf_.size();
    stream_.expires_after(shared_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec == http::error::need_buffer) ec = {};
                       if (ec) return self->Shutdown();
                       const std::size_t n =
                           self->small_buf_.size() - self->parser_->get().body().size;
                       self->shared_.metrics.bytes_received += static_cast<std::int64_t>(n);
                       self->bytes_in_ += n;
                       if (!self->discard_body_) {
                         if (self->body_.size() + n > self->body_limit_) {
                           ApiResponse r = ErrorResponse(
                               TooLarge("Request body is too large: the limit is " +
                                        std::to_string(self->body_limit_) + " bytes"));
                           r.close = true;
                           return self->WriteResponse(std::move(r));
                         }
                         self->body_.append(self->small_buf_.data(), n);
                       } else if (self->bytes_in_ > self->body_limit_) {
                         ApiResponse r = std::move(*self->pending_response_);
                         r.close = true;
                         return self->WriteResponse(std::move(r));
                       }
                       self->ReadWholeBody();
                     });
  }

  void OnWholeBody() {
    if (discard_body_) return WriteResponse(std::move(*pending_response_));
    OnWorker([self = shared_from_this()] {
      self->RespondFromWorker(self->on_body_(std::move(self->body_)));
    });
  }

  // ---------------------------------------------------------------- streamed bodies
  enum class Buf { kFree, kReading, kPending, kWriting };

  void StartBodyPipeline() {
    for (auto& b : bufs_) b.Take(shared_.buffers);
    state_ = {Buf::kFree, Buf::kFree};
    // A Content-Length body is read straight from the socket into the pipeline buffers, a
    // buffer at a time: Beast's parser would copy it through its own small buffer in
    // 512-byte to 64 KiB reads. Chunked bodies still go through the parser, which de-chunks.
    raw_body_ = !req_.chunked && req_.content_length.has_value();
    raw_left_ = raw_body_ ? *req_.content_length : 0;
    pending_ = -1;
    body_error_ = Status::Ok();
    failed_ = false;
    finishing_ = false;
    Pump();
  }

  void Pump() {
    if (failed_) {
      if (!reading_ && !writing_) FailBody();
      return;
    }
    if (!writing_ && pending_ >= 0) {
      const int i = std::exchange(pending_, -1);
      state_[i] = Buf::kWriting;
      writing_ = true;
      {
        std::lock_guard lock(write_mu_);
        writer_running_ = true;
      }
      OnWorker([self = shared_from_this(), i] { self->WriteChain(i); });
    }
    if (!reading_ && BodyPending()) {
      for (int i = 0; i < 2; ++i) {
        if (state_[i] == Buf::kFree) {
          StartBodyRead(i);
          break;
        }
      }
    }
    if (!BodyPending() && !reading_ && !writing_ && pending_ < 0 && !finishing_) {
      finishing_ = true;
      ReleaseBuffers();  // the body is all written: the answer needs them no more
      OnWorker([self = shared_from_this()] {
        ApiResponse r = self->sink_->Finish();
        self->sink_.reset();
        self->RespondFromWorker(std::move(r));
      });
    }
  }

  // On a worker: hands buffer i to the sink, then each buffer the loop fills meanwhile
  // (HandToWriter), while no other task waits for a worker, so that the disk is not left idle
  // for two hand-offs between threads per buffer. The loop hears of each buffer written
  // (OnBufferWritten, it reads into it again) and of the chain's end (OnSinkWritten).
  void WriteChain(int i) {
    for (;;) {
      Status s = sink_->Write(std::span<const char>(bufs_[i].data() + placed_[i], filled_[i]));
      int next;
      bool go_on;
      {
        std::lock_guard lock(write_mu_);
        next = std::exchange(next_write_, -1);
        go_on = s.ok() && next >= 0 && NoTaskWaits();
        if (!go_on) writer_running_ = false;
      }
      if (!go_on) {
        return OnLoop([self = shared_from_this(), i, next, s = std::move(s)] {
          self->OnSinkWritten(i, s, next);
        });
      }
      OnLoop([self = shared_from_this(), i] { self->OnBufferWritten(i); });
      i = next;
    }
  }

  // On the loop: buffer i, just filled, goes to the writer chain still running, if any.
  bool HandToWriter(int i) {
    if (!writing_) return false;
    std::lock_guard lock(write_mu_);
    if (!writer_running_ || next_write_ >= 0) return false;
    next_write_ = i;
    return true;
  }

  void StartBodyRead(int i) {
    state_[i] = Buf::kReading;
    reading_ = true;
    // Placed where the sink's storage can write the bytes without copying them. A placement
    // guessed before the sink knows its data start costs one copy, never a wrong byte.
    const std::size_t at = shared_.options.io_buffer_bytes >= 2 * kIoAlignment
                               ? sink_->Placement(bytes_in_)
                               : 0;
    placed_[i] = at;
    char* const dst = bufs_[i].data() + at;
    const std::size_t room = bufs_[i].size() - at;
    if (raw_body_) {
      // Bytes that arrived with the header sit in buffer_ first.
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(room, raw_left_));
      const std::size_t have = std::min(buffer_.size(), want);
      net::buffer_copy(net::buffer(dst, have), buffer_.data());
      buffer_.consume(have);
      raw_filled_ = have;
      if (have == want) return OnRawRead(i, {});
      // Straight from the socket, each read taking all that is queued (net::transfer_all
      // would cap every read at 64 KiB), watched by the lazy idle timer rather than the
      // stream's per-read one.
      WatchIdle();
      net::async_read(stream_.socket(), net::buffer(dst + have, want - have),
                      [self = shared_from_this(), left = want - have](
                          const beast::error_code& ec, std::size_t done) -> std::size_t {
                        self->last_io_ = std::chrono::steady_clock::now();
                        return ec ? 0 : left - done;
                      },
                      [self = shared_from_this(), i](beast::error_code ec, std::size_t n) {
                        if (self->EndIdleWatch()) ec = beast::error::timeout;
                        self->raw_filled_ += n;
                        self->OnRawRead(i, ec);
                      });
      return;
    }
    stream_.expires_after(shared_.options.idle_timeout);
    parser_->get().body().data = dst;
    parser_->get().body().size = room;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this(), i, room](beast::error_code ec, std::size_t) {
                       if (ec == http::error::need_buffer) ec = {};
                       const std::size_t n = room - self->parser_->get().body().size;
                       self->OnBodyRead(i, n, ec);
                     });
  }

  // The idle timeout of the socket waits made past Beast's stream (raw body reads, sendfile's
  // writability waits): one timer wait per idle period rather than one per read, firing at
  // the last progress plus the timeout and re-armed while bytes keep moving. Beast's own
  // timer is off meanwhile.
  void WatchIdle() {
    stream_.expires_never();
    last_io_ = std::chrono::steady_clock::now();
    idle_watch_ = true;
    idle_expired_ = false;
    ArmIdleTimer();
  }

  // The watched wait completed; true when it was cut short by the idle timeout.
  bool EndIdleWatch() {
    idle_watch_ = false;
    return idle_expired_;
  }

  void ArmIdleTimer() {
    if (idle_armed_) return;
    idle_armed_ = true;
    idle_timer_.expires_at(last_io_ + shared_.options.idle_timeout);
    idle_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (!self) return;
      self->idle_armed_ = false;
      if (ec || !self->idle_watch_) return;  // nothing waits on the socket: the next wait re-arms
      if (std::chrono::steady_clock::now() - self->last_io_ >= self->shared_.options.idle_timeout) {
        self->idle_expired_ = true;
        beast::error_code ignored;
        self->stream_.socket().cancel(ignored);
        return;
      }
      self->ArmIdleTimer();
    });
  }

  void OnRawRead(int i, beast::error_code ec) {
    raw_left_ -= raw_filled_;
    if (ec == net::error::eof) {
      ec = beast::error_code(http::error::partial_message);  // the body ended early
    }
    OnBodyRead(i, raw_filled_, ec);
  }

  void OnBodyRead(int i, std::size_t n, beast::error_code ec) {
    reading_ = false;
    if (ec) {
      state_[i] = Buf::kFree;
      if (!failed_) {
        failed_ = true;
        // A framing error (a bad chunk size, say) comes from a client that is still there and
        // gets its 400 before the connection is closed; the end of the stream or a reset means
        // nobody is left to answer.
        const bool malformed =
            ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
            ec != http::error::partial_message && ec != http::error::end_of_stream;
        peer_gone_ = !malformed && ec != beast::error::timeout;
        if (ec == beast::error::timeout) {
          body_error_ = Unavailable("Timed out waiting for the request body");
        } else if (malformed) {
          body_error_ = InvalidArgument("Malformed HTTP request body: " + ec.message());
        } else {
          body_error_ = InvalidArgument("The request body could not be read: " + ec.message());
        }
      }
      return Pump();
    }
    shared_.metrics.bytes_received += static_cast<std::int64_t>(n);
    bytes_in_ += n;
    if (n == 0 || failed_) {
      state_[i] = Buf::kFree;
    } else {
      filled_[i] = n;
      if (HandToWriter(i)) {
        state_[i] = Buf::kWriting;
      } else {
        state_[i] = Buf::kPending;
        pending_ = i;
      }
    }
    Pump();
  }

  void OnBufferWritten(int i) {
    state_[i] = Buf::kFree;
    Pump();
  }

  // The writer chain has ended after buffer i, with status s. `handed`: a buffer handed to it
  // that it did not write: pending again when the chain made way for other tasks, dropped
  // when its write failed.
  void OnSinkWritten(int i, const Status& s, int handed) {
    writing_ = false;
    state_[i] = Buf::kFree;
    if (handed >= 0) {
      if (s.ok()) {
        state_[handed] = Buf::kPending;
        pending_ = handed;
      } else {
        state_[handed] = Buf::kFree;
      }
    }
    if (!s.ok() && !failed_) {
      failed_ = true;
      body_error_ = s;
      if (reading_) stream_.socket().cancel();  // stop waiting for bytes we will not use
    }
    Pump();
  }

  void FailBody() {
    if (finishing_) return;
    finishing_ = true;
    ReleaseBuffers();  // no read or write uses them any more (see Pump)
    OnWorker([self = shared_from_this()] {
      auto r = std::make_shared<ApiResponse>(self->sink_->Fail(self->body_error_));
      self->OnLoop([self, r] {
        self->sink_.reset();
        if (self->peer_gone_) return self->Shutdown();
        r->close = true;
        self->WriteResponse(std::move(*r));
      });
    });
  }

  // ---------------------------------------------------------------- responses
  template <class Msg>
  void SetCommon(Msg& res, const ApiResponse& r) {
    for (const auto& h : r.headers) res.set(h.name, h.value);
    res.set("x-request-id", req_.request_id);
    res.keep_alive(keep_alive_ && !r.close);
  }

  // What starting a response decides, before any byte goes out. Returns the HTTP version.
  unsigned BeginResponse(ApiResponse& r) {
    response_started_ = true;
    status_ = r.status;
    if (shared_.draining) r.close = true;  // stopping: no further request on this connection
    close_after_ = r.close || !keep_alive_;
    if (r.close) keep_alive_ = false;
    return parser_ ? parser_->get().version() : 11;
  }

  void WriteResponse(ApiResponse r) {
    if (response_started_) return;
    const unsigned version = BeginResponse(r);
    stream_.expires_after(shared_.options.idle_timeout);

    if (r.stream) return WriteStreamed(std::move(r), version);
    if (r.head_only) {
      auto res = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(r.status), version);
      SetCommon(*res, r);
      if (r.status != 304 && r.head_length >= 0) {
        res->set(http::field::content_length, std::to_string(r.head_length));
      }
      auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
      http::async_write_header(stream_, *sr,
                               [self = shared_from_this(), res, sr](beast::error_code ec,
                                                                    std::size_t) {
                                 self->AfterResponse(ec);
                               });
      return;
    }
    WriteReply(MakeReply(std::move(r), version));
  }

  // An answer whose body is in memory: its header's bytes, written straight from the fields
  // (ResponseHeadBytes: gathering Beast's serializer buffers for the same bytes cost a tenth of
  // a small request's instructions, callgrind on GET /v1/files/{id}: 46.6k against 42.4k),
  // its body, and how much of the two has been sent.
  struct Reply {
    http::response<http::string_body> res;
    std::string head;
    std::size_t sent = 0;

    std::array<net::const_buffer, 2> Bytes() const {
      return {net::buffer(head), net::buffer(res.body())};
    }
    std::size_t Size() const { return head.size() + res.body().size(); }
  };

  std::shared_ptr<Reply> MakeReply(ApiResponse r, unsigned version) {
    auto reply = std::make_shared<Reply>();
    reply->res = http::response<http::string_body>(static_cast<http::status>(r.status), version);
    SetCommon(reply->res, r);
    reply->res.body() = std::move(r.body);
    reply->res.prepare_payload();
    reply->head = ResponseHeadBytes(reply->res.base());
    bytes_out_ = reply->res.body().size();
    return reply;
  }

  // On the loop: writes what of the reply is still unsent, then reads the next request.
  void WriteReply(std::shared_ptr<Reply> reply) {
    beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(reply->Bytes());
    rest.consume(reply->sent);
    if (beast::buffer_bytes(rest) == 0) return AfterResponse({});
    stream_.expires_after(shared_.options.idle_timeout);
    net::async_write(stream_, rest,
                     [self = shared_from_this(), reply](beast::error_code ec, std::size_t) {
                       self->AfterResponse(ec);
                     });
  }

  // Whether a worker holding the answer `r` may send it itself (RespondHere): its body is in
  // memory and the request's body has been read to its end.
  bool CanRespondHere(const ApiResponse& r) const {
    return !r.stream && !r.head_only && !BodyPending() && !response_started_;
  }

  // On a worker, with the answer in hand: an answer that CanRespondHere is sent by this
  // worker; any other goes to the loop.
  void RespondFromWorker(ApiResponse r) {
    if (CanRespondHere(r)) return RespondHere(std::move(r));
    auto shared_r = std::make_shared<ApiResponse>(std::move(r));
    OnLoop([self = shared_from_this(), shared_r] { self->WriteResponse(std::move(*shared_r)); });
  }

  // The worker that produced an answer sends it at once, without waiting, and starts reading
  // the next request: handing the answer to the loop would cost two thread wake-ups per
  // request, and on a busy machine the client would wait for the loop's turn. This is safe
  // because a session is used by one thread at a time: the loop has nothing of this session
  // pending but timer waits (Beast's stale ones check a tick they only read; the idle timer's
  // fields are the loop's alone), and the read's completion runs on the loop. A full socket,
  // an error or a closing answer go back to the loop.
  void RespondHere(ApiResponse r) {
    const unsigned version = BeginResponse(r);
    auto reply = MakeReply(std::move(r), version);
    // Header and body in one send; whatever the socket did not take, the loop sends.
    const auto bytes = reply->Bytes();
    const std::array<iovec, 2> iov{{{const_cast<void*>(bytes[0].data()), bytes[0].size()},
                                    {const_cast<void*>(bytes[1].data()), bytes[1].size()}}};
    const beast::error_code ec =
        SendNoWait({iov.data(), bytes[1].size() == 0 ? 1u : 2u}, &reply->sent);
    if (!ec && reply->sent == reply->Size() && !close_after_) {
      LogRequest({});
      return NextRequestHere();
    }
    OnLoop([self = shared_from_this(), reply, ec] {
      if (ec) return self->AfterResponse(ec);
      self->WriteReply(reply);
    });
  }

  // A worker's send of `bytes`, never waiting (the socket is non-blocking, and the flags say so
  // again). `sent` is what the socket took: 0 when it is full.
  beast::error_code SendNoWait(std::span<const iovec> bytes, std::size_t* sent) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(bytes.data());
    msg.msg_iovlen = bytes.size();
    *sent = 0;
    for (;;) {
      const ssize_t n = ::sendmsg(SocketFd(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        *sent = static_cast<std::size_t>(n);
        return {};
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
      if (errno != EINTR) return beast::error_code(errno, beast::system_category());
    }
  }

  // The download's header and reader.
  void PrepareDownload(ApiResponse& r, unsigned version) {
    dl_res_ = std::make_unique<http::response<http::buffer_body>>(
        static_cast<http::status>(r.status), version);
    SetCommon(*dl_res_, r);
    dl_res_->content_length(static_cast<std::uint64_t>(r.stream_length));
    dl_res_->body().data = nullptr;
    dl_res_->body().more = r.stream_length > 0;
    dl_reader_ = std::move(r.stream);
    dl_left_to_read_ = r.stream_length;
    dl_left_to_send_ = r.stream_length;
  }

  // A download of local blobs answered on the worker that looked it up: that worker sends the
  // header and the first bytes itself (send + sendfile), sparing two hand-offs between threads
  // per download. The loop takes over once the socket is full. False when not such a download.
  bool SendDirect(Dispatch& d) {
    if (d.kind != Dispatch::Kind::kRespond || !d.response.stream ||
        !d.response.stream->CanSendToSocket() || BodyPending()) {
      return false;
    }
    ApiResponse r = std::move(d.response);
    PrepareDownload(r, BeginResponse(r));
    dl_head_ = ResponseHeadBytes(dl_res_->base());
    // The header goes out at once, as nginx sends it, rather than held back (MSG_MORE) to
    // share a packet with the body: on chains of 1 MiB ranges from the page cache, holding it
    // back cost 9-16% more server CPU per request in three of four alternated runs of 9-24
    // rounds each (the fourth: even), for the same or less throughput.
    const iovec head_bytes{dl_head_.data(), dl_head_.size()};
    std::size_t sent = 0;
    if (SendNoWait({&head_bytes, 1}, &sent)) {
      OnLoop([self = shared_from_this()] {
        self->OnSendfileTurn({0, Unavailable("the client closed the connection"), false});
      });
      return true;
    }
    dl_head_.erase(0, sent);
    if (!dl_head_.empty()) {
      // The socket took only part of the header (never seen in practice): the loop sends the
      // rest, then the body.
      OnLoop([self = shared_from_this()] {
        net::async_write(self->stream_.socket(), net::buffer(self->dl_head_),
                         [self](beast::error_code ec, std::size_t) {
                           if (ec) return self->AfterResponse(ec);
                           self->SendfileTurn();
                         });
      });
      return true;
    }
    AfterSendfileTurn(SendfileSome());
    return true;
  }

  // Downloads through the loop: the header, then sendfile turns for local blobs; for others a
  // worker fills one buffer from the blob while the loop writes the other.
  void WriteStreamed(ApiResponse r, unsigned version) {
    PrepareDownload(r, version);
    dl_sr_ = std::make_unique<http::response_serializer<http::buffer_body>>(*dl_res_);
    for (auto& b : bufs_) b.Take(shared_.buffers);
    dl_ready_.clear();
    dl_reading_ = false;
    dl_writing_ = false;
    dl_free_ = {0, 1};
    http::async_write_header(stream_, *dl_sr_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) return self->AfterResponse(ec);
                               if (self->dl_left_to_send_ == 0) return self->FinishDownload();
                               if (self->dl_reader_->CanSendToSocket()) {
                                 return self->SendfileTurn();
                               }
                               self->DownloadPump();
                             });
  }

  // Zero-copy downloads (local blobs): a worker moves the bytes from the file to the socket
  // with sendfile until the socket is full or a turn's share has gone; the loop then waits for
  // the socket to drain, under the idle timeout, and gives the next turn to a worker. No
  // buffer is used and the event loop never touches the disk.
  void SendfileTurn() {
    OnWorker([self = shared_from_this()] { self->AfterSendfileTurn(self->SendfileSome()); });
  }

  struct SendfileResult {
    std::int64_t sent = 0;
    Status err;
    bool full = false;  // the socket took no more
  };

  // On a worker: sends up to a turn's share, until the socket is full. The turn goes on past
  // its share while no task waits for a worker, so that a download is not handed between
  // threads every 16 MiB for nothing. (A worker that waited for a full socket to drain itself,
  // as for the next request, measured 5-15% slower than the loop's wait in the bench's
  // download item.)
  SendfileResult SendfileSome() {
    const int socket_fd = SocketFd();
    std::int64_t share = std::min(dl_left_to_send_, kSendfileTurnBytes);
    SendfileResult result;
    for (;;) {
      if (result.sent == share) {
        if (share == dl_left_to_send_ || !NoTaskWaits()) break;
        share = std::min(dl_left_to_send_, share + kSendfileTurnBytes);
      }
      auto n = dl_reader_->SendToSocket(socket_fd, static_cast<std::size_t>(share - result.sent));
      if (!n.ok()) {
        result.err = n.status();
        break;
      }
      if (*n == 0) {
        result.full = true;
        break;
      }
      result.sent += static_cast<std::int64_t>(*n);
    }
    return result;
  }

  // On the worker that made the turn: a download sent to its end on a connection that stays
  // open is finished here, and the next request read, as RespondHere does (the reader's file
  // is closed here too, off the loop); anything else goes to the loop.
  void AfterSendfileTurn(const SendfileResult& result) {
    if (result.err.ok() && result.sent == dl_left_to_send_ && !close_after_) {
      CountSent(result.sent);
      ReleaseDownload();
      LogRequest({});
      return NextRequestHere();
    }
    OnLoop([self = shared_from_this(), result] { self->OnSendfileTurn(result); });
  }

  void CountSent(std::int64_t sent) {
    dl_left_to_send_ -= sent;
    bytes_out_ += static_cast<std::size_t>(sent);
    shared_.metrics.bytes_sent += sent;
  }

  void OnSendfileTurn(const SendfileResult& result) {
    const auto& [sent, err, full] = result;
    CountSent(sent);
    if (!err.ok()) {
      // The headers promised a length: cut the connection so the client sees an incomplete
      // body, never a short one that looks whole.
      if (err.code() != StatusCode::kUnavailable) {
        spdlog::error("{} download failed mid-body: {}", req_.request_id, err.ToString());
        status_ = 500;
      }
      return AfterResponse(net::error::connection_aborted);
    }
    if (dl_left_to_send_ == 0) return EndDownload({});
    if (!full) return SendfileTurn();  // the turn's share went: the next one, fairly queued
    // The socket is full: wait until the client has read some of it.
    WatchIdle();
    stream_.socket().async_wait(tcp::socket::wait_write,
                                [self = shared_from_this()](beast::error_code ec) {
                                  if (self->EndIdleWatch()) ec = beast::error::timeout;
                                  if (ec) return self->AfterResponse(ec);
                                  self->SendfileTurn();
                                });
  }

  void DownloadPump() {
    if (!dl_reading_ && dl_left_to_read_ > 0 && !dl_free_.empty()) {
      const int i = dl_free_.front();
      dl_free_.pop_front();
      dl_reading_ = true;
      OnWorker([self = shared_from_this(), i] {
        auto& buf = self->bufs_[i];
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::int64_t>(buf.size(), self->dl_left_to_read_));
        std::size_t got = 0;
        Status err;
        while (got < want) {
          auto n = self->dl_reader_->Read(std::span<char>(buf.data() + got, want - got));
          if (!n.ok()) {
            err = n.status();
            break;
          }
          if (*n == 0) {
            err = Status(StatusCode::kDataLoss, "blob ended early");
            break;
          }
          got += *n;
        }
        self->OnLoop([self, i, got, err] { self->OnDownloadRead(i, got, err); });
      });
    }
    if (!dl_writing_ && !dl_ready_.empty()) {
      auto [i, n] = dl_ready_.front();
      dl_ready_.pop_front();
      dl_writing_ = true;
      dl_left_to_send_ -= static_cast<std::int64_t>(n);
      dl_res_->body().data = bufs_[i].data();
      dl_res_->body().size = n;
      dl_res_->body().more = dl_left_to_send_ > 0;
      stream_.expires_after(shared_.options.idle_timeout);
      http::async_write(stream_, *dl_sr_,
                        [self = shared_from_this(), i, n](beast::error_code ec, std::size_t) {
                          if (ec == http::error::need_buffer) ec = {};
                          self->dl_writing_ = false;
                          if (ec) return self->AfterResponse(ec);
                          self->bytes_out_ += n;
                          self->shared_.metrics.bytes_sent += static_cast<std::int64_t>(n);
                          self->dl_free_.push_back(i);
                          if (self->dl_left_to_send_ == 0) return self->FinishDownload();
                          self->DownloadPump();
                        });
    }
  }

  void OnDownloadRead(int i, std::size_t n, const Status& err) {
    dl_reading_ = false;
    if (!err.ok()) {
      // Headers promised a length we cannot deliver: cut the connection so the client sees
      // an incomplete body, never a short one that looks whole.
      spdlog::error("{} download failed mid-body: {}", req_.request_id, err.ToString());
      status_ = 500;
      return Shutdown();
    }
    dl_left_to_read_ -= static_cast<std::int64_t>(n);
    dl_ready_.push_back({i, n});
    DownloadPump();
  }

  void FinishDownload() {
    // Serialize the final (empty) chunk state so Beast marks the message done.
    if (!dl_sr_->is_done()) {
      dl_res_->body().data = nullptr;
      dl_res_->body().size = 0;
      dl_res_->body().more = false;
      http::async_write(stream_, *dl_sr_,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (ec == http::error::need_buffer) ec = {};
                          self->EndDownload(ec);
                        });
      return;
    }
    EndDownload({});
  }

  void EndDownload(beast::error_code ec) {
    ReleaseDownload();
    AfterResponse(ec);
  }

  void ReleaseDownload() {
    dl_reader_.reset();
    dl_sr_.reset();
    dl_res_.reset();
  }

  void AfterResponse(beast::error_code ec) {
    LogRequest(ec);
    if (ec) return Shutdown();
    if (close_after_) {
      if (BodyPending()) return Linger();
      return Shutdown();
    }
    NextRequest();
  }

  void NextRequest() {
    body_.clear();
    bytes_in_ = bytes_out_ = 0;
    ReadHeader();
  }

  void LogRequest(beast::error_code ec) {
    if (in_flight_) {
      shared_.metrics.in_flight--;
      in_flight_ = false;
    }
    shared_.metrics.CountResponse(status_);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              start_)
                        .count();
    spdlog::info("{} \"{} {}\" {} in={} out={} {:.1f}ms {}{}", remote_, req_.method,
                 req_.target.substr(0, 200), status_, bytes_in_, bytes_out_, ms, req_.request_id,
                 ec ? " (" + ec.message() + ")" : "");
  }

  // After answering early, keep reading (and dropping) for a moment so the client gets to
  // read the answer instead of a connection reset.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    linger_deadline_ = std::chrono::steady_clock::now() + kLingerTime;
    linger_bytes_ = 0;
    if (small_buf_.size() < 64 * 1024) small_buf_.resize(64 * 1024);
    LingerRead();
  }

  void LingerRead() {
    if (std::chrono::steady_clock::now() >= linger_deadline_ || linger_bytes_ > kLingerBytes) {
      return Shutdown();
    }
    stream_.expires_at(linger_deadline_);
    stream_.async_read_some(net::buffer(small_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->Shutdown();
                              self->linger_bytes_ += n;
                              self->LingerRead();
                            });
  }

  void Shutdown() {
    if (in_flight_) {
      shared_.metrics.in_flight--;
      in_flight_ = false;
    }
    if (sink_ && !finishing_) {
      // The peer went away mid-body: discard what the sink stored, on a worker.
      finishing_ = true;
      auto sink = std::shared_ptr<BodySink>(std::move(sink_));
      PostToPool(shared_, [sink] {
        sink->Fail(Unavailable("the client disconnected")).body.clear();
      });
    }
    RejoinLoop();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  std::string remote_;
  tcp protocol_ = tcp::v4();
  int loose_fd_ = -1;  // the socket while out of the loop's reactor (LeaveLoop), else -1
  beast::flat_buffer buffer_{128 * 1024};
  std::optional<http::request_parser<http::buffer_body>> parser_;
  ApiRequest req_;
  bool first_request_ = true;
  int served_here_ = 0;         // requests one worker has served in a row, up to kRequestsHere
  std::size_t head_bytes_ = 0;  // of the request head being read, taken by the parser so far
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool in_flight_ = false;
  bool response_started_ = false;
  bool close_after_ = false;
  int status_ = 0;
  std::size_t bytes_in_ = 0;
  std::size_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point start_;

  // buffered bodies
  std::vector<char> small_buf_;
  std::string body_;
  std::size_t body_limit_ = 0;
  bool discard_body_ = false;
  std::function<ApiResponse(std::string)> on_body_;
  std::unique_ptr<ApiResponse> pending_response_;

  // streamed bodies (and download buffers)
  std::array<IoBuffer, 2> bufs_;
  std::array<std::size_t, 2> placed_{0, 0};  // where in its buffer a body read put its bytes
  std::array<Buf, 2> state_{Buf::kFree, Buf::kFree};
  std::array<std::size_t, 2> filled_{0, 0};
  int pending_ = -1;
  bool raw_body_ = false;         // Content-Length body read without the parser
  std::uint64_t raw_left_ = 0;    // its bytes not yet read
  std::size_t raw_filled_ = 0;    // bytes in the buffer being filled
  bool reading_ = false;
  bool writing_ = false;  // a writer chain runs, or its end is not yet heard of (loop's view)
  // Between the loop and the writer chain: whether it still runs, and the buffer the loop has
  // handed it next.
  std::mutex write_mu_;
  bool writer_running_ = false;
  int next_write_ = -1;
  bool failed_ = false;
  bool finishing_ = false;
  bool peer_gone_ = false;
  Status body_error_;
  std::unique_ptr<BodySink> sink_;

  // downloads
  std::unique_ptr<http::response<http::buffer_body>> dl_res_;
  std::unique_ptr<http::response_serializer<http::buffer_body>> dl_sr_;
  std::unique_ptr<BlobReader> dl_reader_;
  std::string dl_head_;  // a directly sent header's bytes the socket did not take
  std::int64_t dl_left_to_read_ = 0;
  std::int64_t dl_left_to_send_ = 0;
  std::deque<std::pair<int, std::size_t>> dl_ready_;
  std::deque<int> dl_free_;
  bool dl_reading_ = false;
  bool dl_writing_ = false;

  // the idle timeout of socket waits made past Beast's stream (see WatchIdle)
  net::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_io_;
  bool idle_armed_ = false;    // a timer wait is pending
  bool idle_watch_ = false;    // a socket wait guarded by the idle timeout is pending
  bool idle_expired_ = false;  // the timeout cut the watched wait short

  // linger
  std::chrono::steady_clock::time_point linger_deadline_;
  std::size_t linger_bytes_ = 0;
};

}  // namespace

struct HttpServer::Impl {
  // One io_context per event-loop thread, as nginx runs one process per CPU: a connection
  // lives on one loop for its whole life, so loops never contend for a queue or wake each
  // other, and its handlers need no strand.
  struct Loop {
    net::io_context ioc{1};
    // Keeps the loop running while no operation is pending on it: during a drain the
    // acceptor is closed and a session may be waiting only for a worker, whose hand-back
    // must still find a running loop.
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  };

  static std::vector<std::unique_ptr<Loop>> MakeLoops(int n) {
    std::vector<std::unique_ptr<Loop>> loops;
    for (int i = 0; i < std::max(1, n); ++i) loops.push_back(std::make_unique<Loop>());
    return loops;
  }

  Impl(Api& api, const ServerOptions& options)
      : pool(static_cast<std::size_t>(options.workers)),
        shared{api, options, pool, api.metrics(),
               BufferPool(options.io_buffer_bytes,
                          static_cast<std::size_t>(std::max(0, options.idle_io_buffers)),
                          api.metrics())},
        loops(MakeLoops(options.io_threads)),
        acceptor(loops[0]->ioc) {}

  void Accept() {
    auto& loop = *loops[next_loop++ % loops.size()];
    acceptor.async_accept(loop.ioc.get_executor(), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        spdlog::warn("accept failed: {}", ec.message());
      } else if (shared.metrics.connections_open.load() >= shared.options.max_connections) {
        beast::error_code ignored;
        s.close(ignored);  // over capacity: refuse rather than starve the others
      } else {
        s.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(s), shared)->Run();
      }
      if (!stopping && !shared.draining) Accept();
    });
  }

  void CloseAcceptor() {
    net::post(loops[0]->ioc, [this] {
      beast::error_code ec;
      acceptor.close(ec);
    });
  }

  // Destroyed in reverse: the acceptor before the loop it uses; the loops (and the sessions
  // still queued on them) before `shared`, which the sessions use; the pool last.
  net::thread_pool pool;
  Shared shared;
  std::vector<std::unique_ptr<Loop>> loops;
  std::size_t next_loop = 0;  // only the accepting loop touches it
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::uint16_t port = 0;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Api& api, const ServerOptions& options) {
  // spdlog's registry is a function-local static of its shared library: made here, before any
  // server thread logs, rather than by whichever thread logs first.
  (void)spdlog::default_logger_raw();
  auto impl = std::make_unique<Impl>(api, options);
  beast::error_code ec;
  auto addr = net::ip::make_address(options.host, ec);
  if (ec) return InvalidArgument("Invalid listen address '" + options.host + "': " + ec.message());
  tcp::endpoint ep(addr, options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("Cannot listen on " + options.host + ":" + std::to_string(options.port) +
                       ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (auto& loop : impl->loops) {
    impl->threads.emplace_back([io = &loop->ioc] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const { return impl_->port; }

bool HttpServer::Drain(std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->stopping) return false;
  impl_->shared.draining = true;
  impl_->CloseAcceptor();
  // Requests finish on their own threads; this thread only watches the count (shutdown is
  // rare and a 20 ms poll costs nothing).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool drained = false;
  while (!impl_->stopping) {
    if (impl_->shared.metrics.in_flight.load() == 0) {
      drained = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return drained;
}

void HttpServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  impl_->CloseAcceptor();
  for (auto& loop : impl_->loops) loop->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->pool.join();
}

}  // namespace fileport
