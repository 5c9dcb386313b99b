// BodySinks for the two multipart routes: POST /v1/files and POST /v1/uploads/{id}/parts.
//
// Each feeds the streamed body through the multipart parser; the file part's bytes go
// straight into the blob writer, text fields are collected (small, bounded), and the answer
// is decided when the body ends. A rejected request's bytes are discarded.
#pragma once

#include <memory>
#include <string>

#include "api/metrics.h"
#include "api/types.h"
#include "core/file_service.h"
#include "core/upload_service.h"

namespace fileport {

// Refuses at once (413) when Content-Length shows the body cannot fit.
Result<std::unique_ptr<BodySink>> MakeCreateFileSink(const ApiRequest& req,
                                                     const std::string& project,
                                                     FileService& files, Metrics& metrics,
                                                     const ServiceOptions& options);
// Refuses at once when the upload is unknown, not pending, full, or the body too large.
Result<std::unique_ptr<BodySink>> MakeAddPartSink(const ApiRequest& req,
                                                  const std::string& project,
                                                  const std::string& upload_id,
                                                  UploadService& uploads, Metrics& metrics,
                                                  const ServiceOptions& options);

}  // namespace fileport
