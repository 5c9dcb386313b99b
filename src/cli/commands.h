// The `fileport` command line: one binary for the server and the tools around it.
// Each command group registers its subcommands on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

namespace fileport::cli {

// Exit codes shared by every command, so scripts can tell failures apart.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,         // anything not listed below
  kExitUsage = 2,         // bad command line
  kExitBadRequest = 3,    // 400/413/416/422
  kExitAuth = 4,          // 401/403
  kExitNotFound = 5,      // 404
  kExitConflict = 6,      // 409
  kExitRateLimited = 7,   // 429
  kExitServer = 8,        // 5xx
  kExitConnection = 9,    // could not reach the server / timeout
};

void AddServeCommand(CLI::App& app);
void AddKeysCommands(CLI::App& app);
// files create|list|get|delete|content, and download.
void AddFilesCommands(CLI::App& app);
// uploads create|get|parts|add-part|complete|cancel, and upload.
void AddUploadsCommands(CLI::App& app);

// The media type recorded for a file sent from `path`, guessed from its extension.
std::string MimeTypeFor(const std::filesystem::path& path);

// Options shared by commands that open the stores directly (serve, keys).
struct StoreFlags {
  std::string data = "./fileport-data";
  std::string meta;   // default sqlite://<data>/meta.db
  std::string blobs;  // default file://<data>/blobs
  std::string MetaUri() const;
  std::string BlobUri() const;
};
void AddStoreFlags(CLI::App& cmd, StoreFlags& flags);

}  // namespace fileport::cli
