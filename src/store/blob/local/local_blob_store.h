// LocalBlobStore: the embedded default BlobStore, a directory on a local filesystem.
//
// Layout: `root/objects/<key>` holds committed blobs (key components become directories),
// `root/tmp/` holds the files of writers in progress. A writer streams into a unique temp
// file — with direct I/O where the filesystem allows it, else through the page cache,
// starting writeback every `writeback_bytes` so the final flush is short; Commit is
// fdatasync, an atomic no-replace rename into `objects/`, and an fsync of every directory
// whose entry changed, so an acknowledged blob survives a crash. Temp files of writers killed
// by a crash are removed by CleanupTemporary (run by the sweeper), never by a destructor of
// some other object.
//
// Readers keep the next window of a blob on its way from the disk; two read-ahead threads of
// the store read those windows in (LocalBlobOptions::read_ahead_threads).
//
// Thread-safety: the store is thread-safe; each writer and reader is used by one thread at a
// time and must not outlive the store.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "store/blob/blob_store.h"

namespace fileport {

struct LocalBlobOptions {
  // Each writer coalesces small appends in one buffer of this size, allocated once (lazily, on
  // the first small append). Without direct I/O, an append at least this large, arriving while
  // the buffer is empty, goes straight to the file without a copy. Must be > 0.
  std::size_t buffer_bytes = std::size_t{1} << 20;
  // Write blobs with O_DIRECT: the bytes go from the writer's aligned buffer to the device,
  // without a copy into the page cache and without the writeback that copy later costs, which
  // halves the CPU an ingested byte costs and lets Commit's fdatasync flush only metadata and
  // the unaligned tail. Used only when buffer_bytes is a multiple of 4096; a filesystem that
  // refuses it (tmpfs, some FUSE and network filesystems: EINVAL) silently gets buffered
  // writes, for that writer and every later one. The price: a blob just written is not in the
  // page cache, so its first read comes from the device.
  bool direct_io = true;
  // With direct_io: a blob its writer is told will hold at most this many bytes
  // (BlobWriter::HintSize) is written through the page cache instead, where its first reads
  // then find it: small files are often read soon after they are uploaded (a batch input, an
  // assistants document), and for so few bytes the copy costs little. 0: every blob is written
  // direct.
  std::int64_t cached_blob_bytes = std::int64_t{16} << 20;
  // Buffered writes only: after every this many bytes reach the file, start their writeback
  // (sync_file_range(SYNC_FILE_RANGE_WRITE), as RocksDB's bytes_per_sync) so that Commit's
  // fdatasync has little left to flush. 0 disables early writeback.
  std::int64_t writeback_bytes = std::int64_t{8} << 20;
  // Tell the kernel a reader's range will be read sequentially (posix_fadvise SEQUENTIAL:
  // larger read-ahead).
  bool sequential_reads = true;
  // A reader keeps this many bytes ahead of where it reads on their way from the device, one
  // window at a time, when a probe finds the window's last byte not in the page cache. The
  // kernel's own read-ahead grows only to the device's read_ahead_kb (128 KiB by default),
  // which a disk serves at a third of its speed: a blob just written with O_DIRECT downloads
  // about three times faster this way. A cached blob costs one probe (cachestat(2), or where
  // the kernel lacks it a preadv2 RWF_NOWAIT of one byte) per window. 0 disables.
  std::int64_t read_ahead_bytes = std::int64_t{8} << 20;
  // Threads that read those windows into the page cache, by mapping and populating them
  // (MADV_POPULATE_READ, under MADV_HUGEPAGE), so that the cache holds them in large folios.
  // 0: the reader asks for each window itself with posix_fadvise(WILLNEED), which reads as
  // deep without a thread but leaves the window in 4 KiB pages, and every later sendfile of
  // them pays per page (about a sixth more CPU per 1 MiB range from the cache). Windows a
  // busy prefetcher has no room for (more than 64 waiting) are advised that way too, as are all
  // windows when no thread can be started.
  int read_ahead_threads = 2;
};

class LocalBlobStore final : public BlobStore {
 public:
  // Opens (creating as needed, durably) `root`, `root/objects` and `root/tmp`. Errors:
  // InvalidArgument for an empty root or bad options, errno translations otherwise (a root
  // that exists but is not a directory is Internal, ENOTDIR).
  static Result<std::unique_ptr<LocalBlobStore>> Open(const std::string& root,
                                                      LocalBlobOptions options = {});
  // Stops the read-ahead threads; windows still waiting are dropped.
  ~LocalBlobStore() override;

  // Starts a writer on a new temp file. InvalidArgument for a malformed key. Commit returns
  // AlreadyExists if the key is taken (an existing blob is never replaced).
  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override;
  // Opens the file now, so a later Delete does not disturb the reader. InvalidArgument for a
  // malformed key or negative offset; NotFound; OutOfRange when offset > size or
  // offset + length > size.
  Result<std::unique_ptr<BlobReader>> NewReader(const std::string& key, std::int64_t offset = 0,
                                                std::int64_t length = -1) override;
  Result<std::int64_t> Stat(const std::string& key) override;
  // Unlinks the file; OK when it is missing. Empty parent directories are kept (removing them
  // would race with a writer creating a blob inside). Not fsynced: a delete undone by a
  // crash leaves an orphan, which the sweeper collects again.
  Status Delete(const std::string& key) override;
  // Removes regular files in `root/tmp` whose mtime is more than `older_than_seconds` before
  // now. A writer that is still appending keeps its mtime fresh; pick the threshold above the
  // longest pause a live writer may take (an upload's lifetime). Compares against the real
  // clock because mtimes come from it.
  Status CleanupTemporary(std::int64_t older_than_seconds) override;
  // Creates, writes one byte to, and removes a probe file in `root/tmp`. ResourceExhausted
  // when the filesystem is full, Unavailable for any other failure.
  Status Ping() override;

  // OK when `key` is '/'-separated components of [A-Za-z0-9_-], none empty and none longer
  // than a file name may be; InvalidArgument otherwise. This is what keeps paths inside root.
  static Status ValidateKey(std::string_view key);

  const std::string& root() const { return root_; }
  // `root/objects/<key>`; the key must be valid.
  std::string ObjectPath(std::string_view key) const;
  const std::string& temp_dir() const { return tmp_dir_; }
  // True while new writers open their temp files with O_DIRECT: options.direct_io, an aligned
  // buffer size, and the filesystem has not refused it yet.
  bool direct_io() const { return direct_io_.load(std::memory_order_relaxed); }
  // Blocks until no window waits for or is being read ahead by the read-ahead threads, so
  // that a test can look at the page cache after them.
  void WaitForReadAhead();

 private:
  class Prefetcher;
  friend class LocalBlobReader;
  friend class LocalBlobWriter;
  LocalBlobStore(std::string root, LocalBlobOptions options);

  // Creates the directories between `objects/` and the blob of `key`. Appends to `to_sync`
  // every directory whose entry for a child may not be durable yet (the parent of each
  // directory this call created, or found existing but not yet known to be durable).
  Status MakeParentDirs(std::string_view key, std::vector<std::string>* to_sync,
                        std::vector<std::string>* made_durable);
  bool IsKnownDurable(const std::string& dir) const;
  void RememberDurable(const std::vector<std::string>& dirs);

  const std::string root_;
  const std::string objects_dir_;
  const std::string tmp_dir_;
  const LocalBlobOptions options_;
  // Cleared for good the first time the filesystem refuses direct I/O.
  std::atomic<bool> direct_io_;

  // Directories whose own entry is known to be durable in this process, so their parents
  // need no fsync on later commits. A cache: cleared when large, which only costs fsyncs.
  mutable std::mutex durable_mu_;
  std::unordered_set<std::string> durable_dirs_;  // Guarded by durable_mu_.

  // Null when options.read_ahead_threads or read_ahead_bytes is 0.
  std::unique_ptr<Prefetcher> prefetcher_;
};

}  // namespace fileport
