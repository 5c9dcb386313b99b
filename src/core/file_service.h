// FileService: the rules of files — create (streamed), get, list, delete, download.
//
// Creating a file is split in two so the HTTP layer can stream the body: StartWrite records
// a write intent and opens a blob writer; the caller appends the bytes as they arrive; then
// FinishCreate validates the form fields (which may have arrived after the bytes), makes the
// blob durable and inserts the row. A rejected or abandoned write leaves nothing visible, and
// its bytes are removed at once (Abort) or, after a crash, by the sweeper (the intent).
//
// Thread-safety: all methods are thread-safe; a FileWrite is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/service_context.h"
#include "core/validation.h"
#include "model/objects.h"

namespace fileport {

class FileWrite {
 public:
  // Appends bytes; TooLarge (param "file") past the size limit, which becomes the batch
  // limit once the purpose is known to be batch.
  Status Append(std::span<const char> data);
  // Narrows the size limit as soon as the purpose is known; TooLarge (param "file") when the
  // bytes already written exceed the narrowed limit.
  [[nodiscard]] Status SetPurposeHint(std::string_view purpose);
  std::int64_t bytes() const { return writer_->bytes_written(); }
  // Before the first Append: the file holds at most `at_most` bytes (BlobWriter::HintSize).
  void HintSize(std::int64_t at_most) { writer_->HintSize(at_most); }
  const std::string& file_id() const { return file_id_; }
  // Discards the bytes written so far.
  void Abort() { writer_->Abort(); }

 private:
  friend class FileService;
  FileWrite(std::string file_id, std::int64_t started_at, std::string blob_key,
            std::unique_ptr<BlobWriter> writer, std::int64_t limit, std::int64_t batch_limit)
      : file_id_(std::move(file_id)),
        started_at_(started_at),
        blob_key_(std::move(blob_key)),
        writer_(std::move(writer)),
        limit_(limit),
        batch_limit_(batch_limit) {}
  std::string file_id_;
  // The file's created_at: when its id was minted, so that listing by id (creation order)
  // agrees with created_at even when a slow upload finishes after a fast later one.
  std::int64_t started_at_;
  std::string blob_key_;
  std::unique_ptr<BlobWriter> writer_;
  std::int64_t limit_;
  std::int64_t batch_limit_;
};

struct CreateFileParams {
  std::optional<std::string> purpose;   // required
  std::string filename = "upload";      // a file part without filename is "upload"
  std::string mime_type;                // the file part's Content-Type
  std::optional<ExpiresAfter> expires_after;
};

struct ListFilesParams {
  std::optional<std::string> purpose;
  std::optional<std::string> after;
  int limit = 10000;
  bool ascending = false;
};

// A byte range of a file's content, open for reading.
struct FileContent {
  File file;
  std::int64_t offset = 0;
  std::int64_t length = 0;
  std::unique_ptr<BlobReader> reader;  // delivers exactly `length` bytes
};

class FileService {
 public:
  explicit FileService(ServiceContext& ctx) : ctx_(ctx) {}

  Result<std::unique_ptr<FileWrite>> StartWrite(const std::string& project);
  // Before a body is read: OK unless the project's stored-bytes quota cannot take a file of
  // `at_least_bytes` (ResourceExhausted, code insufficient_quota), so a refused upload costs
  // no transfer. FinishCreate enforces the quota on the exact bytes.
  Status CheckRoom(const std::string& project, std::int64_t at_least_bytes);
  // Validates params (purpose, expiry, .jsonl, size), commits the bytes and inserts the File.
  // On any failure the write is aborted and nothing stays visible.
  Result<File> FinishCreate(const std::string& project, std::unique_ptr<FileWrite> write,
                            const CreateFileParams& params);
  // The fields its wire object shows (MetadataStore::GetShownFile: the segments may be left
  // unread). NotFound (param "id") for unknown, other project's and expired files.
  Result<File> Get(const std::string& project, const std::string& id);
  // A page of the project's files as their wire objects (what GET /v1/files shows).
  Result<FileJsonPage> List(const std::string& project, const ListFilesParams& params);
  Result<DeletedFile> Delete(const std::string& project, const std::string& id);
  // Opens [offset, offset+length) of the content (length < 0: to the end). All blobs the
  // range needs are opened before returning, so a racing delete cannot truncate the body.
  Result<FileContent> OpenContent(const std::string& project, const std::string& id,
                                  std::int64_t offset = 0, std::int64_t length = -1);
  // Get without opening: for HEAD, conditional requests and range validation. The file is
  // read to open [offset, offset+length) of it (length < 0: to the end) or any part of that:
  // the segments outside may come without their blob keys (MetadataStore::GetFileToRead).
  Result<File> GetForDownload(const std::string& project, const std::string& id,
                              std::int64_t offset = 0, std::int64_t length = -1);
  // Opens a reader over `file` (already fetched) for [offset, offset+length), which must lie
  // within the range it was fetched for (Internal otherwise). Every blob the range needs is
  // opened before any byte is read: a blob a delete has already taken answers NotFound, and a
  // delete that comes later cannot cut the body short (the blobs are open). The download is
  // ordered before any delete that did not end before the file was fetched.
  Result<std::unique_ptr<BlobReader>> OpenSegments(const File& file, std::int64_t offset,
                                                   std::int64_t length);

 private:
  // `f`, unless it has expired (NotFound, as for a file that does not exist).
  Result<File> Unexpired(Result<File> f) const;

  ServiceContext& ctx_;
};

}  // namespace fileport
