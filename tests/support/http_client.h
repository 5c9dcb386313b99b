// A small blocking HTTP client for tests (libcurl): real requests over loopback, with the
// exact status, headers and body of the answer, plus helpers to build multipart bodies the
// way the OpenAI SDKs do.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fileport::testing {

struct HttpResponse {
  long status = 0;                                // 0 when the request failed at transport level
  std::string body;
  std::multimap<std::string, std::string> headers;  // lowercase names
  std::string transport_error;                    // curl's message when status == 0

  // The first header named `name` (lowercase), or "" when absent.
  std::string Header(const std::string& name) const;
  // The JSON body's error.{message,param,code,type}; "" for null or absent.
  std::string ErrorMessage() const;
  std::string ErrorParam() const;
  std::string ErrorCode() const;
  std::string ErrorType() const;
  // A top-level string field of a JSON object body ("" when absent or not a string).
  std::string Field(const std::string& key) const;
};

struct FormPart {
  std::string name;
  std::string data;
  std::optional<std::string> filename;  // present: a file part
  std::string content_type;             // file parts default to application/octet-stream
};

// A multipart/form-data body with the given boundary.
std::string BuildMultipart(const std::vector<FormPart>& parts, const std::string& boundary);

class HttpClient {
 public:
  explicit HttpClient(std::string base_url) : base_(std::move(base_url)) {}

  // `path` is appended to the base URL (e.g. "/v1/files"). Headers as "Name: value".
  HttpResponse Request(const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::vector<std::string>& headers = {}) const;
  HttpResponse Get(const std::string& path, const std::vector<std::string>& headers = {}) const {
    return Request("GET", path, "", headers);
  }
  HttpResponse PostJson(const std::string& path, const std::string& json,
                        const std::vector<std::string>& headers = {}) const;
  // POSTs a multipart form (as the SDKs send it).
  HttpResponse PostForm(const std::string& path, const std::vector<FormPart>& parts,
                        const std::vector<std::string>& headers = {}) const;

  // Convenience for the common flows; they assert nothing, callers check the response.
  HttpResponse CreateFile(const std::string& data, const std::string& filename,
                          const std::string& purpose) const;
  HttpResponse CreateUpload(long long bytes, const std::string& filename,
                            const std::string& purpose,
                            const std::string& mime_type = "application/octet-stream") const;
  HttpResponse AddPart(const std::string& upload_id, const std::string& data) const;
  HttpResponse Complete(const std::string& upload_id, const std::vector<std::string>& part_ids,
                        const std::optional<std::string>& md5 = std::nullopt) const;

  // Bearer key sent with every request (empty: none).
  void set_api_key(std::string key) { api_key_ = std::move(key); }
  // A raw Authorization header line sent with every request instead of the Bearer one, in
  // curl's spelling: "Authorization: Basic …", or "Authorization;" for an empty value.
  void set_authorization(std::string header_line) { authorization_ = std::move(header_line); }
  const std::string& base_url() const { return base_; }

 private:
  std::string base_;
  std::string api_key_;
  std::string authorization_;
};

// Lowercase hex MD5 of `data`.
std::string Md5Hex(std::string_view data);
// Deterministic pseudo-random bytes.
std::string RandomBytes(std::size_t n, unsigned seed);

}  // namespace fileport::testing
