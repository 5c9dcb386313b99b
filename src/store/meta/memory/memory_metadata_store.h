// MemoryMetadataStore: the MetadataStore kept in ordinary maps under one mutex.
//
// It is the reference semantics of the interface (every SQL backend must behave exactly like
// it in tests/conformance/metadata_store_test.cc) and the store unit tests use. Nothing
// survives the object: "durable" here means "visible to every later call".
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/meta/metadata_store.h"

namespace fileport {

class MemoryMetadataStore final : public MetadataStore {
 public:
  MemoryMetadataStore() = default;
  MemoryMetadataStore(const MemoryMetadataStore&) = delete;
  MemoryMetadataStore& operator=(const MemoryMetadataStore&) = delete;

  Status Migrate() override;
  Status Ping() override;

  Status AddGarbage(const std::vector<GarbageBlob>& blobs) override;
  Result<std::vector<std::string>> ClaimGarbage(std::int64_t now, int limit,
                                                std::int64_t lease_until) override;
  Status ForgetGarbage(const std::vector<std::string>& keys) override;

  Status InsertFile(const File& file, const Quota& quota = {}) override;
  Result<File> GetFile(const std::string& project, const std::string& id) override;
  Result<Page<File>> ListFiles(const FileQuery& query) override;
  Status DeleteFile(const std::string& project, const std::string& id,
                    std::int64_t garbage_due) override;
  Result<std::vector<File>> ListExpiredFiles(std::int64_t now, int limit) override;

  Status InsertUpload(const Upload& upload, const Quota& quota = {}) override;
  Result<Upload> GetUpload(const std::string& project, const std::string& id) override;
  Status InsertPart(const UploadPart& part, std::int64_t now) override;
  Result<std::vector<UploadPart>> ListParts(const std::string& project,
                                            const std::string& upload_id) override;
  Status CompleteUpload(const std::string& project, const std::string& upload_id,
                        const std::vector<std::string>& part_ids,
                        const std::optional<std::string>& md5, const File& file, std::int64_t now,
                        std::int64_t garbage_due) override;
  Result<Upload> TransitionUpload(const std::string& project, const std::string& id,
                                  UploadStatus from, UploadStatus to,
                                  std::int64_t garbage_due) override;
  Result<std::vector<Upload>> ListExpiredUploads(std::int64_t now, int limit) override;

  Result<ProjectUsage> GetUsage(const std::string& project) override;

  Status InsertApiKey(const ApiKey& key) override;
  Result<std::vector<ApiKey>> ListApiKeys() override;
  Status RevokeApiKey(const std::string& id, std::int64_t now) override;
  Result<ApiKey> FindApiKey(const std::string& secret_sha256_hex) override;
  Result<bool> HasApiKeys() override;

 private:
  ProjectUsage UsageLocked(const std::string& project) const;

  struct UploadRow {
    Upload upload;                    // `file` always empty: it is wire-only
    std::int64_t received_bytes = 0;  // sum of the bytes of the parts accepted so far
  };
  struct PartRow {
    UploadPart part;
    std::int64_t seq = 0;  // store-wide insertion counter: the tie-break of arrival order
  };
  struct GarbageRow {
    std::int64_t due_at = 0;  // when leased: when the lease runs out
    bool leased = false;      // claimed by a sweeper: no longer an intent
  };

  // All helpers below expect mu_ held.
  UploadRow* FindUpload(const std::string& project, const std::string& id);
  void AddGarbageLocked(const std::string& key, std::int64_t due_at);
  // True when `key` has an intent row that an insert may consume: present and not leased.
  bool IntentAvailable(const std::string& key) const;
  // Parts of `upload_id` in arrival order.
  std::vector<const PartRow*> PartsOf(const std::string& upload_id) const;

  std::mutex mu_;
  std::map<std::string, File> files_;          // by id; ordered, so listing is a range walk
  std::map<std::string, UploadRow> uploads_;   // by id
  std::map<std::string, PartRow> parts_;       // by part id
  std::map<std::string, GarbageRow> garbage_;  // by blob key
  std::map<std::string, ApiKey> api_keys_;     // by id
  std::int64_t next_part_seq_ = 0;
};

}  // namespace fileport
