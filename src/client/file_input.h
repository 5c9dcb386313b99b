// FileInput: where the bytes of a file to send come from — a path, bytes in memory, or a
// stream — and the name the server should record for them.
//
// The bytes are read while they are sent, a buffer at a time; FileInput never copies them
// whole. Ownership: a Bytes input points at the caller's memory and a Stream input at the
// caller's stream; both must outlive the call they are given to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

namespace fileport::client {

class FileInput {
 public:
  enum class Kind { kPath, kBytes, kStream };

  // The file at `path`; the filename defaults to its last component.
  static FileInput Path(std::filesystem::path path, std::string filename = {});
  // `data` (not copied); `filename` is what the server records.
  static FileInput Bytes(std::string_view data, std::string filename);
  // The rest of `stream`, from its current position. `size`, when known, lets the request carry
  // a Content-Length; otherwise the body is sent chunked. A stream that can seek back (an
  // ifstream, a stringstream) is rewound on a retry; one that cannot is not retried once read.
  static FileInput Stream(std::istream& stream, std::string filename,
                          std::optional<std::int64_t> size = std::nullopt);

  Kind kind() const { return kind_; }
  const std::filesystem::path& path() const { return path_; }
  std::string_view bytes() const { return bytes_; }
  std::istream* stream() const { return stream_; }
  std::optional<std::int64_t> stream_size() const { return stream_size_; }
  // The filename sent in the multipart part (never empty for Path inputs).
  const std::string& filename() const { return filename_; }

 private:
  Kind kind_ = Kind::kBytes;
  std::filesystem::path path_;
  std::string_view bytes_;
  std::istream* stream_ = nullptr;
  std::optional<std::int64_t> stream_size_;
  std::string filename_;
};

}  // namespace fileport::client
