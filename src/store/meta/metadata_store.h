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
//
// A garbage row lives until its blob is known deleted: the sweeper leases due rows
// (ClaimGarbage), deletes the blobs, and only then removes the rows (ForgetGarbage). A sweeper
// that dies, or whose delete fails, in between leaves its rows leased; they come due again when
// the lease runs out and another pass (on any node) takes them over. So no blob is ever left
// without a row that leads to it. A leased row is never an intent any more: from the moment it
// is leased its blob may be deleted, so no insert may consume it. Every method that moves keys
// into garbage follows AddGarbage's upsert rule.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/objects.h"
#include "model/wire.h"

namespace fileport {

struct FileQuery {
  std::string project;
  std::optional<std::string> purpose;  // exact match; an unknown purpose matches nothing
  std::optional<std::string> after;    // keyset cursor: a file id (need not exist any more)
  int limit = 10000;                   // 1 … 10000
  bool ascending = false;              // false: newest first (id DESC)
  std::int64_t now = 0;                // files with expires_at <= now are not listed
  // true: the caller only shows the files' wire objects, and a store may leave
  // File::segments and File::mime_type empty.
  bool shown_fields_only = false;
};

// What a project may hold (0: no limit). Enforced inside the inserting transaction, so it holds
// under concurrency and across nodes sharing one database.
struct Quota {
  // Bytes of the project's files plus the declared bytes of its pending uploads (an upload
  // reserves its bytes at creation; completing it turns the reservation into a file).
  std::int64_t max_bytes = 0;
  // Pending uploads of the project.
  std::int64_t max_pending_uploads = 0;
  bool limited() const { return max_bytes > 0 || max_pending_uploads > 0; }
};

// A project's usage as Quota counts it. Files past their expiry count until they are deleted.
struct ProjectUsage {
  std::int64_t bytes = 0;
  std::int64_t pending_uploads = 0;
};

struct GarbageBlob {
  std::string blob_key;
  std::int64_t due_at = 0;  // unix seconds; the sweeper may delete the blob from then on
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Creates the schema if missing, or upgrades an older one (idempotent). Called once by the
  // factory.
  virtual Status Migrate() = 0;
  // OK when the store answers a trivial query.
  virtual Status Ping() = 0;

  // --- Garbage and intents -------------------------------------------------------------
  // Records blob keys as garbage. Upsert: an existing unleased key keeps the earlier due_at;
  // an existing leased key is left unchanged (its claimer is deleting the blob, and if it
  // fails the row comes due again when the lease ends).
  virtual Status AddGarbage(const std::vector<GarbageBlob>& blobs) = 0;
  // Atomically leases and returns (in no particular order) up to `limit` garbage keys with
  // due_at <= now, picking the earliest due_at first: each picked row is marked leased and its
  // due_at set to `lease_until`. Rows are not removed (see ForgetGarbage). Each key goes to exactly
  // one caller per lease period, even when several nodes claim at once; a leased row whose lease
  // ran out (due_at <= now again: its claimer died or failed) is claimed again like any due row.
  // `lease_until` should be later than `now`, or the keys are due again at once. InvalidArgument
  // (param "limit") when limit < 1.
  virtual Result<std::vector<std::string>> ClaimGarbage(std::int64_t now, int limit,
                                                        std::int64_t lease_until) = 0;
  // Removes the garbage rows of `keys`, leased or not: called once their blobs are deleted.
  // Idempotent: unknown keys are ignored, and an empty list is a no-op.
  virtual Status ForgetGarbage(const std::vector<std::string>& keys) = 0;

  // --- Files ---------------------------------------------------------------------------
  // Inserts `file` and removes the garbage rows of its segments' keys (its write intents).
  // Aborted, inserting nothing, when any of those rows is gone or leased (the sweeper claimed
  // it: the blob may be deleted); AlreadyExists on a duplicate id; ResourceExhausted
  // (meta_errors::QuotaExceeded) when the file would take the project past quota.max_bytes.
  virtual Status InsertFile(const File& file, const Quota& quota = {}) = 0;
  // NotFound (param "id", message "No such File object: <id>") when missing or another
  // project's. Expired files are returned: expiry is the caller's rule.
  virtual Result<File> GetFile(const std::string& project, const std::string& id) = 0;
  // The fields of the file that its wire object shows (FP_SHOWN_FILE_COLS: what
  // GET /v1/files/{id} answers), so that a store need not read the rest (its segments: one
  // per part). Other fields may be left empty. NotFound as GetFile. This default is GetFile.
  virtual Result<File> GetShownFile(const std::string& project, const std::string& id) {
    return GetFile(project, id);
  }
  // The file, to read its bytes [offset, offset + length) (length < 0: to the end): every
  // segment has its size, but only those holding some of these bytes need their blob key; a
  // store may leave the others' keys empty, sparing a key decoded per part when a range of a
  // file of many parts is read. NotFound as GetFile. This default is GetFile.
  virtual Result<File> GetFileToRead(const std::string& project, const std::string& id,
                                     std::int64_t offset, std::int64_t length) {
    (void)offset;
    (void)length;
    return GetFile(project, id);
  }
  // Files of query.project ordered by id (see FileQuery); has_more when more rows follow.
  virtual Result<Page<File>> ListFiles(const FileQuery& query) = 0;
  // The same page as ListFiles, as the files' wire objects (what GET /v1/files shows). This
  // default writes ListFiles' files; a store that keeps each file's object written (files
  // never change) reads those instead.
  virtual Result<FileJsonPage> ListFileJson(FileQuery query) {
    query.shown_fields_only = true;
    ASSIGN_OR_RETURN(Page<File> files, ListFiles(query));
    FileJsonPage page;
    page.has_more = files.has_more;
    for (const File& f : files.data) AppendFileJson(page, f.id, ToJson(f));
    return page;
  }
  // Deletes the row and moves its segments' keys to garbage due at `garbage_due`.
  // NotFound as GetFile.
  virtual Status DeleteFile(const std::string& project, const std::string& id,
                            std::int64_t garbage_due) = 0;
  // Up to `limit` files (of any project) with expires_at <= now.
  virtual Result<std::vector<File>> ListExpiredFiles(std::int64_t now, int limit) = 0;

  // --- Uploads and parts ---------------------------------------------------------------
  // AlreadyExists on a duplicate id; ResourceExhausted (meta_errors::QuotaExceeded) when the
  // upload's bytes would take the project past quota.max_bytes, or it would be one pending
  // upload too many.
  virtual Status InsertUpload(const Upload& upload, const Quota& quota = {}) = 0;
  // NotFound (param "upload_id", message "No such Upload object: <id>"). The stored status
  // is returned as is (a pending upload past expires_at is still kPending here).
  virtual Result<Upload> GetUpload(const std::string& project, const std::string& id) = 0;
  // Atomically: the upload exists in part.project (else NotFound as GetUpload), is pending
  // and now < expires_at (else FailedPrecondition), and the bytes of its parts plus
  // part.bytes do not exceed MaxReceivedBytes(upload.bytes) — twice the declared bytes,
  // common/sizes.h — (else OutOfRange); then inserts the part and
  // removes the garbage row of part.blob_key (Aborted, inserting nothing, if that row is gone
  // or leased).
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

  // --- Quotas --------------------------------------------------------------------------
  // The project's usage now (a snapshot, for refusing early; the inserts enforce the quota).
  virtual Result<ProjectUsage> GetUsage(const std::string& project) = 0;

  // --- API keys ------------------------------------------------------------------------
  virtual Status InsertApiKey(const ApiKey& key) = 0;
  // All keys, revoked ones included, oldest first.
  virtual Result<std::vector<ApiKey>> ListApiKeys() = 0;
  // Sets revoked_at (idempotent: an already revoked key keeps its time). NotFound when the
  // id is unknown.
  virtual Status RevokeApiKey(const std::string& id, std::int64_t now) = 0;
  // The key whose secret hashes to `secret_sha256_hex` (revoked or not); NotFound otherwise.
  virtual Result<ApiKey> FindApiKey(const std::string& secret_sha256_hex) = 0;
  // True when at least one key row exists, revoked or not. Once a key has been created the
  // service never runs open again: revoking every key locks everyone out rather than letting
  // everyone in.
  virtual Result<bool> HasApiKeys() = 0;

  // --- Shared reads --------------------------------------------------------------------
  // While the returned scope lives, this thread's reads of this store share one read
  // transaction, so one snapshot: the first read begins it, and the scope's end or a write by
  // this thread ends it (a read after that write begins a new one and sees the write). For a
  // request's look-ups (its key, then its file), which would otherwise each begin and end a
  // transaction of their own. Scopes do not nest: one begun inside another shares nothing.
  // Stores whose transactions cost nothing to begin share nothing (the default).
  class SharedReads {
   public:
    SharedReads(const SharedReads&) = delete;
    SharedReads& operator=(const SharedReads&) = delete;
    ~SharedReads() {
      if (store_) store_->EndSharedReads();
    }

   private:
    friend class MetadataStore;
    explicit SharedReads(MetadataStore* store) : store_(store) {}
    MetadataStore* store_;  // null: nothing shared
  };
  [[nodiscard]] SharedReads ShareReads() {
    return SharedReads(BeginSharedReads() ? this : nullptr);
  }

 protected:
  // False when this thread's reads are not shared (the default, or a scope is already open).
  virtual bool BeginSharedReads() { return false; }
  // Called once for every BeginSharedReads that returned true, on the same thread.
  virtual void EndSharedReads() {}
};

}  // namespace fileport
