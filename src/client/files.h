// Files: the /v1/files resource of a Client — create, retrieve, list (with lazy auto-paging),
// del, content, retrieve_content and wait_for_processing — mirroring the OpenAI SDKs method for
// method (hence snake_case names, an intended exception to the house naming; `delete` is a
// keyword, so the method is `del`).
//
// Thread-safety: every method is const and may be called from many threads at once. Every
// method blocks until the answer (or the final failed attempt) arrives; the long ones
// (create, content to a file, wait_for_processing) also have an *_async form returning a
// std::future. Futures were chosen because libcurl's easy interface is blocking and a
// future needs no event loop from the caller: the call runs on its own thread, and the
// future's destructor waits for it (std::async semantics), so no task outlives its result.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/error.h"
#include "client/file_input.h"
#include "model/objects.h"

namespace fileport::client {

namespace internal {
class Core;
}

struct FileCreateOptions {
  // expires_after {anchor: created_at, seconds}; the server accepts 3600 … 2592000.
  std::optional<std::int64_t> expires_after_seconds;
  // The Content-Type of the file part.
  std::string content_type = "application/octet-stream";
};

struct FileListParams {
  std::optional<std::string> purpose;
  std::optional<int> limit;          // page size, 1 … 10000
  std::optional<std::string> order;  // "asc" | "desc" (by created_at)
  std::optional<std::string> after;  // a file id: start after it
};

// One page of GET /v1/files, and the whole listing from there on: iterating a FilePage with a
// range-for yields its files, then fetches the following pages one at a time, only when the
// iteration reaches them (after = the last id seen, other params kept). A failed fetch ends
// the iteration and is kept in iteration_error(). Copies share that error slot.
class FilePage {
 public:
  std::vector<File> data;
  bool has_more = false;

  bool has_next_page() const { return has_more && !data.empty(); }
  // The next page; a Usage error when there is none.
  Result<FilePage> get_next_page() const;
  // The error that stopped the last auto-paging iteration, or null.
  const ApiError* iteration_error() const { return error_->has_value() ? &**error_ : nullptr; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = File;
    using difference_type = std::ptrdiff_t;
    using pointer = const File*;
    using reference = const File&;

    iterator() = default;
    reference operator*() const;
    pointer operator->() const { return &**this; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(const iterator& o) const { return state_ == o.state_; }

   private:
    friend class FilePage;
    struct State;                   // the page being walked and the position in it (files.cc)
    std::shared_ptr<State> state_;  // null: the end
  };
  iterator begin() const;
  iterator end() const { return iterator(); }

 private:
  friend class Files;
  std::shared_ptr<const internal::Core> core_;
  FileListParams params_;
  std::shared_ptr<std::optional<ApiError>> error_ = std::make_shared<std::optional<ApiError>>();
};

// A byte range of a file's content (fileport extension: a Range request answered 206).
struct ContentRange {
  std::int64_t offset = 0;
  std::optional<std::int64_t> length;  // absent: to the end of the file
};

class Files {
 public:
  explicit Files(std::shared_ptr<const internal::Core> core) : core_(std::move(core)) {}

  // POST /v1/files. The bytes are streamed from `file` while the request is sent.
  Result<File> create(const FileInput& file, const std::string& purpose,
                      const FileCreateOptions& options = {}) const;
  std::future<Result<File>> create_async(FileInput file, std::string purpose,
                                         FileCreateOptions options = {}) const;

  // GET /v1/files/{id}; NotFound (param "id") when missing.
  Result<File> retrieve(const std::string& file_id) const;

  // GET /v1/files: the first page (see FilePage for auto-paging).
  Result<FilePage> list(const FileListParams& params = {}) const;

  // DELETE /v1/files/{id}; NotFound when missing.
  Result<DeletedFile> del(const std::string& file_id) const;

  // GET /v1/files/{id}/content into memory: for small files only.
  Result<std::string> content(const std::string& file_id) const;
  // … streamed into the file at `dest` (created or truncated; removed again on failure).
  // Returns the number of bytes written. Memory use is one curl buffer, whatever the size.
  Result<std::int64_t> content(const std::string& file_id, const std::filesystem::path& dest) const;
  // … streamed to `on_bytes`, called with consecutive pieces; returning false aborts (Usage).
  // A retry after bytes were delivered is impossible, so only failures before the first byte
  // are retried.
  Result<std::int64_t> content(const std::string& file_id,
                               const std::function<bool(std::string_view)>& on_bytes) const;
  // … only the bytes of `range`, streamed to `on_bytes` (how a partial download resumes). An
  // offset past the last byte is a 416 error (kOtherStatus). Retried as the callback form above.
  Result<std::int64_t> content(const std::string& file_id, const ContentRange& range,
                               const std::function<bool(std::string_view)>& on_bytes) const;
  std::future<Result<std::int64_t>> content_async(std::string file_id,
                                                  std::filesystem::path dest) const;

  // The content as text (the SDKs' deprecated retrieve_content); same as content(file_id).
  Result<std::string> retrieve_content(const std::string& file_id) const;

  // Polls retrieve() every `poll_interval` until the status is processed or error (or the
  // file is gone: NotFound), for at most `max_wait`; then a Timeout error.
  Result<File> wait_for_processing(
      const std::string& file_id, std::chrono::milliseconds poll_interval = std::chrono::seconds(5),
      std::chrono::milliseconds max_wait = std::chrono::minutes(30)) const;
  std::future<Result<File>> wait_for_processing_async(
      std::string file_id, std::chrono::milliseconds poll_interval = std::chrono::seconds(5),
      std::chrono::milliseconds max_wait = std::chrono::minutes(30)) const;

 private:
  std::shared_ptr<const internal::Core> core_;
};

}  // namespace fileport::client
