// Store construction from URIs.
#include "store/factory.h"

#include <filesystem>

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
  if (auto path = After(uri, "file")) {
    if (path->empty()) return InvalidArgument("file URI needs a path: " + uri);
    RETURN_IF_ERROR(EnsureDir(*path));
    ASSIGN_OR_RETURN(auto store, LocalBlobStore::Open(*path));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  if (After(uri, "s3")) {
    ASSIGN_OR_RETURN(S3BlobOptions options, S3BlobOptions::FromUri(uri));
    ASSIGN_OR_RETURN(auto store, S3BlobStore::Open(std::move(options)));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  return InvalidArgument("Unsupported blob store URI '" + DescribeStoreUri(uri) +
                         "' (expected file://PATH, "
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
