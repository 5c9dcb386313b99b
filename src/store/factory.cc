// Store construction from URIs.
#include "store/factory.h"

#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

#include "store/blob/local/local_blob_store.h"
#include "store/blob/memory/memory_blob_store.h"
#include "store/blob/s3/s3_blob_store.h"
#include "store/meta/memory/memory_metadata_store.h"
#include "store/meta/postgres/postgres_metadata_store.h"
#include "store/meta/sqlite/sqlite_metadata_store.h"

namespace fileport {
namespace {

// "scheme://rest" → rest; nullopt when the scheme differs.
std::optional<std::string> After(const std::string& uri, std::string_view scheme) {
  const std::string prefix = std::string(scheme) + "://";
  if (uri.rfind(prefix, 0) != 0) return std::nullopt;
  return uri.substr(prefix.size());
}

Status EnsureDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("Cannot create directory " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

// "file://PATH[?direct_io=on|off]": the path and the local store's options.
Result<std::pair<std::string, LocalBlobOptions>> ParseFileUri(const std::string& rest,
                                                              const std::string& uri) {
  LocalBlobOptions options;
  const auto q = rest.find('?');
  std::string path = rest.substr(0, q);
  if (path.empty()) return InvalidArgument("file URI needs a path: " + uri);
  if (q == std::string::npos) return std::pair{std::move(path), options};
  std::string_view query = std::string_view(rest).substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
    if (name != "direct_io") {
      return InvalidArgument("Unknown option '" + std::string(name) + "' in " + uri +
                             " (file URIs take direct_io=on|off)");
    }
    if (value == "on" || value == "true" || value == "1") {
      options.direct_io = true;
    } else if (value == "off" || value == "false" || value == "0") {
      options.direct_io = false;
    } else {
      return InvalidArgument("direct_io must be on or off in " + uri);
    }
  }
  return std::pair{std::move(path), options};
}

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(const std::string& uri) {
  if (uri == "memory:" || uri == "memory://") {
    auto store = std::make_unique<MemoryMetadataStore>();
    RETURN_IF_ERROR(store->Migrate());
    return std::unique_ptr<MetadataStore>(std::move(store));
  }
  if (auto path = After(uri, "sqlite")) {
    if (path->empty()) return InvalidArgument("sqlite URI needs a path: " + uri);
    std::filesystem::path p(*path);
    if (p.has_parent_path()) RETURN_IF_ERROR(EnsureDir(p.parent_path()));
    return SqliteMetadataStore::Open(p.string());
  }
  if (After(uri, "postgres") || After(uri, "postgresql")) {
    // libpq reads the URI itself (host, port, database, credentials, sslmode, …).
    return PostgresMetadataStore::Open(uri);
  }
  return InvalidArgument("Unsupported metadata store URI '" + DescribeStoreUri(uri) +
                         "' (expected sqlite://PATH, postgres://[USER[:PASSWORD]@]HOST[:PORT]/DB "
                         "or memory:)");
}

Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& uri) {
  if (uri == "memory:" || uri == "memory://") {
    return std::unique_ptr<BlobStore>(std::make_unique<MemoryBlobStore>());
  }
  if (auto rest = After(uri, "file")) {
    ASSIGN_OR_RETURN(auto parsed, ParseFileUri(*rest, uri));
    RETURN_IF_ERROR(EnsureDir(parsed.first));
    ASSIGN_OR_RETURN(auto store, LocalBlobStore::Open(parsed.first, parsed.second));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  if (After(uri, "s3")) {
    ASSIGN_OR_RETURN(S3BlobOptions options, S3BlobOptions::FromUri(uri));
    ASSIGN_OR_RETURN(auto store, S3BlobStore::Open(std::move(options)));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  return InvalidArgument("Unsupported blob store URI '" + DescribeStoreUri(uri) +
                         "' (expected file://PATH[?direct_io=on|off], "
                         "s3://BUCKET[/PREFIX]?endpoint=http(s)://HOST[:PORT]&region=REGION "
                         "or memory:)");
}

std::string DescribeStoreUri(const std::string& uri) {
  // Drop any userinfo (user:password@) so secrets never reach logs.
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos) return uri;
  const auto at = uri.find('@', scheme_end + 3);
  const auto slash = uri.find('/', scheme_end + 3);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    return uri.substr(0, scheme_end + 3) + "***@" + uri.substr(at + 1);
  }
  return uri;
}

}  // namespace fileport
