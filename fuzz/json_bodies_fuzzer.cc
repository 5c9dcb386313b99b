// Fuzzes every JSON body fileport reads: the server's POST /v1/uploads, /complete and /cancel
// bodies (api/api.cc), and the client's parsers of the API objects and the error envelope
// (model/wire.h), which read whatever a server — or anything at the base URL — answers.
//
// Input: one JSON text (or anything). Checks:
// - server: each route answers within the rules of fuzz/api_harness.h (a JSON object, an
//   error envelope for 4xx, no 500, clean headers), never throws;
// - client: each *FromJson never throws, and what it accepts survives a round trip through
//   ToJson unchanged (the writer and the reader agree on every field).
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/api_harness.h"
#include "model/wire.h"

namespace fileport {
namespace {

template <class T, class Parse>
void RoundTrip(std::string_view json, Parse parse) {
  Result<T> first = parse(json);
  if (!first.ok()) return;
  const std::string written = ToJson(*first);
  Result<T> second = parse(written);
  FUZZ_CHECK(second.ok(), written);
  FUZZ_CHECK(*second == *first, written);
}

void Client(std::string_view json) {
  RoundTrip<File>(json, FileFromJson);
  RoundTrip<Upload>(json, UploadFromJson);
  if (auto deleted = DeletedFileFromJson(json); deleted.ok()) {
    const std::string written = ToJson(*deleted);
    auto again = DeletedFileFromJson(written);
    FUZZ_CHECK(again.ok() && again->id == deleted->id && again->deleted == deleted->deleted,
               written);
  }
  if (auto part = UploadPartFromJson(json); part.ok()) {
    // ToJson(part) leaves out `bytes` unless asked: compare with it.
    const std::string written = ToJson(*part, /*with_bytes=*/true);
    auto again = UploadPartFromJson(written);
    FUZZ_CHECK(again.ok() && *again == *part, written);
  }
  if (auto page = FilePageFromJson(json); page.ok()) {
    const std::string written = ToJson(*page);
    auto again = FilePageFromJson(written);
    FUZZ_CHECK(again.ok() && again->data == page->data && again->has_more == page->has_more,
               written);
  }
  if (auto page = UploadPartPageFromJson(json); page.ok()) {
    const std::string written = ToJson(*page);
    auto again = UploadPartPageFromJson(written);
    FUZZ_CHECK(again.ok() && again->data == page->data && again->has_more == page->has_more,
               written);
  }
  if (auto error = ErrorFromJson(json)) {
    const std::string written = ErrorJson(error->message, error->type, error->param, error->code);
    auto again = ErrorFromJson(written);
    FUZZ_CHECK(again && again->message == error->message && again->type == error->type &&
                   again->param == error->param && again->code == error->code,
               written);
  }
}

void Server(std::string_view json) {
  fuzz::ApiHarness api;
  auto post = [&](std::string target) {
    fuzz::FuzzRequest req;
    req.method = "POST";
    req.target = std::move(target);
    req.headers = {{"content-type", "application/json"}};
    req.body = std::string(json);
    return api.Send(req);
  };
  post("/v1/uploads");
  post("/v1/uploads/" + std::string(fuzz::kSeedUploadId) + "/complete");
  post("/v1/uploads/" + std::string(fuzz::kSeedCompletedUploadId) + "/complete");
  post("/v1/uploads/" + std::string(fuzz::kSeedUploadId) + "/cancel");
}

}  // namespace
}  // namespace fileport

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fileport::Client(input);
  fileport::Server(input);
  return 0;
}
