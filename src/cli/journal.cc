// UploadJournal implementation.
#include "cli/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/crypto.h"
#include "common/errno_status.h"

namespace fileport::cli {
namespace {

boost::json::object IdentityJson(const UploadIdentity& id) {
  return {{"base_url", id.base_url}, {"path", id.path},         {"size", id.size},
          {"mtime_ns", id.mtime_ns}, {"part_size", id.part_size}, {"purpose", id.purpose},
          {"filename", id.filename}, {"mime_type", id.mime_type}};
}

}  // namespace

std::filesystem::path UploadJournal::DefaultDir() {
  if (const char* d = std::getenv("FILEPORT_STATE_DIR"); d != nullptr && *d != '\0') {
    return std::filesystem::path(d) / "uploads";
  }
  if (const char* d = std::getenv("XDG_STATE_HOME"); d != nullptr && *d != '\0') {
    return std::filesystem::path(d) / "fileport" / "uploads";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : ".") / ".local" / "state" / "fileport" /
         "uploads";
}

UploadJournal::UploadJournal(std::filesystem::path dir, UploadIdentity identity)
    : dir_(std::move(dir)), identity_(std::move(identity)) {
  const std::string key = boost::json::serialize(IdentityJson(identity_));
  path_ = dir_ / (Sha256Hex(key).substr(0, 24) + ".json");
}

std::optional<UploadJournal::Entry> UploadJournal::Load() const {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text.str(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  const auto* identity = o.if_contains("identity");
  const auto* upload_id = o.if_contains("upload_id");
  const auto* parts = o.if_contains("parts");
  if (identity == nullptr || *identity != boost::json::value(IdentityJson(identity_)) ||
      upload_id == nullptr || !upload_id->is_string() || parts == nullptr ||
      !parts->is_object()) {
    return std::nullopt;
  }
  Entry e;
  e.upload_id = std::string(upload_id->as_string());
  for (const auto& [index, id] : parts->as_object()) {
    if (!id.is_string()) return std::nullopt;
    char* end = nullptr;
    std::string key(index);
    long long i = std::strtoll(key.c_str(), &end, 10);
    if (end == key.c_str() || *end != '\0' || i < 0) return std::nullopt;
    e.parts[i] = std::string(id.as_string());
  }
  return e;
}

Status UploadJournal::Start(const std::string& upload_id) {
  entry_ = Entry{upload_id, {}};
  return Write();
}

Status UploadJournal::AddPart(std::int64_t index, const std::string& part_id) {
  entry_.parts[index] = part_id;
  return Write();
}

void UploadJournal::Remove() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

Status UploadJournal::Write() const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Internal("cannot create " + dir_.string() + ": " + ec.message());
  boost::json::object parts;
  for (const auto& [index, id] : entry_.parts) parts[std::to_string(index)] = id;
  const std::string text =
      boost::json::serialize(boost::json::object{{"identity", IdentityJson(identity_)},
                                                 {"upload_id", entry_.upload_id},
                                                 {"parts", std::move(parts)}}) +
      "\n";
  const std::filesystem::path tmp = path_.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "cannot write " + tmp.string());
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = ErrnoToStatus(errno, "cannot write " + tmp.string());
      ::close(fd);
      return s;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = ErrnoToStatus(errno, "cannot sync " + tmp.string());
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return ErrnoToStatus(errno, "cannot replace " + path_.string());
  }
  return Status::Ok();
}

}  // namespace fileport::cli
