// What every core service is built from: the two stores, the clock, the id source and the
// tunables. Owned by the caller (the server or a test); services hold references.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/ids.h"
#include "common/sizes.h"
#include "store/blob/blob_store.h"
#include "store/meta/metadata_store.h"

namespace fileport {

struct ServiceOptions {
  // How long a blob being written may stay unreferenced before the sweeper may delete it
  // (the writer crashed). Longer than any request may take.
  std::int64_t orphan_grace_seconds = 6 * 3600;
  // Delay between deleting a file (or discarding parts) and deleting the bytes.
  std::int64_t delete_grace_seconds = 0;
  std::int64_t garbage_lease_seconds = 300;
  // OpenAI refuses downloads of these purposes; off by default (API.md §3).
  bool restrict_downloads = false;
  // Buffer size for reading blobs back (md5 at completion).
  std::size_t io_buffer_bytes = 1 << 20;
  // Limits, overridable for tests.
  std::int64_t max_file_bytes = kMaxFileBytes;
  std::int64_t max_batch_file_bytes = kMaxBatchFileBytes;
  std::int64_t max_upload_bytes = kMaxUploadBytes;
  std::int64_t max_part_bytes = kMaxPartBytes;
  // Per-project caps (off by default): stored bytes and pending uploads.
  Quota quota;
};

struct ServiceContext {
  MetadataStore& meta;
  BlobStore& blobs;
  const Clock& clock;
  const IdGenerator& ids;
  ServiceOptions options;
};

// Blob keys are derived from object ids, sharded on two random characters so no directory
// (local) or key prefix (S3) grows without bound.
std::string FileBlobKey(const std::string& file_id);
std::string PartBlobKey(const std::string& part_id);

}  // namespace fileport
