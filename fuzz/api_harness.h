// An in-process Api over the in-memory stores, for the fuzz targets that send requests.
//
// Requests go through Api::OnHeaders and the body path the transport would take (buffered
// JSON bodies, streamed multipart bodies in chunks), without sockets: thousands of requests a
// second. Ids come from a counter and the clock is fixed, so every input replays exactly.
// Every answer is checked against what must hold whatever the request (see CheckResponse);
// a broken rule aborts, which libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "api/metrics.h"
#include "common/clock.h"
#include "common/ids.h"
#include "core/auth.h"
#include "core/file_service.h"
#include "core/upload_service.h"
#include "fuzz/check.h"
#include "store/blob/memory/memory_blob_store.h"
#include "store/meta/memory/memory_metadata_store.h"

namespace fileport::fuzz {

// prefix + 24 digits of a per-harness counter: well-formed, sortable, deterministic.
class CountingIds final : public IdGenerator {
 public:
  explicit CountingIds(const Clock& clock) : IdGenerator(clock) {}
  std::string NewId(std::string_view prefix) const override;

 private:
  mutable std::uint64_t next_ = 1;
};

struct FuzzRequest {
  std::string method;
  std::string target;
  std::vector<HeaderField> headers;  // names lowercase, as the transport passes them
  std::string body;
  std::size_t chunk = 4096;  // streamed bodies are written in chunks of this size (>= 1)
};

// The objects every harness starts with (ids are fixed by the creation order):
inline constexpr std::string_view kSeedFileId = "file-000000000000000000000001";
inline constexpr std::string_view kSeedFileContent = "hello world\n";  // "hello.txt", assistants
inline constexpr std::string_view kSeedUploadId = "upload_000000000000000000000002";  // 12 bytes
inline constexpr std::string_view kSeedPartId = "part_000000000000000000000003";  // "hello "
inline constexpr std::string_view kSeedCompletedUploadId = "upload_000000000000000000000004";

class ApiHarness {
 public:
  // Fresh stores holding the seed objects. `with_key`: an API key exists (its secret is not
  // known to the input), so every request needs one and the Authorization header is parsed.
  explicit ApiHarness(bool with_key = false);
  ApiHarness(const ApiHarness&) = delete;
  ApiHarness& operator=(const ApiHarness&) = delete;

  // Sends one request as the transport would and checks the answer (CheckResponse). A
  // download's bytes are read to the end. Returns the answer, body included.
  ApiResponse Send(const FuzzRequest& request);

 private:
  ApiResponse Finish(const FuzzRequest& request, Dispatch dispatch);

  FakeClock clock_;
  CountingIds ids_{clock_};
  MemoryMetadataStore meta_;
  MemoryBlobStore blobs_;
  ServiceContext ctx_{meta_, blobs_, clock_, ids_, {}};
  FileService files_{ctx_};
  UploadService uploads_{ctx_, files_};
  Authenticator auth_{meta_, clock_, ids_};
  Metrics metrics_;
  Api api_{files_, uploads_, auth_, ctx_, metrics_, nullptr};
};

// The rules every answer keeps: a status in 100..599; header names and values without CR,
// LF or NUL (no header injection from a filename, a mime type or an id); a JSON body that
// parses, and for an error status the OpenAI envelope; a streamed body of exactly
// `stream_length` bytes; a 206 whose Content-Range matches the bytes sent. No 500: the
// in-memory stores do not fail, so a 500 is a bug in the request handling.
void CheckResponse(const FuzzRequest& request, const ApiResponse& response,
                   std::string_view streamed);

// Splits a fuzz input into requests. Text format, one request after another, separated by a
// line "%%":
//   METHOD TARGET
//   name: value            (any number of header lines; "x-fuzz-chunk: N" sets the chunk)
//                          (blank line)
//   body bytes…
// Lines end in LF or CRLF; the body is everything up to the separator, as is.
std::vector<FuzzRequest> ParseRequests(std::string_view input);

// Silences the logs (spdlog) once per process.
void QuietLogs();

}  // namespace fileport::fuzz
