// Streaming multipart/form-data parser: delimiter scanning, part headers, Content-Disposition
// and Content-Type parameter parsing (RFC 7578, RFC 2046, RFC 5987, WHATWG form encoding).
#include "http/multipart_parser.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace fileport {
namespace {

constexpr std::string_view kParseErrorPrefix = "Could not parse multipart form: ";
constexpr std::size_t kMaxBoundaryLength = 70;  // RFC 2046 §5.1.1

Status ParseError(std::string_view detail) {
  std::string message(kParseErrorPrefix);
  message += detail;
  return InvalidArgument(std::move(message));
}

// Quotes a client-supplied value for an error message, cut to a readable length.
std::string Quote(std::string_view value) {
  constexpr std::size_t kMax = 100;
  std::string out = "\"";
  out += value.substr(0, kMax);
  if (value.size() > kMax) out += "...";
  out += "\"";
  return out;
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return AsciiLower(x) == AsciiLower(y);
         });
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = AsciiLower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 2046 bchars: DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "." / "/" /
// ":" / "=" / "?" / " " (space not last). Guaranteeing there is no CR in a boundary is what
// lets the scanner drop a failed partial match without rescanning it.
bool IsBoundaryChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

bool IsValidBoundary(std::string_view boundary) {
  return !boundary.empty() && boundary.size() <= kMaxBoundaryLength && boundary.back() != ' ' &&
         std::all_of(boundary.begin(), boundary.end(), IsBoundaryChar);
}

// One `name=value` parameter of a structured header. `name` is lowercased; `value` has had
// quoted-string unescaping applied (see ParseParameters) when `quoted`.
struct HeaderParam {
  std::string name;
  std::string value;
  bool quoted = false;
};

// Splits `type *( OWS ";" OWS param )` into the leading type token and the rest.
std::pair<std::string_view, std::string_view> SplitType(std::string_view value) {
  value = TrimOws(value);
  std::size_t end = value.find_first_of("; \t");
  if (end == std::string_view::npos) return {value, {}};
  return {value.substr(0, end), value.substr(end)};
}

// Parses `*( OWS ";" OWS name OWS "=" OWS ( token / quoted-string ) ) [ OWS ";" ] OWS`.
// Inside a quoted string `\"` and `\\` are unescaped; a backslash before anything else is
// kept literally, because browsers send a backslash in a filename unescaped while httpx
// (the OpenAI Python SDK) doubles it.
Status ParseParameters(std::string_view in, std::string_view header,
                       std::vector<HeaderParam>* params) {
  auto malformed = [&](std::string_view why) {
    return ParseError("malformed " + std::string(header) + " header (" + std::string(why) +
                      "): " + Quote(in));
  };
  std::size_t i = 0;
  const std::size_t n = in.size();
  auto skip_ows = [&] {
    while (i < n && IsOws(in[i])) ++i;
  };
  while (true) {
    skip_ows();
    if (i == n) return Status::Ok();
    if (in[i] != ';') return malformed("expected ';'");
    ++i;
    skip_ows();
    if (i == n) return Status::Ok();  // a trailing ';' is harmless
    HeaderParam param;
    while (i < n && in[i] != '=' && in[i] != ';' && !IsOws(in[i])) {
      param.name.push_back(AsciiLower(in[i]));
      ++i;
    }
    if (param.name.empty()) return malformed("empty parameter name");
    skip_ows();
    if (i == n || in[i] != '=') return malformed("parameter without '='");
    ++i;
    skip_ows();
    if (i < n && in[i] == '"') {
      param.quoted = true;
      ++i;
      bool closed = false;
      while (i < n) {
        char c = in[i];
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\' && i + 1 < n && (in[i + 1] == '"' || in[i + 1] == '\\')) {
          param.value.push_back(in[i + 1]);
          i += 2;
          continue;
        }
        param.value.push_back(c);
        ++i;
      }
      if (!closed) return malformed("unterminated quoted string");
    } else {
      while (i < n && in[i] != ';' && !IsOws(in[i])) {
        if (in[i] == '"') return malformed("stray '\"' in parameter value");
        param.value.push_back(in[i]);
        ++i;
      }
      if (param.value.empty()) return malformed("empty parameter value");
    }
    params->push_back(std::move(param));
  }
}

// Looks up a parameter; Ok with nullptr when absent, InvalidArgument when sent twice.
Status FindParam(const std::vector<HeaderParam>& params, std::string_view name,
                 std::string_view header, const HeaderParam** found) {
  *found = nullptr;
  for (const HeaderParam& param : params) {
    if (param.name != name) continue;
    if (*found != nullptr) {
      return ParseError("duplicate '" + std::string(name) + "' parameter in " +
                        std::string(header) + " header");
    }
    *found = &param;
  }
  return Status::Ok();
}

// The WHATWG multipart/form-data encoding (what browsers, undici and curl send) escapes
// exactly '"', CR and LF in name/filename as %22, %0D, %0A. Only those are decoded: any other
// '%' sequence is the user's own text ("100%41.txt" stays as is).
std::string DecodeFormEscapes(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      char hi = in[i + 1];
      char lo = AsciiLower(in[i + 2]);
      char decoded = 0;
      if (hi == '2' && lo == '2') decoded = '"';
      if (hi == '0' && lo == 'd') decoded = '\r';
      if (hi == '0' && lo == 'a') decoded = '\n';
      if (decoded != 0) {
        out.push_back(decoded);
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// RFC 5987 ext-value: charset "'" [ language ] "'" value-chars, with %XX escapes. UTF-8 is
// returned as is, ISO-8859-1 is converted to UTF-8; other charsets are refused.
Result<std::string> DecodeExtValue(std::string_view in) {
  auto invalid = [&](std::string_view why) {
    return ParseError("invalid filename* parameter (" + std::string(why) + "): " + Quote(in));
  };
  std::size_t q1 = in.find('\'');
  std::size_t q2 = q1 == std::string_view::npos ? q1 : in.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return invalid("expected charset'language'value");
  std::string_view charset = in.substr(0, q1);
  std::string_view encoded = in.substr(q2 + 1);
  std::string bytes;
  bytes.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      bytes.push_back(encoded[i]);
      continue;
    }
    int hi = i + 2 < encoded.size() ? HexValue(encoded[i + 1]) : -1;
    int lo = hi >= 0 ? HexValue(encoded[i + 2]) : -1;
    if (lo < 0) return invalid("bad percent escape");
    bytes.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (EqualsIgnoreCase(charset, "utf-8")) return bytes;
  if (EqualsIgnoreCase(charset, "iso-8859-1")) {
    std::string utf8;
    utf8.reserve(bytes.size() * 2);
    for (char c : bytes) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x80) {
        utf8.push_back(c);
      } else {
        utf8.push_back(static_cast<char>(0xC0 | (u >> 6)));
        utf8.push_back(static_cast<char>(0x80 | (u & 0x3F)));
      }
    }
    return utf8;
  }
  return invalid("unsupported charset, expected UTF-8 or ISO-8859-1");
}

// Fills name and filename from a Content-Disposition value.
Status ParseContentDisposition(std::string_view value, MultipartPartHeaders* headers) {
  constexpr std::string_view kHeader = "part Content-Disposition";
  auto [type, rest] = SplitType(value);
  if (!EqualsIgnoreCase(type, "form-data")) {
    return ParseError("part Content-Disposition must be form-data, got " + Quote(type));
  }
  std::vector<HeaderParam> params;
  RETURN_IF_ERROR(ParseParameters(rest, kHeader, &params));
  const HeaderParam* name = nullptr;
  const HeaderParam* filename = nullptr;
  const HeaderParam* filename_ext = nullptr;
  RETURN_IF_ERROR(FindParam(params, "name", kHeader, &name));
  RETURN_IF_ERROR(FindParam(params, "filename", kHeader, &filename));
  RETURN_IF_ERROR(FindParam(params, "filename*", kHeader, &filename_ext));
  if (name == nullptr) return ParseError("part Content-Disposition has no name parameter");
  headers->name = name->quoted ? DecodeFormEscapes(name->value) : name->value;
  if (filename_ext != nullptr) {
    ASSIGN_OR_RETURN(std::string decoded, DecodeExtValue(filename_ext->value));
    headers->filename = std::move(decoded);
  } else if (filename != nullptr) {
    headers->filename = filename->quoted ? DecodeFormEscapes(filename->value) : filename->value;
  }
  return Status::Ok();
}

// Parses a header block ("Name: value" lines joined by CRLF, without the final blank line).
Status ParseHeaderBlock(std::string_view text, MultipartPartHeaders* headers) {
  std::optional<std::string_view> disposition;
  std::optional<std::string_view> content_type;
  while (!text.empty()) {
    std::size_t eol = text.find("\r\n");
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 2);
    if (line.empty()) return ParseError("empty part header line");
    if (IsOws(line.front())) return ParseError("folded part header lines are not supported");
    if (line.find_first_of("\r\n") != std::string_view::npos) {
      return ParseError("part header line not terminated by CRLF");
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        line.substr(0, colon).find_first_of(" \t") != std::string_view::npos) {
      return ParseError("malformed part header line: " + Quote(line));
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = TrimOws(line.substr(colon + 1));
    std::optional<std::string_view>* slot = nullptr;
    if (EqualsIgnoreCase(name, "content-disposition")) slot = &disposition;
    if (EqualsIgnoreCase(name, "content-type")) slot = &content_type;
    if (slot == nullptr) continue;  // Content-Transfer-Encoding etc.: RFC 7578 says ignore.
    if (slot->has_value()) {
      return ParseError("duplicate " + std::string(name) + " header in a part");
    }
    *slot = value;
  }
  if (!disposition.has_value()) return ParseError("part has no Content-Disposition header");
  RETURN_IF_ERROR(ParseContentDisposition(*disposition, headers));
  if (content_type.has_value()) headers->content_type = std::string(*content_type);
  return Status::Ok();
}

// The first full occurrence of `delim` in [begin, end), or nullptr.
//
// This is the hot loop of every upload. Instead of memchr on '\r' (slow on CR-dense data such
// as a file of CRLFs: one call per hit) or Horspool (latency-bound, slow when the data is full
// of bytes from the end of the boundary), it compares a vector of positions at once against
// the first and the last byte of the delimiter (W. Muła, "SIMD-friendly algorithms for
// substring searching"), and runs memcmp only where both match. A valid boundary never ends
// in CR or LF, so CR-dense data yields no candidates; data built to match both bytes at every
// position only degrades to one memcmp per position. The verdicts over 128 bytes are merged
// before one test (moving a vector's verdict to a general register costs more than making
// it), and a block with a candidate is checked again byte by byte. Written with GCC/Clang
// vector extensions, which compile to SSE2/NEON without target-specific intrinsics, with
// 16-byte vectors (wider ones are split into scalar pieces where the CPU lacks them). On
// x86-64 a copy with 32-byte vectors is compiled for AVX2 and used when the CPU has it,
// picked by a plain check on first use: an ifunc's resolver, as target_clones makes, runs
// before the sanitizers' runtimes are up and crashes ThreadSanitizer builds. On data in the
// cache (bench/micro: MultipartScan): ~50 GB/s with AVX2, ~30 GB/s with SSE2, against
// 16-17 GB/s for the 16-byte loop with one test per vector that this replaces.
#if defined(__GNUC__) || defined(__clang__)
using Bytes16 = char __attribute__((vector_size(16)));  // SSE2, NEON
using Bytes32 = char __attribute__((vector_size(32)));  // AVX2
#define FP_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
using Bytes16 = char;  // no vectors: the memchr loop below does it all
#define FP_ALWAYS_INLINE inline
#endif

template <class Bytes>
FP_ALWAYS_INLINE const char* FindDelimiterIn(const char* begin, const char* end,
                                             std::string_view delim) {
  const std::size_t size = delim.size();
  if (static_cast<std::size_t>(end - begin) < size) return nullptr;
  const char* const last_start = end - size;  // the last position a full match can start at
  const char first = delim.front();
  const char last = delim.back();
  const char* cur = begin;
#if defined(__GNUC__) || defined(__clang__)
  constexpr int kWidth = sizeof(Bytes);
  constexpr int kBlock = 128;  // bytes per test for a candidate
  const Bytes first_byte = first - Bytes{};
  const Bytes last_byte = last - Bytes{};
  using Mask = decltype(first_byte == last_byte);
  while (last_start - cur >= kBlock) {
    Mask hits{};
    for (int at = 0; at < kBlock; at += kWidth) {
      Bytes head, tail;
      std::memcpy(&head, cur + at, kWidth);
      std::memcpy(&tail, cur + at + size - 1, kWidth);
      hits |= (head == first_byte) & (tail == last_byte);
    }
    std::uint64_t words[kWidth / 8];
    std::memcpy(words, &hits, kWidth);
    std::uint64_t any = 0;
    for (std::uint64_t w : words) any |= w;
    if (any == 0) {
      cur += kBlock;
      continue;
    }
    for (const char* const block_end = cur + kBlock; cur < block_end; ++cur) {
      // cur[1] before memcmp: a cheap reject for data built to pass the filter everywhere.
      if (cur[0] == first && cur[size - 1] == last && cur[1] == delim[1] &&
          std::memcmp(cur, delim.data(), size) == 0) {
        return cur;
      }
    }
  }
#endif
  for (; cur <= last_start; ++cur) {
    const void* hit = std::memchr(cur, first, static_cast<std::size_t>(last_start - cur) + 1);
    if (hit == nullptr) return nullptr;
    cur = static_cast<const char*>(hit);
    if (std::memcmp(cur, delim.data(), size) == 0) return cur;
  }
  return nullptr;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) const char* FindDelimiterAvx2(const char* begin, const char* end,
                                                              std::string_view delim) {
  return FindDelimiterIn<Bytes32>(begin, end, delim);
}
#endif

std::atomic<bool> g_portable_search{false};  // SetPortableDelimiterSearch

const char* FindDelimiter(const char* begin, const char* end, std::string_view delim) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  if (avx2 && !g_portable_search.load(std::memory_order_relaxed)) {
    return FindDelimiterAvx2(begin, end, delim);
  }
#endif
  return FindDelimiterIn<Bytes16>(begin, end, delim);
}

}  // namespace

void SetPortableDelimiterSearch(bool on) { g_portable_search.store(on, std::memory_order_relaxed); }

Result<std::string> MultipartParser::BoundaryFromContentType(std::string_view content_type) {
  constexpr std::string_view kHeader = "Content-Type";
  auto [type, rest] = SplitType(content_type);
  if (!EqualsIgnoreCase(type, "multipart/form-data")) {
    return ParseError("Content-Type must be multipart/form-data, got " +
                      Quote(TrimOws(content_type)));
  }
  std::vector<HeaderParam> params;
  RETURN_IF_ERROR(ParseParameters(rest, kHeader, &params));
  const HeaderParam* boundary = nullptr;
  RETURN_IF_ERROR(FindParam(params, "boundary", kHeader, &boundary));
  if (boundary == nullptr) return ParseError("Content-Type has no boundary parameter");
  if (!IsValidBoundary(boundary->value)) {
    return ParseError("invalid boundary " + Quote(boundary->value) +
                      " (RFC 2046: 1 to 70 characters from DIGIT ALPHA '()+_,-./:=? and space, "
                      "not ending in space)");
  }
  return boundary->value;
}

MultipartParser::MultipartParser(std::string boundary, MultipartHandler& handler,
                                 MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), handler_(handler), limits_(limits) {
  carry_.reserve(delimiter_.size());
  if (!IsValidBoundary(boundary)) {
    Fail(ParseError("invalid boundary " + Quote(boundary))).IgnoreError();
    return;
  }
  // The first delimiter may open the body without a CRLF; pretending the body starts with
  // one makes it the ordinary "\r\n--boundary" case. Preamble bytes are discarded anyway.
  carry_ = "\r\n";
}

Status MultipartParser::Fail(Status status) {
  error_ = std::move(status);
  state_ = State::kError;
  carry_.clear();
  header_buf_.clear();
  header_buf_.shrink_to_fit();
  return error_;
}

Status MultipartParser::Feed(std::span<const char> data) {
  if (state_ == State::kError) return error_;
  Status status = FeedInternal(data);
  fed_ += data.size();
  if (!status.ok()) return Fail(std::move(status));
  return status;
}

Status MultipartParser::Finish() {
  switch (state_) {
    case State::kEpilogue:
      return Status::Ok();
    case State::kError:
      return error_;
    case State::kPreamble:
      return Fail(ParseError("missing closing boundary (no boundary found in the body)"));
    case State::kHeaders:
      return Fail(ParseError("missing closing boundary (body ended inside part headers)"));
    case State::kBody:
      return Fail(ParseError("missing closing boundary (body ended inside a part)"));
    default:
      return Fail(ParseError("missing closing boundary (body ended inside a boundary line)"));
  }
}

Status MultipartParser::FeedInternal(std::span<const char> data) {
  std::size_t pos = 0;
  const std::size_t n = data.size();
  while (pos < n) {
    switch (state_) {
      case State::kPreamble:
      case State::kBody:
        RETURN_IF_ERROR(Scan(data, &pos));
        break;
      case State::kAfterBoundary: {
        char c = data[pos];
        if (c == '-') {
          ++pos;
          state_ = State::kAfterBoundaryDash;
        } else if (c == ' ' || c == '\t' || c == '\r') {
          ++pos;
          state_ = c == '\r' ? State::kPaddingLf : State::kPadding;
          RETURN_IF_ERROR(CommitPartDelimiter());
        } else {
          RETURN_IF_ERROR(RevertDelimiter(/*with_dash=*/false));
        }
        break;
      }
      case State::kAfterBoundaryDash:
        if (data[pos] == '-') {
          ++pos;
          state_ = State::kEpilogue;
          if (part_open_) {
            part_open_ = false;
            RETURN_IF_ERROR(handler_.OnPartEnd());
          }
        } else {
          RETURN_IF_ERROR(RevertDelimiter(/*with_dash=*/true));
        }
        break;
      case State::kPadding:
        if (data[pos] == '\r') {
          state_ = State::kPaddingLf;
        } else if (!IsOws(data[pos])) {
          return ParseError("unexpected characters after a boundary");
        }
        ++pos;
        break;
      case State::kPaddingLf:
        if (data[pos] != '\n') return ParseError("boundary line not terminated by CRLF");
        ++pos;
        header_buf_.assign("\r\n");
        state_ = State::kHeaders;
        break;
      case State::kHeaders:
        RETURN_IF_ERROR(ConsumeHeaders(data, &pos));
        break;
      case State::kEpilogue:
        pos = n;
        break;
      case State::kError:
        return error_;
    }
  }
  return Status::Ok();
}

Status MultipartParser::Scan(std::span<const char> data, std::size_t* pos) {
  const char* const begin = data.data();
  const char* const end = begin + data.size();
  const char* const delim = delimiter_.data();
  const std::size_t delim_size = delimiter_.size();
  const char* start = begin + *pos;

  if (!carry_.empty()) {
    // Does the partial match left by the previous chunk continue here?
    const std::size_t need = delim_size - carry_.size();
    const std::size_t avail = static_cast<std::size_t>(end - start);
    const std::size_t cmp = std::min(need, avail);
    if (std::memcmp(start, delim + carry_.size(), cmp) == 0) {
      if (cmp < need) {
        carry_.append(start, cmp);
        *pos = data.size();
        return Status::Ok();
      }
      carry_.clear();
      *pos += need;
      state_ = State::kAfterBoundary;
      return Status::Ok();
    }
    // It was data. carry_ is a prefix of the delimiter, whose only CR is its first byte (a
    // valid boundary has none), so no later byte of carry_ can start a delimiter.
    RETURN_IF_ERROR(EmitData(carry_.data(), carry_.size()));
    carry_.clear();
  }

  if (const char* match = FindDelimiter(start, end, delimiter_)) {
    RETURN_IF_ERROR(EmitData(start, static_cast<std::size_t>(match - start)));
    *pos = static_cast<std::size_t>(match - begin) + delim_size;
    state_ = State::kAfterBoundary;
    return Status::Ok();
  }
  // No full delimiter. A prefix of one at the very end is held back: it may continue in the
  // next chunk. It starts with a CR in the last delim_size - 1 bytes.
  const char* tail = end - std::min<std::size_t>(delim_size - 1, end - start);
  for (const char* cur = tail; cur < end;) {
    const void* hit = std::memchr(cur, '\r', static_cast<std::size_t>(end - cur));
    if (hit == nullptr) break;
    const char* cr = static_cast<const char*>(hit);
    if (std::memcmp(cr, delim, static_cast<std::size_t>(end - cr)) == 0) {
      RETURN_IF_ERROR(EmitData(start, static_cast<std::size_t>(cr - start)));
      carry_.assign(cr, static_cast<std::size_t>(end - cr));
      *pos = data.size();
      return Status::Ok();
    }
    cur = cr + 1;
  }
  RETURN_IF_ERROR(EmitData(start, static_cast<std::size_t>(end - start)));
  *pos = data.size();
  return Status::Ok();
}

Status MultipartParser::ConsumeHeaders(std::span<const char> data, std::size_t* pos) {
  // header_buf_ = "\r\n" + block, so the block ends at the first "\r\n\r\n" even when it is
  // empty, and the block (blank line included) fits the limit iff header_buf_ <= cap.
  const std::size_t cap = limits_.max_header_bytes + 2;
  const std::size_t old_size = header_buf_.size();
  // Copy at most one byte past the limit: enough to tell "too large", never a part body.
  const std::size_t take = std::min(data.size() - *pos, cap + 1 - old_size);
  header_buf_.append(data.data() + *pos, take);
  const std::size_t found = header_buf_.find("\r\n\r\n", old_size >= 3 ? old_size - 3 : 0);
  const std::size_t block_end = found == std::string::npos ? found : found + 4;
  if (block_end != std::string::npos && block_end <= cap) {
    *pos += block_end - old_size;
    header_buf_.resize(block_end);  // drop the part body copied along with the block's end
    part_offset_ = fed_ + *pos;
    return BeginPart();
  }
  if (block_end != std::string::npos || header_buf_.size() > cap) {
    return ParseError("part headers exceed " + std::to_string(limits_.max_header_bytes) +
                      " bytes");
  }
  *pos += take;
  return Status::Ok();
}

Status MultipartParser::BeginPart() {
  std::size_t blank = header_buf_.size() - 4;  // where the final "\r\n\r\n" starts
  std::string_view text =
      blank >= 2 ? std::string_view(header_buf_).substr(2, blank - 2) : std::string_view();
  MultipartPartHeaders headers;
  RETURN_IF_ERROR(ParseHeaderBlock(text, &headers));
  header_buf_.clear();
  ++parts_seen_;
  part_open_ = true;
  state_ = State::kBody;
  scan_state_ = State::kBody;
  return handler_.OnPartBegin(headers);
}

Status MultipartParser::EmitData(const char* data, std::size_t size) {
  if (scan_state_ != State::kBody || size == 0) return Status::Ok();
  return handler_.OnPartData(std::span<const char>(data, size));
}

Status MultipartParser::RevertDelimiter(bool with_dash) {
  static constexpr char kDash = '-';
  state_ = scan_state_;
  RETURN_IF_ERROR(EmitData(delimiter_.data(), delimiter_.size()));
  if (with_dash) RETURN_IF_ERROR(EmitData(&kDash, 1));
  return Status::Ok();
}

Status MultipartParser::CommitPartDelimiter() {
  if (part_open_) {
    part_open_ = false;
    RETURN_IF_ERROR(handler_.OnPartEnd());
  }
  if (parts_seen_ >= limits_.max_parts) {
    return ParseError("more than " + std::to_string(limits_.max_parts) + " parts");
  }
  return Status::Ok();
}

}  // namespace fileport
