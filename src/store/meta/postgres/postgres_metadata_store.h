// PostgresMetadataStore: the scale-out MetadataStore, tables in one schema of a PostgreSQL
// database shared by every fileport node.
//
// A bounded pool of libpq connections; every state change is one READ COMMITTED transaction
// whose compare-and-set UPDATEs and row locks (FOR UPDATE, FOR UPDATE SKIP LOCKED) make the
// outcome the same as the SQLite store's, however many nodes call at once. A method returns
// after COMMIT, so it is exactly as durable as the server's synchronous_commit makes it.
// libpq-fe.h stays behind the pimpl.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/meta/metadata_store.h"

namespace fileport {

struct PostgresOptions {
  // Connections to the server at most; each is opened on first need. At least 1.
  int pool_size = 8;
  // How long a call waits for a free connection before it fails with Unavailable.
  int acquire_timeout_ms = 10000;
  // libpq's connect_timeout (whole seconds; 0 waits forever), unless the URI sets one.
  int connect_timeout_seconds = 10;
  // Server-side statement_timeout: a statement that runs (or waits for a lock) longer fails
  // with Unavailable instead of holding a request forever. 0 means no limit.
  int statement_timeout_ms = 30000;
  // The schema holding the tables, created if missing. Any name PostgreSQL accepts (it is
  // always quoted, so case matters); nodes that share data must use the same one.
  std::string schema = "public";
};

class PostgresMetadataStore final : public MetadataStore {
 public:
  // Connects with the libpq connection URI `uri` (postgres://user:pw@host:port/db?param=…)
  // and runs Migrate(). InvalidArgument for a malformed URI or options; Unavailable when the
  // server cannot be reached; FailedPrecondition when the schema is newer than this binary
  // knows. No message ever contains the password.
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& uri,
                                                     PostgresOptions options = {});
  ~PostgresMetadataStore() override;
  PostgresMetadataStore(const PostgresMetadataStore&) = delete;
  PostgresMetadataStore& operator=(const PostgresMetadataStore&) = delete;

  // Safe when several nodes run it at once: a transaction-scoped advisory lock per schema
  // lets one of them create or upgrade the tables while the others wait, then find nothing
  // left to do.
  Status Migrate() override;
  Status Ping() override;

  Status AddGarbage(const std::vector<GarbageBlob>& blobs) override;
  Result<std::vector<std::string>> ClaimGarbage(std::int64_t now, int limit,
                                                std::int64_t lease_until) override;
  Status ForgetGarbage(const std::vector<std::string>& keys) override;

  Status InsertFile(const File& file, const Quota& quota = {}) override;
  Result<File> GetFile(const std::string& project, const std::string& id) override;
  Result<File> GetShownFile(const std::string& project, const std::string& id) override;
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
  struct Impl;
  explicit PostgresMetadataStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fileport
