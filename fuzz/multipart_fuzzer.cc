// Fuzzes the streaming multipart/form-data parser (http/multipart_parser.h).
//
// Input: the first line is the request's Content-Type value, the rest is the body:
//   multipart/form-data; boundary=XyZ
//   --XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n--XyZ--\r\n
// A Content-Type without a valid boundary is still parsed with the raw value as boundary (the
// parser must then refuse every Feed).
//
// Each input is parsed several ways, and they must agree:
// 1. the whole body in one Feed, then Finish;
// 2. the body in chunks of random sizes (1 byte to 4 KiB, from a seed hashed from the input);
// 3. like 2, with a handler that fails at its N-th callback: the parser must return that
//    Status unchanged and make no callback after it;
// 4. when 1 succeeded: the parts it delivered, written again as a client would with a new
//    boundary of a random length (1..70), must parse back to the same parts.
// Every pass checks the handler contract: Begin, Data*, End in order; no empty span; no
// callback after an error; every part ended after a successful Finish; parts_seen() equal to
// the OnPartBegin calls; no more parts than the limit; part bytes never more than the body;
// an error sticks (Feed and Finish return it again).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "http/multipart_parser.h"

namespace fileport {
namespace {

#define CHECK(cond) FUZZ_CHECK(cond, "")

struct Part {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string data;
  bool ended = false;
  bool operator==(const Part&) const = default;
};

class Recorder : public MultipartHandler {
 public:
  explicit Recorder(int fail_at = -1) : fail_at_(fail_at) {}

  Status OnPartBegin(const MultipartPartHeaders& h) override {
    ++begin_calls;
    RETURN_IF_ERROR(Tick());
    CHECK(parts.empty() || parts.back().ended);
    parts.push_back({h.name, h.filename, h.content_type, "", false});
    return Status::Ok();
  }
  Status OnPartData(std::span<const char> data) override {
    RETURN_IF_ERROR(Tick());
    CHECK(!data.empty());
    CHECK(!parts.empty() && !parts.back().ended);
    parts.back().data.append(data.data(), data.size());
    data_bytes += data.size();
    return Status::Ok();
  }
  Status OnPartEnd() override {
    RETURN_IF_ERROR(Tick());
    CHECK(!parts.empty() && !parts.back().ended);
    parts.back().ended = true;
    return Status::Ok();
  }

  std::vector<Part> parts;
  std::size_t data_bytes = 0;
  std::size_t begin_calls = 0;  // the one that failed included
  bool failed = false;  // the handler has returned its error

 private:
  Status Tick() {
    CHECK(!failed);  // no callback after the handler failed
    if (calls_++ == fail_at_) {
      failed = true;
      return Status(StatusCode::kResourceExhausted, "handler refused", "file");
    }
    return Status::Ok();
  }
  int calls_ = 0;
  int fail_at_;
};

// Small limits, so that inputs reach them.
constexpr MultipartLimits kLimits{/*max_header_bytes=*/512, /*max_parts=*/16};
// Re-encoding may grow a header block (an ISO-8859-1 filename* doubles in UTF-8).
constexpr MultipartLimits kReencodedLimits{/*max_header_bytes=*/8192, /*max_parts=*/16};

struct Outcome {
  Status status;
  std::vector<Part> parts;
};

// Feeds `body` in chunks whose sizes come from `rng` (one chunk when rng is null).
Outcome Parse(const std::string& boundary, std::string_view body, std::mt19937* rng,
              int fail_at = -1, MultipartLimits limits = kLimits) {
  Recorder handler(fail_at);
  MultipartParser parser(boundary, handler, limits);
  Status status;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t n = body.size() - pos;
    if (rng != nullptr) {
      // Mostly tiny chunks (boundaries split everywhere), sometimes large ones.
      std::size_t cap = (*rng)() % 4 == 0 ? 4096 : 16;
      n = std::min<std::size_t>(n, 1 + (*rng)() % cap);
    }
    status = parser.Feed(std::span<const char>(body.data() + pos, n));
    pos += n;
    if (!status.ok()) break;
  }
  if (status.ok()) status = parser.Finish();
  if (!status.ok()) {
    // The error sticks, and nothing more is called back.
    Status again = parser.Feed(std::span<const char>("x", 1));
    CHECK(again.code() == status.code() && again.message() == status.message());
    again = parser.Finish();
    CHECK(again.code() == status.code() && again.message() == status.message());
    if (handler.failed) {
      CHECK(status.code() == StatusCode::kResourceExhausted);
      CHECK(status.message() == "handler refused");
    }
  } else {
    CHECK(!handler.failed);
    for (const Part& p : handler.parts) CHECK(p.ended);
    CHECK(parser.Finish().ok());
  }
  CHECK(parser.parts_seen() == handler.begin_calls);
  CHECK(handler.parts.size() <= limits.max_parts);
  CHECK(handler.data_bytes <= body.size());
  return {status, std::move(handler.parts)};
}

bool SameOutcome(const Outcome& a, const Outcome& b) {
  return a.status.code() == b.status.code() && a.status.message() == b.status.message() &&
         a.parts == b.parts;
}

// The form as the SDKs write it: quoted name/filename with '"', CR and LF escaped the WHATWG
// way ("%22", "%0D", "%0A"). Values the escaping cannot carry return nullopt.
std::optional<std::string> QuoteParam(std::string_view value) {
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '"') {
      out += "%22";
    } else if (c == '\r') {
      out += "%0D";
    } else if (c == '\n') {
      out += "%0A";
    } else if (c == '%' && i + 2 < value.size() &&
               (value.substr(i + 1, 2) == "22" || value.substr(i + 1, 2) == "0D" ||
                value.substr(i + 1, 2) == "0d" || value.substr(i + 1, 2) == "0A" ||
                value.substr(i + 1, 2) == "0a")) {
      return std::nullopt;  // would decode to something else
    } else if (c == '\\') {
      return std::nullopt;  // "\\" and "\"" are unescaped, a lone one kept: ambiguous
    } else {
      out.push_back(c);
    }
  }
  out += "\"";
  return out;
}

std::optional<std::string> Encode(const std::vector<Part>& parts, const std::string& boundary) {
  std::string body;
  for (const Part& p : parts) {
    auto name = QuoteParam(p.name);
    if (!name) return std::nullopt;
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=" + *name;
    if (p.filename) {
      auto filename = QuoteParam(*p.filename);
      if (!filename) return std::nullopt;
      body += "; filename=" + *filename;
    }
    body += "\r\n";
    if (!p.content_type.empty()) {
      if (p.content_type.find_first_of("\r\n") != std::string::npos) return std::nullopt;
      body += "Content-Type: " + p.content_type + "\r\n";
    }
    body += "\r\n";
    if (p.data.find("\r\n--" + boundary) != std::string::npos) return std::nullopt;
    body += p.data + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

std::uint32_t Hash(std::string_view data) {  // FNV-1a
  std::uint32_t h = 2166136261u;
  for (unsigned char c : data) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace
}  // namespace fileport

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fileport;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t eol = input.find('\n');
  if (eol == std::string_view::npos) return 0;
  std::string_view content_type = input.substr(0, eol);
  std::string_view body = input.substr(eol + 1);

  auto parsed = MultipartParser::BoundaryFromContentType(content_type);
  std::string boundary;
  if (parsed.ok()) {
    boundary = *parsed;
    CHECK(!boundary.empty() && boundary.size() <= 70);
  } else {
    CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
    std::string_view raw = content_type;
    if (std::size_t eq = raw.rfind('='); eq != std::string_view::npos) raw.remove_prefix(eq + 1);
    boundary = std::string(raw.substr(0, 80));
  }

  std::mt19937 rng(Hash(input));
  Outcome whole = Parse(boundary, body, nullptr);
  Outcome chunked = Parse(boundary, body, &rng);
  FUZZ_CHECK(SameOutcome(whole, chunked),
             "one chunk: " + whole.status.ToString() + ", chunked: " + chunked.status.ToString());

  // A handler failure at one of its first callbacks.
  int callbacks = 0;
  for (const Part& p : whole.parts) callbacks += 2 + (p.data.empty() ? 0 : 1);
  if (callbacks > 0) {
    Parse(boundary, body, &rng, static_cast<int>(rng() % static_cast<unsigned>(callbacks + 1)));
  }

  if (whole.status.ok()) {
    static constexpr std::string_view kChars =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";
    std::string fresh(1 + rng() % 70, 'x');
    for (char& c : fresh) c = kChars[rng() % kChars.size()];
    if (auto encoded = Encode(whole.parts, fresh)) {
      Outcome again = Parse(fresh, *encoded, &rng, -1, kReencodedLimits);
      FUZZ_CHECK(again.status.ok(), "re-encoded with boundary " + fresh + ": " +
                                        again.status.ToString() + "\n" + *encoded);
      FUZZ_CHECK(again.parts == whole.parts, "re-encoded with boundary " + fresh + "\n" + *encoded);
    }
  }
  return 0;
}
