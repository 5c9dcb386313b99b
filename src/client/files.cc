// Files: requests of /v1/files, the lazy page iterator and the content sinks.
#include "client/files.h"

#include <unistd.h>

#include <cstdio>
#include <thread>

#include "client/core.h"
#include "model/wire.h"

namespace fileport::client {
namespace {
using internal::HttpRequest;
using internal::ParseBody;
using internal::UrlEncode;

std::string FilePath(const std::string& id) { return "/files/" + UrlEncode(id); }

std::string ListQuery(const FileListParams& p) {
  std::string q;
  auto add = [&q](const char* k, const std::string& v) {
    q += (q.empty() ? "?" : "&");
    q += k;
    q += "=" + UrlEncode(v);
  };
  if (p.purpose) add("purpose", *p.purpose);
  if (p.limit) add("limit", std::to_string(*p.limit));
  if (p.order) add("order", *p.order);
  if (p.after) add("after", *p.after);
  return q;
}

// Streams a 2xx body into a FILE, and can start it over before a retry.
class FileSink : public internal::ResponseSink {
 public:
  explicit FileSink(std::FILE* f) : f_(f) {}
  bool Write(std::string_view b) override {
    return std::fwrite(b.data(), 1, b.size(), f_) == b.size();
  }
  bool Restart() override {
    return std::fflush(f_) == 0 && ::ftruncate(fileno(f_), 0) == 0 &&
           std::fseek(f_, 0, SEEK_SET) == 0;
  }

 private:
  std::FILE* f_;
};

class CallbackSink : public internal::ResponseSink {
 public:
  explicit CallbackSink(const std::function<bool(std::string_view)>& cb) : cb_(cb) {}
  bool Write(std::string_view b) override {
    written_ = true;
    return cb_(b);
  }
  bool Restart() override { return !written_; }

 private:
  const std::function<bool(std::string_view)>& cb_;
  bool written_ = false;
};

}  // namespace

struct FilePage::iterator::State {
  FilePage page;
  std::size_t index = 0;
};

FilePage::iterator::reference FilePage::iterator::operator*() const {
  return state_->page.data[state_->index];
}

FilePage::iterator& FilePage::iterator::operator++() {
  if (++state_->index < state_->page.data.size()) return *this;
  while (state_->page.has_next_page()) {
    auto next = state_->page.get_next_page();
    if (!next.ok()) {
      *state_->page.error_ = next.error();
      break;
    }
    state_->page = std::move(next).value();
    state_->index = 0;
    if (!state_->page.data.empty()) return *this;
  }
  state_.reset();
  return *this;
}

FilePage::iterator FilePage::begin() const {
  error_->reset();
  iterator it;
  if (data.empty()) return it;
  it.state_ = std::make_shared<iterator::State>();
  it.state_->page = *this;
  return it;
}

Result<FilePage> FilePage::get_next_page() const {
  if (!has_next_page() || !core_) return UsageError("there is no next page");
  FileListParams p = params_;
  p.after = data.back().id;
  auto next = Files(core_).list(p);
  if (next.ok()) next->error_ = error_;  // the whole iteration reports through one slot
  return next;
}

Result<File> Files::create(const FileInput& file, const std::string& purpose,
                           const FileCreateOptions& options) const {
  auto source = internal::SourceFor(file);
  if (!source.ok()) return source.error();
  HttpRequest req;
  req.method = "POST";
  req.path = "/files";
  req.fields.push_back({"purpose", purpose});
  if (options.expires_after_seconds) {
    req.fields.push_back({"expires_after[anchor]", "created_at"});
    req.fields.push_back(
        {"expires_after[seconds]", std::to_string(*options.expires_after_seconds)});
  }
  req.file = internal::MultipartFile{"file", file.filename(), options.content_type,
                                     std::move(source).value()};
  auto r = core_->Send(req);
  if (!r.ok()) return r.error();
  return ParseBody<File>(*r, FileFromJson);
}

std::future<Result<File>> Files::create_async(FileInput file, std::string purpose,
                                              FileCreateOptions options) const {
  return std::async(std::launch::async,
                    [self = *this, file = std::move(file), purpose = std::move(purpose),
                     options = std::move(options)] { return self.create(file, purpose, options); });
}

Result<File> Files::retrieve(const std::string& file_id) const {
  auto r = core_->Send(internal::MakeRequest("GET", FilePath(file_id)));
  if (!r.ok()) return r.error();
  return ParseBody<File>(*r, FileFromJson);
}

Result<FilePage> Files::list(const FileListParams& params) const {
  auto r = core_->Send(internal::MakeRequest("GET", "/files" + ListQuery(params)));
  if (!r.ok()) return r.error();
  auto page = ParseBody<Page<File>>(*r, FilePageFromJson);
  if (!page.ok()) return page.error();
  FilePage out;
  out.data = std::move(page->data);
  out.has_more = page->has_more;
  out.core_ = core_;
  out.params_ = params;
  return out;
}

Result<DeletedFile> Files::del(const std::string& file_id) const {
  auto r = core_->Send(internal::MakeRequest("DELETE", FilePath(file_id)));
  if (!r.ok()) return r.error();
  return ParseBody<DeletedFile>(*r, DeletedFileFromJson);
}

Result<std::string> Files::content(const std::string& file_id) const {
  auto r = core_->Send(internal::MakeRequest("GET", FilePath(file_id) + "/content"));
  if (!r.ok()) return r.error();
  return std::move(r->body);
}

Result<std::int64_t> Files::content(const std::string& file_id,
                                    const std::filesystem::path& dest) const {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(dest.c_str(), "wb"), std::fclose);
  if (!f) return UsageError("cannot write " + dest.string());
  FileSink sink(f.get());
  HttpRequest req = internal::MakeRequest("GET", FilePath(file_id) + "/content");
  req.sink = &sink;
  auto r = core_->Send(req);
  bool closed_ok = std::fclose(f.release()) == 0;
  if (r.ok() && !closed_ok) r = UsageError("cannot write " + dest.string());
  if (!r.ok()) {
    std::error_code ec;
    std::filesystem::remove(dest, ec);
    return r.error();
  }
  return r->sink_bytes;
}

Result<std::int64_t> Files::content(const std::string& file_id,
                                    const std::function<bool(std::string_view)>& on_bytes) const {
  return content(file_id, ContentRange{}, on_bytes);
}

Result<std::int64_t> Files::content(const std::string& file_id, const ContentRange& range,
                                    const std::function<bool(std::string_view)>& on_bytes) const {
  if (range.offset < 0 || (range.length && *range.length <= 0)) {
    return UsageError("a range needs offset >= 0 and length > 0", "range");
  }
  CallbackSink sink(on_bytes);
  HttpRequest req = internal::MakeRequest("GET", FilePath(file_id) + "/content");
  req.sink = &sink;
  if (range.offset > 0 || range.length) {
    std::string spec = "Range: bytes=" + std::to_string(range.offset) + "-";
    if (range.length) spec += std::to_string(range.offset + *range.length - 1);
    req.headers.push_back(std::move(spec));
    req.required_status = 206;
  }
  auto r = core_->Send(req);
  if (!r.ok()) return r.error();
  return r->sink_bytes;
}

std::future<Result<std::int64_t>> Files::content_async(std::string file_id,
                                                       std::filesystem::path dest) const {
  return std::async(std::launch::async,
                    [self = *this, file_id = std::move(file_id), dest = std::move(dest)] {
                      return self.content(file_id, dest);
                    });
}

Result<std::string> Files::retrieve_content(const std::string& file_id) const {
  return content(file_id);
}

Result<File> Files::wait_for_processing(const std::string& file_id,
                                        std::chrono::milliseconds poll_interval,
                                        std::chrono::milliseconds max_wait) const {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto f = retrieve(file_id);
    if (!f.ok()) return f;
    if (f->status == "processed" || f->status == "error") return f;
    if (std::chrono::steady_clock::now() - start + poll_interval > max_wait) {
      ApiError e;
      e.kind = ErrorKind::kTimeout;
      e.message = "Giving up on waiting for file " + file_id + " to finish processing after " +
                  std::to_string(max_wait.count()) + " milliseconds.";
      return e;
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

std::future<Result<File>> Files::wait_for_processing_async(
    std::string file_id, std::chrono::milliseconds poll_interval,
    std::chrono::milliseconds max_wait) const {
  return std::async(std::launch::async,
                    [self = *this, file_id = std::move(file_id), poll_interval, max_wait] {
                      return self.wait_for_processing(file_id, poll_interval, max_wait);
                    });
}

}  // namespace fileport::client
