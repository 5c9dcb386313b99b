// Test support for the core services: fault-injecting store decorators and the environment
// every core unit test builds its services in.
//
// DESIGN.md habit 9 ("walk every failure point", after leveldb's FaultInjectionTestEnv and
// Beast's fail_count): a FaultInjector counts the fallible calls made through the wrappers —
// every method that returns a Status or a Result, across both stores and the writers and
// readers the blob store hands out — and fails the N-th one with a chosen Status. A test loops
// N = 1, 2, … until the operation completes without meeting the fault, and checks at every N
// that nothing half-done is visible. Calls that cannot fail (BlobWriter::Abort,
// bytes_written, BlobReader::size) are forwarded without being counted, so every N lands on a
// call that can report the fault.
//
// The fault is injected *before* the wrapped call runs: the store is left untouched, as after
// a refused request, an ENOSPC or an I/O error (an ambiguous "it happened but the answer was
// lost" failure is a different walk, not modelled here). An injected failure of
// BlobWriter::Append or Commit also aborts the wrapped writer, as a real writer is broken after
// a failed write or fsync: it can never be committed afterwards.
//
// CoreEnv wires FileService, UploadService and Sweeper over MemoryMetadataStore and
// MemoryBlobStore through these wrappers (faults off by default) with a FakeClock, and offers
// the helpers the tests share: create a file, add a part, read content, and the set of blob
// keys that live files and pending uploads' parts reference (to compare with the blobs that
// exist: no orphans, no dangling references).
#pragma once

#include <gmock/gmock.h>
#include <signal.h>
#include <unistd.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "common/status.h"
#include "core/file_service.h"
#include "core/service_context.h"
#include "core/sweeper.h"
#include "core/upload_service.h"
#include "store/blob/blob_store.h"
#include "store/blob/memory/memory_blob_store.h"
#include "store/meta/memory/memory_metadata_store.h"
#include "store/meta/metadata_store.h"

namespace fileport {

// ----------------------------------------------------------------------------------------
// Status helpers

inline const Status& StatusOf(const Status& s) { return s; }
template <class T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

// gtest prints these in failure messages.
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
template <class T>
void PrintTo(const Result<T>& r, std::ostream* os) {
  *os << (r.ok() ? std::string("OK (a value)") : r.status().ToString());
}

inline void PrintTo(UploadStatus s, std::ostream* os) { *os << UploadStatusName(s); }
inline void PrintTo(const File& f, std::ostream* os) {
  *os << "File{" << f.id << ", " << f.bytes << " bytes, " << f.purpose << "}";
}

// EXPECT_THAT(result_or_status, StatusIs(StatusCode::kNotFound, "No such …", "id"));
// `param` "" means a null param on the wire.
MATCHER_P3(StatusIs, code, message, param, "") {
  const Status& s = StatusOf(arg);
  *result_listener << "which is " << s.ToString();
  return s.code() == code && s.message() == message && s.param() == param;
}

// The same code and message as `expected` (an injected fault), any param.
MATCHER_P(SameErrorAs, expected, "") {
  const Status& s = StatusOf(arg);
  *result_listener << "which is " << s.ToString();
  return !s.ok() && s.code() == expected.code() && s.message() == expected.message();
}

#define FP_ASSERT_OK(expr)                                          \
  do {                                                              \
    const auto& fp_r_ = (expr);                                     \
    ASSERT_TRUE(::fileport::StatusOf(fp_r_).ok())                   \
        << #expr << ": " << ::fileport::StatusOf(fp_r_).ToString(); \
  } while (0)
#define FP_EXPECT_OK(expr)                                          \
  do {                                                              \
    const auto& fp_r_ = (expr);                                     \
    EXPECT_TRUE(::fileport::StatusOf(fp_r_).ok())                   \
        << #expr << ": " << ::fileport::StatusOf(fp_r_).ToString(); \
  } while (0)

// The three kinds of failure the walks inject (DESIGN.md habit 9).
inline Status UnavailableFault() { return Unavailable("injected: store unavailable"); }
inline Status DiskFullFault() { return Status(StatusCode::kResourceExhausted, "disk full"); }
inline Status IoErrorFault() { return Status(StatusCode::kDataLoss, "I/O error"); }

// ----------------------------------------------------------------------------------------
// FaultInjector

// Counts fallible calls and fails the chosen one. Thread-safe.
class FaultInjector {
 public:
  // Counting restarts now; the n-th fallible call from now (1-based) fails with `status`.
  // With `persistent`, every later call fails too (a full disk stays full). With `only`, just
  // the calls whose name starts with it ("meta.", "blob.Commit", "meta.InsertPart") are
  // counted and failed.
  void FailNth(std::int64_t n, Status status, bool persistent = false, std::string only = {}) {
    std::lock_guard lock(mu_);
    calls_ = 0;
    fail_at_ = n;
    status_ = std::move(status);
    persistent_ = persistent;
    only_ = std::move(only);
    fired_ = false;
    fired_at_.clear();
    trace_.clear();
  }
  // Counting restarts now; this process dies by SIGKILL just before the n-th fallible call
  // from now runs, as a server killed at that moment would (the crash walks run it in a
  // forked child). Dying before call n+1 is dying just after call n.
  void CrashNth(std::int64_t n) {
    std::lock_guard lock(mu_);
    calls_ = 0;
    fail_at_ = 0;
    crash_at_ = n;
    only_.clear();
    trace_.clear();
  }
  // No more faults; counting goes on.
  void Disable() {
    std::lock_guard lock(mu_);
    fail_at_ = 0;
  }
  // A guard against code that loops on a failing store: once more than `max_calls` fallible
  // calls were made (0: no limit), every call fails with Internal and budget_exceeded() is
  // true, so the looping code meets errors everywhere and stops instead of hanging the test.
  void SetCallBudget(std::int64_t max_calls) {
    std::lock_guard lock(mu_);
    budget_ = max_calls;
    total_calls_ = 0;
    budget_exceeded_ = false;
  }

  // Runs `hook` once, just before the next call named `call` (e.g. "meta.ListParts"): a
  // deterministic way to land a racing request between two steps of an operation. The hook
  // may call the services; its own store calls do not trigger it again.
  void BeforeCall(std::string call, std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_call_ = std::move(call);
    hook_ = std::move(hook);
  }

  // Every wrapped fallible call asks here first; a non-OK answer is returned in place of
  // running the call.
  Status Check(std::string_view call) {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      if (hook_ && call == hook_call_) {
        hook = std::move(hook_);
        hook_ = nullptr;
      }
    }
    if (hook) hook();
    std::lock_guard lock(mu_);
    ++total_calls_;
    if (budget_ > 0 && total_calls_ > budget_) {
      budget_exceeded_ = true;
      return Internal("injected: call budget exceeded (runaway loop?)");
    }
    if (trace_.size() < 10000) trace_.emplace_back(call);
    if (!only_.empty() && !call.starts_with(only_)) return Status::Ok();
    ++calls_;
    if (crash_at_ > 0 && calls_ == crash_at_) ::kill(::getpid(), SIGKILL);
    if (fail_at_ > 0 && (calls_ == fail_at_ || (persistent_ && calls_ > fail_at_))) {
      if (!fired_) fired_at_ = std::string(call);
      fired_ = true;
      return status_;
    }
    return Status::Ok();
  }

  // Counted calls since the last FailNth.
  std::int64_t calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // True once a fault was returned since the last FailNth.
  bool fired() const {
    std::lock_guard lock(mu_);
    return fired_;
  }
  // The call that met the (first) fault, e.g. "meta.InsertFile".
  std::string fired_at() const {
    std::lock_guard lock(mu_);
    return fired_at_;
  }
  bool budget_exceeded() const {
    std::lock_guard lock(mu_);
    return budget_exceeded_;
  }
  // Every call since the last FailNth, for failure messages.
  std::string Trace() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& c : trace_) out += (out.empty() ? "" : " ") + c;
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::int64_t calls_ = 0;
  std::int64_t fail_at_ = 0;  // 0: off
  std::int64_t crash_at_ = 0;  // 0: off
  bool persistent_ = false;
  std::string only_;
  Status status_;
  bool fired_ = false;
  std::string fired_at_;
  std::vector<std::string> trace_;
  std::string hook_call_;
  std::function<void()> hook_;
  std::int64_t budget_ = 0;
  std::int64_t total_calls_ = 0;
  bool budget_exceeded_ = false;
};

// ----------------------------------------------------------------------------------------
// FaultyMetadataStore

// Decorates any MetadataStore; owns nothing.
class FaultyMetadataStore final : public MetadataStore {
 public:
  FaultyMetadataStore(MetadataStore& base, FaultInjector& faults) : base_(base), faults_(faults) {}

  Status Migrate() override {
    RETURN_IF_ERROR(faults_.Check("meta.Migrate"));
    return base_.Migrate();
  }
  Status Ping() override {
    RETURN_IF_ERROR(faults_.Check("meta.Ping"));
    return base_.Ping();
  }
  Status AddGarbage(const std::vector<GarbageBlob>& blobs) override {
    RETURN_IF_ERROR(faults_.Check("meta.AddGarbage"));
    return base_.AddGarbage(blobs);
  }
  Result<std::vector<std::string>> ClaimGarbage(std::int64_t now, int limit,
                                                std::int64_t lease_until) override {
    RETURN_IF_ERROR(faults_.Check("meta.ClaimGarbage"));
    return base_.ClaimGarbage(now, limit, lease_until);
  }
  Status ForgetGarbage(const std::vector<std::string>& keys) override {
    RETURN_IF_ERROR(faults_.Check("meta.ForgetGarbage"));
    return base_.ForgetGarbage(keys);
  }
  Status InsertFile(const File& file, const Quota& quota = {}) override {
    RETURN_IF_ERROR(faults_.Check("meta.InsertFile"));
    return base_.InsertFile(file, quota);
  }
  Result<File> GetFile(const std::string& project, const std::string& id) override {
    RETURN_IF_ERROR(faults_.Check("meta.GetFile"));
    return base_.GetFile(project, id);
  }
  Result<Page<File>> ListFiles(const FileQuery& query) override {
    RETURN_IF_ERROR(faults_.Check("meta.ListFiles"));
    return base_.ListFiles(query);
  }
  Status DeleteFile(const std::string& project, const std::string& id,
                    std::int64_t garbage_due) override {
    RETURN_IF_ERROR(faults_.Check("meta.DeleteFile"));
    return base_.DeleteFile(project, id, garbage_due);
  }
  Result<std::vector<File>> ListExpiredFiles(std::int64_t now, int limit) override {
    RETURN_IF_ERROR(faults_.Check("meta.ListExpiredFiles"));
    return base_.ListExpiredFiles(now, limit);
  }
  Status InsertUpload(const Upload& upload, const Quota& quota = {}) override {
    RETURN_IF_ERROR(faults_.Check("meta.InsertUpload"));
    return base_.InsertUpload(upload, quota);
  }
  Result<Upload> GetUpload(const std::string& project, const std::string& id) override {
    RETURN_IF_ERROR(faults_.Check("meta.GetUpload"));
    return base_.GetUpload(project, id);
  }
  Status InsertPart(const UploadPart& part, std::int64_t now) override {
    RETURN_IF_ERROR(faults_.Check("meta.InsertPart"));
    return base_.InsertPart(part, now);
  }
  Result<std::vector<UploadPart>> ListParts(const std::string& project,
                                            const std::string& upload_id) override {
    RETURN_IF_ERROR(faults_.Check("meta.ListParts"));
    return base_.ListParts(project, upload_id);
  }
  Status CompleteUpload(const std::string& project, const std::string& upload_id,
                        const std::vector<std::string>& part_ids,
                        const std::optional<std::string>& md5, const File& file, std::int64_t now,
                        std::int64_t garbage_due) override {
    RETURN_IF_ERROR(faults_.Check("meta.CompleteUpload"));
    return base_.CompleteUpload(project, upload_id, part_ids, md5, file, now, garbage_due);
  }
  Result<Upload> TransitionUpload(const std::string& project, const std::string& id,
                                  UploadStatus from, UploadStatus to,
                                  std::int64_t garbage_due) override {
    RETURN_IF_ERROR(faults_.Check("meta.TransitionUpload"));
    return base_.TransitionUpload(project, id, from, to, garbage_due);
  }
  Result<std::vector<Upload>> ListExpiredUploads(std::int64_t now, int limit) override {
    RETURN_IF_ERROR(faults_.Check("meta.ListExpiredUploads"));
    return base_.ListExpiredUploads(now, limit);
  }
  Result<ProjectUsage> GetUsage(const std::string& project) override {
    RETURN_IF_ERROR(faults_.Check("meta.GetUsage"));
    return base_.GetUsage(project);
  }
  Status InsertApiKey(const ApiKey& key) override {
    RETURN_IF_ERROR(faults_.Check("meta.InsertApiKey"));
    return base_.InsertApiKey(key);
  }
  Result<std::vector<ApiKey>> ListApiKeys() override {
    RETURN_IF_ERROR(faults_.Check("meta.ListApiKeys"));
    return base_.ListApiKeys();
  }
  Status RevokeApiKey(const std::string& id, std::int64_t now) override {
    RETURN_IF_ERROR(faults_.Check("meta.RevokeApiKey"));
    return base_.RevokeApiKey(id, now);
  }
  Result<ApiKey> FindApiKey(const std::string& secret_sha256_hex) override {
    RETURN_IF_ERROR(faults_.Check("meta.FindApiKey"));
    return base_.FindApiKey(secret_sha256_hex);
  }
  Result<bool> HasApiKeys() override {
    RETURN_IF_ERROR(faults_.Check("meta.HasApiKeys"));
    return base_.HasApiKeys();
  }

 private:
  MetadataStore& base_;
  FaultInjector& faults_;
};

// ----------------------------------------------------------------------------------------
// FaultyBlobStore

class FaultyBlobWriter final : public BlobWriter {
 public:
  FaultyBlobWriter(std::unique_ptr<BlobWriter> base, FaultInjector& faults)
      : base_(std::move(base)), faults_(faults) {}
  Status Append(std::span<const char> data) override {
    if (Status s = faults_.Check("blob.Append"); !s.ok()) {
      base_->Abort();  // a failed write leaves the writer broken
      return s;
    }
    return base_->Append(data);
  }
  Status Commit() override {
    if (Status s = faults_.Check("blob.Commit"); !s.ok()) {
      base_->Abort();  // a failed Commit is never retried into success
      return s;
    }
    return base_->Commit();
  }
  void Abort() override { base_->Abort(); }
  std::int64_t bytes_written() const override { return base_->bytes_written(); }

 private:
  std::unique_ptr<BlobWriter> base_;
  FaultInjector& faults_;
};

class FaultyBlobReader final : public BlobReader {
 public:
  FaultyBlobReader(std::unique_ptr<BlobReader> base, FaultInjector& faults)
      : base_(std::move(base)), faults_(faults) {}
  Result<std::size_t> Read(std::span<char> out) override {
    RETURN_IF_ERROR(faults_.Check("blob.Read"));
    return base_->Read(out);
  }
  std::int64_t size() const override { return base_->size(); }

 private:
  std::unique_ptr<BlobReader> base_;
  FaultInjector& faults_;
};

// Decorates any BlobStore; the writers and readers it returns are decorated too. Owns nothing
// but those decorators.
class FaultyBlobStore final : public BlobStore {
 public:
  FaultyBlobStore(BlobStore& base, FaultInjector& faults) : base_(base), faults_(faults) {}

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override {
    RETURN_IF_ERROR(faults_.Check("blob.NewWriter"));
    ASSIGN_OR_RETURN(auto w, base_.NewWriter(key));
    return std::unique_ptr<BlobWriter>(new FaultyBlobWriter(std::move(w), faults_));
  }
  Result<std::unique_ptr<BlobReader>> NewReader(const std::string& key, std::int64_t offset,
                                                std::int64_t length) override {
    RETURN_IF_ERROR(faults_.Check("blob.NewReader"));
    ASSIGN_OR_RETURN(auto r, base_.NewReader(key, offset, length));
    return std::unique_ptr<BlobReader>(new FaultyBlobReader(std::move(r), faults_));
  }
  Result<std::int64_t> Stat(const std::string& key) override {
    RETURN_IF_ERROR(faults_.Check("blob.Stat"));
    return base_.Stat(key);
  }
  Status Delete(const std::string& key) override {
    RETURN_IF_ERROR(faults_.Check("blob.Delete"));
    return base_.Delete(key);
  }
  Status CleanupTemporary(std::int64_t older_than_seconds) override {
    RETURN_IF_ERROR(faults_.Check("blob.CleanupTemporary"));
    return base_.CleanupTemporary(older_than_seconds);
  }
  Status Ping() override {
    RETURN_IF_ERROR(faults_.Check("blob.Ping"));
    return base_.Ping();
  }

 private:
  BlobStore& base_;
  FaultInjector& faults_;
};

// ----------------------------------------------------------------------------------------
// CoreEnv

// `n` deterministic bytes (distinct per seed), so reordered parts show in the content.
inline std::string Bytes(std::size_t n, int seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(seed) * 3) % 26);
  }
  return s;
}

inline std::string Md5Hex(std::string_view data) {
  Md5 md5;
  md5.Update(std::span<const char>(data.data(), data.size()));
  auto d = md5.Final();
  return HexEncode(d);
}

// The Content-MD5 header value of `data` (base64 of the raw digest, RFC 1864).
inline std::string ContentMd5(std::string_view data) {
  Md5 md5;
  md5.Update(std::span<const char>(data.data(), data.size()));
  auto d = md5.Final();
  return Base64Encode(d);
}

inline std::span<const char> AsSpan(std::string_view s) { return {s.data(), s.size()}; }

inline CreateFileParams FileParams(std::string purpose = "assistants",
                                   std::string filename = "notes.txt",
                                   std::optional<ExpiresAfter> expires_after = std::nullopt) {
  CreateFileParams p;
  p.purpose = std::move(purpose);
  p.filename = std::move(filename);
  p.mime_type = "text/plain";
  p.expires_after = std::move(expires_after);
  return p;
}

inline CreateUploadParams UploadParams(std::int64_t bytes, std::string purpose = "assistants",
                                       std::string filename = "big.txt") {
  CreateUploadParams p;
  p.bytes = bytes;
  p.filename = std::move(filename);
  p.mime_type = "text/plain";
  p.purpose = std::move(purpose);
  return p;
}

struct CoreEnv {
  explicit CoreEnv(ServiceOptions options = {})
      : ctx{meta, blobs, clock, ids, std::move(options)} {}
  // Over other stores (real ones: SQLite and a local directory, say), owned by the caller;
  // `stored_keys` lists the blob keys that exist in `base_blobs`.
  CoreEnv(MetadataStore& base_meta, BlobStore& base_blobs,
          std::function<std::set<std::string>()> stored_keys, ServiceOptions options = {})
      : raw_meta(base_meta),
        raw_blobs(base_blobs),
        stored_keys_(std::move(stored_keys)),
        ctx{meta, blobs, clock, ids, std::move(options)} {}

  FakeClock clock;  // starts at 1'700'000'000 s, a whole second
  IdGenerator ids{clock};
  MemoryMetadataStore mem_meta;
  MemoryBlobStore mem_blobs;
  // The stores under the fault wrappers: the memory ones unless others were given.
  MetadataStore& raw_meta = mem_meta;
  BlobStore& raw_blobs = mem_blobs;
  std::function<std::set<std::string>()> stored_keys_;
  FaultInjector faults;
  FaultyMetadataStore meta{raw_meta, faults};
  FaultyBlobStore blobs{raw_blobs, faults};
  ServiceContext ctx;
  FileService files{ctx};
  UploadService uploads{ctx, files};
  Sweeper sweeper{ctx};

  std::int64_t now() const { return clock.NowSeconds(); }

  // Records an upload so LiveBlobKeys() looks at its parts.
  void Track(const std::string& project, const std::string& upload_id) {
    projects.insert(project);
    tracked_uploads.insert({project, upload_id});
  }

  // POST /v1/files as the HTTP layer drives it: StartWrite, the bytes in `chunks` appends,
  // FinishCreate; an Append error aborts the write.
  Result<File> CreateFile(const std::string& project, std::string_view content,
                          const CreateFileParams& params = FileParams(), int chunks = 1) {
    projects.insert(project);
    ASSIGN_OR_RETURN(auto w, files.StartWrite(project));
    if (chunks < 1) chunks = 1;
    const std::size_t step = (content.size() + chunks - 1) / chunks;
    for (int i = 0; i < chunks; ++i) {
      const std::size_t off = std::min(content.size(), static_cast<std::size_t>(i) * step);
      if (Status s = w->Append(AsSpan(content.substr(off, step))); !s.ok()) {
        w->Abort();
        return s;
      }
    }
    return files.FinishCreate(project, std::move(w), params);
  }

  Result<Upload> CreateUpload(const std::string& project, std::int64_t bytes,
                              std::string purpose = "assistants",
                              std::string filename = "big.txt") {
    auto u = uploads.Create(project, UploadParams(bytes, std::move(purpose), std::move(filename)));
    if (u.ok()) Track(project, u->id);
    return u;
  }

  // POST /v1/uploads/{id}/parts as the HTTP layer drives it.
  Result<UploadPart> AddPart(const std::string& project, const std::string& upload_id,
                             std::string_view data,
                             const std::optional<std::string>& content_md5 = std::nullopt) {
    ASSIGN_OR_RETURN(auto w, uploads.StartPart(project, upload_id, content_md5));
    if (Status s = w->Append(AsSpan(data)); !s.ok()) {
      w->Abort();
      return s;
    }
    return uploads.FinishPart(project, std::move(w));
  }

  // The whole content of a file, through the public API.
  Result<std::string> Read(const std::string& project, const std::string& file_id,
                           std::int64_t offset = 0, std::int64_t length = -1) {
    ASSIGN_OR_RETURN(FileContent c, files.OpenContent(project, file_id, offset, length));
    std::string out;
    char buf[7];  // small on purpose: reads cross segment boundaries
    for (;;) {
      ASSIGN_OR_RETURN(std::size_t n, c.reader->Read(buf));
      if (n == 0) break;
      out.append(buf, n);
    }
    if (static_cast<std::int64_t>(out.size()) != c.length) {
      return Internal("content reader delivered " + std::to_string(out.size()) + " of " +
                      std::to_string(c.length) + " bytes");
    }
    return out;
  }

  // Ids of the files `project` sees in a listing (newest first).
  std::vector<std::string> ListedFileIds(const std::string& project) {
    std::vector<std::string> out;
    auto listed = files.List(project, {});
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    if (!listed.ok()) return out;
    auto page = FilePageFromJson(ToJson(*listed));
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (page.ok()) {
      for (const File& f : page->data) out.push_back(f.id);
    }
    return out;
  }

  // Blob keys that stored rows reference: every file row's segments (expired or not, in every
  // project seen) and the parts of tracked uploads that are still pending in the store. Read
  // straight from the unwrapped store, so it never meets an injected fault.
  std::set<std::string> LiveBlobKeys() {
    std::set<std::string> keys;
    for (const std::string& project : projects) {
      FileQuery q;
      q.project = project;
      q.now = 0;  // include files past expires_at that the sweeper has not removed yet
      auto page = raw_meta.ListFiles(q);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) continue;
      for (const File& f : page->data) {
        for (const Segment& s : f.segments) keys.insert(s.blob_key);
      }
    }
    for (const auto& [project, id] : tracked_uploads) {
      auto u = raw_meta.GetUpload(project, id);
      if (!u.ok() || u->status != UploadStatus::kPending) continue;
      auto parts = raw_meta.ListParts(project, id);
      EXPECT_TRUE(parts.ok()) << parts.status().ToString();
      if (!parts.ok()) continue;
      for (const UploadPart& p : *parts) keys.insert(p.blob_key);
    }
    return keys;
  }

  std::set<std::string> StoredBlobKeys() const {
    if (stored_keys_) return stored_keys_();
    auto k = mem_blobs.keys();
    return {k.begin(), k.end()};
  }

  // Faults off, the clock past every grace period (writers that died, deleted files,
  // discarded parts) and past the garbage lease (blobs an earlier pass claimed but failed to
  // delete or forget), one sweep; then every stored blob must be referenced and every
  // referenced blob stored.
  void SweepAndExpectNoOrphans(const std::string& context = {}) {
    faults.Disable();
    clock.AdvanceSeconds(ctx.options.orphan_grace_seconds + ctx.options.delete_grace_seconds +
                         ctx.options.garbage_lease_seconds + 1);
    SweepStats st = sweeper.RunOnce();
    EXPECT_EQ(st.errors, 0) << context;
    EXPECT_EQ(StoredBlobKeys(), LiveBlobKeys()) << context << "\n(stored vs referenced blobs)";
  }

  std::set<std::string> projects;
  std::set<std::pair<std::string, std::string>> tracked_uploads;
};

}  // namespace fileport
