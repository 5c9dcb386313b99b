// Uploads: requests of /v1/uploads and the parallel chunked-upload helper.
#include "client/uploads.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "client/core.h"
#include "common/crypto.h"
#include "model/wire.h"

namespace fileport::client {
namespace {
using internal::HttpRequest;
using internal::ParseBody;
using internal::UrlEncode;

std::string UploadPath(const std::string& id) { return "/uploads/" + UrlEncode(id); }

Result<UploadPart> CreatePart(const internal::Core& core, const std::string& upload_id,
                              internal::BodySource source) {
  HttpRequest req;
  req.method = "POST";
  req.path = UploadPath(upload_id) + "/parts";
  req.file = internal::MultipartFile{"data", "blob", "application/octet-stream", std::move(source)};
  auto r = core.Send(req);
  if (!r.ok()) return r.error();
  return ParseBody<UploadPart>(*r, UploadPartFromJson);
}

// The MD5 of `input` read front to back in 1 MiB pieces.
Result<std::string> Md5Of(const FileInput& input, std::int64_t total) {
  Md5 md5;
  if (input.kind() == FileInput::Kind::kBytes) {
    md5.Update(std::span<const char>(input.bytes().data(), static_cast<std::size_t>(total)));
    auto d = md5.Final();
    return HexEncode(d);
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(input.path().c_str(), "rb"),
                                                    std::fclose);
  if (!f) return UsageError("cannot open " + input.path().string(), "file");
  std::vector<char> buf(1 << 20);
  std::int64_t left = total;
  while (left > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::int64_t>(left, buf.size()));
    std::size_t got = std::fread(buf.data(), 1, want, f.get());
    if (got == 0) return UsageError("cannot read " + input.path().string(), "file");
    md5.Update(std::span<const char>(buf.data(), got));
    left -= static_cast<std::int64_t>(got);
  }
  auto d = md5.Final();
  return HexEncode(d);
}

}  // namespace

Result<UploadPart> Parts::create(const std::string& upload_id, const FileInput& data) const {
  auto source = internal::SourceFor(data);
  if (!source.ok()) return source.error();
  return CreatePart(*core_, upload_id, std::move(source).value());
}

Result<Upload> Uploads::create(const UploadCreateParams& params) const {
  boost::json::object o;
  o["bytes"] = params.bytes;
  o["filename"] = params.filename;
  o["mime_type"] = params.mime_type;
  o["purpose"] = params.purpose;
  if (params.expires_after_seconds) {
    o["expires_after"] = {{"anchor", "created_at"}, {"seconds", *params.expires_after_seconds}};
  }
  auto r = core_->Send(internal::MakeRequest("POST", "/uploads", boost::json::serialize(o)));
  if (!r.ok()) return r.error();
  return ParseBody<Upload>(*r, UploadFromJson);
}

Result<Upload> Uploads::complete(const std::string& upload_id,
                                 const std::vector<std::string>& part_ids,
                                 const std::optional<std::string>& md5) const {
  boost::json::object o;
  boost::json::array ids;
  for (const auto& id : part_ids) ids.emplace_back(id);
  o["part_ids"] = std::move(ids);
  if (md5) o["md5"] = *md5;
  auto r = core_->Send(internal::MakeRequest("POST", UploadPath(upload_id) + "/complete",
                                             boost::json::serialize(o)));
  if (!r.ok()) return r.error();
  return ParseBody<Upload>(*r, UploadFromJson);
}

Result<Upload> Uploads::cancel(const std::string& upload_id) const {
  auto r = core_->Send(internal::MakeRequest("POST", UploadPath(upload_id) + "/cancel"));
  if (!r.ok()) return r.error();
  return ParseBody<Upload>(*r, UploadFromJson);
}

Result<Upload> Uploads::retrieve(const std::string& upload_id) const {
  auto r = core_->Send(internal::MakeRequest("GET", UploadPath(upload_id)));
  if (!r.ok()) return r.error();
  return ParseBody<Upload>(*r, UploadFromJson);
}

Result<std::vector<UploadPart>> Parts::list(const std::string& upload_id) const {
  auto r = core_->Send(internal::MakeRequest("GET", UploadPath(upload_id) + "/parts"));
  if (!r.ok()) return r.error();
  auto page = ParseBody<Page<UploadPart>>(*r, UploadPartPageFromJson);
  if (!page.ok()) return page.error();
  return std::move(page->data);
}

Result<Upload> Uploads::upload_file_chunked(const FileInput& file,
                                            const ChunkedUploadParams& params) const {
  if (file.kind() == FileInput::Kind::kStream) {
    return UsageError("upload_file_chunked needs a path or bytes, not a stream", "file");
  }
  if (params.part_size <= 0 || params.parallel <= 0) {
    return UsageError("part_size and parallel must be positive", "part_size");
  }
  std::int64_t actual = 0;
  if (file.kind() == FileInput::Kind::kPath) {
    std::error_code ec;
    auto size = std::filesystem::file_size(file.path(), ec);
    if (ec) return UsageError("cannot read " + file.path().string() + ": " + ec.message(), "file");
    actual = static_cast<std::int64_t>(size);
  } else {
    actual = static_cast<std::int64_t>(file.bytes().size());
  }
  const std::int64_t total = params.bytes.value_or(actual);
  if (total > actual) return UsageError("bytes is larger than the input", "bytes");
  std::string filename = params.filename.value_or(file.filename());
  if (filename.empty()) return UsageError("a filename is required", "filename");
  const std::int64_t n_parts = (total + params.part_size - 1) / params.part_size;
  for (const auto& [index, id] : params.done_parts) {
    if (index < 0 || index >= n_parts || id.empty()) {
      return UsageError("done_parts names part " + std::to_string(index) + " of " +
                            std::to_string(n_parts),
                        "done_parts");
    }
  }

  std::string upload_id;
  if (params.upload_id) {
    upload_id = *params.upload_id;
  } else {
    auto upload = create({.bytes = total,
                          .filename = filename,
                          .mime_type = params.mime_type,
                          .purpose = params.purpose,
                          .expires_after_seconds = params.expires_after_seconds});
    if (!upload.ok()) return upload;
    upload_id = upload->id;
  }

  // The md5, when asked for, is read alongside the parts (MD5 needs the bytes in order).
  std::future<Result<std::string>> md5_task;
  if (!params.md5 && params.compute_md5) {
    md5_task = std::async(std::launch::async, [&file, total] { return Md5Of(file, total); });
  }

  auto length_of = [&](std::int64_t i) {
    return std::min(params.part_size, total - i * params.part_size);
  };
  std::vector<std::string> part_ids(static_cast<std::size_t>(n_parts));
  std::vector<std::int64_t> todo;
  std::int64_t done = 0;  // bytes of acknowledged parts
  for (std::int64_t i = 0; i < n_parts; ++i) {
    auto it = params.done_parts.find(i);
    if (it == params.done_parts.end()) {
      todo.push_back(i);
    } else {
      part_ids[static_cast<std::size_t>(i)] = it->second;
      done += length_of(i);
    }
  }

  const int n_threads =
      static_cast<int>(std::min<std::int64_t>(params.parallel, static_cast<std::int64_t>(todo.size())));
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards everything below and the callbacks
  std::optional<ApiError> first_error;
  std::vector<std::int64_t> in_flight(static_cast<std::size_t>(n_threads), 0);  // bytes read
  std::int64_t reported = -1;
  auto report = [&] {  // with mu held
    if (!params.on_progress) return;
    std::int64_t now = done;
    for (auto b : in_flight) now += b;
    if (now <= reported) return;
    reported = now;
    params.on_progress(now, total);
  };
  {
    std::lock_guard lock(mu);
    report();
  }

  auto worker = [&](int slot) {
    auto& mine = in_flight[static_cast<std::size_t>(slot)];
    for (;;) {
      std::size_t k = next.fetch_add(1);
      if (k >= todo.size() || failed.load()) return;
      const std::int64_t i = todo[k];
      const std::int64_t offset = i * params.part_size;
      const std::int64_t length = length_of(i);
      Result<internal::BodySource> source =
          file.kind() == FileInput::Kind::kPath
              ? internal::FileRangeSource(file.path().string(), offset, length)
              : Result<internal::BodySource>(internal::BytesSource(file.bytes().substr(
                    static_cast<std::size_t>(offset), static_cast<std::size_t>(length))));
      Result<UploadPart> part = source.ok()
                                    ? CreatePart(*core_, upload_id,
                                                 internal::CountingSource(
                                                     std::move(source).value(),
                                                     [&](std::int64_t sent) {
                                                       std::lock_guard lock(mu);
                                                       mine = sent;
                                                       report();
                                                     }))
                                    : Result<UploadPart>(source.error());
      std::lock_guard lock(mu);
      mine = 0;
      if (!part.ok()) {
        if (!first_error) first_error = part.error();
        failed = true;
        return;
      }
      part_ids[static_cast<std::size_t>(i)] = part->id;
      done += length;
      if (params.on_part) params.on_part(i, *part);
      report();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();

  std::optional<std::string> md5 = params.md5;
  if (md5_task.valid()) {
    auto computed = md5_task.get();
    if (!computed.ok() && !first_error) first_error = computed.error();
    if (computed.ok()) md5 = *computed;
  }
  if (first_error) {
    if (params.cancel_on_failure) {
      cancel(upload_id).status().IgnoreError();  // best effort; the original error matters
    }
    return *first_error;
  }
  if (n_parts == 0 && params.on_progress) params.on_progress(0, 0);
  auto completed = complete(upload_id, part_ids, md5);
  if (!completed.ok() && params.cancel_on_failure) cancel(upload_id).status().IgnoreError();
  return completed;
}

std::future<Result<Upload>> Uploads::upload_file_chunked_async(FileInput file,
                                                               ChunkedUploadParams params) const {
  return std::async(std::launch::async,
                    [self = *this, file = std::move(file), params = std::move(params)] {
                      return self.upload_file_chunked(file, params);
                    });
}

}  // namespace fileport::client
