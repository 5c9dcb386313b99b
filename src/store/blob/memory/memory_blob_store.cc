// MemoryBlobStore: writers collect bytes in a private string, Commit publishes it under the
// store's mutex, readers share the published string.
#include "store/blob/memory/memory_blob_store.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

namespace fileport {
namespace {

// The same key grammar the local store enforces, so a test written against memory does not
// pass with a key that production storage would refuse: '/'-separated components of
// [A-Za-z0-9_-], none empty. (Components are never "." or "..": those need a '.'.)
Status ValidateKey(const std::string& key) {
  bool component_empty = true;
  for (char c : key) {
    if (c == '/') {
      if (component_empty) break;
      component_empty = true;
      continue;
    }
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!allowed) return InvalidArgument("Invalid blob key: disallowed character");
    component_empty = false;
  }
  if (component_empty) return InvalidArgument("Invalid blob key: empty component");
  return Status::Ok();
}

class MemoryBlobReader final : public BlobReader {
 public:
  MemoryBlobReader(std::shared_ptr<const std::string> bytes, std::int64_t offset,
                   std::int64_t length)
      : bytes_(std::move(bytes)), next_(offset), end_(offset + length), length_(length) {}

  Result<std::size_t> Read(std::span<char> out) override {
    const auto n = static_cast<std::size_t>(
        std::min<std::int64_t>(end_ - next_, static_cast<std::int64_t>(out.size())));
    if (n > 0) std::memcpy(out.data(), bytes_->data() + next_, n);
    next_ += static_cast<std::int64_t>(n);
    return n;
  }
  std::int64_t size() const override { return length_; }

 private:
  std::shared_ptr<const std::string> bytes_;  // Keeps a deleted blob readable.
  std::int64_t next_;
  std::int64_t end_;
  std::int64_t length_;
};

}  // namespace

// Holds a raw pointer to its store: like every BlobWriter, it must not outlive the store.
class MemoryBlobWriter final : public BlobWriter {
 public:
  MemoryBlobWriter(MemoryBlobStore* store, std::string key) : store_(store), key_(std::move(key)) {}

  Status Append(std::span<const char> data) override {
    if (state_ != State::kOpen) return FailedPrecondition("Blob writer is no longer open");
    if (!data.empty()) bytes_.append(data.data(), data.size());  // data() may be null.
    written_ += static_cast<std::int64_t>(data.size());
    return Status::Ok();
  }

  Status Commit() override {
    if (state_ != State::kOpen) return FailedPrecondition("Blob writer is no longer open");
    // Whatever happens next, this writer is finished: a failed Commit is never retried.
    state_ = State::kFinished;
    auto shared = std::make_shared<const std::string>(std::move(bytes_));
    return store_->Publish(key_, std::move(shared));
  }

  void Abort() override {
    if (state_ != State::kOpen) return;
    state_ = State::kFinished;
    std::string().swap(bytes_);
  }

  std::int64_t bytes_written() const override { return written_; }

 private:
  enum class State { kOpen, kFinished };

  MemoryBlobStore* store_;
  std::string key_;
  std::string bytes_;
  std::int64_t written_ = 0;
  State state_ = State::kOpen;
};

Result<std::unique_ptr<BlobWriter>> MemoryBlobStore::NewWriter(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  return std::unique_ptr<BlobWriter>(std::make_unique<MemoryBlobWriter>(this, key));
}

Result<std::unique_ptr<BlobReader>> MemoryBlobStore::NewReader(const std::string& key,
                                                               std::int64_t offset,
                                                               std::int64_t length) {
  RETURN_IF_ERROR(ValidateKey(key));
  if (offset < 0) return InvalidArgument("Negative blob offset");
  std::shared_ptr<const std::string> bytes;
  {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(key);
    if (it == blobs_.end()) return NotFound("No such blob: " + key);
    bytes = it->second;
  }
  const auto size = static_cast<std::int64_t>(bytes->size());
  if (offset > size) return Status(StatusCode::kOutOfRange, "Blob offset past its end: " + key);
  if (length < 0) length = size - offset;
  if (length > size - offset) {
    return Status(StatusCode::kOutOfRange, "Blob range past its end: " + key);
  }
  return std::unique_ptr<BlobReader>(
      std::make_unique<MemoryBlobReader>(std::move(bytes), offset, length));
}

Result<std::int64_t> MemoryBlobStore::Stat(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  std::lock_guard lock(mu_);
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return NotFound("No such blob: " + key);
  return static_cast<std::int64_t>(it->second->size());
}

Status MemoryBlobStore::Delete(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  std::shared_ptr<const std::string> doomed;  // Freed outside the lock.
  std::lock_guard lock(mu_);
  auto it = blobs_.find(key);
  if (it != blobs_.end()) {
    doomed = std::move(it->second);
    blobs_.erase(it);
  }
  return Status::Ok();
}

Status MemoryBlobStore::CleanupTemporary(std::int64_t /*older_than_seconds*/) {
  return Status::Ok();
}

Status MemoryBlobStore::Ping() { return Status::Ok(); }

std::size_t MemoryBlobStore::blob_count() const {
  std::lock_guard lock(mu_);
  return blobs_.size();
}

std::vector<std::string> MemoryBlobStore::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(blobs_.size());
  for (const auto& [key, bytes] : blobs_) out.push_back(key);
  return out;
}

Status MemoryBlobStore::Publish(const std::string& key, std::shared_ptr<const std::string> bytes) {
  std::lock_guard lock(mu_);
  if (!blobs_.emplace(key, std::move(bytes)).second) {
    return Status(StatusCode::kAlreadyExists, "Blob already exists: " + key);
  }
  return Status::Ok();
}

}  // namespace fileport
