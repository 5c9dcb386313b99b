// MemoryBlobStore: a BlobStore held in process memory, for tests and for fault injection.
//
// Committed blobs are immutable std::strings shared through shared_ptr, so a reader keeps the
// bytes it opened even if the blob is deleted meanwhile (the same promise the local store keeps
// with an open descriptor). Nothing is durable; a writer's bytes live only in the writer until
// Commit, so there is never temporary data to clean up.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/blob/blob_store.h"

namespace fileport {

class MemoryBlobStore final : public BlobStore {
 public:
  MemoryBlobStore() = default;

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override;
  Result<std::unique_ptr<BlobReader>> NewReader(const std::string& key, std::int64_t offset = 0,
                                                std::int64_t length = -1) override;
  Result<std::int64_t> Stat(const std::string& key) override;
  Status Delete(const std::string& key) override;
  // Always OK: uncommitted bytes belong to their writer and die with it.
  Status CleanupTemporary(std::int64_t older_than_seconds) override;
  Status Ping() override;

  // Test hooks (thread-safe): how many committed blobs exist, and their keys in sorted order.
  std::size_t blob_count() const;
  std::vector<std::string> keys() const;

 private:
  friend class MemoryBlobWriter;
  // Publishes a finished blob; AlreadyExists when the key is taken (keys are never replaced).
  Status Publish(const std::string& key, std::shared_ptr<const std::string> bytes);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>> blobs_;  // Guarded by mu_.
};

}  // namespace fileport
