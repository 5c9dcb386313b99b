// S3BlobStore: the scale-out BlobStore, blobs as objects in a bucket of any S3-compatible
// engine (AWS S3, Ceph RGW, MinIO, …), spoken to over libcurl with SigV4 signatures.
//
// Layout: blob `k` is the object `<key_prefix>k`. In-progress multipart uploads under the
// prefix are the store's temporary data.
//
// Writes: a writer fills a sub-part buffer of `part_bytes`. A blob that ends within its first
// buffer is sent with one PutObject at Commit. Once a writer has more, it starts a multipart
// upload and sends each full buffer as a part on a background thread while the next buffer
// fills; Append waits only when the previous part is still in flight. A writer therefore holds
// at most two buffers (2 x part_bytes, 16 MiB by default) whatever the blob's size, and the
// bytes are never in memory whole. Commit sends the last part and CompleteMultipartUpload
// (whose 200 answer may still carry an <Error>, which is checked); the object appears
// atomically, and only then. Abort, a failed Append or Commit, and the destructor of an
// uncommitted writer abort the upload. Buffers come from a small pool shared by the store's
// writers, so a busy store does not fault in fresh pages for every part.
// Why not stream one PUT per blob (curl pause/unpause on the request body): S3 needs the
// length of a plain PUT up front, a chunked-signature upload cannot be retried once bytes are
// sent, and a failed 64 MiB part would have to be sent again from the start by the client;
// buffered parts are retried from memory. Why not a spool file: it doubles the disk traffic
// of a node whose disk should not matter.
//
// Reads: NewReader sends a ranged GET and waits for its head, so NotFound and OutOfRange come
// from NewReader itself; Read then pulls the body straight off the connection into the
// caller's buffer (no buffering beyond one socket receive). If the connection fails mid-body,
// the reader asks for the rest with a new ranged GET pinned to the same object version
// (If-Match on its ETag), a few times.
// Reads after Delete: an opened reader's GET is already being answered, and the engine keeps
// serving it: RGW has read ahead and frees a deleted object's data only after its garbage
// collection delay (`rgw gc obj min wait`, 2 h by default); AWS completes in-flight GETs. But a
// reader that must reconnect after the blob was deleted finds it gone and fails with DataLoss,
// so the promise holds as long as the connection does, not forever as with the local store.
//
// Failures: requests are retried on transient errors (see s3_client.h); S3 errors become a
// Status in one place (s3_protocol.h): missing → NotFound, rejected credentials and persistent
// outages → Unavailable, EntityTooLarge and quotas → ResourceExhausted. Credentials never
// appear in a message.
//
// No-replace: S3 offers no conditional write that survives a retried request (a retry after a
// lost success would be refused as if the key were taken), so Commit does not check that the
// key is free. Keys are unique by construction (fileport generates them), so nothing is
// replaced in practice.
//
// Thread-safety: the store is thread-safe; each writer and reader is used by one thread at a
// time and must not outlive the store.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/blob/blob_store.h"

namespace fileport {

namespace s3 {
class Client;
}

struct S3BlobOptions {
  std::string bucket;
  // scheme://host[:port]. Empty: AWS, https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  // true: http://host/bucket/key, what self-hosted engines expect; false: virtual-hosted
  // http://bucket.host/key, what AWS prefers.
  bool path_style = true;
  // Prepended to every key; a trailing '/' is added when missing. Same grammar as keys.
  std::string key_prefix;
  // Empty: taken from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // Sub-part size: the unit of a multipart upload and of a writer's buffers. S3 requires at
  // least 5 MiB for every part but the last; engines can be configured to accept less
  // (RGW's `rgw multipart min part size`), which tests use.
  std::size_t part_bytes = std::size_t{8} << 20;
  // Create the bucket at Open when it does not exist (else Open fails Unavailable).
  bool create_bucket = true;
  // Attempts per request (≥ 1) and the first backoff delay, doubled per retry (capped at 2 s).
  int max_attempts = 4;
  std::chrono::milliseconds retry_base_delay{100};
  std::chrono::milliseconds connect_timeout{10000};
  // Sub-part buffers kept for reuse by later writers.
  std::size_t max_idle_buffers = 4;

  // Parses `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path_style=true|false&part_size=SIZE
  // &create_bucket=true|false]` (query values percent-decoded; SIZE as "8MiB" or bytes).
  // Credentials never come from the URI. With an endpoint, path_style defaults to true.
  // InvalidArgument for anything else, naming the accepted form.
  static Result<S3BlobOptions> FromUri(std::string_view uri);
};

class S3BlobStore final : public BlobStore {
 public:
  // Checks the options, then reaches the bucket (HEAD), creating it when missing and allowed.
  // InvalidArgument for bad options or missing credentials; Unavailable when S3 cannot be
  // reached or refuses the credentials.
  static Result<std::unique_ptr<S3BlobStore>> Open(S3BlobOptions options);
  ~S3BlobStore() override;

  // InvalidArgument for a malformed key. Sends nothing until a sub-part fills or Commit.
  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override;
  // See "Reads" above. InvalidArgument for a malformed key or negative offset; NotFound;
  // OutOfRange when offset > size or offset + length > size.
  Result<std::unique_ptr<BlobReader>> NewReader(const std::string& key, std::int64_t offset = 0,
                                                std::int64_t length = -1) override;
  // HEAD. NotFound when missing.
  Result<std::int64_t> Stat(const std::string& key) override;
  // DELETE; OK when missing.
  Status Delete(const std::string& key) override;
  // Aborts the multipart uploads under the key prefix initiated more than
  // `older_than_seconds` ago (by the engine's clock, as S3 reports it). A live writer's upload
  // is as old as the writer, so pick a threshold above a writer's longest life (an upload's).
  // Without a key prefix, that is every upload in the bucket.
  Status CleanupTemporary(std::int64_t older_than_seconds) override;
  // HEAD on the bucket: reachable, and the credentials are accepted. Unavailable otherwise.
  Status Ping() override;

  // An in-progress multipart upload under the key prefix: a live writer's or an abandoned one.
  struct PendingUpload {
    std::string key;  // The object key, prefix included.
    std::string upload_id;
    std::int64_t initiated_ms = 0;  // Engine time, milliseconds since the epoch.
  };
  Result<std::vector<PendingUpload>> ListPendingUploads();

  const S3BlobOptions& options() const { return options_; }

 private:
  friend class S3BlobWriter;
  friend class S3BlobReader;

  S3BlobStore(S3BlobOptions options, std::unique_ptr<s3::Client> client);

  std::string ObjectKey(std::string_view key) const {
    return options_.key_prefix + std::string(key);
  }
  Status EnsureBucket();

  // Buffers of options_.part_bytes; thread-safe.
  std::unique_ptr<char[]> TakeBuffer();
  void GiveBuffer(std::unique_ptr<char[]> buffer);

  // The multipart and object operations writers and readers use.
  Result<std::string> StartUpload(const std::string& object_key);
  Result<std::string> UploadPart(const std::string& object_key, const std::string& upload_id,
                                 int part_number, std::span<const char> bytes);
  Status CompleteUpload(const std::string& object_key, const std::string& upload_id,
                        const std::vector<std::string>& etags, std::int64_t size);
  Status AbortUpload(const std::string& object_key, const std::string& upload_id);
  Status PutObject(const std::string& object_key, std::span<const char> bytes);
  Result<std::int64_t> HeadObject(const std::string& object_key, std::string_view what);

  const S3BlobOptions options_;
  const std::unique_ptr<s3::Client> client_;

  std::mutex buffers_mu_;
  std::vector<std::unique_ptr<char[]>> idle_buffers_;  // Guarded by buffers_mu_.
};

}  // namespace fileport
