// JSON <-> API objects with Boost.JSON.
#include "model/wire.h"

#include <boost/json.hpp>
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace fileport {
namespace json = boost::json;
namespace {

// The length of the valid UTF-8 sequence starting at s[i], or 0 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < n || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// Writes JSON text straight into one string, without building a DOM: a listing of 100 files
// is one buffer rather than a thousand small allocations. The output is byte for byte what
// Boost.JSON's serializer writes for the same values (wire_test compares them): strings
// escape '"', '\' and control characters (\b \t \n \f \r, else \u00xx), nothing else, after
// invalid UTF-8 is replaced by U+FFFD.
class JsonOut {
 public:
  // `size_hint`: the expected length, so that most outputs are written into one allocation.
  explicit JsonOut(std::size_t size_hint) { out_.resize(size_hint); }

  // The text written, once every object and array is closed.
  std::string Take() && {
    out_.resize(pos_);
    return std::move(out_);
  }

  JsonOut& Open() { return Push('{'); }
  JsonOut& Close() { return Pop('}'); }
  JsonOut& OpenArray() { return Push('['); }
  JsonOut& CloseArray() { return Pop(']'); }
  // Starts the next member of the current object. `key` is one of the API's own names (plain
  // ASCII, nothing to escape).
  JsonOut& Key(std::string_view key) {
    char* p = Room(key.size() + 4);
    p = Separate(p);
    *p++ = '"';
    p = Copy(p, key);
    *p++ = '"';
    *p++ = ':';
    Advance(p);
    after_key_ = true;
    return *this;
  }

  JsonOut& String(std::string_view s) {
    char* p = Room(QuotedMax(s) + 1);  // 1 for the separator
    Advance(Quoted(Separate(p), s));
    return *this;
  }
  JsonOut& Int(std::int64_t v) {
    char* p = Room(kNumberMax + 1);
    Advance(Number(Separate(p), v));
    return *this;
  }
  JsonOut& Bool(bool v) { return Literal(v ? "true" : "false"); }
  JsonOut& Null() { return Literal("null"); }
  JsonOut& OptInt(const std::optional<std::int64_t>& v) { return v ? Int(*v) : Null(); }
  JsonOut& OptString(const std::optional<std::string>& v) { return v ? String(*v) : Null(); }
  // An empty string is written as null.
  JsonOut& StringOrNull(std::string_view v) { return v.empty() ? Null() : String(v); }

  // A value written in one go from fixed fragments (Fixed), strings (Quoted) and numbers
  // (Number): `write(p)` writes at most `max_bytes` from p and returns where it stopped. For
  // objects whose members are always the same: one reservation and no per-member
  // bookkeeping, where Key and String would check for room and separators at every member.
  template <class Write>
  JsonOut& Composed(std::size_t max_bytes, Write write) {
    char* p = Room(max_bytes + 1);
    Advance(write(Separate(p)));
    return *this;
  }
  // Room Quoted needs at most for `s`: escaping at most sextuples a byte (\u00xx), plus quotes.
  static std::size_t QuotedMax(std::string_view s) { return s.size() * 6 + 2; }
  static constexpr std::size_t kNumberMax = 20;  // an int64 in decimal, sign included

  static char* Fixed(char* p, std::string_view text) { return Copy(p, text); }
  static char* Number(char* p, std::int64_t v) { return std::to_chars(p, p + kNumberMax, v).ptr; }
  // `s` as a JSON string, quotes included (see the class comment for the escapes).
  static char* Quoted(char* p, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    *p++ = '"';
    std::size_t i = 0;
    while (i < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (kPlain[c]) {
        // The common case: a run of plain ASCII, copied at once.
        std::size_t j = i + 1;
        while (j < s.size() && kPlain[static_cast<unsigned char>(s[j])]) ++j;
        p = Copy(p, s.substr(i, j - i));
        i = j;
        continue;
      }
      if (c >= 0x80) {
        const std::size_t n = Utf8SequenceLength(s, i);
        if (n == 0) {
          p = Copy(p, "\xEF\xBF\xBD");  // U+FFFD
          ++i;
        } else {
          p = Copy(p, s.substr(i, n));
          i += n;
        }
        continue;
      }
      *p++ = '\\';
      switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\t': *p++ = 't'; break;
        case '\n': *p++ = 'n'; break;
        case '\f': *p++ = 'f'; break;
        case '\r': *p++ = 'r'; break;
        default:
          p = Copy(p, "u00");
          *p++ = kHex[c >> 4];
          *p++ = kHex[c & 15];
      }
      ++i;
    }
    *p++ = '"';
    return p;
  }

 private:
  // Bytes that need escaping in a JSON string: '"', '\\' and the control characters. Bytes
  // from 0x80 up are checked as UTF-8 separately.
  static constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
    return plain;
  }();

  static char* Copy(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
  }

  JsonOut& Literal(std::string_view text) {
    char* p = Room(text.size() + 1);
    p = Separate(p);
    Advance(Copy(p, text));
    return *this;
  }

  // Where the next `n` bytes go (at least `n` are free there).
  char* Room(std::size_t n) {
    if (out_.size() - pos_ < n) out_.resize(std::max(out_.size() * 2, pos_ + n));
    return out_.data() + pos_;
  }
  void Advance(char* end) { pos_ = static_cast<std::size_t>(end - out_.data()); }

  // A comma before every value of an array and every member of an object but the first; none
  // between a key and its value. Writes at most one byte at `p`.
  char* Separate(char* p) {
    if (after_key_) {
      after_key_ = false;
      return p;
    }
    if (depth_ > 0) {
      if (!first_[depth_ - 1]) *p++ = ',';
      first_[depth_ - 1] = false;
    }
    return p;
  }
  JsonOut& Push(char c) {
    char* p = Room(2);
    p = Separate(p);
    *p++ = c;
    Advance(p);
    first_[depth_++] = true;  // the API's objects nest three deep at most
    return *this;
  }
  JsonOut& Pop(char c) {
    --depth_;
    *Room(1) = c;
    ++pos_;
    return *this;
  }

  std::string out_;      // sized ahead; the text is its first pos_ bytes
  std::size_t pos_ = 0;
  bool first_[8] = {};
  int depth_ = 0;
  bool after_key_ = false;
};

// The File object, the one written most (a listing is a hundred of them): composed from
// fixed fragments in one reservation. Members and their order are those of API.md.
void WriteFile(JsonOut& j, const File& f) {
  constexpr std::string_view kHead = "{\"id\":";
  constexpr std::string_view kBytes = ",\"object\":\"file\",\"bytes\":";
  constexpr std::string_view kCreated = ",\"created_at\":";
  constexpr std::string_view kExpires = ",\"expires_at\":";
  constexpr std::string_view kFilename = ",\"filename\":";
  constexpr std::string_view kPurpose = ",\"purpose\":";
  constexpr std::string_view kStatus = ",\"status\":";
  constexpr std::string_view kDetails = ",\"status_details\":";
  constexpr std::string_view kNull = "null";
  const std::size_t max = kHead.size() + kBytes.size() + kCreated.size() + kExpires.size() +
                          kFilename.size() + kPurpose.size() + kStatus.size() + kDetails.size() +
                          1 + 3 * JsonOut::kNumberMax + JsonOut::QuotedMax(f.id) +
                          JsonOut::QuotedMax(f.filename) + JsonOut::QuotedMax(f.purpose) +
                          JsonOut::QuotedMax(f.status) +
                          (f.status_details ? JsonOut::QuotedMax(*f.status_details) : kNull.size());
  j.Composed(max, [&](char* p) {
    p = JsonOut::Quoted(JsonOut::Fixed(p, kHead), f.id);
    p = JsonOut::Number(JsonOut::Fixed(p, kBytes), f.bytes);
    p = JsonOut::Number(JsonOut::Fixed(p, kCreated), f.created_at);
    p = JsonOut::Fixed(p, kExpires);
    p = f.expires_at ? JsonOut::Number(p, *f.expires_at) : JsonOut::Fixed(p, kNull);
    p = JsonOut::Quoted(JsonOut::Fixed(p, kFilename), f.filename);
    p = JsonOut::Quoted(JsonOut::Fixed(p, kPurpose), f.purpose);
    p = JsonOut::Quoted(JsonOut::Fixed(p, kStatus), f.status);
    p = JsonOut::Fixed(p, kDetails);
    p = f.status_details ? JsonOut::Quoted(p, *f.status_details) : JsonOut::Fixed(p, kNull);
    return JsonOut::Fixed(p, "}");
  });
}

void WriteUpload(JsonOut& j, const Upload& u) {
  j.Open();
  j.Key("id").String(u.id);
  j.Key("object").String("upload");
  j.Key("bytes").Int(u.bytes);
  j.Key("created_at").Int(u.created_at);
  j.Key("expires_at").Int(u.expires_at);
  j.Key("filename").String(u.filename);
  j.Key("purpose").String(u.purpose);
  j.Key("status").String(UploadStatusName(u.status));
  j.Key("file");
  if (u.file) {
    WriteFile(j, *u.file);
  } else {
    j.Null();
  }
  j.Close();
}

void WritePart(JsonOut& j, const UploadPart& p, bool with_bytes) {
  j.Open();
  j.Key("id").String(p.id);
  j.Key("object").String("upload.part");
  j.Key("created_at").Int(p.created_at);
  j.Key("upload_id").String(p.upload_id);
  if (with_bytes) j.Key("bytes").Int(p.bytes);
  j.Close();
}

// Room for one listed object, so a page is written into one allocation.
constexpr std::size_t kBytesPerListedObject = 256;

// {"object":"list","data":[…],"first_id":…,"last_id":…,"has_more":…}: write_data(j) writes
// the array, in at most `data_bytes` when it can say (then the listing is written into one
// allocation); an empty first_id or last_id is null.
template <class F>
std::string ListEnvelope(std::size_t data_bytes, F write_data, std::string_view first_id,
                         std::string_view last_id, bool has_more) {
  constexpr std::size_t kFixedBytes = 96;  // the keys, punctuation, "list", null, false
  JsonOut j(kFixedBytes + data_bytes + JsonOut::QuotedMax(first_id) +
            JsonOut::QuotedMax(last_id));
  j.Open();
  j.Key("object").String("list");
  write_data(j.Key("data"));
  j.Key("first_id").StringOrNull(first_id);
  j.Key("last_id").StringOrNull(last_id);
  j.Key("has_more").Bool(has_more);
  j.Close();
  return std::move(j).Take();
}

template <class T, class F>
std::string ListJson(const std::vector<T>& items, bool has_more, F write_item) {
  return ListEnvelope(
      items.size() * kBytesPerListedObject,
      [&](JsonOut& j) {
        j.OpenArray();
        for (const auto& item : items) write_item(j, item);
        j.CloseArray();
      },
      items.empty() ? std::string_view() : std::string_view(items.front().id),
      items.empty() ? std::string_view() : std::string_view(items.back().id), has_more);
}

template <class T, class F>
std::string OneJson(const T& item, F write_item) {
  JsonOut j(kBytesPerListedObject);
  write_item(j, item);
  return std::move(j).Take();
}

// --- parsing ---------------------------------------------------------------------------

Status Malformed(std::string_view what) {
  return InvalidArgument("malformed " + std::string(what) + " JSON from the server");
}

Result<json::object> ParseObject(std::string_view text, std::string_view what) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Malformed(what);
  return std::move(v.as_object());
}

std::string GetStr(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}
std::optional<std::string> GetOptStr(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}
std::optional<std::int64_t> GetOptInt(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) {
    const std::uint64_t v = it->value().as_uint64();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (it->value().is_double()) {
    // Converting a double outside int64's range (1e300, inf) is undefined: no value then.
    const double d = it->value().as_double();
    if (!(d >= -0x1p63 && d < 0x1p63)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}
std::int64_t GetInt(const json::object& o, std::string_view key) {
  return GetOptInt(o, key).value_or(0);
}

File FileFrom(const json::object& o) {
  File f;
  f.id = GetStr(o, "id");
  f.bytes = GetInt(o, "bytes");
  f.created_at = GetInt(o, "created_at");
  f.expires_at = GetOptInt(o, "expires_at");
  f.filename = GetStr(o, "filename");
  f.purpose = GetStr(o, "purpose");
  f.status = GetStr(o, "status");
  f.status_details = GetOptStr(o, "status_details");
  return f;
}

UploadPart PartFrom(const json::object& o) {
  UploadPart p;
  p.id = GetStr(o, "id");
  p.created_at = GetInt(o, "created_at");
  p.upload_id = GetStr(o, "upload_id");
  p.bytes = GetInt(o, "bytes");
  return p;
}

template <class T, class F>
Result<Page<T>> PageFrom(std::string_view text, std::string_view what, F from) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, what));
  auto it = o.find("data");
  if (it == o.end() || !it->value().is_array()) return Malformed(what);
  Page<T> page;
  for (const auto& v : it->value().as_array()) {
    if (!v.is_object()) return Malformed(what);
    page.data.push_back(from(v.as_object()));
  }
  auto hm = o.find("has_more");
  page.has_more = hm != o.end() && hm->value().is_bool() && hm->value().as_bool();
  return page;
}

}  // namespace

std::string ToJson(const File& file) { return OneJson(file, WriteFile); }
std::string ToJson(const Upload& upload) { return OneJson(upload, WriteUpload); }
std::string ToJson(const UploadPart& part, bool with_bytes) {
  return OneJson(part, [with_bytes](JsonOut& j, const UploadPart& p) { WritePart(j, p, with_bytes); });
}
std::string ToJson(const DeletedFile& d) {
  return OneJson(d, [](JsonOut& j, const DeletedFile& x) {
    j.Open();
    j.Key("id").String(x.id);
    j.Key("object").String("file");
    j.Key("deleted").Bool(x.deleted);
    j.Close();
  });
}
std::string ToJson(const Page<File>& page) { return ListJson(page.data, page.has_more, WriteFile); }
std::string ToJson(const FileJsonPage& page) {
  const std::size_t array_bytes = page.objects.size() + 2;  // with its brackets
  return ListEnvelope(
      array_bytes + 1,  // Composed's room for a separator
      [&](JsonOut& j) {
        j.Composed(array_bytes, [&](char* p) {
          return JsonOut::Fixed(JsonOut::Fixed(JsonOut::Fixed(p, "["), page.objects), "]");
        });
      },
      page.first_id, page.last_id, page.has_more);
}
void AppendFileJson(FileJsonPage& page, std::string_view id, std::string_view json) {
  if (page.first_id.empty()) {
    page.first_id = id;
  } else {
    page.objects += ',';
  }
  page.objects += json;
  page.last_id = id;
}
std::string ToJson(const Page<UploadPart>& page) {
  return ListJson(page.data, page.has_more,
                  [](JsonOut& j, const UploadPart& p) { WritePart(j, p, /*with_bytes=*/true); });
}

std::string ErrorJson(std::string_view message, std::string_view type, std::string_view param,
                      std::string_view code) {
  JsonOut j(128 + message.size());
  j.Open();
  j.Key("error").Open();
  j.Key("message").String(message);
  j.Key("type").String(type);
  j.Key("param").StringOrNull(param);
  j.Key("code").StringOrNull(code);
  j.Close();
  j.Close();
  return std::move(j).Take();
}

Result<File> FileFromJson(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "file"));
  return FileFrom(o);
}

Result<Upload> UploadFromJson(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "upload"));
  Upload u;
  u.id = GetStr(o, "id");
  u.bytes = GetInt(o, "bytes");
  u.created_at = GetInt(o, "created_at");
  u.expires_at = GetInt(o, "expires_at");
  u.filename = GetStr(o, "filename");
  u.purpose = GetStr(o, "purpose");
  u.status = ParseUploadStatus(GetStr(o, "status")).value_or(UploadStatus::kPending);
  auto it = o.find("file");
  if (it != o.end() && it->value().is_object()) u.file = FileFrom(it->value().as_object());
  return u;
}

Result<UploadPart> UploadPartFromJson(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "upload part"));
  return PartFrom(o);
}

Result<DeletedFile> DeletedFileFromJson(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "delete result"));
  DeletedFile d;
  d.id = GetStr(o, "id");
  auto it = o.find("deleted");
  d.deleted = it != o.end() && it->value().is_bool() && it->value().as_bool();
  return d;
}

Result<Page<File>> FilePageFromJson(std::string_view text) {
  return PageFrom<File>(text, "file list", FileFrom);
}

Result<Page<UploadPart>> UploadPartPageFromJson(std::string_view text) {
  return PageFrom<UploadPart>(text, "part list", PartFrom);
}

std::optional<WireError> ErrorFromJson(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto it = v.as_object().find("error");
  if (it == v.as_object().end() || !it->value().is_object()) return std::nullopt;
  const auto& e = it->value().as_object();
  return WireError{GetStr(e, "message"), GetStr(e, "type"), GetStr(e, "param"),
                   GetStr(e, "code")};
}

}  // namespace fileport
