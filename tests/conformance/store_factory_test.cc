// Store URIs: what OpenBlobStore accepts for the local store, and what it refuses.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/blob/local/local_blob_store.h"
#include "store/factory.h"
#include "support/scratch_dir.h"
#include "support/status_assertions.h"

namespace fileport {
namespace {

using fileport::testing::HasCode;
using fileport::testing::IsOk;

#define ASSERT_OK(expr) ASSERT_TRUE(IsOk(expr))
#define EXPECT_CODE(expr, want) EXPECT_TRUE(HasCode((expr), (want)))

LocalBlobStore* AsLocal(const std::unique_ptr<BlobStore>& store) {
  return dynamic_cast<LocalBlobStore*>(store.get());
}

TEST(StoreFactoryTest, FileUriOpensALocalStoreWithDirectIoByDefault) {
  testing::ScratchDir scratch;
  auto opened = OpenBlobStore("file://" + scratch.path() + "/blobs");
  ASSERT_OK(opened);
  ASSERT_NE(AsLocal(*opened), nullptr);
  EXPECT_TRUE(AsLocal(*opened)->direct_io()) << "on until a filesystem refuses it";
  EXPECT_EQ(AsLocal(*opened)->root(), scratch.path() + "/blobs");
}

TEST(StoreFactoryTest, FileUriDirectIoOptionTurnsItOnOrOff) {
  testing::ScratchDir scratch;
  for (const char* off : {"off", "false", "0"}) {
    auto opened = OpenBlobStore("file://" + scratch.path() + "/b?direct_io=" + off);
    ASSERT_OK(opened);
    EXPECT_FALSE(AsLocal(*opened)->direct_io()) << off;
    EXPECT_EQ(AsLocal(*opened)->root(), scratch.path() + "/b") << "the query is not the path";
  }
  for (const char* on : {"on", "true", "1"}) {
    auto opened = OpenBlobStore("file://" + scratch.path() + "/b?direct_io=" + on);
    ASSERT_OK(opened);
    EXPECT_TRUE(AsLocal(*opened)->direct_io()) << on;
  }
}

TEST(StoreFactoryTest, FileUriRefusesUnknownOptionsBadValuesAndAnEmptyPath) {
  testing::ScratchDir scratch;
  const std::string base = "file://" + scratch.path() + "/b";
  EXPECT_CODE(OpenBlobStore(base + "?direct_io=maybe"), StatusCode::kInvalidArgument);
  EXPECT_CODE(OpenBlobStore(base + "?direct_io"), StatusCode::kInvalidArgument);
  EXPECT_CODE(OpenBlobStore(base + "?sync=off"), StatusCode::kInvalidArgument);
  EXPECT_CODE(OpenBlobStore(base + "?direct_io=off&x=1"), StatusCode::kInvalidArgument);
  EXPECT_CODE(OpenBlobStore("file://"), StatusCode::kInvalidArgument);
  EXPECT_CODE(OpenBlobStore("file://?direct_io=off"), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fileport
