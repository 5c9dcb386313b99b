// JSON <-> API objects with Boost.JSON.
#include "model/wire.h"

#include <boost/json.hpp>
#include <cstdint>

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

// `s` with each byte that is not part of valid UTF-8 replaced by U+FFFD. JSON exchanged
// between systems must be UTF-8 (RFC 8259 §8.1; strict decoders refuse the whole body), and a
// filename from a multipart form or an error message quoting a request may hold any bytes.
std::string Utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

json::value OptInt(const std::optional<std::int64_t>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}
json::value OptStr(const std::optional<std::string>& v) {
  return v ? json::value(Utf8(*v)) : json::value(nullptr);
}
json::value StrOrNull(std::string_view v) {
  return v.empty() ? json::value(nullptr) : json::value(Utf8(v));
}

json::object FileObject(const File& f) {
  json::object o;
  o["id"] = f.id;
  o["object"] = "file";
  o["bytes"] = f.bytes;
  o["created_at"] = f.created_at;
  o["expires_at"] = OptInt(f.expires_at);
  o["filename"] = Utf8(f.filename);
  o["purpose"] = f.purpose;
  o["status"] = f.status;
  o["status_details"] = OptStr(f.status_details);
  return o;
}

json::object UploadObject(const Upload& u) {
  json::object o;
  o["id"] = u.id;
  o["object"] = "upload";
  o["bytes"] = u.bytes;
  o["created_at"] = u.created_at;
  o["expires_at"] = u.expires_at;
  o["filename"] = Utf8(u.filename);
  o["purpose"] = u.purpose;
  o["status"] = UploadStatusName(u.status);
  o["file"] = u.file ? json::value(FileObject(*u.file)) : json::value(nullptr);
  return o;
}

json::object PartObject(const UploadPart& p, bool with_bytes) {
  json::object o;
  o["id"] = p.id;
  o["object"] = "upload.part";
  o["created_at"] = p.created_at;
  o["upload_id"] = p.upload_id;
  if (with_bytes) o["bytes"] = p.bytes;
  return o;
}

template <class T, class F>
std::string ListJson(const std::vector<T>& items, bool has_more, F to_object) {
  json::object o;
  o["object"] = "list";
  json::array data;
  data.reserve(items.size());
  for (const auto& item : items) data.push_back(to_object(item));
  o["data"] = std::move(data);
  o["first_id"] = items.empty() ? json::value(nullptr) : json::value(items.front().id);
  o["last_id"] = items.empty() ? json::value(nullptr) : json::value(items.back().id);
  o["has_more"] = has_more;
  return json::serialize(o);
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

std::string ToJson(const File& file) { return json::serialize(FileObject(file)); }
std::string ToJson(const Upload& upload) { return json::serialize(UploadObject(upload)); }
std::string ToJson(const UploadPart& part, bool with_bytes) {
  return json::serialize(PartObject(part, with_bytes));
}
std::string ToJson(const DeletedFile& d) {
  json::object o;
  o["id"] = d.id;
  o["object"] = "file";
  o["deleted"] = d.deleted;
  return json::serialize(o);
}
std::string ToJson(const Page<File>& page) {
  return ListJson(page.data, page.has_more, [](const File& f) { return FileObject(f); });
}
std::string ToJson(const Page<UploadPart>& page) {
  return ListJson(page.data, page.has_more,
                  [](const UploadPart& p) { return PartObject(p, /*with_bytes=*/true); });
}

std::string ErrorJson(std::string_view message, std::string_view type, std::string_view param,
                      std::string_view code) {
  json::object e;
  e["message"] = Utf8(message);
  e["type"] = Utf8(type);
  e["param"] = StrOrNull(param);
  e["code"] = StrOrNull(code);
  json::object o;
  o["error"] = std::move(e);
  return json::serialize(o);
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
