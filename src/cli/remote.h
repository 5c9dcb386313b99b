// What the client commands (`files`, `uploads`, `upload`, `download`) share: how they reach
// the server, how they print objects for people and for scripts, and how an API error
// becomes a message and an exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "client/client.h"
#include "model/objects.h"

namespace fileport::cli {

// The default server: what `fileport serve` listens on without flags.
inline constexpr const char* kDefaultBaseUrl = "http://127.0.0.1:8080/v1";

struct RemoteFlags {
  std::string base_url;  // --base-url, else OPENAI_BASE_URL, else kDefaultBaseUrl
  std::string api_key;   // --api-key, else OPENAI_API_KEY
  int max_retries = 2;
  double timeout_seconds = 600;
  bool json = false;  // print the API's JSON instead of a summary
};
void AddRemoteFlags(CLI::App& cmd, RemoteFlags& flags);

// The client for `flags`; on failure prints why and returns nullopt (exit with kExitUsage).
std::optional<client::Client> MakeClient(const RemoteFlags& flags);

// Prints `error` to stderr ("fileport: <message> [HTTP 404, param: id, request: req_…]") and
// returns the exit code of its kind (commands.h).
int ReportError(const client::ApiError& error);
int ExitCodeFor(client::ErrorKind kind);
// True for failures that a later try may get past: no answer, a timeout, 429 and 5xx.
bool IsTransient(const client::ApiError& error);

// "2026-11-22 10:00:00 UTC".
std::string FormatTime(std::int64_t unix_seconds);
// One line per object, for people.
std::string DescribeFile(const File& f);
std::string DescribeUpload(const Upload& u);
// Prints `json` (one line) to stdout.
void PrintJson(const std::string& json);

}  // namespace fileport::cli
