// Builds stores from URIs, the one place that knows every backend:
//   metadata: sqlite:///abs/path/meta.db · sqlite://relative/meta.db · memory:
//   blobs:    file:///abs/path/blobs     · file://relative/blobs     · memory:
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/blob/blob_store.h"
#include "store/meta/metadata_store.h"

namespace fileport {

Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(const std::string& uri);
Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& uri);
// Human-readable name of a URI's backend with secrets removed, for logs ("sqlite /x/meta.db").
std::string DescribeStoreUri(const std::string& uri);

}  // namespace fileport
