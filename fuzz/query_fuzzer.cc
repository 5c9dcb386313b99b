// Fuzzes request targets: path segments (percent-decoding, ids of every kind, unknown
// routes) and the query of GET /v1/files (limit, order, after, purpose), through the Api's
// routing (api/api.cc) over the in-memory stores.
//
// Input: one request target, e.g. "/v1/files?limit=2&order=asc&after=file-…". It is sent as
// GET, HEAD, POST (empty body) and DELETE, in that order, to one harness. Checks: the rules of
// fuzz/api_harness.h for every answer, plus:
// - a target outside /v1 and the health routes (with no escape that could spell them, and
//   not starting "/.", which Boost.URL drops as the prefix that protects a path "//…") is a
//   400 (not a valid target) or a 404 "Invalid URL";
// - GET /v1/files answers a list whose has_more is a bool and whose items are files, or a
//   400 naming the query parameter at fault (unless the target itself is invalid);
// - HEAD of a download answers like its GET (same status).
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "fuzz/api_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fileport;
  std::string_view target(reinterpret_cast<const char*>(data), size);
  fuzz::ApiHarness api;
  auto send = [&](std::string method) {
    fuzz::FuzzRequest req;
    req.method = std::move(method);
    req.target = std::string(target);
    return api.Send(req);
  };
  ApiResponse get = send("GET");
  ApiResponse head = send("HEAD");
  const bool content = target.substr(0, target.find('?')).ends_with("/content");
  FUZZ_CHECK(!content || head.status == get.status,
             std::string(target) + ": GET " + std::to_string(get.status) + ", HEAD " +
                 std::to_string(head.status));
  if (get.status == 200 && target.starts_with("/v1/files") &&
      (target.size() == 9 || target[9] == '?')) {
    boost::json::value v = boost::json::parse(get.body);
    const auto& o = v.as_object();
    FUZZ_CHECK(o.at("object") == "list" && o.at("has_more").is_bool(), get.body);
    for (const auto& f : o.at("data").as_array()) {
      FUZZ_CHECK(f.as_object().at("object") == "file", get.body);
    }
  }
  if (get.status == 400 && target.starts_with("/v1/files?") &&
      get.body.find("Invalid request target") == std::string::npos) {
    FUZZ_CHECK(get.body.find("\"param\":null") == std::string::npos, get.body);
  }
  if (!target.starts_with("/v1") && !target.starts_with("/healthz") &&
      !target.starts_with("/readyz") && !target.starts_with("/metrics") &&
      !target.starts_with("/.") &&
      target.find('%') == std::string_view::npos) {
    FUZZ_CHECK(get.status == 400 || get.status == 404, std::string(target));
  }
  send("POST");
  send("DELETE");
  return 0;
}
