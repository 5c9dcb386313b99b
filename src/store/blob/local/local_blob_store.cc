// LocalBlobStore: temp file + early writeback + fdatasync + no-replace rename + directory
// fsync. Every system call's failure is translated once, here, through ErrnoToStatus.
#include "store/blob/local/local_blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "common/aligned_buffer.h"
#include "common/errno_status.h"
#include "common/ids.h"

namespace fileport {
namespace {

constexpr mode_t kFileMode = 0600;  // Blobs are tenants' data: owner only.
constexpr mode_t kDirMode = 0750;
// Buffer alignment, and the unit of direct I/O: every O_DIRECT write starts at a multiple of it
// in the file, from a buffer aligned to it, and has a length that is a multiple of it.
constexpr std::size_t kBufferAlignment = kIoAlignment;
constexpr std::size_t kMaxDurableDirsCached = 1 << 16;

// What the kernel reads ahead by itself at the start of a sequential read (read_ahead_kb's
// default of 128 KiB, doubled by POSIX_FADV_SEQUENTIAL): a range no longer than this gets no
// read-ahead of the reader's own.
constexpr std::int64_t kKernelReadAhead = 256 << 10;

// Sets or clears O_DIRECT on an open descriptor; false (errno set) when that fails.
bool SetDirectIo(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0;
}

// RAII for a file descriptor. close() errors matter only where the caller checks Close().
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  // Closes and reports the error: on some filesystems close() is where a write error shows.
  // EINTR is not an error here: on Linux the descriptor is closed regardless.
  int Close() {
    const int rc = ::close(std::exchange(fd_, -1));
    return (rc < 0 && errno != EINTR) ? errno : 0;
  }

 private:
  int fd_ = -1;
};

// sendfile(2) has no MSG_NOSIGNAL: to a peer that has gone it raises SIGPIPE, whose default
// action ends the process. Blocked for the scope; a SIGPIPE raised meanwhile is taken back.
// Where the process ignores SIGPIPE (`fileport serve` does) nothing needs doing: one look at
// the disposition instead of four calls around each sendfile.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    struct sigaction now {};
    if (::sigaction(SIGPIPE, nullptr, &now) == 0 && !(now.sa_flags & SA_SIGINFO) &&
        now.sa_handler == SIG_IGN) {
      return;
    }
    active_ = true;
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    if (!active_) return;
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  bool active_ = false;  // SIGPIPE was not ignored: blocked here, restored at the end
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

std::string Describe(std::string_view op, std::string_view key) {
  std::string out(op);
  out += " blob '";
  out += key;
  out += "'";
  return out;
}

Status OutOfRange(std::string msg) { return Status(StatusCode::kOutOfRange, std::move(msg)); }

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, "open directory " + dir);
  if (::fsync(fd.get()) < 0) return ErrnoToStatus(errno, "fsync directory " + dir);
  if (const int err = fd.Close()) return ErrnoToStatus(err, "close directory " + dir);
  return Status::Ok();
}

std::string ParentOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p for the store's own root: creates each missing component and fsyncs the parent of
// each one created, so a crash cannot lose the directory an acknowledged blob lives in.
Status MakeDirsDurably(const std::string& path) {
  std::vector<std::string> created;
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), kDirMode) == 0) {
      created.push_back(prefix);
    } else if (errno != EEXIST) {
      return ErrnoToStatus(errno, "create directory " + prefix);
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) return ErrnoToStatus(errno, "stat " + path);
  if (!S_ISDIR(st.st_mode)) return ErrnoToStatus(ENOTDIR, "open blob root " + path);
  for (const auto& dir : created) RETURN_IF_ERROR(FsyncDir(ParentOf(dir)));
  return Status::Ok();
}

bool IsKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// cachestat(2) (Linux 6.5; the C library has no wrapper yet): how much of a range of a file
// is in the page cache, found without reading anything. The one-byte read it replaces where
// the kernel has it (preadv2 RWF_NOWAIT) starts the device's read of a page it misses, a lone
// 4 KiB page in the middle of the window being read ahead, around which the kernel then
// cannot place large folios.
constexpr long kCachestat = 451;  // the same number on every architecture
struct CachestatRange {
  std::uint64_t offset;
  std::uint64_t length;
};
struct CachestatCounts {
  std::uint64_t cached;
  std::uint64_t dirty;
  std::uint64_t writeback;
  std::uint64_t evicted;
  std::uint64_t recently_evicted;
};
// Cleared for good when the kernel (before 6.5) or a seccomp filter refuses cachestat.
std::atomic<bool> cachestat_works{true};

// Pages of `length` (> 0) bytes at `offset` of `fd` that the page cache holds or is reading;
// nullopt when cachestat is refused.
std::optional<std::uint64_t> PagesPresent(int fd, std::int64_t offset, std::int64_t length) {
  if (!cachestat_works.load(std::memory_order_relaxed)) return std::nullopt;
  const CachestatRange range{static_cast<std::uint64_t>(offset),
                             static_cast<std::uint64_t>(length)};
  CachestatCounts counts{};
  if (::syscall(kCachestat, fd, &range, &counts, 0) == 0) return counts.cached;
  if (errno == ENOSYS || errno == EPERM) cachestat_works.store(false);
  return std::nullopt;
}

// Mapped at a time by ReadInLargeFolios: a mapping's pages count in the process's resident
// memory while it lasts, so a few MiB rather than the whole window.
constexpr std::int64_t kMapBytes = std::int64_t{2} << 20;
// Cleared for good when the kernel has no MADV_POPULATE_READ (before 5.14).
std::atomic<bool> populate_works{true};

// Reads `length` bytes at `offset` of `fd` into the page cache, waiting for them, through a
// mapping populated under MADV_HUGEPAGE: the kernel then reads a mapping's faults ahead in
// 2 MiB folios, whatever the device's read_ahead_kb (without THP, MADV_HUGEPAGE is refused
// and the kernel reads around each fault as for any mapping). False when mapping or
// populating is refused, or `stop` is set, before the end.
bool ReadInLargeFolios(int fd, std::int64_t offset, std::int64_t length,
                       const std::atomic<bool>* stop = nullptr) {
  static const std::int64_t page = ::sysconf(_SC_PAGESIZE);
  const std::int64_t end = offset + length;
  for (std::int64_t at = offset / page * page; at < end; at += kMapBytes) {
    if (!populate_works.load(std::memory_order_relaxed)) return false;
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) return false;
    const auto size = static_cast<std::size_t>(std::min(kMapBytes, end - at));
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, at);
    if (map == MAP_FAILED) return false;
    (void)::madvise(map, size, MADV_HUGEPAGE);
    const int rc = ::madvise(map, size, MADV_POPULATE_READ);
    if (rc < 0 && errno == EINVAL) populate_works.store(false, std::memory_order_relaxed);
    ::munmap(map, size);
    if (rc < 0) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Read-ahead threads: windows of blobs brought into the page cache in large folios.

class LocalBlobStore::Prefetcher {
 public:
  explicit Prefetcher(int threads) : threads_wanted_(threads) {}
  ~Prefetcher() {
    {
      std::lock_guard lock(mu_);
      stopping_.store(true, std::memory_order_relaxed);  // under mu_: no waiter misses it
      queue_.clear();
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Queues `length` bytes at `offset` of the file at `path`, starting the threads on the
  // first call. False when the queue is full, or no thread could be started: the caller
  // advises the window itself.
  bool Submit(const std::string& path, std::int64_t offset, std::int64_t length) {
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= kMaxWaiting) return false;
      while (static_cast<int>(threads_.size()) < threads_wanted_ && !cannot_start_) {
        try {
          threads_.emplace_back([this] { Run(); });
        } catch (const std::system_error& e) {
          // Out of threads (EAGAIN): the ones started serve; none started, the readers
          // advise their windows themselves.
          spdlog::warn("read-ahead threads: {} started, then: {}", threads_.size(), e.what());
          cannot_start_ = true;
        }
      }
      if (threads_.empty()) return false;
      queue_.push_back({path, offset, length});
    }
    wake_.notify_one();
    return true;
  }

  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
  }

 private:
  static constexpr std::size_t kMaxWaiting = 64;

  struct Window {
    std::string path;
    std::int64_t offset;
    std::int64_t length;
  };

  bool Stopping() const { return stopping_.load(std::memory_order_relaxed); }

  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return Stopping() || !queue_.empty(); });
      if (Stopping()) return;
      Window w = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      lock.unlock();
      Fetch(w);
      lock.lock();
      --busy_;
      if (queue_.empty() && busy_ == 0) idle_.notify_all();
    }
  }

  // Reads the window in through a descriptor of its own, so that the reader's read-ahead
  // state is left alone; where the kernel will not read it in large folios, advises it. A
  // blob deleted since is skipped. Advice only: failures change speed, never bytes.
  void Fetch(const Window& w) {
    UniqueFd fd(::open(w.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return;
    if (!ReadInLargeFolios(fd.get(), w.offset, w.length, &stopping_) && !Stopping()) {
      (void)::posix_fadvise(fd.get(), w.offset, w.length, POSIX_FADV_WILLNEED);
    }
  }

  const int threads_wanted_;
  // Set once, when the store closes; read without mu_ between a window's 2 MiB chunks.
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable wake_;  // a window waits, or stopping
  std::condition_variable idle_;  // nothing waits and no thread fetches
  std::deque<Window> queue_;      // Guarded by mu_, as are the three below.
  int busy_ = 0;
  bool cannot_start_ = false;
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------------
// Reader: an open descriptor and a window; pread straight into the caller's buffer.

class LocalBlobReader final : public BlobReader {
 public:
  LocalBlobReader(UniqueFd fd, std::string key, std::string path, std::int64_t offset,
                  std::int64_t length, std::int64_t read_ahead,
                  LocalBlobStore::Prefetcher* prefetcher)
      : fd_(std::move(fd)),
        key_(std::move(key)),
        path_(std::move(path)),
        next_(offset),
        end_(offset + length),
        length_(length),
        read_ahead_(read_ahead),
        advised_(offset),
        prefetcher_(prefetcher) {}

  Result<std::size_t> Read(std::span<char> out) override {
    const auto want = static_cast<std::size_t>(
        std::min<std::int64_t>(end_ - next_, static_cast<std::int64_t>(out.size())));
    if (direct_ && want > 0) {
      auto n = ReadDirect(out, want);
      if (!n.ok() || *n > 0) return n;
      LeaveDirect();  // this read cannot go direct: the rest goes through the page cache
    }
    ReadAhead();
    std::size_t got = 0;
    while (got < want) {
      const ssize_t r = ::pread(fd_.get(), out.data() + got, want - got, next_);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus(errno, Describe("read", key_));
      }
      if (r == 0) return ShorterThanOpened("read");
      got += static_cast<std::size_t>(r);
      next_ += r;
    }
    return got;
  }

  std::int64_t size() const override { return length_; }

  void HintReadOnce() override { direct_ = SetDirectIo(fd_.get(), true); }

  bool CanSendToSocket() const override { return true; }

  Result<std::size_t> SendToSocket(int socket_fd, std::size_t max) override {
    const auto want = static_cast<std::size_t>(
        std::min<std::int64_t>(end_ - next_, static_cast<std::int64_t>(max)));
    if (want == 0) return std::size_t{0};
    ReadAhead();
    SigpipeBlock no_sigpipe;
    for (;;) {
      off_t offset = next_;
      const ssize_t r = ::sendfile(socket_fd, fd_.get(), &offset, want);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t{0};
        if (errno == EPIPE || errno == ECONNRESET) {
          return Unavailable("the client closed the connection");
        }
        return ErrnoToStatus(errno, Describe("send", key_));
      }
      if (r == 0) return ShorterThanOpened("send");
      next_ = offset;
      return static_cast<std::size_t>(r);
    }
  }

 private:
  UniqueFd fd_;
  std::string key_;
  std::string path_;
  std::int64_t next_;
  std::int64_t end_;
  std::int64_t length_;
  bool direct_ = false;  // fd_ has O_DIRECT set (HintReadOnce)
  std::int64_t read_ahead_;  // LocalBlobOptions::read_ahead_bytes
  std::int64_t advised_;     // read-ahead has been seen to up to here
  LocalBlobStore::Prefetcher* prefetcher_;  // the store's, or null

  // Keeps read_ahead_ bytes ahead of next_ on their way from the device (see
  // LocalBlobOptions::read_ahead_bytes): when less than that is left ahead, the next window
  // is requested from the read-ahead threads, or advised here, unless its last byte is
  // already cached. Advice only: a failure changes speed, never bytes.
  void ReadAhead() {
    if (read_ahead_ <= 0) return;
    advised_ = std::max(advised_, next_);  // direct reads may have gone past it
    if (advised_ >= end_ || advised_ - next_ >= read_ahead_) return;
    if (advised_ == next_ && end_ - next_ <= kKernelReadAhead) {
      advised_ = end_;  // what is left is the kernel's read-ahead's first window: no probe
      return;
    }
    const std::int64_t length = std::min(read_ahead_, end_ - advised_);
    if (!Cached(advised_ + length - 1) &&
        (prefetcher_ == nullptr || !prefetcher_->Submit(path_, advised_, length))) {
      (void)::posix_fadvise(fd_.get(), advised_, length, POSIX_FADV_WILLNEED);
    }
    advised_ += length;
  }

  // Whether the page holding byte `offset` is in the page cache, or on its way there.
  bool Cached(std::int64_t offset) const {
    if (auto present = PagesPresent(fd_.get(), offset, 1)) return *present > 0;
    // A one-byte read that will not wait for the device: false when it would, or when the
    // filesystem cannot tell (EOPNOTSUPP).
    char byte;
    const iovec one{&byte, 1};
    return ::preadv2(fd_.get(), &one, 1, offset, RWF_NOWAIT) == 1;
  }

  // Committed blobs never shrink; a file shorter than at open means someone damaged it.
  Status ShorterThanOpened(std::string_view op) const {
    return Status(StatusCode::kDataLoss,
                  Describe(op, key_) + ": file is shorter than when it was opened");
  }

  void LeaveDirect() {
    (void)SetDirectIo(fd_.get(), false);  // if it fails, the reads that follow report it
    direct_ = false;
  }

  // A read with O_DIRECT, when the offset, the memory and the length rounded up to whole blocks
  // allow it (the rounding may read past the range's end, never past the caller's span). 0 when
  // they do not, or the filesystem refuses.
  Result<std::size_t> ReadDirect(std::span<char> out, std::size_t want) {
    const std::size_t span = (want + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    if (next_ % static_cast<std::int64_t>(kBufferAlignment) != 0 || !IsAligned(out.data()) ||
        span > out.size()) {
      return std::size_t{0};
    }
    std::size_t got = 0;
    while (got < want) {
      const ssize_t r =
          ::pread(fd_.get(), out.data() + got, span - got, next_ + static_cast<std::int64_t>(got));
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EINVAL && got == 0) return std::size_t{0};  // refused: see Read
        return ErrnoToStatus(errno, Describe("read", key_));
      }
      if (r == 0) return ShorterThanOpened("read");
      got += static_cast<std::size_t>(r);
      // A short direct read ends at the end of the file or leaves an unaligned offset: the
      // rest goes through the page cache.
      if (got < want && got % kBufferAlignment != 0) {
        next_ += static_cast<std::int64_t>(got);
        return got;
      }
    }
    next_ += static_cast<std::int64_t>(want);
    return want;
  }
};

// ---------------------------------------------------------------------------------------------
// Writer: temp file in root/tmp, coalescing buffer, early writeback, durable Commit.

class LocalBlobWriter final : public BlobWriter {
 public:
  LocalBlobWriter(LocalBlobStore* store, std::string key, std::string tmp_path, UniqueFd fd,
                  bool direct)
      : store_(store),
        key_(std::move(key)),
        tmp_path_(std::move(tmp_path)),
        fd_(std::move(fd)),
        direct_(direct) {}

  ~LocalBlobWriter() override { Abort(); }

  Status Append(std::span<const char> data) override {
    if (state_ != State::kOpen) return FailedPrecondition(Describe("append to finished", key_));
    Status s = AppendImpl(data);
    if (s.ok()) {
      written_ += static_cast<std::int64_t>(data.size());
    } else {
      // The bytes on disk no longer match what the caller sent: this writer can only fail.
      // Removing the temp file now also gives the space back at once (ENOSPC).
      Discard();
    }
    return s;
  }

  Status Commit() override {
    if (state_ != State::kOpen) return FailedPrecondition(Describe("commit finished", key_));
    // From here on this writer is finished whatever happens: a failed Commit is final.
    state_ = State::kFinished;
    Status s = CommitImpl();
    if (!s.ok()) Discard();
    return s;
  }

  void Abort() override {
    if (state_ != State::kOpen) return;
    Discard();
  }

  std::int64_t bytes_written() const override { return written_; }

  // A small blob goes through the page cache (LocalBlobOptions::cached_blob_bytes). If O_DIRECT
  // cannot be turned off, it stays direct: the hint changes speed only.
  void HintSize(std::int64_t at_most) override {
    if (!direct_ || state_ != State::kOpen || written_ > 0 || at_most < 0 ||
        at_most > store_->options_.cached_blob_bytes) {
      return;
    }
    if (SetDirectIo(fd_.get(), false)) direct_ = false;
  }

 private:
  enum class State { kOpen, kFinished };

  // Direct I/O: the file is written in aligned lengths at aligned offsets, from aligned memory:
  // the caller's, when its bytes are placed so, else the coalescing buffer's, once full.
  // Buffered: a large append with nothing buffered goes straight to the file, saving the copy.
  Status AppendImpl(std::span<const char> data) {
    if (data.empty()) return Status::Ok();  // An empty span may carry a null pointer.
    const std::size_t cap = store_->options_.buffer_bytes;
    if (!direct_ && buffered_ == 0 && data.size() >= cap) {
      return WriteOut(data.data(), data.size());
    }
    if (!buffer_) buffer_ = AllocateAligned(cap);
    if (direct_) {
      // Without a copy: bytes that sit in memory where their file offset says, modulo the
      // alignment (the transport reads request bodies into place for this), go to the file from
      // where they are, once the buffered partial block is completed and flushed.
      const std::size_t head = (kBufferAlignment - buffered_ % kBufferAlignment) % kBufferAlignment;
      if (data.size() >= head + kBufferAlignment && IsAligned(data.data() + head)) {
        std::memcpy(buffer_.get() + buffered_, data.data(), head);
        buffered_ += head;
        RETURN_IF_ERROR(Flush());
        const std::size_t blocks = (data.size() - head) / kBufferAlignment * kBufferAlignment;
        RETURN_IF_ERROR(WriteOut(data.data() + head, blocks));
        data = data.subspan(head + blocks);
      }
    }
    while (!data.empty()) {
      const std::size_t take = std::min(cap - buffered_, data.size());
      std::memcpy(buffer_.get() + buffered_, data.data(), take);
      buffered_ += take;
      data = data.subspan(take);
      if (buffered_ < cap) break;
      RETURN_IF_ERROR(Flush());
      if (!direct_ && data.size() >= cap) return WriteOut(data.data(), data.size());
    }
    return Status::Ok();
  }

  Status Flush() {
    if (buffered_ == 0) return Status::Ok();
    return WriteOut(buffer_.get(), std::exchange(buffered_, 0));
  }

  // Commit's flush: the aligned part of what is buffered still goes direct; the tail that is not
  // a whole block is written through the page cache (fdatasync then flushes it).
  Status FlushLast() {
    if (direct_ && buffered_ % kBufferAlignment != 0) {
      const std::size_t aligned = buffered_ - buffered_ % kBufferAlignment;
      if (aligned > 0) {
        RETURN_IF_ERROR(WriteOut(buffer_.get(), aligned));
        std::memmove(buffer_.get(), buffer_.get() + aligned, buffered_ - aligned);
        buffered_ -= aligned;
      }
      RETURN_IF_ERROR(LeaveDirectIo(/*refused=*/false));
    }
    return Flush();
  }

  // Turns O_DIRECT off on the descriptor: for the unaligned tail, or for good when the
  // filesystem refused a direct write (`refused`: later writers then skip it too).
  Status LeaveDirectIo(bool refused) {
    if (!direct_) return Status::Ok();
    if (!SetDirectIo(fd_.get(), false)) {
      return ErrnoToStatus(errno, Describe("leave direct I/O for", key_));
    }
    direct_ = false;
    if (refused) store_->direct_io_.store(false, std::memory_order_relaxed);
    return Status::Ok();
  }

  // The one place bytes reach the descriptor.
  Status WriteOut(const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_.get(), p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        // A filesystem that opens with O_DIRECT but will not write that way (or a short direct
        // write that left the offset unaligned): go on through the page cache.
        if (errno == EINVAL && direct_) {
          RETURN_IF_ERROR(LeaveDirectIo(/*refused=*/file_bytes_ == 0));
          continue;
        }
        return ErrnoToStatus(errno, Describe("write", key_));
      }
      // write() returning 0 for n > 0 is not supposed to happen on a regular file; treat it as
      // the disk refusing more bytes rather than spin.
      if (w == 0) return ErrnoToStatus(ENOSPC, Describe("write", key_));
      p += w;
      n -= static_cast<std::size_t>(w);
      file_bytes_ += w;
    }
    return direct_ ? Status::Ok() : MaybeStartWriteback();
  }

  // Starts (does not wait for) writeback of the bytes written since the last call, so dirty
  // pages drain while the rest arrives and Commit's fdatasync has little left to do.
  Status MaybeStartWriteback() {
    const std::int64_t every = store_->options_.writeback_bytes;
    if (every <= 0 || !writeback_supported_) return Status::Ok();
    const std::int64_t pending = file_bytes_ - writeback_from_;
    if (pending < every) return Status::Ok();
    while (::sync_file_range(fd_.get(), writeback_from_, pending, SYNC_FILE_RANGE_WRITE) < 0) {
      if (errno == EINTR) continue;
      // Not supported here (some filesystems, seccomp): the optimisation is lost, not the data.
      if (errno == EINVAL || errno == ENOSYS || errno == ESPIPE || errno == EPERM) {
        writeback_supported_ = false;
        return Status::Ok();
      }
      // EIO, ENOSPC, ...: the write will fail at fdatasync anyway; say so now.
      return ErrnoToStatus(errno, Describe("start writeback of", key_));
    }
    writeback_from_ = file_bytes_;
    return Status::Ok();
  }

  Status CommitImpl() {
    RETURN_IF_ERROR(FlushLast());
    buffer_.reset();
    // EINTR from fdatasync means it did not finish, not that data was lost: call it again.
    // Any other error is final (the kernel may already have dropped the dirty pages).
    while (::fdatasync(fd_.get()) < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, Describe("fdatasync", key_));
    }
    if (const int err = fd_.Close()) return ErrnoToStatus(err, Describe("close", key_));

    std::vector<std::string> to_sync;
    std::vector<std::string> made_durable;
    RETURN_IF_ERROR(store_->MakeParentDirs(key_, &to_sync, &made_durable));
    const std::string final_path = store_->ObjectPath(key_);
    RETURN_IF_ERROR(RenameNoReplace(final_path));
    tmp_path_.clear();  // Renamed away: nothing left to discard in tmp/.

    to_sync.push_back(ParentOf(final_path));
    std::sort(to_sync.begin(), to_sync.end());
    to_sync.erase(std::unique(to_sync.begin(), to_sync.end()), to_sync.end());
    for (const auto& dir : to_sync) {
      Status s = FsyncDir(dir);
      if (!s.ok()) {
        // The rename may or may not survive a crash: do not leave a blob visible that Commit
        // failed to make durable.
        ::unlink(final_path.c_str());
        return s;
      }
    }
    store_->RememberDurable(made_durable);
    return Status::Ok();
  }

  // Moves the temp file to `final_path` unless something is already there: keys are unique,
  // and a blob that exists must never be replaced.
  Status RenameNoReplace(const std::string& final_path) {
    if (::renameat2(AT_FDCWD, tmp_path_.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) ==
        0) {
      return Status::Ok();
    }
    if (errno != EINVAL && errno != ENOSYS) return RenameError(errno);
    // The filesystem lacks RENAME_NOREPLACE: link() refuses an existing target as well.
    if (::link(tmp_path_.c_str(), final_path.c_str()) < 0) return RenameError(errno);
    // The blob is committed once linked; a leftover temp name only costs CleanupTemporary a
    // moment, so an unlink failure here is not the commit's failure.
    ::unlink(tmp_path_.c_str());
    return Status::Ok();
  }

  Status RenameError(int err) {
    if (err == EEXIST) {
      return Status(StatusCode::kAlreadyExists, Describe("commit", key_) + ": already exists");
    }
    return ErrnoToStatus(err, Describe("rename into place", key_));
  }

  // Ends the writer without a blob: closes the descriptor and removes the temp file.
  void Discard() {
    state_ = State::kFinished;
    buffer_.reset();
    buffered_ = 0;
    fd_.Reset();
    if (!tmp_path_.empty()) {
      ::unlink(tmp_path_.c_str());  // Best effort: CleanupTemporary catches what this misses.
      tmp_path_.clear();
    }
  }

  LocalBlobStore* store_;
  const std::string key_;
  std::string tmp_path_;  // Empty once renamed or removed.
  UniqueFd fd_;
  bool direct_;           // fd_ has O_DIRECT set.
  AlignedBuffer buffer_;  // options.buffer_bytes, allocated on the first small append.
  std::size_t buffered_ = 0;
  std::int64_t written_ = 0;         // Accepted by Append (buffered or on disk).
  std::int64_t file_bytes_ = 0;      // Written to the descriptor.
  std::int64_t writeback_from_ = 0;  // Start of the range whose writeback is not started.
  bool writeback_supported_ = true;
  State state_ = State::kOpen;
};

// ---------------------------------------------------------------------------------------------
// Store.

LocalBlobStore::LocalBlobStore(std::string root, LocalBlobOptions options)
    : root_(std::move(root)),
      objects_dir_(root_ + "/objects"),
      tmp_dir_(root_ + "/tmp"),
      options_(options),
      direct_io_(options.direct_io && options.buffer_bytes % kBufferAlignment == 0) {
  if (options.read_ahead_threads > 0 && options.read_ahead_bytes > 0) {
    prefetcher_ = std::make_unique<Prefetcher>(options.read_ahead_threads);
  }
}

LocalBlobStore::~LocalBlobStore() = default;

void LocalBlobStore::WaitForReadAhead() {
  if (prefetcher_) prefetcher_->WaitIdle();
}

Result<std::unique_ptr<LocalBlobStore>> LocalBlobStore::Open(const std::string& root,
                                                             LocalBlobOptions options) {
  if (root.empty()) return InvalidArgument("Blob store root is empty");
  if (options.buffer_bytes == 0) return InvalidArgument("LocalBlobOptions.buffer_bytes is 0");
  if (options.writeback_bytes < 0) {
    return InvalidArgument("LocalBlobOptions.writeback_bytes is negative");
  }
  if (options.read_ahead_bytes < 0) {
    return InvalidArgument("LocalBlobOptions.read_ahead_bytes is negative");
  }
  if (options.read_ahead_threads < 0) {
    return InvalidArgument("LocalBlobOptions.read_ahead_threads is negative");
  }
  if (options.cached_blob_bytes < 0) {
    return InvalidArgument("LocalBlobOptions.cached_blob_bytes is negative");
  }
  // Absolute, so that a later chdir cannot move the store; normalized, so prefixes compare.
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(root, ec);
  if (ec) return ErrnoToStatus(ec.value(), "resolve blob root " + root);
  std::string normalized = abs.lexically_normal().string();
  while (normalized.size() > 1 && normalized.back() == '/') normalized.pop_back();

  std::unique_ptr<LocalBlobStore> store(new LocalBlobStore(normalized, options));
  RETURN_IF_ERROR(MakeDirsDurably(store->root_));
  for (const std::string* dir : {&store->objects_dir_, &store->tmp_dir_}) {
    if (::mkdir(dir->c_str(), kDirMode) < 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, "create directory " + *dir);
    }
    struct stat st;
    if (::stat(dir->c_str(), &st) < 0) return ErrnoToStatus(errno, "stat " + *dir);
    if (!S_ISDIR(st.st_mode)) return ErrnoToStatus(ENOTDIR, "open " + *dir);
  }
  // Synced even when both existed: an earlier run may have crashed before syncing them.
  RETURN_IF_ERROR(FsyncDir(store->root_));
  return store;
}

Status LocalBlobStore::ValidateKey(std::string_view key) {
  std::size_t component = 0;  // Length of the component being scanned.
  for (char c : key) {
    if (c == '/') {
      if (component == 0) break;  // Leading '/' or "//".
      component = 0;
      continue;
    }
    if (!IsKeyChar(c)) {
      return InvalidArgument("Invalid blob key: only [A-Za-z0-9_-] and '/' are allowed");
    }
    if (++component > NAME_MAX) return InvalidArgument("Invalid blob key: component too long");
  }
  // Covers the empty key, a trailing '/', and the break above.
  if (component == 0) return InvalidArgument("Invalid blob key: empty component");
  return Status::Ok();
}

std::string LocalBlobStore::ObjectPath(std::string_view key) const {
  std::string path = objects_dir_;
  path += '/';
  path += key;
  return path;
}

Result<std::unique_ptr<BlobWriter>> LocalBlobStore::NewWriter(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  // O_EXCL on a random name: two writers (or two nodes sharing the directory) never share a
  // temp file. The name is retried only on the astronomically unlikely collision.
  for (int attempt = 0;; ++attempt) {
    std::string tmp_path = tmp_dir_ + "/" + RandomHex(12) + ".tmp";
    const bool direct = direct_io();
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0);
    UniqueFd fd(::open(tmp_path.c_str(), flags, kFileMode));
    if (!fd.valid() && direct && errno == EINVAL) {
      // The filesystem refuses O_DIRECT (tmpfs): buffered writes from now on. Linux may have
      // created the file before refusing the flag; the random name is ours (O_EXCL).
      ::unlink(tmp_path.c_str());
      direct_io_.store(false, std::memory_order_relaxed);
      continue;
    }
    if (fd.valid()) {
      return std::unique_ptr<BlobWriter>(std::make_unique<LocalBlobWriter>(
          this, key, std::move(tmp_path), std::move(fd), direct));
    }
    if (errno != EEXIST || attempt >= 3) {
      return ErrnoToStatus(errno, Describe("create temporary file for", key));
    }
  }
}

Result<std::unique_ptr<BlobReader>> LocalBlobStore::NewReader(const std::string& key,
                                                              std::int64_t offset,
                                                              std::int64_t length) {
  RETURN_IF_ERROR(ValidateKey(key));
  if (offset < 0) return InvalidArgument("Negative blob offset");
  std::string path = ObjectPath(key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    // ENOTDIR: a key component names a blob, so no blob can live below it.
    if (errno == ENOENT || errno == ENOTDIR) return NotFound("No such blob: " + key);
    return ErrnoToStatus(errno, Describe("open", key));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) return ErrnoToStatus(errno, Describe("stat", key));
  if (!S_ISREG(st.st_mode)) return NotFound("No such blob: " + key);  // A key prefix.
  const std::int64_t size = st.st_size;
  if (offset > size) return OutOfRange("Blob offset past its end: " + key);
  if (length < 0) length = size - offset;
  if (length > size - offset) return OutOfRange("Blob range past its end: " + key);
  if (options_.sequential_reads && length > 0) {
    // Advice only: its failure changes speed, never bytes.
    (void)::posix_fadvise(fd.get(), offset, length, POSIX_FADV_SEQUENTIAL);
  }
  return std::unique_ptr<BlobReader>(
      std::make_unique<LocalBlobReader>(std::move(fd), key, std::move(path), offset, length,
                                        options_.read_ahead_bytes, prefetcher_.get()));
}

Result<std::int64_t> LocalBlobStore::Stat(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  struct stat st;
  if (::stat(ObjectPath(key).c_str(), &st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound("No such blob: " + key);
    return ErrnoToStatus(errno, Describe("stat", key));
  }
  if (!S_ISREG(st.st_mode)) return NotFound("No such blob: " + key);
  return static_cast<std::int64_t>(st.st_size);
}

Status LocalBlobStore::Delete(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  if (::unlink(ObjectPath(key).c_str()) < 0) {
    // EISDIR: the key is only a prefix of other blobs; there is no blob to delete.
    if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return Status::Ok();
    return ErrnoToStatus(errno, Describe("delete", key));
  }
  return Status::Ok();
}

Status LocalBlobStore::CleanupTemporary(std::int64_t older_than_seconds) {
  if (older_than_seconds < 0) return InvalidArgument("older_than_seconds is negative");
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t cutoff_sec = static_cast<std::int64_t>(now.tv_sec) - older_than_seconds;
  const long cutoff_nsec = now.tv_nsec;

  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(tmp_dir_.c_str()), &::closedir);
  if (!dir) return ErrnoToStatus(errno, "open directory " + tmp_dir_);
  const int dir_fd = ::dirfd(dir.get());
  Status first_error;
  // One bad entry must not keep the rest of the directory from being cleaned.
  auto note = [&first_error](Status s) {
    if (first_error.ok()) first_error = std::move(s);
  };
  for (;;) {
    errno = 0;
    const struct dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) note(ErrnoToStatus(errno, "read directory " + tmp_dir_));
      break;
    }
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) note(ErrnoToStatus(errno, "stat temporary " + std::string(name)));
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    const bool old = st.st_mtim.tv_sec < cutoff_sec ||
                     (st.st_mtim.tv_sec == cutoff_sec && st.st_mtim.tv_nsec < cutoff_nsec);
    if (!old) continue;
    // ENOENT: another node's sweeper (or the writer itself) removed it first.
    if (::unlinkat(dir_fd, entry->d_name, 0) < 0 && errno != ENOENT) {
      note(ErrnoToStatus(errno, "remove temporary " + std::string(name)));
    }
  }
  return first_error;
}

Status LocalBlobStore::Ping() {
  auto fail = [](int err, std::string_view what) {
    Status s = ErrnoToStatus(err, what);
    // Full disk keeps its own code; anything else means "cannot use this store right now".
    if (s.code() == StatusCode::kResourceExhausted) return s;
    return Unavailable(s.message());
  };
  struct stat st;
  if (::stat(objects_dir_.c_str(), &st) < 0) return fail(errno, "stat " + objects_dir_);
  if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, "stat " + objects_dir_);
  const std::string probe = tmp_dir_ + "/ping-" + RandomHex(8) + ".tmp";
  UniqueFd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode));
  if (!fd.valid()) return fail(errno, "create probe " + probe);
  // One byte, because creating an empty file still works on a full filesystem.
  const char byte = 0;
  ssize_t w;
  do {
    w = ::write(fd.get(), &byte, 1);
  } while (w < 0 && errno == EINTR);
  const int write_err = w < 0 ? errno : 0;
  fd.Reset();
  ::unlink(probe.c_str());
  if (write_err != 0) return fail(write_err, "write probe " + probe);
  return Status::Ok();
}

Status LocalBlobStore::MakeParentDirs(std::string_view key, std::vector<std::string>* to_sync,
                                      std::vector<std::string>* made_durable) {
  std::string dir = objects_dir_;
  std::size_t start = 0;
  for (std::size_t slash = key.find('/'); slash != std::string_view::npos;
       start = slash + 1, slash = key.find('/', start)) {
    const std::string parent = dir;
    dir += '/';
    dir.append(key.substr(start, slash - start));
    if (::mkdir(dir.c_str(), kDirMode) < 0) {
      if (errno != EEXIST) return ErrnoToStatus(errno, Describe("create directory for", key));
      // Made by another writer, maybe a moment ago and not yet synced by it: unless this
      // process already synced it, sync its parent too rather than trust it.
      if (IsKnownDurable(dir)) continue;
    }
    to_sync->push_back(parent);
    made_durable->push_back(dir);
  }
  return Status::Ok();
}

bool LocalBlobStore::IsKnownDurable(const std::string& dir) const {
  std::lock_guard lock(durable_mu_);
  return durable_dirs_.count(dir) != 0;
}

void LocalBlobStore::RememberDurable(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return;
  std::lock_guard lock(durable_mu_);
  if (durable_dirs_.size() + dirs.size() > kMaxDurableDirsCached) durable_dirs_.clear();
  durable_dirs_.insert(dirs.begin(), dirs.end());
}

}  // namespace fileport
