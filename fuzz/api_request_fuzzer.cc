// Fuzzes whole requests, one after another on one server: method, target, headers and body,
// through the Api (api/api.cc) and the multipart sinks (api/form_sinks.cc) over the in-memory
// stores. This reaches what the narrower targets do not: form fields (purpose,
// expires_after[…]), Content-MD5 on parts, Range / If-Range / If-None-Match on downloads,
// Authorization, and sequences (create an upload, add parts, complete, download).
//
// Input: requests in the text format of fuzz::ParseRequests (fuzz/api_harness.h), e.g.
//   POST /v1/files
//   content-type: multipart/form-data; boundary=b
//
//   --b\r\n…--b--\r\n
//   %%
//   GET /v1/files/file-000000000000000000000001/content
//   range: bytes=2-5
// An input starting with the line "!auth" runs against a server that has an API key.
// Checks: the rules of fuzz/api_harness.h for every answer, and a file created by a request
// downloads whole, with the size it was answered with.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/api_harness.h"
#include "model/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fileport;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bool with_key = false;
  if (input.starts_with("!auth\n")) {
    with_key = true;
    input.remove_prefix(6);
  }
  auto requests = fuzz::ParseRequests(input);
  if (requests.size() > 16) return 0;  // long sequences add time, not paths
  fuzz::ApiHarness api(with_key);
  for (const fuzz::FuzzRequest& req : requests) {
    ApiResponse r = api.Send(req);
    if (r.status != 200 || req.method != "POST" || req.target != "/v1/files") continue;
    // A created file reads back as it was described.
    auto file = FileFromJson(r.body);
    FUZZ_CHECK(file.ok(), r.body);
    fuzz::FuzzRequest get;
    get.method = "GET";
    get.target = "/v1/files/" + file->id + "/content";
    ApiResponse content = api.Send(get);
    FUZZ_CHECK(content.status == 200, file->id);
    FUZZ_CHECK(content.stream_length == file->bytes, r.body);
  }
  return 0;
}
