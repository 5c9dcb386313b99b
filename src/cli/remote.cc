// Shared plumbing of the client commands.
#include "cli/remote.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "cli/commands.h"
#include "common/sizes.h"

namespace fileport::cli {

using client::ErrorKind;

void AddRemoteFlags(CLI::App& cmd, RemoteFlags& flags) {
  // The environment is read in MakeClient, not through CLI11's envname: every subcommand
  // shares one RemoteFlags, and CLI11 applies an option's variable even for subcommands that
  // were not used, which would overwrite the flag given on the command line.
  cmd.add_option("--base-url", flags.base_url,
                 std::string("Server base URL (default: $OPENAI_BASE_URL, else ") +
                     kDefaultBaseUrl + ")");
  cmd.add_option("--api-key", flags.api_key,
                 "API key, sent as a Bearer token (default: $OPENAI_API_KEY)");
  cmd.add_option("--max-retries", flags.max_retries,
                 "Retries of a failed request (connection errors, 408, 409, 429, 5xx)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd.add_option("--timeout", flags.timeout_seconds, "Seconds one request attempt may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_flag("--json", flags.json, "Print the API's JSON objects instead of a summary");
}

std::optional<client::Client> MakeClient(const RemoteFlags& flags) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v != nullptr ? v : "");
  };
  client::ClientOptions o;
  o.base_url = !flags.base_url.empty() ? flags.base_url : env("OPENAI_BASE_URL");
  if (o.base_url->empty()) o.base_url = kDefaultBaseUrl;
  std::string key = !flags.api_key.empty() ? flags.api_key : env("OPENAI_API_KEY");
  if (!key.empty()) o.api_key = std::move(key);
  o.max_retries = flags.max_retries;
  o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(flags.timeout_seconds * 1000));
  auto made = client::Client::Make(std::move(o));
  if (!made.ok()) {
    std::fprintf(stderr, "fileport: %s\n", made.error().message.c_str());
    return std::nullopt;
  }
  return std::move(made).value();
}

int ExitCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadRequest:
    case ErrorKind::kUnprocessable:
    case ErrorKind::kOtherStatus:
      return kExitBadRequest;
    case ErrorKind::kAuthentication:
    case ErrorKind::kPermissionDenied:
      return kExitAuth;
    case ErrorKind::kNotFound:
      return kExitNotFound;
    case ErrorKind::kConflict:
      return kExitConflict;
    case ErrorKind::kRateLimit:
      return kExitRateLimited;
    case ErrorKind::kInternalServer:
      return kExitServer;
    case ErrorKind::kConnection:
    case ErrorKind::kTimeout:
      return kExitConnection;
    case ErrorKind::kUsage:
      return kExitUsage;
    case ErrorKind::kInvalidResponse:
      return kExitError;
  }
  return kExitError;
}

bool IsTransient(const client::ApiError& e) {
  switch (e.kind) {
    case ErrorKind::kConnection:
    case ErrorKind::kTimeout:
    case ErrorKind::kRateLimit:
    case ErrorKind::kInternalServer:
      return true;
    default:
      return false;
  }
}

int ReportError(const client::ApiError& e) {
  std::string detail;
  auto add = [&](const std::string& s) { detail += (detail.empty() ? "" : ", ") + s; };
  if (e.http_status != 0) add("HTTP " + std::to_string(e.http_status));
  if (!e.code.empty()) add("code: " + e.code);
  if (!e.param.empty()) add("param: " + e.param);
  if (!e.request_id.empty()) add("request: " + e.request_id);
  std::fprintf(stderr, "fileport: %s%s\n", e.message.c_str(),
               detail.empty() ? "" : (" [" + detail + "]").c_str());
  return ExitCodeFor(e.kind);
}

std::string FormatTime(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string DescribeFile(const File& f) {
  std::string s = f.id + "  " + f.filename + "  " + FormatBytes(f.bytes) + "  " + f.purpose +
                  "  " + f.status + "  created " + FormatTime(f.created_at);
  if (f.expires_at) s += "  expires " + FormatTime(*f.expires_at);
  return s;
}

std::string DescribeUpload(const Upload& u) {
  std::string s = u.id + "  " + u.filename + "  " + FormatBytes(u.bytes) + "  " + u.purpose +
                  "  " + std::string(UploadStatusName(u.status));
  if (u.status == UploadStatus::kPending) s += "  expires " + FormatTime(u.expires_at);
  if (u.file) s += "  -> " + u.file->id;
  return s;
}

void PrintJson(const std::string& json) { std::printf("%s\n", json.c_str()); }

}  // namespace fileport::cli
