// Builds stores from URIs, the one place that knows every backend:
//   metadata: sqlite:///abs/path/meta.db · sqlite://relative/meta.db · memory:
//             postgres://user:pw@host:5432/db?sslmode=require (also postgresql://; any libpq URI)
//   blobs:    file:///abs/path/blobs     · file://relative/blobs     · memory:
//             s3://BUCKET[/PREFIX]?endpoint=http://host:port&region=us-east-1 (any S3 engine;
//             also path_style, part_size, create_bucket; no endpoint: AWS; credentials from
//             AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never in the URI; see s3_blob_store.h)
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
