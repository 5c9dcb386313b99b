// The OpenAI JSON wire shapes of the API objects (API.md §2), for server and client alike.
//
// Serialisation always writes every key of an object, nullable ones as `null`, so the SDKs
// see exactly the OpenAI shape. Parsing (used by the client) is lenient about unknown keys
// and strict about the types of known ones.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/objects.h"

namespace fileport {

std::string ToJson(const File& file);
std::string ToJson(const Upload& upload);
// `with_bytes` adds the extension field `bytes` (GET /v1/uploads/{id}/parts).
std::string ToJson(const UploadPart& part, bool with_bytes = false);
std::string ToJson(const DeletedFile& deleted);
// {"object":"list","data":[…],"first_id":…,"last_id":…,"has_more":…}
std::string ToJson(const Page<File>& page);
// The same listing from objects already written: byte for byte what ToJson(Page<File>) writes
// for the files they were written from.
std::string ToJson(const FileJsonPage& page);
// Appends a file's object to a page being made (a comma first unless it is the first).
void AppendFileJson(FileJsonPage& page, std::string_view id, std::string_view json);
std::string ToJson(const Page<UploadPart>& page);

// The error envelope: {"error":{"message","type","param","code"}}; empty param/code → null.
std::string ErrorJson(std::string_view message, std::string_view type, std::string_view param,
                      std::string_view code);

Result<File> FileFromJson(std::string_view json);
Result<Upload> UploadFromJson(std::string_view json);
Result<UploadPart> UploadPartFromJson(std::string_view json);
Result<DeletedFile> DeletedFileFromJson(std::string_view json);
Result<Page<File>> FilePageFromJson(std::string_view json);
Result<Page<UploadPart>> UploadPartPageFromJson(std::string_view json);

struct WireError {
  std::string message;
  std::string type;
  std::string param;  // empty when null
  std::string code;   // empty when null
};
// Parses an error envelope; nullopt when the body is not one.
std::optional<WireError> ErrorFromJson(std::string_view json);

}  // namespace fileport
