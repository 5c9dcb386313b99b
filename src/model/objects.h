// The plain objects of the Files and Uploads APIs, shared by server and client.
//
// These structs are the domain; model/wire.h maps them to and from the OpenAI JSON shapes, so
// server and client cannot drift apart. Fields that never go on the wire (project, storage
// layout) are marked "server only" and are left empty by the client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fileport {

// One stored blob that is a contiguous piece of a file's bytes.
struct Segment {
  std::string blob_key;
  std::int64_t bytes = 0;
  bool operator==(const Segment&) const = default;
};

struct File {
  std::string id;
  std::int64_t bytes = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::string filename;
  std::string purpose;
  std::string status = "processed";  // uploaded | processed | error
  std::optional<std::string> status_details;
  // Server only.
  std::string project;
  std::string mime_type;               // as given at creation; may be empty
  std::vector<Segment> segments;       // the bytes, in order; sum of bytes == bytes
  bool operator==(const File&) const = default;
};

enum class UploadStatus { kPending, kCompleted, kCancelled, kExpired };
std::string_view UploadStatusName(UploadStatus s);
std::optional<UploadStatus> ParseUploadStatus(std::string_view s);

struct Upload {
  std::string id;
  std::int64_t bytes = 0;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::string filename;
  std::string purpose;
  UploadStatus status = UploadStatus::kPending;
  std::optional<File> file;  // the File created at completion (wire only; not stored here)
  // Server only.
  std::string project;
  std::string mime_type;
  // `expires_after[seconds]` (anchor created_at) for the File made at completion.
  std::optional<std::int64_t> file_expires_after;
  std::optional<std::string> file_id;    // set at completion
  std::vector<std::string> part_ids;     // the completing part_ids, in order
  std::optional<std::string> md5;        // the md5 given at completion, lowercase hex
  bool operator==(const Upload&) const = default;
};

struct UploadPart {
  std::string id;
  std::int64_t created_at = 0;
  std::string upload_id;
  std::int64_t bytes = 0;  // extension: shown in GET /v1/uploads/{id}/parts
  // Server only.
  std::string project;
  std::string blob_key;
  bool operator==(const UploadPart&) const = default;
};

struct DeletedFile {
  std::string id;
  bool deleted = true;
};

// A page of files as their wire objects (ToJson(File)), already joined: what a listing's
// "data" holds (MetadataStore::ListFileJson).
struct FileJsonPage {
  std::string objects;   // the objects, comma-separated: the inside of the JSON array
  std::string first_id;  // of the first and last object; empty when there is none
  std::string last_id;
  bool has_more = false;
  bool operator==(const FileJsonPage&) const = default;
};

template <class T>
struct Page {
  std::vector<T> data;
  bool has_more = false;
};

// An API key as stored: only the SHA-256 of the secret is kept.
struct ApiKey {
  std::string id;          // key_…
  std::string project;
  std::string secret_sha256_hex;
  std::string hint;        // the masked secret, e.g. "sk-fp***Yz"
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
  bool operator==(const ApiKey&) const = default;
};

// Purposes a client may create files with, in the order the error message lists them.
inline constexpr std::string_view kCreatePurposes[] = {"assistants", "batch",     "fine-tune",
                                                       "vision",     "user_data", "evals"};
bool IsCreatePurpose(std::string_view purpose);

}  // namespace fileport
