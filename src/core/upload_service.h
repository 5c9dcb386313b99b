// UploadService: the Uploads API state machine (API.md §3).
//
//   pending ──complete──▶ completed      (a File made of the listed parts, in order)
//      │ ───cancel─────▶ cancelled       (parts discarded)
//      └ ───1 h passes─▶ expired         (parts discarded by the sweeper)
//
// Only a pending upload accepts parts, complete or cancel. A pending upload past expires_at
// is reported as expired everywhere, before the sweeper has run. Completing moves no bytes:
// the File's segments are the parts' blobs. Every transition is a compare-and-set in the
// MetadataStore; a lost race is resolved by re-reading, so concurrent completes create
// exactly one File and a repeated complete with the same part_ids is answered like the first.
//
// Thread-safety: all methods are thread-safe; a PartWrite is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "core/file_service.h"
#include "core/service_context.h"
#include "core/validation.h"
#include "model/objects.h"

namespace fileport {

struct CreateUploadParams {
  std::optional<std::int64_t> bytes;
  std::optional<std::string> filename;
  std::optional<std::string> mime_type;
  std::optional<std::string> purpose;
  std::optional<ExpiresAfter> expires_after;
};

// One part's bytes on their way to storage.
class PartWrite {
 public:
  // InvalidArgument (param "data") once the part exceeds 64 MiB or the bytes the upload has
  // left; nothing is stored then.
  Status Append(std::span<const char> data);
  std::int64_t bytes() const { return writer_->bytes_written(); }
  // Before the first Append: the part holds at most `at_most` bytes (BlobWriter::HintSize).
  void HintSize(std::int64_t at_most) { writer_->HintSize(at_most); }
  void Abort() { writer_->Abort(); }

 private:
  friend class UploadService;
  PartWrite(std::string upload_id, std::string part_id, std::string blob_key,
            std::unique_ptr<BlobWriter> writer, std::int64_t limit, bool limit_is_part_size,
            std::optional<std::string> content_md5)
      : upload_id_(std::move(upload_id)),
        part_id_(std::move(part_id)),
        blob_key_(std::move(blob_key)),
        writer_(std::move(writer)),
        limit_(limit),
        limit_is_part_size_(limit_is_part_size),
        expected_md5_(std::move(content_md5)) {
    if (expected_md5_) md5_.emplace();
  }
  std::string upload_id_;
  std::string part_id_;
  std::string blob_key_;
  std::unique_ptr<BlobWriter> writer_;
  std::int64_t limit_;
  bool limit_is_part_size_;
  std::optional<std::string> expected_md5_;  // raw 16 bytes from Content-MD5
  std::optional<Md5> md5_;
};

class UploadService {
 public:
  UploadService(ServiceContext& ctx, FileService& files) : ctx_(ctx), files_(files) {}

  Result<Upload> Create(const std::string& project, const CreateUploadParams& params);
  // The upload with its effective status and, when completed, its File.
  Result<Upload> Get(const std::string& project, const std::string& id);
  // Checks at once that the upload can take a part (exists, pending, bytes left) and opens
  // the part's blob. `content_md5` is the base64 Content-MD5 header, if any.
  Result<std::unique_ptr<PartWrite>> StartPart(const std::string& project,
                                               const std::string& upload_id,
                                               const std::optional<std::string>& content_md5);
  // Verifies Content-MD5, makes the bytes durable and records the part atomically.
  Result<UploadPart> FinishPart(const std::string& project, std::unique_ptr<PartWrite> write);
  Result<std::vector<UploadPart>> ListParts(const std::string& project, const std::string& id);
  Result<Upload> Complete(const std::string& project, const std::string& id,
                          const std::vector<std::string>& part_ids,
                          const std::optional<std::string>& md5);
  Result<Upload> Cancel(const std::string& project, const std::string& id);

 private:
  // The stored upload with `status` made effective (pending past expires_at → expired).
  Result<Upload> Load(const std::string& project, const std::string& id);
  Status StateError(const Upload& u) const;
  Result<Upload> WithFile(const std::string& project, Upload u);
  Result<std::string> Md5OfParts(const std::vector<const UploadPart*>& parts);

  ServiceContext& ctx_;
  FileService& files_;
};

}  // namespace fileport
