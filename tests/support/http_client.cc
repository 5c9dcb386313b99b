// libcurl-backed test client.
#include "support/http_client.h"

#include <curl/curl.h>

#include <boost/json.hpp>
#include <memory>
#include <cstring>
#include <random>

#include "common/crypto.h"

namespace fileport::testing {
namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

size_t OnBody(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

size_t OnHeader(char* p, size_t size, size_t n, void* ud) {
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<std::multimap<std::string, std::string>*>(ud)->emplace(name, value);
  } else if (line.rfind("HTTP/", 0) == 0) {
    // A new response (e.g. after 100 Continue): forget the previous one's headers.
    static_cast<std::multimap<std::string, std::string>*>(ud)->clear();
  }
  return size * n;
}

std::string ErrorField(const std::string& body, const char* key) {
  boost::json::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return "";
  auto* e = v.as_object().if_contains("error");
  if (!e || !e->is_object()) return "";
  auto* f = e->as_object().if_contains(key);
  if (!f || !f->is_string()) return "";
  return std::string(f->as_string());
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}
std::string HttpResponse::ErrorMessage() const { return ErrorField(body, "message"); }
std::string HttpResponse::ErrorParam() const { return ErrorField(body, "param"); }
std::string HttpResponse::ErrorCode() const { return ErrorField(body, "code"); }
std::string HttpResponse::ErrorType() const { return ErrorField(body, "type"); }
std::string HttpResponse::Field(const std::string& key) const {
  boost::json::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return "";
  auto* f = v.as_object().if_contains(key);
  if (!f || !f->is_string()) return "";
  return std::string(f->as_string());
}

std::string BuildMultipart(const std::vector<FormPart>& parts, const std::string& boundary) {
  std::string out;
  for (const auto& p : parts) {
    out += "--" + boundary + "\r\n";
    out += "Content-Disposition: form-data; name=\"" + p.name + "\"";
    if (p.filename) out += "; filename=\"" + *p.filename + "\"";
    out += "\r\n";
    if (p.filename || !p.content_type.empty()) {
      out += "Content-Type: " +
             (p.content_type.empty() ? std::string("application/octet-stream") : p.content_type) +
             "\r\n";
    }
    out += "\r\n";
    out += p.data;
    out += "\r\n";
  }
  out += "--" + boundary + "--\r\n";
  return out;
}

HttpResponse HttpClient::Request(const std::string& method, const std::string& path,
                                 const std::string& body,
                                 const std::vector<std::string>& headers) const {
  static CurlGlobal global;
  HttpResponse r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = base_ + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (!authorization_.empty()) {
    list = curl_slist_append(list, authorization_.c_str());
  } else if (!api_key_.empty()) {
    list = curl_slist_append(list, ("Authorization: Bearer " + api_key_).c_str());
  }
  // curl would add "Expect: 100-continue" for large bodies; tests opt in explicitly.
  bool has_expect = false;
  for (const auto& h : headers) has_expect |= h.rfind("Expect:", 0) == 0;
  if (!has_expect) list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 120L);
  CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    r.transport_error = curl_easy_strerror(rc);
    r.status = 0;
    return r;
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

HttpResponse HttpClient::PostJson(const std::string& path, const std::string& json,
                                  const std::vector<std::string>& headers) const {
  auto h = headers;
  h.push_back("Content-Type: application/json");
  return Request("POST", path, json, h);
}

HttpResponse HttpClient::PostForm(const std::string& path, const std::vector<FormPart>& parts,
                                  const std::vector<std::string>& headers) const {
  const std::string boundary = "----formdata-fileport-test-0123456789";
  auto h = headers;
  h.push_back("Content-Type: multipart/form-data; boundary=" + boundary);
  return Request("POST", path, BuildMultipart(parts, boundary), h);
}

HttpResponse HttpClient::CreateFile(const std::string& data, const std::string& filename,
                                    const std::string& purpose) const {
  return PostForm("/v1/files", {{"purpose", purpose, std::nullopt, ""},
                                {"file", data, filename, "application/octet-stream"}});
}

HttpResponse HttpClient::CreateUpload(long long bytes, const std::string& filename,
                                      const std::string& purpose,
                                      const std::string& mime_type) const {
  boost::json::object o;
  o["bytes"] = bytes;
  o["filename"] = filename;
  o["purpose"] = purpose;
  o["mime_type"] = mime_type;
  return PostJson("/v1/uploads", boost::json::serialize(o));
}

HttpResponse HttpClient::AddPart(const std::string& upload_id, const std::string& data) const {
  return PostForm("/v1/uploads/" + upload_id + "/parts",
                  {{"data", data, std::string("blob"), "application/octet-stream"}});
}

HttpResponse HttpClient::Complete(const std::string& upload_id,
                                  const std::vector<std::string>& part_ids,
                                  const std::optional<std::string>& md5) const {
  boost::json::object o;
  boost::json::array ids;
  for (const auto& id : part_ids) ids.emplace_back(id);
  o["part_ids"] = std::move(ids);
  if (md5) o["md5"] = *md5;
  return PostJson("/v1/uploads/" + upload_id + "/complete", boost::json::serialize(o));
}

std::string Md5Hex(std::string_view data) {
  Md5 md5;
  md5.Update(std::span<const char>(data.data(), data.size()));
  auto d = md5.Final();
  return HexEncode(d);
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

}  // namespace fileport::testing
