// Multipart body sinks.
#include "api/form_sinks.h"

#include <charconv>

#include "api/errors.h"
#include "http/multipart_parser.h"
#include "model/wire.h"

namespace fileport {
namespace {

// Envelope allowance over the payload limit when judging Content-Length up front.
constexpr std::uint64_t kEnvelopeSlack = 1 << 20;

// Text fields are tiny in both forms; bound what one request may make us hold.
constexpr std::size_t kMaxFieldBytes = 64 * 1024;
constexpr std::size_t kMaxFieldsTotal = 256 * 1024;

Result<std::string> Boundary(const ApiRequest& req) {
  const std::string* ct = req.Header("content-type");
  if (!ct) {
    return InvalidArgument("Expected a multipart/form-data body (Content-Type is missing)");
  }
  return MultipartParser::BoundaryFromContentType(*ct);
}

// Collects the small text fields of a form.
class FieldCollector {
 public:
  Status Begin(std::string name) {
    name_ = std::move(name);
    value_.clear();
    return Status::Ok();
  }
  Status Data(std::span<const char> d) {
    if (value_.size() + d.size() > kMaxFieldBytes || total_ + d.size() > kMaxFieldsTotal) {
      return InvalidArgument("Form field '" + name_ + "' is too large", name_);
    }
    value_.append(d.data(), d.size());
    total_ += d.size();
    return Status::Ok();
  }
  std::pair<std::string, std::string> End() { return {std::move(name_), std::move(value_)}; }

 private:
  std::string name_;
  std::string value_;
  std::size_t total_ = 0;
};

class CreateFileSink final : public BodySink, private MultipartHandler {
 public:
  // `body_bytes`: the request body's length, when it was given.
  CreateFileSink(std::string boundary, std::string project, FileService& files, Metrics& metrics,
                 std::optional<std::uint64_t> body_bytes)
      : parser_(std::move(boundary), *this),
        project_(std::move(project)),
        files_(files),
        metrics_(metrics),
        body_bytes_(body_bytes) {}

  Status Write(std::span<const char> data) override { return parser_.Feed(data); }

  ApiResponse Finish() override {
    Status s = parser_.Finish();
    if (!s.ok()) return Fail(s);
    if (!write_) return Fail(MissingField("file"));
    if (!params_.purpose) return Fail(MissingField("purpose"));
    if (anchor_.has_value() != seconds_.has_value()) {
      return Fail(MissingField(anchor_ ? "expires_after[seconds]" : "expires_after[anchor]"));
    }
    if (anchor_) {
      std::int64_t secs = 0;
      auto [p, ec] = std::from_chars(seconds_->data(), seconds_->data() + seconds_->size(), secs);
      if (ec != std::errc() || p != seconds_->data() + seconds_->size()) {
        return Fail(InvalidArgument("'" + *seconds_ + "' is not of type 'integer' - 'expires_after.seconds'",
                                    "expires_after.seconds"));
      }
      params_.expires_after = ExpiresAfter{*anchor_, secs};
    }
    auto f = files_.FinishCreate(project_, std::move(write_), params_);
    if (!f.ok()) return ErrorResponse(f.status());
    metrics_.files_created++;
    return JsonResponse(200, ToJson(*f));
  }

  ApiResponse Fail(const Status& why) override {
    if (write_) write_->Abort();
    write_.reset();
    return ErrorResponse(why);
  }

 private:
  Status OnPartBegin(const MultipartPartHeaders& h) override {
    in_file_ = h.name == "file";
    if (in_file_) {
      if (write_ || had_file_) return InvalidArgument("Only one 'file' may be sent", "file");
      had_file_ = true;
      // Fail fast when the purpose came first and is wrong: no byte is stored.
      if (params_.purpose) RETURN_IF_ERROR(ValidatePurpose(*params_.purpose));
      ASSIGN_OR_RETURN(write_, files_.StartWrite(project_));
      if (body_bytes_) {
        write_->HintSize(static_cast<std::int64_t>(parser_.PartBytesAtMost(*body_bytes_)));
      }
      if (params_.purpose) RETURN_IF_ERROR(write_->SetPurposeHint(*params_.purpose));
      SetDataStart(parser_.part_offset());
      params_.filename = h.filename && !h.filename->empty() ? *h.filename : "upload";
      params_.mime_type = h.content_type;
      return Status::Ok();
    }
    return fields_.Begin(h.name);
  }
  Status OnPartData(std::span<const char> d) override {
    if (in_file_) return write_->Append(d);
    return fields_.Data(d);
  }
  Status OnPartEnd() override {
    if (in_file_) {
      in_file_ = false;
      return Status::Ok();
    }
    auto [name, value] = fields_.End();
    if (name == "purpose") {
      params_.purpose = value;
      if (write_) {
        RETURN_IF_ERROR(ValidatePurpose(value));
        RETURN_IF_ERROR(write_->SetPurposeHint(value));
      }
    } else if (name == "expires_after[anchor]") {
      anchor_ = value;
    } else if (name == "expires_after[seconds]") {
      seconds_ = value;
    }
    return Status::Ok();
  }

  MultipartParser parser_;
  std::string project_;
  FileService& files_;
  Metrics& metrics_;
  std::optional<std::uint64_t> body_bytes_;
  std::unique_ptr<FileWrite> write_;
  bool had_file_ = false;
  bool in_file_ = false;
  FieldCollector fields_;
  CreateFileParams params_;
  std::optional<std::string> anchor_;
  std::optional<std::string> seconds_;
};

class AddPartSink final : public BodySink, private MultipartHandler {
 public:
  // `body_bytes`: the request body's length, when it was given.
  AddPartSink(std::string boundary, std::string project, std::unique_ptr<PartWrite> write,
              UploadService& uploads, Metrics& metrics, std::optional<std::uint64_t> body_bytes)
      : body_bytes_(body_bytes),
        parser_(std::move(boundary), *this),
        project_(std::move(project)),
        write_(std::move(write)),
        uploads_(uploads),
        metrics_(metrics) {}

  Status Write(std::span<const char> data) override { return parser_.Feed(data); }

  ApiResponse Finish() override {
    Status s = parser_.Finish();
    if (!s.ok()) return Fail(s);
    if (!got_data_) return Fail(MissingField("data"));
    auto part = uploads_.FinishPart(project_, std::move(write_));
    if (!part.ok()) return ErrorResponse(part.status());
    metrics_.parts_stored++;
    return JsonResponse(200, ToJson(*part));
  }

  ApiResponse Fail(const Status& why) override {
    if (write_) write_->Abort();
    write_.reset();
    return ErrorResponse(why);
  }

 private:
  Status OnPartBegin(const MultipartPartHeaders& h) override {
    in_data_ = false;
    // The Node SDK turns a raw Buffer into fields data[0], data[1], …: refuse at once.
    if (h.name == "data" || h.name.starts_with("data[")) {
      if (!h.filename || h.name != "data") return MissingField("data");
      if (got_data_) return InvalidArgument("Only one 'data' part may be sent", "data");
      got_data_ = true;
      in_data_ = true;
      if (body_bytes_) {
        write_->HintSize(static_cast<std::int64_t>(parser_.PartBytesAtMost(*body_bytes_)));
      }
      SetDataStart(parser_.part_offset());
    }
    return Status::Ok();
  }
  Status OnPartData(std::span<const char> d) override {
    if (in_data_) return write_->Append(d);
    return Status::Ok();  // unknown fields are ignored, not stored
  }
  Status OnPartEnd() override {
    in_data_ = false;
    return Status::Ok();
  }

  std::optional<std::uint64_t> body_bytes_;
  MultipartParser parser_;
  std::string project_;
  std::unique_ptr<PartWrite> write_;
  UploadService& uploads_;
  Metrics& metrics_;
  bool got_data_ = false;
  bool in_data_ = false;
};

}  // namespace

Result<std::unique_ptr<BodySink>> MakeCreateFileSink(const ApiRequest& req,
                                                     const std::string& project,
                                                     FileService& files, Metrics& metrics,
                                                     const ServiceOptions& options) {
  if (req.content_length &&
      *req.content_length > static_cast<std::uint64_t>(options.max_file_bytes) + kEnvelopeSlack) {
    return TooLarge("File is too large: the maximum size is " + FormatBytes(options.max_file_bytes),
                    "file");
  }
  // The file is at least the body less its form envelope: refuse now, before the transfer,
  // what the project's quota cannot take.
  const std::uint64_t body = req.content_length.value_or(0);
  RETURN_IF_ERROR(files.CheckRoom(
      project, body > kEnvelopeSlack ? static_cast<std::int64_t>(body - kEnvelopeSlack) : 0));
  ASSIGN_OR_RETURN(std::string boundary, Boundary(req));
  return std::unique_ptr<BodySink>(
      new CreateFileSink(std::move(boundary), project, files, metrics, req.content_length));
}

Result<std::unique_ptr<BodySink>> MakeAddPartSink(const ApiRequest& req,
                                                  const std::string& project,
                                                  const std::string& upload_id,
                                                  UploadService& uploads, Metrics& metrics,
                                                  const ServiceOptions& options) {
  ASSIGN_OR_RETURN(std::string boundary, Boundary(req));
  if (req.content_length &&
      *req.content_length > static_cast<std::uint64_t>(options.max_part_bytes) + kEnvelopeSlack) {
    return TooLarge("Part is too large: a part may hold at most " +
                        FormatBytes(options.max_part_bytes),
                    "data");
  }
  std::optional<std::string> content_md5;
  if (const std::string* h = req.Header("content-md5")) content_md5 = *h;
  ASSIGN_OR_RETURN(auto write, uploads.StartPart(project, upload_id, content_md5));
  return std::unique_ptr<BodySink>(new AddPartSink(std::move(boundary), project, std::move(write),
                                                   uploads, metrics, req.content_length));
}

}  // namespace fileport
