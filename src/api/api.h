// Api: the HTTP routes of fileport, independent of the transport.
//
// OnHeaders is called on a worker thread once a request's header is in. It authenticates,
// routes, and for uploads checks the target (exists, pending, size) before a single body
// byte is read, so an oversized or misdirected upload is refused at once (and with
// `Expect: 100-continue`, before the client sends it).
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include "api/metrics.h"
#include "api/rate_limiter.h"
#include "api/types.h"
#include "core/auth.h"
#include "core/file_service.h"
#include "core/sweeper.h"
#include "core/upload_service.h"

namespace fileport {

struct ApiOptions {
  std::size_t json_body_limit = 8 << 20;  // POST /v1/uploads, …/complete
  // Requests per second per project on this node (RateLimiter); 0: no limit. The bucket holds
  // `rate_burst` requests (0: one second's worth, at least 1).
  double rate_limit = 0;
  double rate_burst = 0;
};

class Api {
 public:
  Api(FileService& files, UploadService& uploads, Authenticator& auth, ServiceContext& ctx,
      Metrics& metrics, Sweeper* sweeper, ApiOptions options = {})
      : files_(files),
        uploads_(uploads),
        auth_(auth),
        ctx_(ctx),
        metrics_(metrics),
        sweeper_(sweeper),
        options_(options) {
    if (options_.rate_limit > 0) {
      limiter_ = std::make_unique<RateLimiter>(
          options_.rate_limit,
          options_.rate_burst > 0 ? options_.rate_burst : std::max(options_.rate_limit, 1.0),
          ctx_.clock);
    }
  }

  Dispatch OnHeaders(const ApiRequest& req);
  Metrics& metrics() { return metrics_; }

 private:
  Dispatch Route(const ApiRequest& req, const std::string& project,
                 const std::vector<std::string>& seg, std::string_view query);
  Dispatch JsonBody(std::function<ApiResponse(std::string)> fn);

  ApiResponse ListFiles(const std::string& project, std::string_view query);
  ApiResponse Content(const ApiRequest& req, const std::string& project, const std::string& id);
  Dispatch CreateFile(const ApiRequest& req, const std::string& project);
  Dispatch AddPart(const ApiRequest& req, const std::string& project, const std::string& id);
  ApiResponse CreateUpload(const std::string& project, const std::string& body);
  ApiResponse CompleteUpload(const std::string& project, const std::string& id,
                             const std::string& body);
  ApiResponse ListParts(const std::string& project, const std::string& id);

  FileService& files_;
  UploadService& uploads_;
  Authenticator& auth_;
  ServiceContext& ctx_;
  Metrics& metrics_;
  Sweeper* sweeper_;
  ApiOptions options_;
  std::unique_ptr<RateLimiter> limiter_;  // null: no rate limit
};

}  // namespace fileport
