// Routing and the handlers of every route (API.md §3, §4).
#include "api/api.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <charconv>

#include "api/content_headers.h"
#include "api/errors.h"
#include "api/form_sinks.h"
#include "model/wire.h"

namespace fileport {
namespace json = boost::json;

const std::string* ApiRequest::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

namespace {

ApiResponse Ok(std::string body) { return JsonResponse(200, std::move(body)); }

Dispatch Respond(ApiResponse r) {
  Dispatch d;
  d.response = std::move(r);
  return d;
}

// Stream the body into `sink`, or answer its error without reading the body.
Dispatch StreamInto(Result<std::unique_ptr<BodySink>> sink) {
  if (!sink.ok()) return Respond(ErrorResponse(sink.status()));
  Dispatch d;
  d.kind = Dispatch::Kind::kStream;
  d.sink = std::move(sink).value();
  return d;
}

ApiResponse InvalidUrl(const ApiRequest& req, std::string_view path) {
  return ErrorResponse(
      Status(StatusCode::kNotFound, "Invalid URL (" + req.method + " " + std::string(path) + ")"));
}

Status JsonParseError(std::string_view detail) {
  return InvalidArgument(
      "We could not parse the JSON body of your request: " + std::string(detail) +
      ". The API expects a JSON object payload.");
}

Result<json::object> ParseJsonObject(const std::string& body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return JsonParseError(ec.message());
  if (!v.is_object()) return JsonParseError("the body is not a JSON object");
  return std::move(v.as_object());
}

Status NotOfType(const json::value& v, std::string_view type, std::string_view param) {
  return InvalidArgument(json::serialize(v) + " is not of type '" + std::string(type) + "' - '" +
                             std::string(param) + "'",
                         std::string(param));
}

// A present, non-null member; nullptr when absent or null.
const json::value* Member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

Result<std::optional<std::string>> OptString(const json::object& o, std::string_view key) {
  const json::value* v = Member(o, key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return NotOfType(*v, "string", key);
  return std::optional<std::string>(std::string(v->as_string()));
}

Result<std::optional<std::int64_t>> OptInt(const json::object& o, std::string_view key) {
  const json::value* v = Member(o, key);
  if (!v) return std::optional<std::int64_t>();
  if (v->is_int64()) return std::optional<std::int64_t>(v->as_int64());
  if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return NotOfType(*v, "integer", key);
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->as_uint64()));
  }
  return NotOfType(*v, "integer", key);
}

Result<std::optional<ExpiresAfter>> ParseExpiresAfterJson(const json::object& o) {
  const json::value* v = Member(o, "expires_after");
  if (!v) return std::optional<ExpiresAfter>();
  if (!v->is_object()) return NotOfType(*v, "object", "expires_after");
  const auto& e = v->as_object();
  ASSIGN_OR_RETURN(auto anchor, OptString(e, "anchor"));
  ASSIGN_OR_RETURN(auto seconds, OptInt(e, "seconds"));
  if (!anchor) return MissingField("expires_after.anchor");
  if (!seconds) return MissingField("expires_after.seconds");
  return std::optional<ExpiresAfter>(ExpiresAfter{*anchor, *seconds});
}

std::optional<int> ParseInt(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Dispatch Api::JsonBody(std::function<ApiResponse(std::string)> fn) {
  Dispatch d;
  d.kind = Dispatch::Kind::kBuffer;
  d.body_limit = options_.json_body_limit;
  d.on_body = std::move(fn);
  return d;
}

Dispatch Api::OnHeaders(const ApiRequest& req) {
  auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) {
    return Respond(ErrorResponse(InvalidArgument("Invalid request target")));
  }
  const boost::urls::url_view url = *parsed;
  std::vector<std::string> seg;
  for (auto s : url.segments()) seg.push_back(s);  // percent-decoded
  const std::string path(url.encoded_path());
  const bool get = req.method == "GET" || req.method == "HEAD";

  if (seg.size() == 1 && get) {
    if (seg[0] == "healthz") return Respond(Ok(R"({"status":"ok"})"));
    if (seg[0] == "readyz") {
      Status m = ctx_.meta.Ping();
      Status b = ctx_.blobs.Ping();
      if (m.ok() && b.ok()) return Respond(Ok(R"({"status":"ready"})"));
      // The details (paths, library messages) go to the log; this route needs no key.
      spdlog::warn("not ready: metadata {}; blobs {}", m.ToString(), b.ToString());
      return Respond(
          ErrorResponse(Unavailable("not ready: metadata " + std::string(StatusCodeName(m.code())) +
                                    "; blobs " + std::string(StatusCodeName(b.code())))));
    }
    if (seg[0] == "metrics") {
      ApiResponse r;
      r.body = metrics_.Render();
      r.AddHeader("content-type", "text/plain; version=0.0.4");
      return Respond(std::move(r));
    }
  }
  if (seg.empty() || seg[0] != "v1") return Respond(InvalidUrl(req, path));

  // The key check and the route's look-ups read one snapshot, in one read transaction.
  const MetadataStore::SharedReads reads = ctx_.meta.ShareReads();
  const std::string* authz = req.Header("authorization");
  auto project = auth_.Authenticate(authz ? std::optional<std::string_view>(*authz)
                                          : std::optional<std::string_view>());
  if (!project.ok()) return Respond(ErrorResponse(project.status()));
  if (limiter_) {
    // Before any work, so a client over its rate costs one bucket update.
    if (const std::int64_t wait_ms = limiter_->Acquire(*project); wait_ms > 0) {
      metrics_.rate_limited += 1;
      return Respond(RateLimitedResponse(*project, limiter_->per_second(), wait_ms));
    }
  }

  Dispatch d = Route(req, *project, seg, url.encoded_query());
  if (d.kind == Dispatch::Kind::kRespond && d.response.status == 0) {
    return Respond(InvalidUrl(req, path));
  }
  return d;
}

Dispatch Api::Route(const ApiRequest& req, const std::string& project,
                    const std::vector<std::string>& seg, std::string_view query) {
  auto result = [&](auto&& r) {
    if (!r.ok()) return Respond(ErrorResponse(r.status()));
    return Respond(Ok(ToJson(*r)));
  };
  const std::string& m = req.method;
  const std::size_t n = seg.size();
  Dispatch unknown;
  unknown.response.status = 0;  // → Invalid URL
  if (n < 2) return unknown;    // "/v1" alone

  if (seg[1] == "files") {
    if (n == 2 && m == "GET") return Respond(ListFiles(project, query));
    if (n == 2 && m == "POST") return CreateFile(req, project);
    if (n == 3 && m == "GET") return result(files_.Get(project, seg[2]));
    if (n == 3 && m == "DELETE") {
      auto r = files_.Delete(project, seg[2]);
      if (r.ok() && sweeper_) sweeper_->Kick();
      return result(r);
    }
    if (n == 4 && seg[3] == "content" && (m == "GET" || m == "HEAD")) {
      return Respond(Content(req, project, seg[2]));
    }
    return unknown;
  }
  if (seg[1] == "uploads") {
    if (n == 2 && m == "POST") {
      return JsonBody([this, project](std::string body) { return CreateUpload(project, body); });
    }
    if (n == 3 && m == "GET") return result(uploads_.Get(project, seg[2]));
    if (n == 4 && seg[3] == "parts" && m == "POST") return AddPart(req, project, seg[2]);
    if (n == 4 && seg[3] == "parts" && m == "GET") return Respond(ListParts(project, seg[2]));
    if (n == 4 && seg[3] == "complete" && m == "POST") {
      std::string id = seg[2];
      return JsonBody([this, project, id](std::string body) {
        return CompleteUpload(project, id, body);
      });
    }
    if (n == 4 && seg[3] == "cancel" && m == "POST") {
      // No body is expected (Node sends none, Python an empty JSON one); whatever comes is
      // read and ignored so the connection stays usable.
      std::string id = seg[2];
      Dispatch d = JsonBody([this, project, id](std::string) {
        auto r = uploads_.Cancel(project, id);
        if (r.ok() && sweeper_) sweeper_->Kick();
        return r.ok() ? Ok(ToJson(*r)) : ErrorResponse(r.status());
      });
      return d;
    }
    return unknown;
  }
  return unknown;
}

ApiResponse Api::ListFiles(const std::string& project, std::string_view query) {
  ListFilesParams p;
  boost::urls::params_view params(query);
  for (auto param : params) {
    const std::string& k = param.key;
    const std::string& v = param.value;
    if (k == "purpose") {
      p.purpose = v;
    } else if (k == "after") {
      p.after = v;
    } else if (k == "limit") {
      auto lim = ParseInt(v);
      if (!lim) {
        return ErrorResponse(InvalidArgument("'" + v + "' is not of type 'integer' - 'limit'", "limit"));
      }
      p.limit = *lim;
    } else if (k == "order") {
      if (v != "asc" && v != "desc") {
        return ErrorResponse(
            InvalidArgument("'" + v + "' is not one of ['asc', 'desc'] - 'order'", "order"));
      }
      p.ascending = v == "asc";
    }
  }
  auto page = files_.List(project, p);
  if (!page.ok()) return ErrorResponse(page.status());
  return Ok(ToJson(*page));
}

ApiResponse Api::Content(const ApiRequest& req, const std::string& project,
                         const std::string& id) {
  const std::string etag = "\"" + id + "\"";
  const std::string* range = req.Header("range");
  if (range) {
    if (const std::string* if_range = req.Header("if-range")) {
      if (*if_range != etag) range = nullptr;  // the file has changed: all of it
    }
  }
  // A range known before the size is read as such: the store need not decode the blob key
  // of every part of the file, only of those it touches.
  const ByteRange bound = range ? RangeBound(*range) : ByteRange{0, -1};
  auto file = files_.GetForDownload(project, id, bound.offset, bound.length);
  if (!file.ok()) return ErrorResponse(file.status());
  const File& f = *file;
  ApiResponse r;
  r.AddHeader("content-type", SafeContentType(f.mime_type));
  r.AddHeader("content-disposition", ContentDisposition(f.filename));
  r.AddHeader("x-content-type-options", "nosniff");
  r.AddHeader("etag", etag);
  r.AddHeader("accept-ranges", "bytes");
  r.AddHeader("cache-control", "private, no-cache");
  r.head_only = req.method == "HEAD";

  if (const std::string* inm = req.Header("if-none-match")) {
    if (*inm == etag || *inm == "*" || inm->find(etag) != std::string::npos) {
      r.status = 304;
      r.head_only = true;
      r.head_length = -1;
      return r;
    }
  }
  std::int64_t offset = 0;
  std::int64_t length = f.bytes;
  if (range) {
    const ParsedRange pr = ParseRange(*range, f.bytes);
    if (pr.kind == RangeKind::kUnsatisfiable) {
      ApiResponse e = ErrorResponse(Status(
          StatusCode::kOutOfRange, "Requested range not satisfiable for a file of " +
                                       std::to_string(f.bytes) + " bytes"));
      e.AddHeader("content-range", "bytes */" + std::to_string(f.bytes));
      return e;
    }
    if (pr.kind == RangeKind::kSatisfiable) {
      offset = pr.range.offset;
      length = pr.range.length;
      r.status = 206;
      r.AddHeader("content-range", "bytes " + std::to_string(offset) + "-" +
                                       std::to_string(offset + length - 1) + "/" +
                                       std::to_string(f.bytes));
    }
  }
  if (r.head_only) {
    r.head_length = length;
    return r;
  }
  auto reader = files_.OpenSegments(f, offset, length);
  if (!reader.ok()) return ErrorResponse(reader.status());
  r.stream = std::move(reader).value();
  r.stream_length = length;
  return r;
}

Dispatch Api::CreateFile(const ApiRequest& req, const std::string& project) {
  return StreamInto(MakeCreateFileSink(req, project, files_, metrics_, ctx_.options));
}

Dispatch Api::AddPart(const ApiRequest& req, const std::string& project, const std::string& id) {
  return StreamInto(MakeAddPartSink(req, project, id, uploads_, metrics_, ctx_.options));
}

ApiResponse Api::CreateUpload(const std::string& project, const std::string& body) {
  auto obj = ParseJsonObject(body);
  if (!obj.ok()) return ErrorResponse(obj.status());
  CreateUploadParams p;
  auto fail = [](const Status& s) { return ErrorResponse(s); };
  {
    auto v = OptInt(*obj, "bytes");
    if (!v.ok()) return fail(v.status());
    p.bytes = *v;
  }
  for (auto [key, dst] : {std::pair{"filename", &p.filename}, std::pair{"mime_type", &p.mime_type},
                          std::pair{"purpose", &p.purpose}}) {
    auto v = OptString(*obj, key);
    if (!v.ok()) return fail(v.status());
    *dst = *v;
  }
  auto ea = ParseExpiresAfterJson(*obj);
  if (!ea.ok()) return fail(ea.status());
  p.expires_after = *ea;
  auto u = uploads_.Create(project, p);
  if (!u.ok()) return fail(u.status());
  return Ok(ToJson(*u));
}

ApiResponse Api::CompleteUpload(const std::string& project, const std::string& id,
                                const std::string& body) {
  auto obj = ParseJsonObject(body);
  if (!obj.ok()) return ErrorResponse(obj.status());
  const json::value* ids = Member(*obj, "part_ids");
  if (!ids) return ErrorResponse(MissingField("part_ids"));
  if (!ids->is_array()) return ErrorResponse(NotOfType(*ids, "array", "part_ids"));
  std::vector<std::string> part_ids;
  for (const auto& v : ids->as_array()) {
    if (!v.is_string()) return ErrorResponse(NotOfType(v, "string", "part_ids"));
    part_ids.emplace_back(v.as_string());
  }
  auto md5 = OptString(*obj, "md5");
  if (!md5.ok()) return ErrorResponse(md5.status());
  auto u = uploads_.Complete(project, id, part_ids, *md5);
  if (!u.ok()) return ErrorResponse(u.status());
  metrics_.uploads_completed++;
  if (sweeper_) sweeper_->Kick();  // unlisted parts are garbage now
  return Ok(ToJson(*u));
}

ApiResponse Api::ListParts(const std::string& project, const std::string& id) {
  auto parts = uploads_.ListParts(project, id);
  if (!parts.ok()) return ErrorResponse(parts.status());
  Page<UploadPart> page;
  page.data = std::move(parts).value();
  return Ok(ToJson(page));
}

}  // namespace fileport
