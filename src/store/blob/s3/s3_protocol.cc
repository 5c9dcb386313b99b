// S3 wire helpers: encoding, canonical queries, a minimal XML field reader, error
// classification and translation, Content-Range and timestamp parsing.
#include "store/blob/s3/s3_protocol.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace fileport::s3 {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Parses all of `text` as a non-negative decimal integer.
std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// Decodes the five predefined entities and numeric character references (as UTF-8).
std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    const std::size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) {
      out += text.substr(i);
      break;
    }
    const std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.size() > 1 && entity[0] == '#') {
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      unsigned long cp = 0;
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (ec != std::errc() || end != digits.data() + digits.size() || cp > 0x10FFFF) {
        out.append(text.substr(i, semi - i + 1));  // Not a reference we understand: keep it.
      } else if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out.append(text.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

// Finds the next element named `tag` at or after `from`: sets `inner_begin`/`inner_end` and
// returns the position after its end tag, or npos when there is none.
std::size_t FindElement(std::string_view xml, std::string_view tag, std::size_t from,
                        std::size_t* inner_begin, std::size_t* inner_end) {
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  for (std::size_t pos = xml.find(open, from); pos != std::string_view::npos;
       pos = xml.find(open, pos + 1)) {
    const std::size_t after = pos + open.size();
    if (after >= xml.size()) return std::string_view::npos;
    const char next = xml[after];
    if (next != '>' && next != '/' && next != ' ' && next != '\t' && next != '\r' && next != '\n') {
      continue;  // A longer name that starts with `tag` (<Key> vs <KeyMarker>).
    }
    const std::size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) return std::string_view::npos;
    if (xml[gt - 1] == '/') {  // <tag/>: present and empty.
      *inner_begin = *inner_end = gt + 1;
      return gt + 1;
    }
    const std::size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) return std::string_view::npos;
    *inner_begin = gt + 1;
    *inner_end = end;
    return end + close.size();
  }
  return std::string_view::npos;
}

std::string Describe(const S3Error& error) {
  std::string out = "S3 answered HTTP " + std::to_string(error.http_status);
  if (!error.code.empty()) out += " " + error.code;
  if (!error.message.empty()) out += ": " + error.message;
  if (!error.request_id.empty()) out += " (request " + error.request_id + ")";
  return out;
}

// Where the root element starts: past leading whitespace (S3 sends some to keep a long
// CompleteMultipartUpload alive) and an XML declaration. npos when there is none.
std::size_t RootElement(std::string_view body) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::size_t pos = body.find_first_not_of(kSpace);
  if (pos != std::string_view::npos && body.substr(pos, 5) == "<?xml") {
    const std::size_t end = body.find("?>", pos);
    if (end == std::string_view::npos) return std::string_view::npos;
    pos = body.find_first_not_of(kSpace, end + 2);
  }
  return pos;
}

bool IsOneOf(std::string_view code, std::initializer_list<std::string_view> codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string CanonicalQuery(QueryParams params) {
  for (auto& [name, value] : params) {
    name = UriEncode(name, false);
    value = UriEncode(value, false);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::optional<std::string> XmlField(std::string_view xml, std::string_view tag) {
  std::size_t begin = 0, end = 0;
  if (FindElement(xml, tag, 0, &begin, &end) == std::string_view::npos) return std::nullopt;
  return XmlUnescape(xml.substr(begin, end - begin));
}

std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  std::size_t begin = 0, end = 0;
  for (std::size_t pos = FindElement(xml, tag, 0, &begin, &end); pos != std::string_view::npos;
       pos = FindElement(xml, tag, pos, &begin, &end)) {
    out.push_back(xml.substr(begin, end - begin));
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::optional<S3Error> ErrorOf(long http_status, std::string_view body) {
  const bool success = http_status >= 200 && http_status < 300;
  const std::size_t root = RootElement(body);
  const bool error_document =
      root != std::string_view::npos &&
      (body.substr(root, 7) == "<Error>" || body.substr(root, 7) == "<Error ");
  if (success && !error_document) return std::nullopt;
  S3Error error;
  error.http_status = http_status;
  if (error_document) {
    const std::string_view doc = body.substr(root);
    error.code = XmlField(doc, "Code").value_or("");
    error.message = XmlField(doc, "Message").value_or("");
    error.request_id = XmlField(doc, "RequestId").value_or("");
  }
  return error;
}

bool IsRetryable(const S3Error& error) {
  if (IsOneOf(error.code, {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable"})) {
    return true;
  }
  switch (error.http_status) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

Status ErrorToStatus(const S3Error& error, std::string_view what) {
  const std::string detail = std::string(what) + ": " + Describe(error);
  const std::string_view code = error.code;
  if (IsOneOf(code,
              {"EntityTooLarge", "QuotaExceeded", "InsufficientCapacity", "TooManyBuckets"}) ||
      error.http_status == 507) {
    return Status(StatusCode::kResourceExhausted, detail);
  }
  if (error.http_status == 404 || IsOneOf(code, {"NoSuchKey", "NoSuchUpload", "NoSuchBucket"})) {
    // A missing bucket is the deployment's problem, not a missing blob.
    if (code == "NoSuchBucket") return Unavailable(detail + " (the bucket does not exist)");
    return NotFound(detail);
  }
  if (error.http_status == 416 || code == "InvalidRange") {
    return Status(StatusCode::kOutOfRange, detail);
  }
  if (IsOneOf(code, {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken",
                     "TokenRefreshRequired", "AuthorizationHeaderMalformed", "RequestTimeTooSkewed",
                     "InvalidSecurity"}) ||
      (error.http_status == 401) || (error.http_status == 403 && code.empty())) {
    return Unavailable(detail +
                       " (S3 rejected the credentials: check AWS_ACCESS_KEY_ID, "
                       "AWS_SECRET_ACCESS_KEY, the region and the clock)");
  }
  if (error.http_status == 403 || code == "AccessDenied") {
    return Unavailable(detail + " (S3 denied access: check the key's permissions on the bucket)");
  }
  if (IsRetryable(error) || error.http_status >= 500) return Unavailable(detail);
  return Internal(detail);
}

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  constexpr std::string_view kUnit = "bytes ";
  if (value.substr(0, kUnit.size()) != kUnit) return std::nullopt;
  value.remove_prefix(kUnit.size());
  const std::size_t dash = value.find('-');
  const std::size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  auto first = ParseInt(value.substr(0, dash));
  auto last = ParseInt(value.substr(dash + 1, slash - dash - 1));
  const std::string_view total_text = value.substr(slash + 1);
  if (!first || !last || *last < *first) return std::nullopt;
  ContentRange range{*first, *last, -1};
  if (total_text != "*") {
    auto total = ParseInt(total_text);
    if (!total || *total <= *last) return std::nullopt;
    range.total = *total;
  }
  return range;
}

std::optional<std::int64_t> ParseTimestampMillis(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff…]Z
  if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' || text[7] != '-' ||
      text[10] != 'T' || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  auto field = [&](std::size_t pos, std::size_t len) { return ParseInt(text.substr(pos, len)); };
  auto year = field(0, 4), month = field(5, 2), day = field(8, 2);
  auto hour = field(11, 2), minute = field(14, 2), second = field(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::int64_t millis = 0;
  const std::string_view rest = text.substr(19, text.size() - 20);  // Between seconds and 'Z'.
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2) return std::nullopt;
    auto frac = ParseInt(rest.substr(1, std::min<std::size_t>(3, rest.size() - 1)));
    if (!frac) return std::nullopt;
    millis = *frac;
    for (std::size_t digits = rest.size() - 1; digits < 3; ++digits) millis *= 10;
  }
  struct tm tm = {};
  tm.tm_year = static_cast<int>(*year) - 1900;
  tm.tm_mon = static_cast<int>(*month) - 1;
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_hour = static_cast<int>(*hour);
  tm.tm_min = static_cast<int>(*minute);
  tm.tm_sec = static_cast<int>(*second);
  const time_t seconds = ::timegm(&tm);
  return static_cast<std::int64_t>(seconds) * 1000 + millis;
}

}  // namespace fileport::s3
