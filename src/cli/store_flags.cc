// --data / --meta / --blobs, shared by the commands that open the stores.
#include <filesystem>

#include "cli/commands.h"

namespace fileport::cli {

std::string StoreFlags::MetaUri() const {
  if (!meta.empty()) return meta;
  return "sqlite://" + (std::filesystem::absolute(data) / "meta.db").lexically_normal().string();
}

std::string StoreFlags::BlobUri() const {
  if (!blobs.empty()) return blobs;
  return "file://" + (std::filesystem::absolute(data) / "blobs").lexically_normal().string();
}

void AddStoreFlags(CLI::App& cmd, StoreFlags& flags) {
  cmd.add_option("--data", flags.data, "Folder for the embedded stores (SQLite + local blobs)")
      ->envname("FILEPORT_DATA")
      ->capture_default_str();
  cmd.add_option("--meta", flags.meta,
                 "Metadata store URI (default sqlite://DATA/meta.db; also "
                 "postgres://USER:PASSWORD@HOST:PORT/DB, memory:)")
      ->envname("FILEPORT_META");
  cmd.add_option("--blobs", flags.blobs,
                 "Blob store URI (default file://DATA/blobs; also "
                 "s3://BUCKET[/PREFIX]?endpoint=URL&region=R with AWS_ACCESS_KEY_ID and "
                 "AWS_SECRET_ACCESS_KEY, memory:)")
      ->envname("FILEPORT_BLOBS");
}

}  // namespace fileport::cli
