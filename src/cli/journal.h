// UploadJournal: what `fileport upload` remembers about an upload in progress, so that
// `fileport upload FILE --resume` can continue it after the process was interrupted.
//
// One small JSON file per (server, file, upload settings) in the user's state folder
// ($FILEPORT_STATE_DIR, else $XDG_STATE_HOME/fileport/uploads, else
// ~/.local/state/fileport/uploads). It holds the upload id and the parts the server
// acknowledged, by index. The file's size and modification time are part of the identity, so
// a changed file never resumes into an old upload. Each change is written to a temporary
// file, fsynced and renamed over the journal, so a kill at any moment leaves the old or the
// new journal, never a torn one. A part the server stored whose answer never arrived is not
// in the journal; it is sent again, and the server discards the unlisted copy at completion.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace fileport::cli {

struct UploadIdentity {
  std::string base_url;
  std::string path;  // absolute
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t part_size = 0;
  std::string purpose;
  std::string filename;
  std::string mime_type;
};

class UploadJournal {
 public:
  struct Entry {
    std::string upload_id;
    std::map<std::int64_t, std::string> parts;  // index → part id
  };

  static std::filesystem::path DefaultDir();

  UploadJournal(std::filesystem::path dir, UploadIdentity identity);

  const std::filesystem::path& path() const { return path_; }
  // The journal of this identity, or nullopt when there is none (or it is unreadable, or
  // written for another identity: never resumed into).
  std::optional<Entry> Load() const;
  // Starts a journal for `upload_id` with no parts (replacing any earlier one).
  Status Start(const std::string& upload_id);
  // Records that part `index` is on the server as `part_id`.
  Status AddPart(std::int64_t index, const std::string& part_id);
  // Deletes the journal (the upload completed or was abandoned).
  void Remove();

 private:
  Status Write() const;

  std::filesystem::path dir_;
  UploadIdentity identity_;
  std::filesystem::path path_;
  Entry entry_;
};

}  // namespace fileport::cli
