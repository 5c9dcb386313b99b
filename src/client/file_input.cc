// FileInput factories.
#include "client/file_input.h"

#include <utility>

namespace fileport::client {

FileInput FileInput::Path(std::filesystem::path path, std::string filename) {
  FileInput in;
  in.kind_ = Kind::kPath;
  in.filename_ = filename.empty() ? path.filename().string() : std::move(filename);
  in.path_ = std::move(path);
  return in;
}

FileInput FileInput::Bytes(std::string_view data, std::string filename) {
  FileInput in;
  in.kind_ = Kind::kBytes;
  in.bytes_ = data;
  in.filename_ = std::move(filename);
  return in;
}

FileInput FileInput::Stream(std::istream& stream, std::string filename,
                            std::optional<std::int64_t> size) {
  FileInput in;
  in.kind_ = Kind::kStream;
  in.stream_ = &stream;
  in.stream_size_ = size;
  in.filename_ = std::move(filename);
  return in;
}

}  // namespace fileport::client
