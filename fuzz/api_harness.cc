// The in-process Api of the request fuzz targets, and the checks on its answers.
#include "fuzz/api_harness.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>

#include "model/wire.h"

namespace fileport::fuzz {

std::string CountingIds::NewId(std::string_view prefix) const {
  std::string digits = std::to_string(next_++);
  std::string id(prefix);
  id.append(kIdBodyLength - digits.size(), '0');
  id += digits;
  return id;
}

void QuietLogs() {
  static const bool done = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)done;
}

namespace {

void Must(const Status& s, std::string_view what) {
  FUZZ_CHECK(s.ok(), std::string(what) + ": " + s.ToString());
}

bool HasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

const std::string* FindHeader(const ApiResponse& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

std::string Describe(const FuzzRequest& req, const ApiResponse& r) {
  return req.method + " " + req.target + " -> " + std::to_string(r.status) + " " +
         r.body.substr(0, 500);
}

}  // namespace

ApiHarness::ApiHarness(bool with_key) {
  QuietLogs();
  // file-…1: a processed file with 12 bytes.
  {
    auto write = files_.StartWrite(std::string(kDefaultProject));
    Must(write.status(), "seed file");
    Must((*write)->Append(std::span<const char>(kSeedFileContent.data(), kSeedFileContent.size())),
         "seed file bytes");
    CreateFileParams params;
    params.purpose = "assistants";
    params.filename = "hello.txt";
    params.mime_type = "text/plain";
    auto file = files_.FinishCreate(std::string(kDefaultProject), std::move(*write), params);
    Must(file.status(), "seed file create");
    FUZZ_CHECK(file->id == kSeedFileId, file->id);
  }
  // upload_…2: pending, 12 bytes, holding part_…3 ("hello ").
  auto add_part = [&](const std::string& upload_id, std::string_view bytes) {
    auto part = uploads_.StartPart(std::string(kDefaultProject), upload_id, std::nullopt);
    Must(part.status(), "seed part");
    Must((*part)->Append(std::span<const char>(bytes.data(), bytes.size())), "seed part bytes");
    auto done = uploads_.FinishPart(std::string(kDefaultProject), std::move(*part));
    Must(done.status(), "seed part finish");
    return done->id;
  };
  {
    CreateUploadParams params;
    params.bytes = 12;
    params.filename = "upload.txt";
    params.mime_type = "text/plain";
    params.purpose = "assistants";
    auto upload = uploads_.Create(std::string(kDefaultProject), params);
    Must(upload.status(), "seed upload");
    FUZZ_CHECK(upload->id == kSeedUploadId, upload->id);
    std::string part = add_part(upload->id, "hello ");
    FUZZ_CHECK(part == kSeedPartId, part);
  }
  // upload_…4: completed from one part of 12 bytes.
  {
    CreateUploadParams params;
    params.bytes = 12;
    params.filename = "done.jsonl";
    params.mime_type = "application/jsonl";
    params.purpose = "batch";
    auto upload = uploads_.Create(std::string(kDefaultProject), params);
    Must(upload.status(), "seed completed upload");
    FUZZ_CHECK(upload->id == kSeedCompletedUploadId, upload->id);
    std::string part = add_part(upload->id, "{\"a\":1}\n{}\n\n");
    auto done = uploads_.Complete(std::string(kDefaultProject), upload->id, {part}, std::nullopt);
    Must(done.status(), "seed complete");
  }
  if (with_key) Must(auth_.CreateKey("team-a").status(), "seed key");
}

ApiResponse ApiHarness::Send(const FuzzRequest& request) {
  ApiRequest req;
  req.method = request.method;
  req.target = request.target;
  req.headers = request.headers;
  req.content_length = request.body.size();
  req.request_id = "req_fuzz";
  req.remote = "fuzz";
  return Finish(request, api_.OnHeaders(req));
}

ApiResponse ApiHarness::Finish(const FuzzRequest& request, Dispatch d) {
  ApiResponse r;
  switch (d.kind) {
    case Dispatch::Kind::kRespond:
      r = std::move(d.response);
      break;
    case Dispatch::Kind::kBuffer:
      FUZZ_CHECK(d.on_body != nullptr, request.target);
      if (request.body.size() > d.body_limit) return r;  // the transport answers 413
      r = d.on_body(request.body);
      break;
    case Dispatch::Kind::kStream: {
      FUZZ_CHECK(d.sink != nullptr, request.target);
      const std::size_t chunk = std::max<std::size_t>(1, request.chunk);
      Status status;
      for (std::size_t pos = 0; pos < request.body.size() && status.ok(); pos += chunk) {
        const std::size_t n = std::min(chunk, request.body.size() - pos);
        status = d.sink->Write(std::span<const char>(request.body.data() + pos, n));
      }
      r = status.ok() ? d.sink->Finish() : d.sink->Fail(status);
      break;
    }
  }
  std::string streamed;
  if (r.stream) {
    char buf[4096];
    for (;;) {
      auto n = r.stream->Read(std::span<char>(buf, sizeof buf));
      FUZZ_CHECK(n.ok(), Describe(request, r) + " read: " + n.status().ToString());
      if (*n == 0) break;
      streamed.append(buf, *n);
      FUZZ_CHECK(streamed.size() <= static_cast<std::size_t>(r.stream_length),
                 Describe(request, r) + " stream longer than stream_length");
    }
  }
  CheckResponse(request, r, streamed);
  return r;
}

void CheckResponse(const FuzzRequest& request, const ApiResponse& r, std::string_view streamed) {
  const std::string what = Describe(request, r);
  FUZZ_CHECK(r.status >= 100 && r.status <= 599, what);
  FUZZ_CHECK(r.status != 500, what);
  for (const auto& h : r.headers) {
    FUZZ_CHECK(!h.name.empty() && !HasLineBreakOrNul(h.name), what + " header " + h.name);
    FUZZ_CHECK(!HasLineBreakOrNul(h.value), what + " header " + h.name + ": " + h.value);
  }
  const std::string* type = FindHeader(r, "content-type");
  if (type != nullptr && *type == "application/json") {
    boost::json::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    FUZZ_CHECK(!ec && v.is_object(), what + " is not a JSON object");
    if (r.status >= 400) FUZZ_CHECK(ErrorFromJson(r.body).has_value(), what + " no envelope");
  }
  if (r.stream) {
    FUZZ_CHECK(streamed.size() == static_cast<std::size_t>(r.stream_length),
               what + " stream shorter than stream_length");
  }
  if (r.status == 206) {
    const std::string* range = FindHeader(r, "content-range");
    FUZZ_CHECK(range != nullptr, what + " 206 without Content-Range");
    long long first = -1, last = -1, total = -1;
    FUZZ_CHECK(std::sscanf(range->c_str(), "bytes %lld-%lld/%lld", &first, &last, &total) == 3,
               what + " Content-Range " + *range);
    FUZZ_CHECK(first >= 0 && first <= last && last < total, what + " Content-Range " + *range);
    const long long length = r.head_only ? r.head_length : r.stream_length;
    FUZZ_CHECK(last - first + 1 == length, what + " Content-Range " + *range);
  }
}

std::vector<FuzzRequest> ParseRequests(std::string_view input) {
  std::vector<FuzzRequest> out;
  auto next_line = [](std::string_view& in) {
    std::size_t eol = in.find('\n');
    std::string_view line = in.substr(0, eol);
    in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  while (!input.empty()) {
    std::string_view text = input;
    std::size_t sep = input.find("\n%%\n");
    if (sep != std::string_view::npos) {
      text = input.substr(0, sep);
      input.remove_prefix(sep + 4);
    } else {
      input = {};
    }
    FuzzRequest req;
    std::string_view request_line = next_line(text);
    std::size_t space = request_line.find(' ');
    req.method = std::string(request_line.substr(0, space));
    if (space != std::string_view::npos) req.target = std::string(request_line.substr(space + 1));
    while (!text.empty()) {
      std::string_view line = next_line(text);
      if (line.empty()) break;
      std::size_t colon = line.find(':');
      std::string name(line.substr(0, colon));
      std::transform(name.begin(), name.end(), name.begin(),
                     [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
      std::string_view value =
          colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      if (name == "x-fuzz-chunk") {
        req.chunk = 1 + std::strtoul(std::string(value).c_str(), nullptr, 10) % 65536;
        continue;
      }
      req.headers.push_back({std::move(name), std::string(value)});
    }
    req.body = std::string(text);
    out.push_back(std::move(req));
  }
  return out;
}

}  // namespace fileport::fuzz
