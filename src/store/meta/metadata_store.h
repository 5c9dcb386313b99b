// MetadataStore: the durable record of files, uploads, parts, API keys and garbage blobs.
//
// Every method is one atomic domain operation (a single SQL transaction in the SQL backends):
// state changes are compare-and-set inside the store, never check-then-act in the caller.
// All methods are thread-safe and synchronous (callers run them off the event loop); a method
// returns only after its change is durable.
//
// Tenancy: every lookup takes the caller's project; an object of another project is NotFound,
// exactly like an unknown id.
//
// Garbage: blob keys that are, or may soon be, unreferenced. A request that is about to write
// a blob first records its key as garbage due at some deadline ("intent"); the insert that
// makes the blob part of a file or upload removes that row in the same transaction. So a blob
// whose writer crashed stays listed as garbage and the sweeper deletes it. Deleting a file,
// cancelling or expiring an upload, or leaving parts unlisted at completion moves the affected
// blob keys into garbage in the same transaction as the state change.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/objects.h"

namespace fileport {

struct FileQuery {
  std::string project;
  std::optional<std::string> purpose;  // exact match; an unknown purpose matches nothing
  std::optional<std::string> after;    // keyset cursor: a file id (need not exist any more)
  int limit = 10000;                   // 1 … 10000
  bool ascending = false;              // false: newest first (id DESC)
  std::int64_t now = 0;                // files with expires_at <= now are not listed
};

struct GarbageBlob {
  std::string blob_key;
  std::int64_t due_at = 0;  // unix seconds; the sweeper may delete the blob from then on
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Creates the schema if missing (idempotent). Called once by the factory.
  virtual Status Migrate() = 0;
  // OK when the store answers a trivial query.
  virtual Status Ping() = 0;

  // --- Garbage and intents -------------------------------------------------------------
  // Records blob keys as garbage (upsert: an existing key keeps the earlier due_at).
  virtual Status AddGarbage(const std::vector<GarbageBlob>& blobs) = 0;
  // Removes and returns up to `limit` garbage keys with due_at <= now. Each key is returned
  // to exactly one caller even when several nodes claim at once. The caller then deletes the
  // blobs; a crash in between leaves an orphan blob (never a dangling reference).
  virtual Result<std::vector<std::string>> ClaimGarbage(std::int64_t now, int limit) = 0;

  // --- Files ---------------------------------------------------------------------------
  // Inserts `file` and removes the garbage rows of its segments' keys (its write intents).
  // Aborted when any of those intent rows is gone (the sweeper claimed it: the blob may be
  // deleted); AlreadyExists on a duplicate id.
  virtual Status InsertFile(const File& file) = 0;
  // NotFound (param "id", message "No such File object: <id>") when missing or another
  // project's. Expired files are returned: expiry is the caller's rule.
  virtual Result<File> GetFile(const std::string& project, const std::string& id) = 0;
  // Files of query.project ordered by id (see FileQuery); has_more when more rows follow.
  virtual Result<Page<File>> ListFiles(const FileQuery& query) = 0;
  // Deletes the row and moves its segments' keys to garbage due at `garbage_due`.
  // NotFound as GetFile.
  virtual Status DeleteFile(const std::string& project, const std::string& id,
                            std::int64_t garbage_due) = 0;
  // Up to `limit` files (of any project) with expires_at <= now.
  virtual Result<std::vector<File>> ListExpiredFiles(std::int64_t now, int limit) = 0;

  // --- Uploads and parts ---------------------------------------------------------------
  // AlreadyExists on a duplicate id.
  virtual Status InsertUpload(const Upload& upload) = 0;
  // NotFound (param "upload_id", message "No such Upload object: <id>"). The stored status
  // is returned as is (a pending upload past expires_at is still kPending here).
  virtual Result<Upload> GetUpload(const std::string& project, const std::string& id) = 0;
  // Atomically: the upload exists in part.project (else NotFound as GetUpload), is pending
  // and now < expires_at (else FailedPrecondition), and the bytes of its parts plus
  // part.bytes do not exceed upload.bytes (else OutOfRange); then inserts the part and
  // removes the garbage row of part.blob_key (Aborted if that row is gone).
  virtual Status InsertPart(const UploadPart& part, std::int64_t now) = 0;
  // Parts of an upload in arrival order (created_at, then insertion). NotFound as GetUpload.
  virtual Result<std::vector<UploadPart>> ListParts(const std::string& project,
                                                    const std::string& upload_id) = 0;
  // Atomically: upload pending and now < expires_at, else Aborted (the caller re-reads to
  // tell "completed by a racing request" from "cancelled"/"expired"); then sets it completed
  // with file_id = file.id, part_ids and md5, inserts `file` (whose segments are the listed
  // parts' blobs; no intents are consumed), and deletes the parts not in part_ids, moving
  // their blob keys to garbage due at `garbage_due`.
  virtual Status CompleteUpload(const std::string& project, const std::string& upload_id,
                                const std::vector<std::string>& part_ids,
                                const std::optional<std::string>& md5, const File& file,
                                std::int64_t now, std::int64_t garbage_due) = 0;
  // Compare-and-set of an upload's status from `from` to `to` (kCancelled or kExpired): moves
  // all its parts' blob keys to garbage due at `garbage_due` and deletes the part rows.
  // Returns the upload after the change. NotFound as GetUpload; Aborted when the status is
  // not `from`.
  virtual Result<Upload> TransitionUpload(const std::string& project, const std::string& id,
                                          UploadStatus from, UploadStatus to,
                                          std::int64_t garbage_due) = 0;
  // Up to `limit` pending uploads (of any project) with expires_at <= now.
  virtual Result<std::vector<Upload>> ListExpiredUploads(std::int64_t now, int limit) = 0;

  // --- API keys ------------------------------------------------------------------------
  virtual Status InsertApiKey(const ApiKey& key) = 0;
  // All keys, revoked ones included, oldest first.
  virtual Result<std::vector<ApiKey>> ListApiKeys() = 0;
  // Sets revoked_at (idempotent: an already revoked key keeps its time). NotFound when the
  // id is unknown.
  virtual Status RevokeApiKey(const std::string& id, std::int64_t now) = 0;
  // The key whose secret hashes to `secret_sha256_hex` (revoked or not); NotFound otherwise.
  virtual Result<ApiKey> FindApiKey(const std::string& secret_sha256_hex) = 0;
  // True when at least one key is not revoked (then every request must carry a valid key).
  virtual Result<bool> HasActiveApiKeys() = 0;
};

}  // namespace fileport
