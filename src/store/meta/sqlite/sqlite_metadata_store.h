// SqliteMetadataStore: the embedded default MetadataStore, one SQLite database file.
//
// WAL journal with synchronous=FULL, so a method that returned OK survives a power loss; one
// writer connection (write transactions are serialized in-process by a mutex and across
// processes by BEGIN IMMEDIATE plus busy_timeout) and a pool of reader connections, so reads
// run concurrently with each other and with the writer. sqlite3.h stays behind the pimpl.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/meta/metadata_store.h"

namespace fileport {

struct SqliteOptions {
  // Reader connections (there is one writer connection besides them); at least 1.
  int pool_size = 8;
  // How long a statement waits for a lock held by another process before the call fails
  // with Unavailable.
  int busy_timeout_ms = 10000;
  // Caps the database size (PRAGMA max_page_count); 0 means no cap. Past the cap writes fail
  // with ResourceExhausted "Storage is full", exactly as on a full disk.
  std::int64_t max_db_bytes = 0;
};

class SqliteMetadataStore final : public MetadataStore {
 public:
  // Opens (creating if missing) the database file at `path` and runs Migrate(). The parent
  // directory must exist. FailedPrecondition when the file holds a schema newer than this
  // binary knows.
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& path,
                                                     SqliteOptions options = {});
  ~SqliteMetadataStore() override;
  SqliteMetadataStore(const SqliteMetadataStore&) = delete;
  SqliteMetadataStore& operator=(const SqliteMetadataStore&) = delete;

  Status Migrate() override;
  Status Ping() override;

  Status AddGarbage(const std::vector<GarbageBlob>& blobs) override;
  Result<std::vector<std::string>> ClaimGarbage(std::int64_t now, int limit,
                                                std::int64_t lease_until) override;
  Status ForgetGarbage(const std::vector<std::string>& keys) override;

  Status InsertFile(const File& file, const Quota& quota = {}) override;
  Result<File> GetFile(const std::string& project, const std::string& id) override;
  Result<File> GetShownFile(const std::string& project, const std::string& id) override;
  Result<File> GetFileToRead(const std::string& project, const std::string& id, std::int64_t offset,
                             std::int64_t length) override;
  Result<Page<File>> ListFiles(const FileQuery& query) override;
  // Reads each file's wire object as written at insert (the column `shown`).
  Result<FileJsonPage> ListFileJson(FileQuery query) override;
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

 protected:
  // Each read transaction takes and drops a WAL read lock, a lock call on the -shm file.
  bool BeginSharedReads() override;
  void EndSharedReads() override;

 private:
  struct Impl;
  explicit SqliteMetadataStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fileport
