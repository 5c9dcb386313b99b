// MetadataStore conformance: one suite of behaviour every backend must share, instantiated for
// each backend through a named factory, followed by tests of what only SQLite promises
// (persistence details, lock and disk-full translation, schema versioning) and of what only
// PostgreSQL promises (nodes sharing a schema, racing migrations, dying connections).
//
// To add a backend, append a MetadataStoreFactory to Factories(). A factory that cannot run
// here (no server, no credentials) returns Unavailable with the reason: the test is then
// reported as skipped with that reason, never silently passed.
#include "store/meta/metadata_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>  // only for the PostgreSQL-specific tests at the end
#include <sqlite3.h>   // only for the SQLite-specific tests at the end

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "model/objects.h"
#include "model/wire.h"
#include "store/meta/memory/memory_metadata_store.h"
#include "store/meta/postgres/postgres_metadata_store.h"
#include "store/meta/sqlite/sqlite_metadata_store.h"
#include "support/scratch_dir.h"
#include "support/status_assertions.h"

namespace fileport {

// Readable failure messages for the objects compared below.
void PrintTo(StatusCode code, std::ostream* os) { *os << StatusCodeName(code); }
void PrintTo(UploadStatus s, std::ostream* os) { *os << UploadStatusName(s); }
void PrintTo(const Segment& s, std::ostream* os) { *os << s.blob_key << ":" << s.bytes; }
void PrintTo(const File& f, std::ostream* os) {
  *os << "File{" << f.id << " project=" << f.project << " bytes=" << f.bytes
      << " created_at=" << f.created_at
      << " expires_at=" << (f.expires_at ? std::to_string(*f.expires_at) : "null")
      << " purpose=" << f.purpose << " status=" << f.status << " segments=" << f.segments.size()
      << "}";
}
void PrintTo(const Upload& u, std::ostream* os) {
  *os << "Upload{" << u.id << " project=" << u.project << " bytes=" << u.bytes
      << " status=" << UploadStatusName(u.status) << " expires_at=" << u.expires_at
      << " file_id=" << u.file_id.value_or("null") << " parts=" << u.part_ids.size() << "}";
}
void PrintTo(const UploadPart& p, std::ostream* os) {
  *os << "Part{" << p.id << " upload=" << p.upload_id << " bytes=" << p.bytes
      << " created_at=" << p.created_at << " key=" << p.blob_key << "}";
}
void PrintTo(const ApiKey& k, std::ostream* os) {
  *os << "ApiKey{" << k.id << " project=" << k.project
      << " revoked_at=" << (k.revoked_at ? std::to_string(*k.revoked_at) : "null") << "}";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Status assertions: tests/support/status_assertions.h.
using fileport::testing::HasCode;
using fileport::testing::IsOk;
using fileport::testing::StatusOf;

// The exact error: code, message and param.
template <class T>
::testing::AssertionResult IsError(const T& result, StatusCode code, const std::string& message,
                                   const std::string& param) {
  const Status& s = StatusOf(result);
  if (s.code() == code && s.message() == message && s.param() == param) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "want " << StatusCodeName(code) << ": " << message << " (param " << param << "), got "
         << (s.ok() ? "OK" : s.ToString());
}

#define ASSERT_OK(expr) ASSERT_TRUE(IsOk(expr))
#define EXPECT_OK(expr) EXPECT_TRUE(IsOk(expr))
#define EXPECT_CODE(expr, want) EXPECT_TRUE(HasCode((expr), (want)))

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(FP_CONCAT(fp_assign_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(IsOk(tmp));                         \
  lhs = std::move(tmp).value()

// ---------------------------------------------------------------------------------------------
// Data helpers. Ids are zero-padded counters: they sort like real ids (by creation).

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr std::int64_t kIntentDue = kT0 + 86'400;  // write intents: due a day later
constexpr std::int64_t kFarFuture = kT0 + 100LL * 365 * 86'400;
constexpr std::int64_t kLease = 300;  // how long a claim holds garbage rows, as the sweeper's

std::string NumberedId(const char* prefix, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%024d", prefix, n);
  return buf;
}
std::string FileId(int n) { return NumberedId("file-", n); }
std::string UploadId(int n) { return NumberedId("upload_", n); }
std::string PartId(int n) { return NumberedId("part_", n); }
std::string KeyId(int n) { return NumberedId("key_", n); }

// A processed file with two segments whose keys are unique to the file.
File MakeFile(const std::string& project, const std::string& id) {
  File f;
  f.id = id;
  f.project = project;
  f.bytes = 7;
  f.created_at = kT0;
  f.filename = "notes " + id + ".txt";
  f.purpose = "assistants";
  f.status = "processed";
  f.mime_type = "text/plain";
  f.segments = {{"files/" + id + "/0", 3}, {"files/" + id + "/1", 4}};
  return f;
}

Upload MakeUpload(const std::string& project, const std::string& id, std::int64_t bytes) {
  Upload u;
  u.id = id;
  u.project = project;
  u.bytes = bytes;
  u.created_at = kT0;
  u.expires_at = kT0 + 3600;
  u.filename = "train.jsonl";
  u.purpose = "fine-tune";
  u.status = UploadStatus::kPending;
  u.mime_type = "application/jsonl";
  return u;
}

UploadPart MakePart(const std::string& project, const std::string& upload_id, const std::string& id,
                    std::int64_t bytes, std::int64_t created_at = kT0 + 1) {
  UploadPart p;
  p.id = id;
  p.created_at = created_at;
  p.upload_id = upload_id;
  p.bytes = bytes;
  p.project = project;
  p.blob_key = "parts/" + upload_id + "/" + id;
  return p;
}

// The file a completion of `parts` (in this order) makes.
File FileOfParts(const Upload& u, const std::string& file_id,
                 const std::vector<UploadPart>& parts) {
  File f;
  f.id = file_id;
  f.project = u.project;
  f.created_at = kT0 + 10;
  f.filename = u.filename;
  f.purpose = u.purpose;
  f.status = "processed";
  f.mime_type = u.mime_type;
  for (const UploadPart& p : parts) {
    f.segments.push_back({p.blob_key, p.bytes});
    f.bytes += p.bytes;
  }
  return f;
}

std::vector<std::string> PartIdsOf(const std::vector<UploadPart>& parts) {
  std::vector<std::string> ids;
  for (const UploadPart& p : parts) ids.push_back(p.id);
  return ids;
}

std::vector<std::string> IdsOf(const std::vector<File>& files) {
  std::vector<std::string> ids;
  for (const File& f : files) ids.push_back(f.id);
  return ids;
}

std::vector<std::string> FileIds(std::initializer_list<int> ns) {
  std::vector<std::string> ids;
  for (int n : ns) ids.push_back(FileId(n));
  return ids;
}

// What ListFileJson should give for a page of ListFiles: each file's ToJson, comma-joined.
FileJsonPage Joined(const Page<File>& files) {
  FileJsonPage page;
  for (const File& f : files.data) {
    if (!page.objects.empty()) page.objects += ',';
    page.objects += ToJson(f);
  }
  if (!files.data.empty()) {
    page.first_id = files.data.front().id;
    page.last_id = files.data.back().id;
  }
  page.has_more = files.has_more;
  return page;
}

FileQuery Query(const std::string& project, int limit = 10000, bool ascending = false) {
  FileQuery q;
  q.project = project;
  q.limit = limit;
  q.ascending = ascending;
  q.now = kT0;
  return q;
}

// Scratch directories are named after this suite.
class ScratchDir : public fileport::testing::ScratchDir {
 public:
  ScratchDir() : fileport::testing::ScratchDir("meta") {}
};

// ---------------------------------------------------------------------------------------------
// Factories.

struct MetadataStoreFactory {
  std::string name;  // The test-name suffix: [A-Za-z0-9_] only.
  // Opens the store whose state lives in `scratch` (a fresh directory per test): empty the
  // first time; called again with the same `scratch` after the previous store was destroyed,
  // a persistent backend must show everything the previous store acknowledged.
  // Unavailable → the test is skipped with the reason.
  std::function<Result<std::unique_ptr<MetadataStore>>(const std::string& scratch)> open;
  bool persistent = false;
  // Removes state the backend keeps outside `scratch` (a server's schema); called after each
  // test, also a skipped one.
  std::function<void(const std::string& scratch)> cleanup = nullptr;
};

void PrintTo(const MetadataStoreFactory& factory, std::ostream* os) { *os << factory.name; }

// PostgreSQL: FILEPORT_TEST_POSTGRES names a server the tests may create schemas in; each test
// gets a schema of its own, so tests are isolated and may run in parallel.

Result<std::string> TestPostgresUri() {
  const char* uri = std::getenv("FILEPORT_TEST_POSTGRES");
  if (uri == nullptr || *uri == '\0') {
    return Unavailable(
        "FILEPORT_TEST_POSTGRES is not set; start a throwaway server with "
        "eval \"$(scripts/postgres.sh start DIR)\" (and scripts/postgres.sh stop DIR after)");
  }
  return std::string(uri);
}

// The schema of the store whose state lives in `scratch`: made up on the first open and kept
// in a file there, so a reopen finds the same data. Random, since scratch names are reused
// across runs against a server that may have outlived them.
std::string ScratchSchema(const std::string& scratch) {
  const std::string path = scratch + "/postgres_schema";
  std::string name;
  if (std::ifstream in(path); std::getline(in, name) && !name.empty()) return name;
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "fileport_test_%08x%08x", rd(), rd());
  name = buf;
  std::ofstream(path) << name << "\n";
  return name;
}

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct PgFinisher {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using RawPg = std::unique_ptr<PGconn, PgFinisher>;

// A session of our own, as another node or an administrator would have.
RawPg ConnectRaw(const std::string& uri) {
  RawPg c(PQconnectdb(uri.c_str()));
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  PQclear(PQexec(c.get(), "SET client_min_messages = warning"));  // no DROP … CASCADE notices
  return c;
}

// Runs `sql` with text parameters; the first column of every row.
std::vector<std::string> PgColumn(PGconn* c, const std::string& sql,
                                  const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  PGresult* r = PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  const ExecStatusType st = PQresultStatus(r);
  EXPECT_TRUE(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
      << PQresultErrorMessage(r) << "in: " << sql;
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r); ++i) out.push_back(PQgetvalue(r, i, 0));
  PQclear(r);
  return out;
}

// The first column of the first row ("" when none).
std::string PgQuery(PGconn* c, const std::string& sql, const std::vector<std::string>& params = {}) {
  std::vector<std::string> column = PgColumn(c, sql, params);
  return column.empty() ? "" : column[0];
}

Result<std::unique_ptr<MetadataStore>> OpenTestPostgres(const std::string& scratch,
                                                        PostgresOptions options = {}) {
  ASSIGN_OR_RETURN(std::string uri, TestPostgresUri());
  options.schema = ScratchSchema(scratch);
  return PostgresMetadataStore::Open(uri, options);
}

// Drops the scratch's schema and any schema named after it.
void DropTestSchemas(const std::string& scratch) {
  Result<std::string> uri = TestPostgresUri();
  std::ifstream in(scratch + "/postgres_schema");
  std::string prefix;
  if (!uri.ok() || !std::getline(in, prefix) || prefix.empty()) return;
  RawPg c = ConnectRaw(*uri);
  for (const std::string& schema :
       PgColumn(c.get(), "SELECT nspname FROM pg_namespace WHERE left(nspname, length($1)) = $1",
                {prefix})) {
    PgQuery(c.get(), "DROP SCHEMA " + QuoteIdentifier(schema) + " CASCADE");
  }
}

std::vector<MetadataStoreFactory> Factories() {
  return {
      {"memory",
       [](const std::string&) -> Result<std::unique_ptr<MetadataStore>> {
         return std::unique_ptr<MetadataStore>(std::make_unique<MemoryMetadataStore>());
       },
       false},
      {"sqlite",
       [](const std::string& scratch) { return SqliteMetadataStore::Open(scratch + "/meta.db"); },
       true},
      // A single reader connection: reads queue for it instead of running side by side.
      {"sqlite_one_reader",
       [](const std::string& scratch) {
         return SqliteMetadataStore::Open(scratch + "/meta.db", {.pool_size = 1});
       },
       true},
      {"postgres", [](const std::string& scratch) { return OpenTestPostgres(scratch); }, true,
       DropTestSchemas},
      // A single connection: every call queues for it, as on a server short of slots.
      {"postgres_one_connection",
       [](const std::string& scratch) { return OpenTestPostgres(scratch, {.pool_size = 1}); },
       true, DropTestSchemas},
  };
}

// ---------------------------------------------------------------------------------------------
// The parameterized suite.

class MetadataStoreConformance : public ::testing::TestWithParam<MetadataStoreFactory> {
 protected:
  void SetUp() override {
    auto made = GetParam().open(scratch_.path());
    if (!made.ok()) {
      if (made.status().code() == StatusCode::kUnavailable) {
        GTEST_SKIP() << GetParam().name << " is unavailable: " << made.status().message();
      }
      FAIL() << "cannot open " << GetParam().name << ": " << made.status().ToString();
    }
    store_ = std::move(made).value();
  }

  void TearDown() override {
    store_.reset();
    if (GetParam().cleanup) GetParam().cleanup(scratch_.path());
  }

  MetadataStore& store() { return *store_; }

  // Destroys the store and opens it again on the same state.
  void Reopen() {
    store_.reset();
    auto made = GetParam().open(scratch_.path());
    ASSERT_TRUE(IsOk(made));
    store_ = std::move(made).value();
  }

  void AddIntent(const std::string& key) {
    ASSERT_OK(store().AddGarbage({{key, kIntentDue}})) << key;
  }
  // Inserts `f` the way the service does: intents first.
  void PutFile(const File& f) {
    for (const Segment& s : f.segments) AddIntent(s.blob_key);
    ASSERT_OK(store().InsertFile(f)) << f.id;
  }
  void PutUpload(const Upload& u) { ASSERT_OK(store().InsertUpload(u)) << u.id; }
  void PutPart(const UploadPart& p, std::int64_t now = kT0) {
    AddIntent(p.blob_key);
    ASSERT_OK(store().InsertPart(p, now)) << p.id;
  }

  // Leases up to `limit` keys due by `now` for kLease seconds; they stay in the table.
  std::set<std::string> Claim(std::int64_t now, int limit = 1000) {
    auto got = store().ClaimGarbage(now, limit, now + kLease);
    if (!got.ok()) {
      ADD_FAILURE() << got.status().ToString();
      return {};
    }
    std::set<std::string> keys(got->begin(), got->end());
    EXPECT_EQ(keys.size(), got->size()) << "a key returned twice by one claim";
    return keys;
  }

  // What a sweeper pass does with every garbage key due by `now`: claims it and, the blob
  // deleted, forgets it — emptying the garbage table up to then.
  std::set<std::string> ClaimAll(std::int64_t now = kFarFuture) {
    std::set<std::string> keys;
    while (true) {
      auto got = store().ClaimGarbage(now, 1000, now + kLease);
      if (!got.ok()) {
        ADD_FAILURE() << got.status().ToString();
        return keys;
      }
      if (got->empty()) return keys;
      for (const std::string& k : *got) {
        EXPECT_TRUE(keys.insert(k).second) << "claimed twice: " << k;
      }
      if (Status s = store().ForgetGarbage(*got); !s.ok()) {
        ADD_FAILURE() << s.ToString();
        return keys;
      }
    }
  }

  std::vector<std::string> ListIds(const FileQuery& q, bool* has_more = nullptr) {
    auto page = store().ListFiles(q);
    if (!page.ok()) {
      ADD_FAILURE() << page.status().ToString();
      return {};
    }
    if (has_more) *has_more = page->has_more;
    return IdsOf(page->data);
  }

  // Every id of `q` walked page by page with the `after` cursor, as the SDK paginators do.
  std::vector<std::string> Walk(FileQuery q, int* pages = nullptr) {
    std::vector<std::string> all;
    int n = 0;
    while (true) {
      bool more = false;
      std::vector<std::string> ids = ListIds(q, &more);
      ++n;
      if (ids.size() > static_cast<std::size_t>(q.limit)) ADD_FAILURE() << "page over limit";
      all.insert(all.end(), ids.begin(), ids.end());
      if (!more) break;
      if (ids.empty()) {
        ADD_FAILURE() << "has_more on an empty page";
        break;
      }
      q.after = ids.back();
      if (n > 100000) break;
    }
    if (pages) *pages = n;
    return all;
  }

  ScratchDir scratch_;
  std::unique_ptr<MetadataStore> store_;
};

// --- Schema and liveness --------------------------------------------------------------------

TEST_P(MetadataStoreConformance, MigrateIsIdempotentAndPingAnswers) {
  EXPECT_OK(store().Ping());
  EXPECT_OK(store().Migrate());
  EXPECT_OK(store().Migrate());
  PutFile(MakeFile("p", FileId(1)));
  EXPECT_OK(store().Migrate());
  EXPECT_OK(store().GetFile("p", FileId(1)));
}

// --- Files ----------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, FileRoundTripsEveryField) {
  File full = MakeFile("proj-a", FileId(1));
  full.expires_at = kT0 + 3600;
  full.status = "error";
  full.status_details = "line 3: not JSON";
  full.filename = "r\xC3\xA9sum\xC3\xA9 \"x\".jsonl";
  full.purpose = "batch";
  full.segments = {{"a", 1}, {"B/c-d_9", 0}, {"x/y/z", 5'000'000'000}};
  full.bytes = 5'000'000'001;
  PutFile(full);

  File bare = MakeFile("proj-a", FileId(2));
  bare.segments.clear();
  bare.bytes = 0;
  bare.mime_type.clear();
  PutFile(bare);

  File many = MakeFile("proj-a", FileId(3));
  many.segments.clear();
  many.bytes = 0;
  for (int i = 0; i < 300; ++i) {
    many.segments.push_back({"parts/upload_x/part_" + std::to_string(i), 64 << 20});
    many.bytes += 64 << 20;
  }
  PutFile(many);

  for (const File& want : {full, bare, many}) {
    auto got = store().GetFile("proj-a", want.id);
    ASSERT_TRUE(IsOk(got));
    EXPECT_EQ(*got, want);
    // What GET /v1/files/{id} shows: the same fields, whatever the store leaves out.
    auto shown = store().GetShownFile("proj-a", want.id);
    ASSERT_TRUE(IsOk(shown));
    EXPECT_EQ(ToJson(*shown), ToJson(want));
    EXPECT_EQ(shown->project, "proj-a");
  }
}

// A file of four parts, one of them empty: 3, 0, 4 and 5 bytes (0-2, -, 3-6, 7-11).
File MakeFourPartFile(const std::string& project, const std::string& id) {
  File f = MakeFile(project, id);
  f.segments = {
      {"r/" + id + "/a", 3}, {"r/" + id + "/b", 0}, {"r/" + id + "/c", 4}, {"r/" + id + "/d", 5}};
  f.bytes = 12;
  return f;
}

// Checks a file read for [offset, offset + length) (length < 0: to the end) against `want`:
// every field and segment size as stored, and the blob key of each segment holding bytes of
// the range; `others` is what the other segments' keys must be (nullopt: as stored or empty).
void ExpectReadFor(const Result<File>& got, const File& want, std::int64_t offset,
                   std::int64_t length, std::optional<std::string> others = std::nullopt) {
  SCOPED_TRACE(::testing::Message() << "range " << offset << "+" << length);
  ASSERT_TRUE(IsOk(got));
  File fields = *got;
  fields.segments = want.segments;
  EXPECT_EQ(fields, want);
  ASSERT_EQ(got->segments.size(), want.segments.size());
  const std::int64_t end = length < 0 ? want.bytes : offset + length;
  std::int64_t start = 0;
  for (std::size_t i = 0; i < want.segments.size(); ++i) {
    const Segment& w = want.segments[i];
    const Segment& g = got->segments[i];
    EXPECT_EQ(g.bytes, w.bytes) << i;
    if (start + w.bytes > offset && start < end && w.bytes > 0) {
      EXPECT_EQ(g.blob_key, w.blob_key) << i;
    } else if (others) {
      EXPECT_EQ(g.blob_key, *others) << i;
    } else {
      EXPECT_TRUE(g.blob_key.empty() || g.blob_key == w.blob_key) << i << ": " << g.blob_key;
    }
    start += w.bytes;
  }
}

// The ranges of MakeFourPartFile read below: inside one part, at its edges, across parts,
// open-ended, and past the end.
const std::vector<std::pair<std::int64_t, std::int64_t>> kFourPartRanges = {
    {0, 1},  {0, 3},  {2, 2},  {3, 4},   {3, 1},   {6, 1},   {6, 2}, {7, 5},  {11, 1},
    {0, 12}, {0, -1}, {5, -1}, {11, -1}, {4, 100}, {12, -1}, {0, 0}, {100, 5}};

// A range's read of a file is the file, with the keys of the parts holding the range's bytes.
TEST_P(MetadataStoreConformance, GetFileToReadHasTheKeysOfTheSegmentsHoldingTheRange) {
  const File f = MakeFourPartFile("p", FileId(1));
  PutFile(f);
  for (const auto& [offset, length] : kFourPartRanges) {
    ExpectReadFor(store().GetFileToRead("p", f.id, offset, length), f, offset, length);
  }
  // A negative offset (which no reader accepts) reads all of it.
  ExpectReadFor(store().GetFileToRead("p", f.id, -1, 5), f, 0, -1, f.segments[1].blob_key);
  File expired = MakeFourPartFile("p", FileId(2));
  expired.expires_at = kT0 - 10;
  PutFile(expired);
  ExpectReadFor(store().GetFileToRead("p", expired.id, 3, 4), expired, 3, 4);
  EXPECT_TRUE(IsError(store().GetFileToRead("p", FileId(9), 0, 1), StatusCode::kNotFound,
                      "No such File object: " + FileId(9), "id"));
  EXPECT_TRUE(IsError(store().GetFileToRead("q", f.id, 0, 1), StatusCode::kNotFound,
                      "No such File object: " + f.id, "id"));
}

TEST_P(MetadataStoreConformance, GetShownFileIsNotFoundAsGetFileIs) {
  PutFile(MakeFile("p", FileId(1)));
  EXPECT_TRUE(IsError(store().GetShownFile("p", FileId(9)), StatusCode::kNotFound,
                      "No such File object: " + FileId(9), "id"));
  EXPECT_TRUE(IsError(store().GetShownFile("q", FileId(1)), StatusCode::kNotFound,
                      "No such File object: " + FileId(1), "id"));
  EXPECT_OK(store().GetShownFile("p", FileId(1)));
}

TEST_P(MetadataStoreConformance, GetFileUnknownIsNotFound) {
  EXPECT_TRUE(IsError(store().GetFile("p", FileId(9)), StatusCode::kNotFound,
                      "No such File object: " + FileId(9), "id"));
}

TEST_P(MetadataStoreConformance, GetFileOfAnotherProjectIsNotFound) {
  PutFile(MakeFile("p", FileId(1)));
  EXPECT_TRUE(IsError(store().GetFile("q", FileId(1)), StatusCode::kNotFound,
                      "No such File object: " + FileId(1), "id"));
  EXPECT_OK(store().GetFile("p", FileId(1)));
}

TEST_P(MetadataStoreConformance, GetFileReturnsExpiredFiles) {
  File f = MakeFile("p", FileId(1));
  f.expires_at = kT0 - 10;
  PutFile(f);
  auto got = store().GetFile("p", FileId(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, f);
}

TEST_P(MetadataStoreConformance, InsertFileConsumesItsIntents) {
  File f = MakeFile("p", FileId(1));
  AddIntent("unrelated");
  PutFile(f);
  EXPECT_EQ(ClaimAll(), std::set<std::string>{"unrelated"});
}

TEST_P(MetadataStoreConformance, InsertFileListingOneKeyTwiceConsumesItsOneIntent) {
  File f = MakeFile("p", FileId(1));
  f.segments = {{"same", 3}, {"same", 3}};
  f.bytes = 6;
  AddIntent("same");
  ASSERT_OK(store().InsertFile(f));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});
}

TEST_P(MetadataStoreConformance, InsertFileWithoutSegmentsNeedsNoIntent) {
  File f = MakeFile("p", FileId(1));
  f.segments.clear();
  f.bytes = 0;
  ASSERT_OK(store().InsertFile(f));
  EXPECT_OK(store().GetFile("p", FileId(1)));
}

TEST_P(MetadataStoreConformance, InsertFileWithClaimedIntentIsAbortedAndInsertsNothing) {
  File f = MakeFile("p", FileId(1));
  ASSERT_OK(
      store().AddGarbage({{f.segments[0].blob_key, kIntentDue}, {f.segments[1].blob_key, kT0}}));
  auto claimed = store().ClaimGarbage(kT0, 10, kT0 + kLease);  // the sweeper leases the second
  ASSERT_TRUE(IsOk(claimed));
  EXPECT_EQ(*claimed, std::vector<std::string>{f.segments[1].blob_key});

  // Leased: the sweeper may be deleting the blob right now.
  const std::string leased_message =
      "The write intent of blob " + f.segments[1].blob_key + " was claimed by the sweeper";
  EXPECT_TRUE(IsError(store().InsertFile(f), StatusCode::kAborted, leased_message, ""));
  EXPECT_CODE(store().GetFile("p", f.id), StatusCode::kNotFound);
  EXPECT_EQ(ListIds(Query("p")), std::vector<std::string>{});
  // Forgotten (the blob was deleted): the row is gone, still Aborted.
  ASSERT_OK(store().ForgetGarbage({f.segments[1].blob_key}));
  EXPECT_TRUE(IsError(store().InsertFile(f), StatusCode::kAborted, leased_message, ""));
  EXPECT_CODE(store().GetFile("p", f.id), StatusCode::kNotFound);
  // The surviving intent was not consumed either: the transaction is all or nothing.
  EXPECT_EQ(ClaimAll(), std::set<std::string>{f.segments[0].blob_key});
}

TEST_P(MetadataStoreConformance, InsertFileDuplicateIdIsAlreadyExistsAndKeepsIntents) {
  File first = MakeFile("p", FileId(1));
  PutFile(first);
  File again = MakeFile("q", FileId(1));  // same id, other project, other blobs
  again.segments = {{"other-blob", 7}};
  AddIntent("other-blob");
  EXPECT_CODE(store().InsertFile(again), StatusCode::kAlreadyExists);
  auto got = store().GetFile("p", FileId(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, first);
  EXPECT_CODE(store().GetFile("q", FileId(1)), StatusCode::kNotFound);
  EXPECT_EQ(ClaimAll(), std::set<std::string>{"other-blob"});
}

// --- Listing --------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, ListFilesIsNewestFirstByDefaultAndOldestFirstAscending) {
  for (int n : {3, 1, 5, 2, 4}) PutFile(MakeFile("p", FileId(n)));
  bool more = true;
  EXPECT_EQ(ListIds(Query("p"), &more), FileIds({5, 4, 3, 2, 1}));
  EXPECT_FALSE(more);
  EXPECT_EQ(ListIds(Query("p", 10000, true), &more), FileIds({1, 2, 3, 4, 5}));
  EXPECT_FALSE(more);

  auto page = store().ListFiles(Query("p", 1));
  ASSERT_TRUE(IsOk(page));
  ASSERT_EQ(page->data.size(), 1u);
  EXPECT_EQ(page->data[0], MakeFile("p", FileId(5)));  // full objects, not just ids
}

TEST_P(MetadataStoreConformance, ListFilesPagesWithLimitOne) {
  for (int n = 1; n <= 4; ++n) PutFile(MakeFile("p", FileId(n)));
  int pages = 0;
  EXPECT_EQ(Walk(Query("p", 1), &pages), FileIds({4, 3, 2, 1}));
  EXPECT_EQ(pages, 4);  // has_more was false on the 4th page, not true with an empty 5th
  EXPECT_EQ(Walk(Query("p", 1, true), &pages), FileIds({1, 2, 3, 4}));
  EXPECT_EQ(pages, 4);
}

TEST_P(MetadataStoreConformance, ListFilesHasMoreIsExact) {
  for (int n = 1; n <= 3; ++n) PutFile(MakeFile("p", FileId(n)));
  bool more = true;
  EXPECT_EQ(ListIds(Query("p", 3), &more), FileIds({3, 2, 1}));
  EXPECT_FALSE(more);
  EXPECT_EQ(ListIds(Query("p", 2), &more), FileIds({3, 2}));
  EXPECT_TRUE(more);

  FileQuery q = Query("p", 1);
  q.after = FileId(2);
  EXPECT_EQ(ListIds(q, &more), FileIds({1}));
  EXPECT_FALSE(more);
  q.after = FileId(1);
  EXPECT_EQ(ListIds(q, &more), FileIds({}));
  EXPECT_FALSE(more);

  FileQuery asc = Query("p", 2, true);
  asc.after = FileId(1);
  EXPECT_EQ(ListIds(asc, &more), FileIds({2, 3}));
  EXPECT_FALSE(more);
}

TEST_P(MetadataStoreConformance, ListFilesAfterADeletedIdContinuesFromItsPlace) {
  for (int n = 1; n <= 5; ++n) PutFile(MakeFile("p", FileId(n)));
  ASSERT_OK(store().DeleteFile("p", FileId(3), kT0));
  bool more = true;
  FileQuery q = Query("p", 10);
  q.after = FileId(3);
  EXPECT_EQ(ListIds(q, &more), FileIds({2, 1}));
  EXPECT_FALSE(more);
  q.ascending = true;
  EXPECT_EQ(ListIds(q, &more), FileIds({4, 5}));
  EXPECT_FALSE(more);
}

TEST_P(MetadataStoreConformance, ListFilesAfterAnIdThatNeverExisted) {
  for (int n : {10, 20, 30}) PutFile(MakeFile("p", FileId(n)));
  FileQuery q = Query("p", 10);
  q.after = FileId(25);
  EXPECT_EQ(ListIds(q), FileIds({20, 10}));
  q.ascending = true;
  EXPECT_EQ(ListIds(q), FileIds({30}));
  q.after = "file-zzzz";  // sorts after every id
  EXPECT_EQ(ListIds(q), FileIds({}));
  q.ascending = false;
  EXPECT_EQ(ListIds(q), FileIds({30, 20, 10}));
}

TEST_P(MetadataStoreConformance, ListFilesFiltersByPurpose) {
  for (int n = 1; n <= 9; ++n) {
    File f = MakeFile("p", FileId(n));
    f.purpose = n % 3 == 0 ? "batch" : "assistants";
    PutFile(f);
  }
  FileQuery q = Query("p", 1);
  q.purpose = "batch";
  int pages = 0;
  EXPECT_EQ(Walk(q, &pages), FileIds({9, 6, 3}));
  EXPECT_EQ(pages, 3);
  q.ascending = true;
  EXPECT_EQ(Walk(q), FileIds({3, 6, 9}));

  q = Query("p", 2);
  q.purpose = "assistants";
  q.after = FileId(6);
  bool more = false;
  EXPECT_EQ(ListIds(q, &more), FileIds({5, 4}));
  EXPECT_TRUE(more);

  q = Query("p");
  q.purpose = "no-such-purpose";
  EXPECT_EQ(ListIds(q, &more), FileIds({}));
  EXPECT_FALSE(more);
}

TEST_P(MetadataStoreConformance, ListFilesExcludesExpiredFiles) {
  const std::int64_t now = kT0 + 1000;
  std::map<int, std::optional<std::int64_t>> expiry = {
      {1, std::nullopt}, {2, now - 1}, {3, now}, {4, now + 1}, {5, std::nullopt}, {6, now}};
  for (const auto& [n, at] : expiry) {
    File f = MakeFile("p", FileId(n));
    f.expires_at = at;
    PutFile(f);
  }
  FileQuery q = Query("p");
  q.now = now;
  EXPECT_EQ(ListIds(q), FileIds({5, 4, 1}));

  // has_more counts only listable rows: nothing but expired files follow file 4.
  q.limit = 2;
  bool more = false;
  EXPECT_EQ(ListIds(q, &more), FileIds({5, 4}));
  EXPECT_TRUE(more);
  q.after = FileId(4);
  EXPECT_EQ(ListIds(q, &more), FileIds({1}));
  EXPECT_FALSE(more);
  q = Query("p", 1, true);
  q.now = now;
  q.after = FileId(4);
  EXPECT_EQ(ListIds(q, &more), FileIds({5}));
  EXPECT_FALSE(more);
}

TEST_P(MetadataStoreConformance, ListFilesShowsOnlyTheProjectsFiles) {
  for (int n = 1; n <= 6; ++n) PutFile(MakeFile(n % 2 ? "p" : "q", FileId(n)));
  EXPECT_EQ(ListIds(Query("p")), FileIds({5, 3, 1}));
  EXPECT_EQ(ListIds(Query("q")), FileIds({6, 4, 2}));
  EXPECT_EQ(ListIds(Query("r")), FileIds({}));
  FileQuery q = Query("p", 1);
  q.after = FileId(4);  // a cursor from another project only positions the walk
  bool more = false;
  EXPECT_EQ(ListIds(q, &more), FileIds({3}));
  EXPECT_TRUE(more);
}

// File n of project "p", its shown fields varied by n: odd ones are batch files, even ones
// assistants files that expire, file 3 failed with details.
File VariedFile(int n) {
  File f = MakeFile("p", FileId(n));
  f.purpose = n % 2 ? "batch" : "assistants";
  f.bytes = 1000 + n;
  f.created_at = kT0 + n;
  if (n % 2 == 0) f.expires_at = kT0 + 100000 + n;
  f.status = n == 3 ? "error" : "processed";
  if (n == 3) f.status_details = "bad line 7";
  return f;
}

// A listing that only shows the files may leave out what it does not show (segments, the MIME
// type), never a field of the wire object.
TEST_P(MetadataStoreConformance, ListFilesShownFieldsOnlyKeepsEveryShownField) {
  std::vector<File> put;
  for (int n = 1; n <= 4; ++n) {
    File f = VariedFile(n);
    f.filename = "file-" + std::to_string(n) + ".jsonl";
    PutFile(f);
    put.push_back(f);
  }
  PutFile(MakeFile("q", FileId(9)));
  for (const std::optional<std::string>& purpose :
       {std::optional<std::string>{}, std::optional<std::string>{"batch"}}) {
    FileQuery q = Query("p");
    q.purpose = purpose;
    q.ascending = true;
    q.shown_fields_only = true;
    auto page = store().ListFiles(q);
    ASSERT_TRUE(IsOk(page));
    std::vector<File> want;
    for (const File& f : put) {
      if (!purpose || f.purpose == *purpose) want.push_back(f);
    }
    ASSERT_EQ(page->data.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      const File& got = page->data[i];
      EXPECT_EQ(got.id, want[i].id);
      EXPECT_EQ(got.project, "p");
      EXPECT_EQ(got.purpose, want[i].purpose);
      EXPECT_EQ(got.bytes, want[i].bytes);
      EXPECT_EQ(got.created_at, want[i].created_at);
      EXPECT_EQ(got.expires_at, want[i].expires_at);
      EXPECT_EQ(got.filename, want[i].filename);
      EXPECT_EQ(got.status, want[i].status);
      EXPECT_EQ(got.status_details, want[i].status_details);
    }
  }
}

// ListFileJson is ListFiles written as the wire shows it: the same files in the same order,
// each object byte for byte ToJson of the file, the same has_more, and the same refusals.
TEST_P(MetadataStoreConformance, ListFileJsonIsListFilesAsTheWireShowsIt) {
  for (int n = 1; n <= 7; ++n) {
    File f = VariedFile(n);
    if (n == 5) f.expires_at = kT0;  // expired: listed by neither
    f.filename = n == 4 ? "quote\" back\\slash \x01 caf\xc3\xa9.txt" : "f" + std::to_string(n);
    PutFile(f);
  }
  PutFile(MakeFile("q", FileId(9)));
  std::vector<FileQuery> queries;
  for (bool ascending : {false, true}) {
    for (int limit : {1, 2, 3, 100}) {
      FileQuery q = Query("p", limit);
      q.ascending = ascending;
      q.now = kT0;
      queries.push_back(q);
      q.purpose = "batch";
      queries.push_back(q);
      q.purpose.reset();
      q.after = FileId(4);
      queries.push_back(q);
    }
  }
  FileQuery other = Query("q");
  other.now = kT0;
  queries.push_back(other);
  for (const FileQuery& q : queries) {
    SCOPED_TRACE("purpose " + q.purpose.value_or("-") + ", after " + q.after.value_or("-") +
                 ", limit " + std::to_string(q.limit) + (q.ascending ? ", asc" : ", desc"));
    auto files = store().ListFiles(q);
    auto json = store().ListFileJson(q);
    ASSERT_TRUE(IsOk(files));
    ASSERT_TRUE(IsOk(json));
    EXPECT_EQ(ToJson(*json), ToJson(*files));
    EXPECT_EQ(*json, Joined(*files));
  }
  EXPECT_TRUE(IsError(store().ListFileJson(Query("p", 0)), StatusCode::kInvalidArgument,
                      "limit must be at least 1", "limit"));
  EXPECT_TRUE(IsError(store().ListFileJson(Query("p", 10001)), StatusCode::kInvalidArgument,
                      "limit must be at most 10000", "limit"));
}

TEST_P(MetadataStoreConformance, ListFilesRejectsLimitOutsideOneToTenThousand) {
  PutFile(MakeFile("p", FileId(1)));
  EXPECT_TRUE(IsError(store().ListFiles(Query("p", 0)), StatusCode::kInvalidArgument,
                      "limit must be at least 1", "limit"));
  EXPECT_TRUE(IsError(store().ListFiles(Query("p", -5)), StatusCode::kInvalidArgument,
                      "limit must be at least 1", "limit"));
  EXPECT_TRUE(IsError(store().ListFiles(Query("p", 10001)), StatusCode::kInvalidArgument,
                      "limit must be at most 10000", "limit"));
  EXPECT_EQ(ListIds(Query("p", 10000)), FileIds({1}));
}

TEST_P(MetadataStoreConformance, ListFilesWalksManyFilesCompletely) {
  std::vector<std::string> all, batch;
  for (int n = 1; n <= 250; ++n) {
    File f = MakeFile("p", FileId(n));
    f.segments.clear();
    f.bytes = 0;
    f.purpose = n % 7 == 0 ? "batch" : "vision";
    ASSERT_OK(store().InsertFile(f));
    all.push_back(f.id);
    if (n % 7 == 0) batch.push_back(f.id);
  }
  FileQuery q = Query("p", 17, true);
  EXPECT_EQ(Walk(q), all);
  q.purpose = "batch";
  q.limit = 5;
  EXPECT_EQ(Walk(q), batch);
  std::reverse(all.begin(), all.end());
  std::reverse(batch.begin(), batch.end());
  q = Query("p", 23);
  EXPECT_EQ(Walk(q), all);
  q.purpose = "batch";
  q.limit = 1;
  EXPECT_EQ(Walk(q), batch);
}

// --- Delete and expiry ----------------------------------------------------------------------

TEST_P(MetadataStoreConformance, DeleteFileMovesItsSegmentsToGarbageDueAtTheGivenTime) {
  File f = MakeFile("p", FileId(1));
  PutFile(f);
  const std::int64_t due = kT0 + 500;
  ASSERT_OK(store().DeleteFile("p", f.id, due));
  EXPECT_TRUE(IsError(store().GetFile("p", f.id), StatusCode::kNotFound,
                      "No such File object: " + f.id, "id"));
  EXPECT_EQ(ListIds(Query("p")), FileIds({}));
  EXPECT_EQ(ClaimAll(due - 1), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(due), (std::set<std::string>{f.segments[0].blob_key, f.segments[1].blob_key}));
  EXPECT_TRUE(IsError(store().DeleteFile("p", f.id, due), StatusCode::kNotFound,
                      "No such File object: " + f.id, "id"));
}

TEST_P(MetadataStoreConformance, DeleteFileOfAnotherProjectIsNotFoundAndChangesNothing) {
  File f = MakeFile("p", FileId(1));
  PutFile(f);
  EXPECT_TRUE(IsError(store().DeleteFile("q", f.id, kT0), StatusCode::kNotFound,
                      "No such File object: " + f.id, "id"));
  EXPECT_OK(store().GetFile("p", f.id));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});
}

TEST_P(MetadataStoreConformance, ListExpiredFilesFindsDueFilesOfEveryProject) {
  std::map<int, std::optional<std::int64_t>> expiry = {
      {1, kT0 + 10}, {2, kT0 + 20}, {3, std::nullopt}, {4, kT0 + 30}, {5, kT0 + 20}};
  for (const auto& [n, at] : expiry) {
    File f = MakeFile(n % 2 ? "p" : "q", FileId(n));
    f.expires_at = at;
    PutFile(f);
  }
  auto due = [&](std::int64_t now, int limit) {
    auto got = store().ListExpiredFiles(now, limit);
    EXPECT_TRUE(IsOk(got));
    std::vector<std::string> ids = got.ok() ? IdsOf(*got) : std::vector<std::string>{};
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_EQ(due(kT0 + 9, 100), FileIds({}));
  EXPECT_EQ(due(kT0 + 20, 100), FileIds({1, 2, 5}));
  EXPECT_EQ(due(kFarFuture, 100), FileIds({1, 2, 4, 5}));
  EXPECT_EQ(due(kFarFuture, 2).size(), 2u);
  auto got = store().ListExpiredFiles(kT0 + 10, 100);
  ASSERT_TRUE(IsOk(got));
  ASSERT_EQ(got->size(), 1u);
  File want = MakeFile("p", FileId(1));
  want.expires_at = kT0 + 10;
  EXPECT_EQ((*got)[0], want);
  EXPECT_TRUE(IsError(store().ListExpiredFiles(kT0, 0), StatusCode::kInvalidArgument,
                      "limit must be at least 1", "limit"));
}

// --- Garbage --------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, AddGarbageKeepsTheEarlierDueAt) {
  ASSERT_OK(store().AddGarbage({{"late-then-early", kT0 + 200}}));
  ASSERT_OK(store().AddGarbage({{"late-then-early", kT0 + 100}}));
  ASSERT_OK(store().AddGarbage({{"early-then-late", kT0 + 100}}));
  ASSERT_OK(store().AddGarbage({{"early-then-late", kT0 + 200}}));
  ASSERT_OK(
      store().AddGarbage({{"twice-in-one-call", kT0 + 200}, {"twice-in-one-call", kT0 + 100}}));
  ASSERT_OK(store().AddGarbage({}));
  EXPECT_EQ(ClaimAll(kT0 + 99), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(kT0 + 100),
            (std::set<std::string>{"late-then-early", "early-then-late", "twice-in-one-call"}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});
}

TEST_P(MetadataStoreConformance, ClaimGarbageTakesOnlyDueKeysUpToTheLimit) {
  std::vector<GarbageBlob> blobs;
  for (int i = 0; i < 5; ++i) blobs.push_back({"g/" + std::to_string(i), kT0 + i});
  ASSERT_OK(store().AddGarbage(blobs));

  auto got = store().ClaimGarbage(kT0 + 2, 10, kT0 + 2 + kLease);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(std::set<std::string>(got->begin(), got->end()),
            (std::set<std::string>{"g/0", "g/1", "g/2"}));
  got = store().ClaimGarbage(kT0 + 2, 10, kT0 + 2 + kLease);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{});  // claimed means leased
  ASSERT_OK(store().ForgetGarbage({"g/0", "g/1", "g/2"}));

  got = store().ClaimGarbage(kFarFuture, 1, kFarFuture + kLease);
  ASSERT_TRUE(IsOk(got));
  ASSERT_EQ(got->size(), 1u);
  std::string first = (*got)[0];
  got = store().ClaimGarbage(kFarFuture, 1, kFarFuture + kLease);
  ASSERT_TRUE(IsOk(got));
  ASSERT_EQ(got->size(), 1u);
  EXPECT_NE((*got)[0], first);
  EXPECT_EQ((std::set<std::string>{first, (*got)[0]}), (std::set<std::string>{"g/3", "g/4"}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});

  EXPECT_TRUE(IsError(store().ClaimGarbage(kFarFuture, 0, kFarFuture + kLease),
                      StatusCode::kInvalidArgument, "limit must be at least 1", "limit"));
}

TEST_P(MetadataStoreConformance, ClaimGarbageTakesTheEarliestDueFirst) {
  ASSERT_OK(store().AddGarbage({{"c", kT0 + 3}, {"a", kT0 + 1}, {"d", kT0 + 4}, {"b", kT0 + 2}}));
  EXPECT_EQ(Claim(kFarFuture, 2), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(Claim(kFarFuture, 1), std::set<std::string>{"c"});
}

TEST_P(MetadataStoreConformance, ClaimedGarbageIsLeasedUntilTheLeaseRunsOut) {
  ASSERT_OK(store().AddGarbage({{"k", kT0}, {"other", kT0 + 50}}));
  auto got = store().ClaimGarbage(kT0, 10, kT0 + 100);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{"k"});
  // Nobody else gets it while the lease runs, however often they ask.
  EXPECT_EQ(Claim(kT0), std::set<std::string>{});
  EXPECT_EQ(Claim(kT0 + 99, 1), std::set<std::string>{"other"});
  EXPECT_EQ(Claim(kT0 + 99), std::set<std::string>{});
  // The claimer died: once the lease ran out the key is due again, and leased anew.
  got = store().ClaimGarbage(kT0 + 100, 10, kT0 + 200);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{"k"});
  EXPECT_EQ(Claim(kT0 + 199), std::set<std::string>{});
  // Forgotten once its blob is deleted: never claimed again.
  ASSERT_OK(store().ForgetGarbage({"k"}));
  EXPECT_EQ(Claim(kFarFuture), std::set<std::string>{"other"});
  ASSERT_OK(store().ForgetGarbage({"other"}));
  EXPECT_EQ(Claim(kFarFuture), std::set<std::string>{});
}

TEST_P(MetadataStoreConformance, ForgetGarbageIsIdempotentAndTakesLeasedOrUnleasedRows) {
  ASSERT_OK(store().AddGarbage({{"leased", kT0}, {"unleased", kT0}, {"kept", kT0}}));
  EXPECT_EQ(Claim(kT0, 1), std::set<std::string>{"kept"});  // ties go by key
  EXPECT_EQ(Claim(kT0, 1), std::set<std::string>{"leased"});
  ASSERT_OK(store().ForgetGarbage({"leased", "unleased", "never-there", "leased"}));
  ASSERT_OK(store().ForgetGarbage({"leased", "unleased"}));
  ASSERT_OK(store().ForgetGarbage({}));
  // Only the row nobody forgot comes back, when its lease runs out.
  EXPECT_EQ(ClaimAll(), std::set<std::string>{"kept"});
  // A forgotten key can be recorded again from scratch.
  ASSERT_OK(store().AddGarbage({{"leased", kT0 + 5}}));
  EXPECT_EQ(ClaimAll(kT0 + 5), std::set<std::string>{"leased"});
}

TEST_P(MetadataStoreConformance, AddGarbageLeavesALeasedRowUnchanged) {
  ASSERT_OK(store().AddGarbage({{"k", kT0}}));
  EXPECT_EQ(Claim(kT0), std::set<std::string>{"k"});  // leased until kT0 + kLease
  // An earlier due_at would let a second sweeper take the key while the first deletes it; a
  // later one would postpone a dead claimer's retry; either would end the lease.
  ASSERT_OK(store().AddGarbage({{"k", kT0 + 1}}));
  ASSERT_OK(store().AddGarbage({{"k", kFarFuture}}));
  EXPECT_EQ(Claim(kT0 + kLease - 1), std::set<std::string>{});
  // Still leased, so still no intent an insert could consume.
  File f = MakeFile("p", FileId(1));
  f.segments = {{"k", 7}};
  EXPECT_CODE(store().InsertFile(f), StatusCode::kAborted);
  EXPECT_EQ(ClaimAll(kT0 + kLease), std::set<std::string>{"k"});
}

TEST_P(MetadataStoreConformance, MovingALeasedKeyToGarbageLeavesItsLeaseAlone) {
  // The state-changing methods upsert garbage by the same rule as AddGarbage.
  File f = MakeFile("p", FileId(1));
  PutFile(f);
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 4);
  PutPart(a);
  // Stray garbage rows for blobs still referenced, leased by a sweeper.
  ASSERT_OK(store().AddGarbage({{f.segments[0].blob_key, kT0}, {a.blob_key, kT0}}));
  EXPECT_EQ(Claim(kT0), (std::set<std::string>{f.segments[0].blob_key, a.blob_key}));
  ASSERT_OK(store().DeleteFile("p", f.id, kT0 + 1));
  ASSERT_OK(store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kCancelled,
                                     kT0 + 1));
  // Only the unleased key took the new due time; the leased ones wait for their lease.
  EXPECT_EQ(ClaimAll(kT0 + 1), std::set<std::string>{f.segments[1].blob_key});
  EXPECT_EQ(ClaimAll(kT0 + kLease - 1), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(kT0 + kLease), (std::set<std::string>{f.segments[0].blob_key, a.blob_key}));
}

TEST_P(MetadataStoreConformance, ClaimGarbageFromManyThreadsReturnsEachKeyOnce) {
  constexpr int kKeys = 600;
  std::vector<GarbageBlob> blobs;
  for (int i = 0; i < kKeys; ++i) blobs.push_back({"g/" + std::to_string(i), kT0});
  ASSERT_OK(store().AddGarbage(blobs));

  // Even threads forget what they claimed (a sweeper that deleted the blobs), odd ones do not
  // (a sweeper that died): neither may let a key go to a second claimer within the lease.
  std::mutex mu;
  std::vector<std::string> claimed;
  std::set<std::string> unforgotten;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      while (true) {
        auto got = store().ClaimGarbage(kT0, 7, kT0 + kLease);
        if (!got.ok()) {
          ++errors;
          return;
        }
        if (got->empty()) return;
        if (t % 2 == 0 && !store().ForgetGarbage(*got).ok()) ++errors;
        std::lock_guard lock(mu);
        claimed.insert(claimed.end(), got->begin(), got->end());
        if (t % 2 == 1) unforgotten.insert(got->begin(), got->end());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kKeys));
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kKeys));
  // After the lease, exactly the keys of the "dead" claimers come back.
  EXPECT_EQ(ClaimAll(kT0 + kLease - 1), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(kT0 + kLease), unforgotten);
}

TEST_P(MetadataStoreConformance, ExpiredLeasesAreReclaimedOnceFromManyThreads) {
  // Every key leased by a claimer that died; once the leases ran out, several sweepers take
  // them over at once: again each key goes to one of them.
  constexpr int kKeys = 300;
  std::vector<GarbageBlob> blobs;
  for (int i = 0; i < kKeys; ++i) blobs.push_back({"g/" + std::to_string(i), kT0});
  ASSERT_OK(store().AddGarbage(blobs));
  EXPECT_EQ(Claim(kT0, kKeys).size(), static_cast<std::size_t>(kKeys));

  const std::int64_t later = kT0 + kLease;
  std::mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      while (true) {
        auto got = store().ClaimGarbage(later, 5, later + kLease);
        if (!got.ok()) {
          ++errors;
          return;
        }
        if (got->empty()) return;
        std::lock_guard lock(mu);
        claimed.insert(claimed.end(), got->begin(), got->end());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kKeys));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(),
            static_cast<std::size_t>(kKeys));
}

// --- Uploads --------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, UploadRoundTripsEveryField) {
  Upload full = MakeUpload("p", UploadId(1), 8LL << 30);
  full.file_expires_after = 86'400;
  full.filename = "d\xC3\xA9j\xC3\xA0 vu.pdf";
  full.mime_type = "pdf";
  PutUpload(full);
  Upload bare = MakeUpload("p", UploadId(2), 0);
  bare.mime_type.clear();
  PutUpload(bare);
  for (const Upload& want : {full, bare}) {
    auto got = store().GetUpload("p", want.id);
    ASSERT_TRUE(IsOk(got));
    EXPECT_EQ(*got, want);
  }
}

TEST_P(MetadataStoreConformance, GetUploadUnknownOrOfAnotherProjectIsNotFound) {
  PutUpload(MakeUpload("p", UploadId(1), 10));
  EXPECT_TRUE(IsError(store().GetUpload("p", UploadId(2)), StatusCode::kNotFound,
                      "No such Upload object: " + UploadId(2), "upload_id"));
  EXPECT_TRUE(IsError(store().GetUpload("q", UploadId(1)), StatusCode::kNotFound,
                      "No such Upload object: " + UploadId(1), "upload_id"));
}

TEST_P(MetadataStoreConformance, InsertUploadDuplicateIdIsAlreadyExists) {
  PutUpload(MakeUpload("p", UploadId(1), 10));
  EXPECT_CODE(store().InsertUpload(MakeUpload("p", UploadId(1), 20)), StatusCode::kAlreadyExists);
  EXPECT_CODE(store().InsertUpload(MakeUpload("q", UploadId(1), 20)), StatusCode::kAlreadyExists);
  auto got = store().GetUpload("p", UploadId(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->bytes, 10);
}

TEST_P(MetadataStoreConformance, GetUploadPastExpiryStillReportsPending) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  u.expires_at = kT0 - 1;
  PutUpload(u);
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, UploadStatus::kPending);
}

// --- Parts ----------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, InsertPartConsumesItsIntentAndListsInArrivalOrder) {
  Upload u = MakeUpload("p", UploadId(1), 100);
  PutUpload(u);
  AddIntent("unrelated");
  // Arrival order is created_at, then insertion: c arrives in the same second as b, later.
  UploadPart a = MakePart("p", u.id, PartId(4), 10, kT0 + 5);
  UploadPart b = MakePart("p", u.id, PartId(3), 20, kT0 + 3);
  UploadPart c = MakePart("p", u.id, PartId(1), 30, kT0 + 3);
  UploadPart d = MakePart("p", u.id, PartId(2), 40, kT0 + 7);
  for (const UploadPart& p : {a, b, c, d}) PutPart(p);

  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, (std::vector<UploadPart>{b, c, a, d}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{"unrelated"});

  PutUpload(MakeUpload("p", UploadId(2), 1));
  parts = store().ListParts("p", UploadId(2));
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, std::vector<UploadPart>{});
}

TEST_P(MetadataStoreConformance, InsertPartAcceptsUpToTwiceTheDeclaredBytes) {
  PutUpload(MakeUpload("p", UploadId(1), 10));
  PutPart(MakePart("p", UploadId(1), PartId(1), 4));
  PutPart(MakePart("p", UploadId(1), PartId(2), 6));   // sum == bytes: accepted
  PutPart(MakePart("p", UploadId(1), PartId(7), 10));  // sum == 2 × bytes: accepted
  UploadPart extra = MakePart("p", UploadId(1), PartId(3), 1);
  AddIntent(extra.blob_key);
  auto s = store().InsertPart(extra, kT0);
  EXPECT_CODE(s, StatusCode::kOutOfRange);
  EXPECT_EQ(s.param(), "data");
  auto parts = store().ListParts("p", UploadId(1));
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(PartIdsOf(*parts), (std::vector<std::string>{PartId(1), PartId(2), PartId(7)}));
  // The refused part's blob is still covered by its intent, for the sweeper.
  EXPECT_EQ(ClaimAll(), std::set<std::string>{extra.blob_key});

  PutUpload(MakeUpload("p", UploadId(2), 10));
  UploadPart big = MakePart("p", UploadId(2), PartId(4), 21);
  AddIntent(big.blob_key);
  EXPECT_CODE(store().InsertPart(big, kT0), StatusCode::kOutOfRange);
  PutPart(MakePart("p", UploadId(2), PartId(5), 20));

  PutUpload(MakeUpload("p", UploadId(3), 0));
  UploadPart one = MakePart("p", UploadId(3), PartId(6), 1);
  AddIntent(one.blob_key);
  EXPECT_CODE(store().InsertPart(one, kT0), StatusCode::kOutOfRange);
}

TEST_P(MetadataStoreConformance, InsertPartRejectsANegativeSize) {
  PutUpload(MakeUpload("p", UploadId(1), 10));
  UploadPart p = MakePart("p", UploadId(1), PartId(1), -1);
  AddIntent(p.blob_key);
  EXPECT_TRUE(IsError(store().InsertPart(p, kT0), StatusCode::kInvalidArgument,
                      "A part cannot have a negative size", "data"));
}

TEST_P(MetadataStoreConformance, InsertPartIntoUnknownOrForeignUploadIsNotFound) {
  PutUpload(MakeUpload("p", UploadId(1), 10));
  UploadPart unknown = MakePart("p", UploadId(2), PartId(1), 1);
  UploadPart foreign = MakePart("q", UploadId(1), PartId(2), 1);
  for (const UploadPart& part : {unknown, foreign}) {
    AddIntent(part.blob_key);
    EXPECT_TRUE(IsError(store().InsertPart(part, kT0), StatusCode::kNotFound,
                        "No such Upload object: " + part.upload_id, "upload_id"));
  }
  auto parts = store().ListParts("p", UploadId(1));
  ASSERT_TRUE(IsOk(parts));
  EXPECT_TRUE(parts->empty());
  EXPECT_EQ(ClaimAll(), (std::set<std::string>{unknown.blob_key, foreign.blob_key}));
}

TEST_P(MetadataStoreConformance, InsertPartAtOrAfterExpiryIsFailedPrecondition) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  PutPart(MakePart("p", u.id, PartId(1), 1), u.expires_at - 1);
  for (std::int64_t now : {u.expires_at, u.expires_at + 1}) {
    UploadPart late = MakePart("p", u.id, PartId(2), 1);
    AddIntent(late.blob_key);
    EXPECT_TRUE(IsError(store().InsertPart(late, now), StatusCode::kFailedPrecondition,
                        "Upload " + u.id + " has expired", ""));
  }
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(parts->size(), 1u);
}

TEST_P(MetadataStoreConformance, InsertPartAfterCancelOrCompleteIsFailedPrecondition) {
  PutUpload(MakeUpload("p", UploadId(1), 1));
  ASSERT_OK(store().TransitionUpload("p", UploadId(1), UploadStatus::kPending,
                                     UploadStatus::kCancelled, kT0));
  Upload done = MakeUpload("p", UploadId(2), 1);
  PutUpload(done);
  UploadPart only = MakePart("p", done.id, PartId(1), 1);
  PutPart(only);
  ASSERT_OK(store().CompleteUpload("p", done.id, {only.id}, std::nullopt,
                                   FileOfParts(done, FileId(1), {only}), kT0, kT0));
  Upload expired = MakeUpload("p", UploadId(3), 1);
  PutUpload(expired);
  ASSERT_OK(store().TransitionUpload("p", expired.id, UploadStatus::kPending,
                                     UploadStatus::kExpired, kT0));

  struct Case {
    std::string upload_id;
    std::string message;
  };
  for (const Case& c : {Case{UploadId(1), "Upload " + UploadId(1) + " has already been cancelled"},
                        Case{UploadId(2), "Upload " + UploadId(2) + " has already been completed"},
                        Case{UploadId(3), "Upload " + UploadId(3) + " has expired"}}) {
    UploadPart late = MakePart("p", c.upload_id, PartId(9), 0);
    late.blob_key += "/late";
    AddIntent(late.blob_key);
    EXPECT_TRUE(
        IsError(store().InsertPart(late, kT0), StatusCode::kFailedPrecondition, c.message, ""));
  }
}

TEST_P(MetadataStoreConformance, InsertPartWithClaimedIntentIsAbortedAndCountsNoBytes) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart lost = MakePart("p", u.id, PartId(1), 10);
  ASSERT_OK(store().AddGarbage({{lost.blob_key, kT0}}));
  const std::string message =
      "The write intent of blob " + lost.blob_key + " was claimed by the sweeper";
  // Leased: the sweeper won and may be deleting the blob now.
  EXPECT_EQ(Claim(kT0), std::set<std::string>{lost.blob_key});
  EXPECT_TRUE(IsError(store().InsertPart(lost, kT0), StatusCode::kAborted, message, ""));
  // A lapsed lease means a dead sweeper, not a live intent: the blob may be half deleted.
  EXPECT_TRUE(IsError(store().InsertPart(lost, kT0 + kLease), StatusCode::kAborted, message, ""));
  // Forgotten: the blob is deleted.
  ASSERT_OK(store().ForgetGarbage({lost.blob_key}));
  EXPECT_TRUE(IsError(store().InsertPart(lost, kT0), StatusCode::kAborted, message, ""));
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_TRUE(parts->empty());
  // The aborted part took none of the byte budget and its id stays free.
  UploadPart retry = MakePart("p", u.id, PartId(1), 10);
  retry.blob_key += "/retry";
  PutPart(retry);
  parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, std::vector<UploadPart>{retry});
}

TEST_P(MetadataStoreConformance, InsertPartDuplicateIdIsAlreadyExistsAndCountsNoBytes) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  PutPart(MakePart("p", u.id, PartId(1), 5));
  UploadPart dup = MakePart("p", u.id, PartId(1), 5);
  dup.blob_key += "/dup";
  AddIntent(dup.blob_key);
  EXPECT_CODE(store().InsertPart(dup, kT0), StatusCode::kAlreadyExists);
  PutPart(MakePart("p", u.id, PartId(2), 5));
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(PartIdsOf(*parts), (std::vector<std::string>{PartId(1), PartId(2)}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{dup.blob_key});
}

TEST_P(MetadataStoreConformance, ConcurrentInsertPartRespectsTheByteLimitExactly) {
  constexpr int kThreads = 8;
  constexpr int kTriesPerThread = 15;
  constexpr std::int64_t kPartBytes = 3;
  constexpr std::int64_t kBytes = 48;  // parts may total 96: room for exactly 32 of 120
  Upload u = MakeUpload("p", UploadId(1), kBytes);
  PutUpload(u);
  std::vector<GarbageBlob> intents;
  for (int i = 0; i < kThreads * kTriesPerThread; ++i) {
    intents.push_back({MakePart("p", u.id, PartId(i), kPartBytes).blob_key, kIntentDue});
  }
  ASSERT_OK(store().AddGarbage(intents));

  std::atomic<int> accepted{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTriesPerThread; ++i) {
        Status s = store().InsertPart(
            MakePart("p", u.id, PartId(t * kTriesPerThread + i), kPartBytes), kT0);
        if (s.ok()) {
          ++accepted;
        } else if (s.code() == StatusCode::kOutOfRange) {
          ++refused;
        } else {
          ADD_FAILURE() << s.ToString();
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 2 * kBytes / kPartBytes);
  EXPECT_EQ(refused.load(), kThreads * kTriesPerThread - 2 * kBytes / kPartBytes);
  EXPECT_EQ(other.load(), 0);
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  std::int64_t sum = 0;
  for (const UploadPart& p : *parts) sum += p.bytes;
  EXPECT_EQ(sum, 2 * kBytes);
  EXPECT_EQ(parts->size(), static_cast<std::size_t>(2 * kBytes / kPartBytes));
  // Exactly the refused parts' intents remain.
  EXPECT_EQ(ClaimAll().size(), static_cast<std::size_t>(refused.load()));
}

// ---- Quotas --------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, UsageCountsFilesAndPendingUploadsOfTheProjectOnly) {
  PutFile(MakeFile("p", FileId(1)));  // 7 bytes
  PutFile(MakeFile("q", FileId(2)));
  PutUpload(MakeUpload("p", UploadId(1), 100));
  PutUpload(MakeUpload("p", UploadId(2), 50));
  PutUpload(MakeUpload("q", UploadId(3), 1000));
  ASSERT_OK(store().TransitionUpload("p", UploadId(2), UploadStatus::kPending,
                                     UploadStatus::kCancelled, kT0));
  auto usage = store().GetUsage("p");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, 7 + 100) << "a cancelled upload reserves nothing";
  EXPECT_EQ(usage->pending_uploads, 1);
  auto none = store().GetUsage("nobody");
  ASSERT_OK(none);
  EXPECT_EQ(none->bytes, 0);
  EXPECT_EQ(none->pending_uploads, 0);
}

TEST_P(MetadataStoreConformance, InsertFileOverTheByteQuotaInsertsNothingAndKeepsItsIntents) {
  const Quota quota{.max_bytes = 20};
  PutFile(MakeFile("p", FileId(1)));  // 7
  File fits = MakeFile("p", FileId(2));
  fits.bytes = 13;                    // 20: exactly the limit
  for (const Segment& seg : fits.segments) AddIntent(seg.blob_key);
  ASSERT_OK(store().InsertFile(fits, quota));
  File over = MakeFile("p", FileId(3));
  over.bytes = 1;
  for (const Segment& seg : over.segments) AddIntent(seg.blob_key);
  Status refused = store().InsertFile(over, quota);
  EXPECT_CODE(refused, StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.error_code(), "insufficient_quota");
  EXPECT_EQ(refused.message(),
            "Storage quota exceeded: this project stores 20 B of its 20 B limit (files and "
            "pending uploads), and this request needs 1 B more. Delete files or cancel uploads "
            "to make room.");
  EXPECT_CODE(store().GetFile("p", over.id), StatusCode::kNotFound);
  EXPECT_EQ(ClaimAll().size(), over.segments.size()) << "the refused file's intents remain";
  // Another project is not affected by p's usage.
  File other = MakeFile("q", FileId(4));
  other.segments.clear();
  other.bytes = 20;
  EXPECT_OK(store().InsertFile(other, quota));
  // Without a quota nothing is checked.
  over.id = FileId(5);
  over.segments.clear();
  EXPECT_OK(store().InsertFile(over));
}

TEST_P(MetadataStoreConformance, PendingUploadsReserveTheirBytesUntilCancelledOrCompleted) {
  const Quota quota{.max_bytes = 100};
  ASSERT_OK(store().InsertUpload(MakeUpload("p", UploadId(1), 60), quota));
  Status refused = store().InsertUpload(MakeUpload("p", UploadId(2), 41), quota);
  EXPECT_CODE(refused, StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.error_code(), "insufficient_quota");
  EXPECT_CODE(store().GetUpload("p", UploadId(2)), StatusCode::kNotFound);
  ASSERT_OK(store().InsertUpload(MakeUpload("p", UploadId(3), 40), quota));  // exactly 100

  // Completing turns a reservation into a file of the same bytes: still 100 in use.
  UploadPart a = MakePart("p", UploadId(1), PartId(1), 60);
  PutPart(a);
  Upload u1 = MakeUpload("p", UploadId(1), 60);
  ASSERT_OK(store().CompleteUpload("p", u1.id, {a.id}, std::nullopt,
                                   FileOfParts(u1, FileId(1), {a}), kT0, kT0));
  auto usage = store().GetUsage("p");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, 100);
  EXPECT_EQ(usage->pending_uploads, 1);
  EXPECT_CODE(store().InsertUpload(MakeUpload("p", UploadId(4), 1), quota),
              StatusCode::kResourceExhausted);

  // Cancelling gives the reservation back.
  ASSERT_OK(store().TransitionUpload("p", UploadId(3), UploadStatus::kPending,
                                     UploadStatus::kCancelled, kT0));
  EXPECT_OK(store().InsertUpload(MakeUpload("p", UploadId(5), 40), quota));
  // And deleting the file gives its bytes back.
  ASSERT_OK(store().DeleteFile("p", FileId(1), kT0));
  EXPECT_OK(store().InsertUpload(MakeUpload("p", UploadId(6), 60), quota));
}

TEST_P(MetadataStoreConformance, PendingUploadCountQuota) {
  const Quota quota{.max_pending_uploads = 2};
  ASSERT_OK(store().InsertUpload(MakeUpload("p", UploadId(1), 1), quota));
  ASSERT_OK(store().InsertUpload(MakeUpload("p", UploadId(2), 1), quota));
  Status refused = store().InsertUpload(MakeUpload("p", UploadId(3), 1), quota);
  EXPECT_CODE(refused, StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.error_code(), "insufficient_quota");
  EXPECT_EQ(refused.message(),
            "Too many pending uploads: this project has 2 of its limit of 2. Complete or cancel "
            "uploads before creating more.");
  EXPECT_OK(store().InsertUpload(MakeUpload("q", UploadId(4), 1), quota)) << "per project";
  ASSERT_OK(store().TransitionUpload("p", UploadId(1), UploadStatus::kPending,
                                     UploadStatus::kExpired, kT0));
  EXPECT_OK(store().InsertUpload(MakeUpload("p", UploadId(5), 1), quota));
}

TEST_P(MetadataStoreConformance, ConcurrentInsertsNeverExceedTheByteQuota) {
  constexpr int kThreads = 8;
  constexpr int kTriesPerThread = 10;
  const Quota quota{.max_bytes = 99, .max_pending_uploads = 1000};
  std::atomic<int> accepted{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTriesPerThread; ++i) {
        const int n = t * kTriesPerThread + i;
        Status s;
        if (n % 2 == 0) {
          s = store().InsertUpload(MakeUpload("p", UploadId(n), 5), quota);
        } else {
          File f = MakeFile("p", FileId(n));
          f.segments.clear();
          f.bytes = 5;
          s = store().InsertFile(f, quota);
        }
        if (s.ok()) {
          ++accepted;
        } else if (s.code() == StatusCode::kResourceExhausted) {
          ++refused;
        } else {
          ADD_FAILURE() << s.ToString();
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 19) << "19 × 5 = 95 fit in 99; a 20th would make 100";
  EXPECT_EQ(refused.load(), kThreads * kTriesPerThread - 19);
  EXPECT_EQ(other.load(), 0);
  auto usage = store().GetUsage("p");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, 95);
}

TEST_P(MetadataStoreConformance, ListPartsOfUnknownOrForeignUploadIsNotFound) {
  PutUpload(MakeUpload("p", UploadId(1), 10));
  PutPart(MakePart("p", UploadId(1), PartId(1), 1));
  EXPECT_TRUE(IsError(store().ListParts("q", UploadId(1)), StatusCode::kNotFound,
                      "No such Upload object: " + UploadId(1), "upload_id"));
  EXPECT_TRUE(IsError(store().ListParts("p", UploadId(2)), StatusCode::kNotFound,
                      "No such Upload object: " + UploadId(2), "upload_id"));
}

// A scope of shared reads changes no answer: a write inside it is seen by the reads after it,
// a missing row is still NotFound, and a scope begun inside another ends nothing.
TEST_P(MetadataStoreConformance, SharedReadsChangeNoAnswer) {
  PutFile(MakeFile("p", FileId(1)));
  {
    const MetadataStore::SharedReads reads = store().ShareReads();
    ASSERT_OK(store().GetFile("p", FileId(1)));
    PutFile(MakeFile("p", FileId(2)));
    ASSERT_OK(store().GetFile("p", FileId(2)));
    EXPECT_CODE(store().GetFile("p", FileId(3)), StatusCode::kNotFound);
    { const MetadataStore::SharedReads inner = store().ShareReads(); }
    auto listed = store().ListFiles(Query("p"));
    ASSERT_TRUE(IsOk(listed));
    EXPECT_EQ(IdsOf(listed->data), (std::vector<std::string>{FileId(2), FileId(1)}));
    ASSERT_OK(store().DeleteFile("p", FileId(1), kT0));
    EXPECT_CODE(store().GetFile("p", FileId(1)), StatusCode::kNotFound);
  }
  auto after = store().ListFiles(Query("p"));
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(IdsOf(after->data), (std::vector<std::string>{FileId(2)}));
}

TEST_P(MetadataStoreConformance, ReadersSeeConsistentPagesWhileWritersInsert) {
  constexpr int kWriters = 3;
  constexpr int kFilesPerWriter = 40;
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kFilesPerWriter; ++i) {
        File f = MakeFile("p", FileId(w * kFilesPerWriter + i));
        f.segments.clear();
        f.bytes = 0;
        EXPECT_OK(store().InsertFile(f));
      }
      --writers_left;
    });
  }
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&] {
      std::size_t seen = 0;
      do {
        auto page = store().ListFiles(Query("p"));
        if (!page.ok()) {
          ADD_FAILURE() << page.status().ToString();
          return;
        }
        // Rows only ever appear, and every page is sorted newest first.
        EXPECT_GE(page->data.size(), seen);
        seen = page->data.size();
        for (std::size_t i = 1; i < page->data.size(); ++i) {
          EXPECT_GT(page->data[i - 1].id, page->data[i].id);
        }
      } while (writers_left.load() > 0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ListIds(Query("p")).size(), static_cast<std::size_t>(kWriters * kFilesPerWriter));
}

// --- Completion -----------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, CompleteUploadCreatesTheFileAndDiscardsUnlistedParts) {
  Upload u = MakeUpload("p", UploadId(1), 30);
  u.file_expires_after = 7200;
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 10, kT0 + 1);
  UploadPart b = MakePart("p", u.id, PartId(2), 20, kT0 + 2);
  // Listed parts must sum to `bytes` and no part may overshoot it, so only an empty part can
  // be left out of a successful completion.
  UploadPart stray = MakePart("p", u.id, PartId(3), 0, kT0 + 3);
  for (const UploadPart& p : {a, b, stray}) PutPart(p);

  File f = FileOfParts(u, FileId(1), {b, a});  // part_ids set the byte order
  f.expires_at = f.created_at + 7200;
  const std::int64_t due = kT0 + 900;
  ASSERT_OK(store().CompleteUpload("p", u.id, {b.id, a.id}, std::string(32, 'a'), f, kT0, due));

  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  Upload want = u;
  want.status = UploadStatus::kCompleted;
  want.file_id = f.id;
  want.part_ids = {b.id, a.id};
  want.md5 = std::string(32, 'a');
  EXPECT_EQ(*got, want);

  auto file = store().GetFile("p", f.id);
  ASSERT_TRUE(IsOk(file));
  EXPECT_EQ(*file, f);
  EXPECT_EQ(ListIds(Query("p")), FileIds({1}));

  // Listed parts stay (in arrival order); the stray one is gone and its blob is garbage.
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, (std::vector<UploadPart>{a, b}));
  EXPECT_EQ(ClaimAll(due - 1), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(due), std::set<std::string>{stray.blob_key});
}

TEST_P(MetadataStoreConformance, CompleteUploadWithoutMd5StoresNone) {
  Upload u = MakeUpload("p", UploadId(1), 4);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 4);
  PutPart(a);
  ASSERT_OK(store().CompleteUpload("p", u.id, {a.id}, std::nullopt, FileOfParts(u, FileId(1), {a}),
                                   kT0, kT0));
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->md5, std::nullopt);
  EXPECT_EQ(got->part_ids, std::vector<std::string>{a.id});
}

TEST_P(MetadataStoreConformance, CompleteUploadOfZeroBytesWithNoParts) {
  Upload u = MakeUpload("p", UploadId(1), 0);
  PutUpload(u);
  File f = FileOfParts(u, FileId(1), {});
  ASSERT_OK(store().CompleteUpload("p", u.id, {}, std::nullopt, f, kT0, kT0));
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, UploadStatus::kCompleted);
  EXPECT_EQ(got->part_ids, std::vector<std::string>{});
  auto file = store().GetFile("p", f.id);
  ASSERT_TRUE(IsOk(file));
  EXPECT_EQ(*file, f);
}

TEST_P(MetadataStoreConformance, CompleteUploadUnknownOrForeignIsNotFound) {
  Upload u = MakeUpload("p", UploadId(1), 1);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 1);
  PutPart(a);
  File theirs = FileOfParts(u, FileId(1), {a});
  theirs.project = "q";
  EXPECT_TRUE(IsError(store().CompleteUpload("q", u.id, {a.id}, std::nullopt, theirs, kT0, kT0),
                      StatusCode::kNotFound, "No such Upload object: " + u.id, "upload_id"));
  EXPECT_TRUE(IsError(store().CompleteUpload("p", UploadId(2), {a.id}, std::nullopt,
                                             FileOfParts(u, FileId(1), {a}), kT0, kT0),
                      StatusCode::kNotFound, "No such Upload object: " + UploadId(2), "upload_id"));
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, UploadStatus::kPending);
  EXPECT_CODE(store().GetFile("q", FileId(1)), StatusCode::kNotFound);
  EXPECT_CODE(store().GetFile("p", FileId(1)), StatusCode::kNotFound);
}

TEST_P(MetadataStoreConformance, CompleteUploadThatIsNotPendingOrExpiredIsAborted) {
  // Expired by time but not yet swept: Aborted, and it stays pending with its parts.
  Upload late = MakeUpload("p", UploadId(1), 1);
  PutUpload(late);
  UploadPart a = MakePart("p", late.id, PartId(1), 1);
  PutPart(a);
  for (std::int64_t now : {late.expires_at, late.expires_at + 60}) {
    EXPECT_CODE(store().CompleteUpload("p", late.id, {a.id}, std::nullopt,
                                       FileOfParts(late, FileId(1), {a}), now, now),
                StatusCode::kAborted);
  }
  auto got = store().GetUpload("p", late.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, UploadStatus::kPending);
  EXPECT_EQ(got->file_id, std::nullopt);
  EXPECT_CODE(store().GetFile("p", FileId(1)), StatusCode::kNotFound);
  auto parts = store().ListParts("p", late.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, std::vector<UploadPart>{a});

  // Cancelled.
  Upload cancelled = MakeUpload("p", UploadId(2), 0);
  PutUpload(cancelled);
  ASSERT_OK(store().TransitionUpload("p", cancelled.id, UploadStatus::kPending,
                                     UploadStatus::kCancelled, kT0));
  EXPECT_CODE(store().CompleteUpload("p", cancelled.id, {}, std::nullopt,
                                     FileOfParts(cancelled, FileId(2), {}), kT0, kT0),
              StatusCode::kAborted);

  // Already completed: a second completion (even identical) is Aborted and changes nothing.
  Upload done = MakeUpload("p", UploadId(3), 0);
  PutUpload(done);
  ASSERT_OK(store().CompleteUpload("p", done.id, {}, std::nullopt, FileOfParts(done, FileId(3), {}),
                                   kT0, kT0));
  EXPECT_CODE(store().CompleteUpload("p", done.id, {}, std::nullopt,
                                     FileOfParts(done, FileId(4), {}), kT0, kT0),
              StatusCode::kAborted);
  got = store().GetUpload("p", done.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->file_id, FileId(3));
  EXPECT_EQ(ListIds(Query("p")), FileIds({3}));
}

// The store re-checks the listed parts: a file pointing at a blob that the same call hands to
// the sweeper would lose data. Every refusal leaves the upload pending and untouched.
TEST_P(MetadataStoreConformance, CompleteUploadRefusesPartsThatDoNotMakeTheFile) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 4);
  UploadPart b = MakePart("p", u.id, PartId(2), 6);
  PutPart(a);
  PutPart(b);
  Upload other = MakeUpload("p", UploadId(2), 10);
  PutUpload(other);
  UploadPart foreign = MakePart("p", other.id, PartId(3), 6);
  PutPart(foreign);

  auto complete = [&](const std::vector<std::string>& ids, const File& f) {
    return store().CompleteUpload("p", u.id, ids, std::nullopt, f, kT0, kT0);
  };
  EXPECT_TRUE(IsError(complete({a.id, foreign.id}, FileOfParts(u, FileId(1), {a, foreign})),
                      StatusCode::kInvalidArgument,
                      "Part " + foreign.id + " does not belong to upload " + u.id, "part_ids"));
  EXPECT_TRUE(IsError(complete({a.id, "part_nope"}, FileOfParts(u, FileId(1), {a})),
                      StatusCode::kInvalidArgument,
                      "Part part_nope does not belong to upload " + u.id, "part_ids"));
  EXPECT_TRUE(IsError(complete({a.id, b.id, a.id}, FileOfParts(u, FileId(1), {a, b, a})),
                      StatusCode::kInvalidArgument, "Part " + a.id + " is listed more than once",
                      "part_ids"));
  EXPECT_TRUE(IsError(complete({b.id}, FileOfParts(u, FileId(1), {b})),
                      StatusCode::kInvalidArgument,
                      "The number of bytes uploaded (6) does not match the expected number of "
                      "bytes (10)",
                      "part_ids"));
  File wrong_order = FileOfParts(u, FileId(1), {b, a});
  EXPECT_CODE(complete({a.id, b.id}, wrong_order), StatusCode::kInvalidArgument);
  File wrong_project = FileOfParts(u, FileId(1), {a, b});
  wrong_project.project = "q";
  EXPECT_CODE(complete({a.id, b.id}, wrong_project), StatusCode::kInvalidArgument);
  File wrong_bytes = FileOfParts(u, FileId(1), {a, b});
  wrong_bytes.bytes = 11;
  EXPECT_CODE(complete({a.id, b.id}, wrong_bytes), StatusCode::kInvalidArgument);

  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, u);
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, (std::vector<UploadPart>{a, b}));
  EXPECT_EQ(ListIds(Query("p")), FileIds({}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});

  // After all that, the right call still succeeds.
  EXPECT_OK(complete({a.id, b.id}, FileOfParts(u, FileId(1), {a, b})));
}

TEST_P(MetadataStoreConformance, CompleteUploadWithATakenFileIdIsAlreadyExistsAndStaysPending) {
  PutFile(MakeFile("p", FileId(1)));
  Upload u = MakeUpload("p", UploadId(1), 3);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 3);
  UploadPart stray = MakePart("p", u.id, PartId(2), 0);
  PutPart(a);
  PutPart(stray);
  EXPECT_CODE(store().CompleteUpload("p", u.id, {a.id}, std::nullopt,
                                     FileOfParts(u, FileId(1), {a}), kT0, kT0),
              StatusCode::kAlreadyExists);
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, u);
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, (std::vector<UploadPart>{a, stray}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});
}

TEST_P(MetadataStoreConformance, RacingCompletesCreateExactlyOneFile) {
  for (int round = 0; round < 12; ++round) {
    const std::string project = "p" + std::to_string(round);
    Upload u = MakeUpload(project, UploadId(round), 8);
    PutUpload(u);
    UploadPart a = MakePart(project, u.id, PartId(2 * round), 3);
    UploadPart b = MakePart(project, u.id, PartId(2 * round + 1), 5);
    PutPart(a);
    PutPart(b);

    Status results[2];
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        results[t] =
            store().CompleteUpload(project, u.id, {a.id, b.id}, std::nullopt,
                                   FileOfParts(u, FileId(100 * round + t), {a, b}), kT0, kT0);
      });
    }
    go = true;
    for (auto& t : threads) t.join();

    int ok = 0, aborted = 0, winner = -1;
    for (int t = 0; t < 2; ++t) {
      if (results[t].ok()) {
        ++ok;
        winner = t;
      } else if (results[t].code() == StatusCode::kAborted) {
        ++aborted;
      } else {
        ADD_FAILURE() << results[t].ToString();
      }
    }
    ASSERT_EQ(ok, 1) << "round " << round;
    ASSERT_EQ(aborted, 1) << "round " << round;
    EXPECT_EQ(ListIds(Query(project)), FileIds({100 * round + winner}));
    auto got = store().GetUpload(project, u.id);
    ASSERT_TRUE(IsOk(got));
    EXPECT_EQ(got->file_id, FileId(100 * round + winner));
  }
}

// --- Transitions ----------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, TransitionUploadCancelsAndMovesEveryPartToGarbage) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 4);
  UploadPart b = MakePart("p", u.id, PartId(2), 6);
  PutPart(a);
  PutPart(b);
  const std::int64_t due = kT0 + 300;
  auto r =
      store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kCancelled, due);
  ASSERT_TRUE(IsOk(r));
  Upload want = u;
  want.status = UploadStatus::kCancelled;
  EXPECT_EQ(*r, want);
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, want);
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_TRUE(parts->empty());
  EXPECT_EQ(ClaimAll(due - 1), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(due), (std::set<std::string>{a.blob_key, b.blob_key}));

  // The compare-and-set fails once the status is no longer `from`.
  EXPECT_CODE(
      store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kCancelled, due),
      StatusCode::kAborted);
  EXPECT_CODE(
      store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kExpired, due),
      StatusCode::kAborted);
  got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, UploadStatus::kCancelled);
}

TEST_P(MetadataStoreConformance, TransitionUploadExpires) {
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 4);
  PutPart(a);
  auto r = store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kExpired, kT0);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->status, UploadStatus::kExpired);
  EXPECT_EQ(ClaimAll(kT0), std::set<std::string>{a.blob_key});
  EXPECT_CODE(
      store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kCancelled, kT0),
      StatusCode::kAborted);
}

TEST_P(MetadataStoreConformance, TransitionUploadOfACompletedUploadIsAbortedAndKeepsItsBlobs) {
  Upload u = MakeUpload("p", UploadId(1), 3);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 3);
  PutPart(a);
  ASSERT_OK(store().CompleteUpload("p", u.id, {a.id}, std::nullopt, FileOfParts(u, FileId(1), {a}),
                                   kT0, kT0));
  EXPECT_CODE(
      store().TransitionUpload("p", u.id, UploadStatus::kPending, UploadStatus::kCancelled, kT0),
      StatusCode::kAborted);
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});
  EXPECT_OK(store().GetFile("p", FileId(1)));
}

TEST_P(MetadataStoreConformance, TransitionUploadUnknownOrForeignIsNotFound) {
  Upload u = MakeUpload("p", UploadId(1), 3);
  PutUpload(u);
  PutPart(MakePart("p", u.id, PartId(1), 3));
  EXPECT_TRUE(IsError(
      store().TransitionUpload("q", u.id, UploadStatus::kPending, UploadStatus::kCancelled, kT0),
      StatusCode::kNotFound, "No such Upload object: " + u.id, "upload_id"));
  EXPECT_TRUE(IsError(store().TransitionUpload("p", UploadId(2), UploadStatus::kPending,
                                               UploadStatus::kExpired, kT0),
                      StatusCode::kNotFound, "No such Upload object: " + UploadId(2), "upload_id"));
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, UploadStatus::kPending);
  EXPECT_EQ(ClaimAll(), std::set<std::string>{});
}

TEST_P(MetadataStoreConformance, TransitionUploadOutsideTheStateMachineIsInvalidArgument) {
  Upload u = MakeUpload("p", UploadId(1), 3);
  PutUpload(u);
  const std::pair<UploadStatus, UploadStatus> moves[] = {
      {UploadStatus::kPending, UploadStatus::kPending},
      {UploadStatus::kPending, UploadStatus::kCompleted},
      {UploadStatus::kCompleted, UploadStatus::kExpired},
      {UploadStatus::kCancelled, UploadStatus::kExpired},
      {UploadStatus::kExpired, UploadStatus::kCancelled},
  };
  for (const auto& [from, to] : moves) {
    EXPECT_CODE(store().TransitionUpload("p", u.id, from, to, kT0), StatusCode::kInvalidArgument)
        << UploadStatusName(from) << " -> " << UploadStatusName(to);
  }
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, u);
}

TEST_P(MetadataStoreConformance, ListExpiredUploadsFindsPendingUploadsPastExpiry) {
  std::map<int, std::int64_t> expiry = {
      {1, kT0 + 10}, {2, kT0 + 20}, {3, kT0 + 30}, {4, kT0 + 10}, {5, kT0 + 10}};
  for (const auto& [n, at] : expiry) {
    Upload u = MakeUpload(n % 2 ? "p" : "q", UploadId(n), 0);
    u.expires_at = at;
    PutUpload(u);
  }
  ASSERT_OK(store().TransitionUpload("p", UploadId(5), UploadStatus::kPending,
                                     UploadStatus::kCancelled, kT0));
  auto due = [&](std::int64_t now, int limit) {
    auto got = store().ListExpiredUploads(now, limit);
    EXPECT_TRUE(IsOk(got));
    std::vector<std::string> ids;
    if (got.ok()) {
      for (const Upload& u : *got) ids.push_back(u.id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_EQ(due(kT0 + 9, 100), std::vector<std::string>{});
  EXPECT_EQ(due(kT0 + 10, 100), (std::vector<std::string>{UploadId(1), UploadId(4)}));
  EXPECT_EQ(due(kT0 + 20, 100), (std::vector<std::string>{UploadId(1), UploadId(2), UploadId(4)}));
  EXPECT_EQ(due(kFarFuture, 2).size(), 2u);

  auto got = store().ListExpiredUploads(kT0 + 10, 1);
  ASSERT_TRUE(IsOk(got));
  ASSERT_EQ(got->size(), 1u);
  Upload want = MakeUpload((*got)[0].id == UploadId(1) ? "p" : "q", (*got)[0].id, 0);
  want.expires_at = kT0 + 10;
  EXPECT_EQ((*got)[0], want);
  EXPECT_TRUE(IsError(store().ListExpiredUploads(kT0, 0), StatusCode::kInvalidArgument,
                      "limit must be at least 1", "limit"));
}

// --- Tenancy --------------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, AnotherProjectsObjectsAreNotFoundEverywhere) {
  File f = MakeFile("p", FileId(1));
  PutFile(f);
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart a = MakePart("p", u.id, PartId(1), 4);
  PutPart(a);

  const Status file_nf = NotFound("No such File object: " + f.id, "id");
  const Status upload_nf = NotFound("No such Upload object: " + u.id, "upload_id");
  auto same = [](const Status& want) {
    return [want](const Status& got) {
      return IsError(got, want.code(), want.message(), want.param());
    };
  };
  EXPECT_TRUE(same(file_nf)(StatusOf(store().GetFile("q", f.id))));
  EXPECT_TRUE(same(file_nf)(store().DeleteFile("q", f.id, kT0)));
  EXPECT_EQ(ListIds(Query("q")), FileIds({}));
  EXPECT_TRUE(same(upload_nf)(StatusOf(store().GetUpload("q", u.id))));
  EXPECT_TRUE(same(upload_nf)(StatusOf(store().ListParts("q", u.id))));
  UploadPart theirs = MakePart("q", u.id, PartId(2), 1);
  AddIntent(theirs.blob_key);
  EXPECT_TRUE(same(upload_nf)(store().InsertPart(theirs, kT0)));
  File their_file = FileOfParts(u, FileId(2), {a});
  their_file.project = "q";
  EXPECT_TRUE(same(upload_nf)(
      store().CompleteUpload("q", u.id, {a.id}, std::nullopt, their_file, kT0, kT0)));
  EXPECT_TRUE(same(upload_nf)(StatusOf(
      store().TransitionUpload("q", u.id, UploadStatus::kPending, UploadStatus::kCancelled, kT0))));

  // p's objects are untouched.
  auto file = store().GetFile("p", f.id);
  ASSERT_TRUE(IsOk(file));
  EXPECT_EQ(*file, f);
  auto got = store().GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, u);
  auto parts = store().ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, std::vector<UploadPart>{a});
  EXPECT_EQ(ClaimAll(), std::set<std::string>{theirs.blob_key});
}

// --- API keys -------------------------------------------------------------------------------

ApiKey MakeKey(int n, const std::string& project, std::int64_t created_at) {
  ApiKey k;
  k.id = KeyId(n);
  k.project = project;
  k.secret_sha256_hex = std::string(63, 'a') + static_cast<char>('0' + n % 10);
  k.hint = "sk-fp***" + std::to_string(n);
  k.created_at = created_at;
  return k;
}

TEST_P(MetadataStoreConformance, ApiKeysAreFoundByHashAndListedOldestFirst) {
  auto any = store().HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_FALSE(*any);
  auto list = store().ListApiKeys();
  ASSERT_TRUE(IsOk(list));
  EXPECT_TRUE(list->empty());

  ApiKey k1 = MakeKey(1, "p", kT0 + 20);
  ApiKey k2 = MakeKey(2, "q", kT0 + 10);
  ApiKey k3 = MakeKey(3, "p", kT0 + 20);
  ApiKey revoked = MakeKey(4, "p", kT0 + 30);
  revoked.revoked_at = kT0 + 31;
  for (const ApiKey& k : {k1, k2, k3, revoked}) ASSERT_OK(store().InsertApiKey(k));

  list = store().ListApiKeys();
  ASSERT_TRUE(IsOk(list));
  EXPECT_EQ(*list, (std::vector<ApiKey>{k2, k1, k3, revoked}));
  for (const ApiKey& k : {k1, k2, k3, revoked}) {
    auto found = store().FindApiKey(k.secret_sha256_hex);
    ASSERT_TRUE(IsOk(found));
    EXPECT_EQ(*found, k);
  }
  EXPECT_CODE(store().FindApiKey(std::string(64, 'f')), StatusCode::kNotFound);
}

TEST_P(MetadataStoreConformance, InsertApiKeyWithATakenIdOrSecretIsAlreadyExists) {
  ApiKey k = MakeKey(1, "p", kT0);
  ASSERT_OK(store().InsertApiKey(k));
  ApiKey same_id = MakeKey(1, "q", kT0);
  same_id.secret_sha256_hex = std::string(64, 'b');
  EXPECT_CODE(store().InsertApiKey(same_id), StatusCode::kAlreadyExists);
  ApiKey same_secret = MakeKey(2, "q", kT0);
  same_secret.secret_sha256_hex = k.secret_sha256_hex;
  EXPECT_CODE(store().InsertApiKey(same_secret), StatusCode::kAlreadyExists);
  auto list = store().ListApiKeys();
  ASSERT_TRUE(IsOk(list));
  EXPECT_EQ(*list, std::vector<ApiKey>{k});
}

TEST_P(MetadataStoreConformance, RevokeApiKeyIsIdempotentAndKeepsTheFirstTime) {
  ApiKey k1 = MakeKey(1, "p", kT0);
  ApiKey k2 = MakeKey(2, "p", kT0 + 1);
  ASSERT_OK(store().InsertApiKey(k1));
  ASSERT_OK(store().InsertApiKey(k2));
  auto any = store().HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_TRUE(*any);

  ASSERT_OK(store().RevokeApiKey(k1.id, kT0 + 100));
  ASSERT_OK(store().RevokeApiKey(k1.id, kT0 + 200));
  auto found = store().FindApiKey(k1.secret_sha256_hex);  // revoked keys are still found
  ASSERT_TRUE(IsOk(found));
  EXPECT_EQ(found->revoked_at, kT0 + 100);
  any = store().HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_TRUE(*any);

  EXPECT_TRUE(IsError(store().RevokeApiKey(KeyId(9), kT0), StatusCode::kNotFound,
                      "No such API key: " + KeyId(9), "id"));
}

TEST_P(MetadataStoreConformance, RevokedKeysStillCountAsKeys) {
  // Revoking the last key must not turn the service open again.
  ApiKey only = MakeKey(1, "p", kT0);
  ASSERT_OK(store().InsertApiKey(only));
  ASSERT_OK(store().RevokeApiKey(only.id, kT0 + 1));
  auto any = store().HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_TRUE(*any);
  ApiKey born_revoked = MakeKey(2, "q", kT0);
  born_revoked.revoked_at = kT0;
  ASSERT_OK(store().InsertApiKey(born_revoked));
  any = store().HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_TRUE(*any);
}

// --- Persistence ----------------------------------------------------------------------------

TEST_P(MetadataStoreConformance, ReopenedStoreKeepsEverythingAcknowledged) {
  if (!GetParam().persistent) GTEST_SKIP() << GetParam().name << " keeps nothing across opens";

  File kept = MakeFile("p", FileId(1));
  kept.expires_at = kT0 + 99;
  PutFile(kept);
  File gone = MakeFile("p", FileId(2));
  PutFile(gone);
  ASSERT_OK(store().DeleteFile("p", gone.id, kT0 + 5));

  Upload open = MakeUpload("p", UploadId(1), 10);
  PutUpload(open);
  UploadPart o1 = MakePart("p", open.id, PartId(1), 4);
  PutPart(o1);
  Upload done = MakeUpload("q", UploadId(2), 6);
  PutUpload(done);
  UploadPart d1 = MakePart("q", done.id, PartId(2), 6);
  UploadPart d2 = MakePart("q", done.id, PartId(3), 0);
  PutPart(d1);
  PutPart(d2);
  File made = FileOfParts(done, FileId(3), {d1});
  ASSERT_OK(store().CompleteUpload("q", done.id, {d1.id}, "0123456789abcdef0123456789abcdef", made,
                                   kT0, kT0 + 6));
  Upload cancelled = MakeUpload("p", UploadId(3), 1);
  PutUpload(cancelled);
  UploadPart c1 = MakePart("p", cancelled.id, PartId(4), 1);
  PutPart(c1);
  ASSERT_OK(store().TransitionUpload("p", cancelled.id, UploadStatus::kPending,
                                     UploadStatus::kCancelled, kT0 + 7));
  AddIntent("in-flight");
  ApiKey key = MakeKey(1, "p", kT0);
  ApiKey old = MakeKey(2, "q", kT0);
  ASSERT_OK(store().InsertApiKey(key));
  ASSERT_OK(store().InsertApiKey(old));
  ASSERT_OK(store().RevokeApiKey(old.id, kT0 + 8));

  // Everything readable through the interface, before and after reopening.
  struct Snapshot {
    std::vector<File> files;
    std::vector<Upload> uploads;
    std::vector<UploadPart> parts;
    std::vector<ApiKey> keys;
  };
  auto snapshot = [&] {
    Snapshot out;
    for (const char* project : {"p", "q"}) {
      auto files = store().ListFiles(Query(project));
      EXPECT_TRUE(IsOk(files));
      if (files.ok()) out.files.insert(out.files.end(), files->data.begin(), files->data.end());
    }
    for (const auto& [project, id] :
         {std::pair{"p", UploadId(1)}, std::pair{"q", UploadId(2)}, std::pair{"p", UploadId(3)}}) {
      auto u = store().GetUpload(project, id);
      EXPECT_TRUE(IsOk(u));
      if (u.ok()) out.uploads.push_back(*u);
      auto parts = store().ListParts(project, id);
      EXPECT_TRUE(IsOk(parts));
      if (parts.ok()) out.parts.insert(out.parts.end(), parts->begin(), parts->end());
    }
    auto keys = store().ListApiKeys();
    EXPECT_TRUE(IsOk(keys));
    if (keys.ok()) out.keys = *keys;
    return out;
  };
  Snapshot before = snapshot();
  EXPECT_EQ(before.files.size(), 2u);  // kept, made
  EXPECT_EQ(before.uploads.size(), 3u);
  EXPECT_EQ(before.parts.size(), 2u);  // o1, d1
  EXPECT_EQ(before.keys.size(), 2u);
  Reopen();
  ASSERT_NE(store_, nullptr);
  Snapshot after = snapshot();
  EXPECT_EQ(after.files, before.files);
  EXPECT_EQ(after.uploads, before.uploads);
  EXPECT_EQ(after.parts, before.parts);
  EXPECT_EQ(after.keys, before.keys);

  auto file = store().GetFile("q", made.id);
  ASSERT_TRUE(IsOk(file));
  EXPECT_EQ(*file, made);
  auto u = store().GetUpload("q", done.id);
  ASSERT_TRUE(IsOk(u));
  EXPECT_EQ(u->md5, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(u->part_ids, std::vector<std::string>{d1.id});
  auto any = store().HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_TRUE(*any);
  auto found = store().FindApiKey(old.secret_sha256_hex);
  ASSERT_TRUE(IsOk(found));
  EXPECT_EQ(found->revoked_at, kT0 + 8);

  // The byte budget survived too: 16 of the open upload's 20 receivable bytes are left.
  UploadPart o2 = MakePart("p", open.id, PartId(5), 17);
  AddIntent(o2.blob_key);
  EXPECT_CODE(store().InsertPart(o2, kT0), StatusCode::kOutOfRange);
  PutPart(MakePart("p", open.id, PartId(6), 16));

  // Garbage with its due times: the deleted file's blobs, the stray and cancelled parts, the
  // intents.
  EXPECT_EQ(ClaimAll(kT0 + 4), std::set<std::string>{});
  EXPECT_EQ(ClaimAll(kT0 + 5),
            (std::set<std::string>{gone.segments[0].blob_key, gone.segments[1].blob_key}));
  EXPECT_EQ(ClaimAll(kT0 + 6), std::set<std::string>{d2.blob_key});
  EXPECT_EQ(ClaimAll(kT0 + 7), std::set<std::string>{c1.blob_key});
  EXPECT_EQ(ClaimAll(), (std::set<std::string>{"in-flight", o2.blob_key}));
}

TEST_P(MetadataStoreConformance, ReopenedStoreKeepsLeases) {
  if (!GetParam().persistent) GTEST_SKIP() << GetParam().name << " keeps nothing across opens";
  // A sweeper leased these and the process died before it deleted the blobs.
  Upload u = MakeUpload("p", UploadId(1), 10);
  PutUpload(u);
  UploadPart late = MakePart("p", u.id, PartId(1), 4);
  ASSERT_OK(store().AddGarbage({{late.blob_key, kT0}, {"dead-file-blob", kT0}}));
  ASSERT_OK(store().AddGarbage({{"unleased", kT0 + 10}}));
  EXPECT_EQ(Claim(kT0), (std::set<std::string>{late.blob_key, "dead-file-blob"}));
  Reopen();
  ASSERT_NE(store_, nullptr);
  // Still leased: not claimable before the lease ends, and not an intent any more.
  EXPECT_EQ(Claim(kT0 + kLease - 1), std::set<std::string>{"unleased"});
  EXPECT_CODE(store().InsertPart(late, kT0), StatusCode::kAborted);
  ASSERT_OK(store().AddGarbage({{"dead-file-blob", kT0 + 1}}));  // leaves the lease alone
  // Once it ends, a new sweeper takes them over.
  EXPECT_EQ(ClaimAll(kT0 + kLease), (std::set<std::string>{late.blob_key, "dead-file-blob"}));
  EXPECT_EQ(ClaimAll(), std::set<std::string>{"unleased"});
}

INSTANTIATE_TEST_SUITE_P(Backends, MetadataStoreConformance, ::testing::ValuesIn(Factories()),
                         [](const ::testing::TestParamInfo<MetadataStoreFactory>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// What only the SQLite backend promises.

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using RawDb = std::unique_ptr<sqlite3, SqliteCloser>;

// A connection of our own to the store's file, as another process would have.
RawDb OpenRaw(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  return RawDb(db);
}

std::string QueryText(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(s, 0);
    out = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(s);
  return out;
}

class SqliteMetadataStoreTest : public ::testing::Test {
 protected:
  std::string DbPath() const { return scratch_.path() + "/meta.db"; }
  ScratchDir scratch_;
};

TEST_F(SqliteMetadataStoreTest, OpenInAMissingDirectoryFails) {
  auto store = SqliteMetadataStore::Open(scratch_.path() + "/missing/meta.db");
  EXPECT_CODE(store, StatusCode::kInternal);
}

TEST_F(SqliteMetadataStoreTest, OpenRejectsAnEmptyPool) {
  EXPECT_CODE(SqliteMetadataStore::Open(DbPath(), {.pool_size = 0}), StatusCode::kInvalidArgument);
}

TEST_F(SqliteMetadataStoreTest, UsesWalAndRecordsTheSchemaVersion) {
  {
    auto store = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(store));
  }
  RawDb db = OpenRaw(DbPath());
  EXPECT_EQ(QueryText(db.get(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(db.get(), "PRAGMA user_version"), "7");
  db.reset();
  auto again = SqliteMetadataStore::Open(DbPath());  // migrating an up-to-date file: no-op
  ASSERT_TRUE(IsOk(again));
  EXPECT_OK((*again)->Migrate());
}

// The schema as version 1 of fileport created it, kept verbatim: the migration tests start from
// files written by that version.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE files (
  id             TEXT PRIMARY KEY,
  project        TEXT NOT NULL,
  purpose        TEXT NOT NULL,
  bytes          INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,
  filename       TEXT NOT NULL,
  status         TEXT NOT NULL,
  status_details TEXT,
  mime_type      TEXT NOT NULL,
  segments       TEXT NOT NULL
);
CREATE INDEX files_by_project ON files (project, id);
CREATE INDEX files_by_project_purpose ON files (project, purpose, id);
CREATE INDEX files_by_expiry ON files (expires_at, id);

CREATE TABLE uploads (
  id                 TEXT PRIMARY KEY,
  project            TEXT NOT NULL,
  bytes              INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  filename           TEXT NOT NULL,
  purpose            TEXT NOT NULL,
  mime_type          TEXT NOT NULL,
  status             TEXT NOT NULL
                     CHECK (status IN ('pending', 'completed', 'cancelled', 'expired')),
  file_expires_after INTEGER,
  file_id            TEXT,
  part_ids           TEXT NOT NULL,
  md5                TEXT,
  received_bytes     INTEGER NOT NULL DEFAULT 0,
  part_count         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX uploads_by_expiry ON uploads (status, expires_at, id);

CREATE TABLE parts (
  id         TEXT PRIMARY KEY,
  upload_id  TEXT NOT NULL REFERENCES uploads (id),
  project    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  bytes      INTEGER NOT NULL,
  blob_key   TEXT NOT NULL,
  seq        INTEGER NOT NULL
);
CREATE INDEX parts_by_upload ON parts (upload_id, created_at, seq);

CREATE TABLE garbage (
  blob_key TEXT PRIMARY KEY,
  due_at   INTEGER NOT NULL
);
CREATE INDEX garbage_by_due ON garbage (due_at, blob_key);

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  project       TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL UNIQUE,
  hint          TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  revoked_at    INTEGER
);
CREATE INDEX api_keys_by_age ON api_keys (created_at, id);
PRAGMA user_version=1;
)sql";

void ExecRaw(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err ? err : "") << "\n"
      << sql;
  sqlite3_free(err);
}

TEST_F(SqliteMetadataStoreTest, MigratesAVersionOneFileAndKeepsItsData) {
  // What version 1 left: a file, an upload with a part, a key, and three garbage rows — a
  // write intent, a deleted file's blob, and a row a version-1 sweeper was about to delete.
  {
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), kSchemaV1);
    ExecRaw(db.get(),
            "INSERT INTO files VALUES ('" + FileId(1) +
                "', 'p', 'assistants', 3, 1700000000, NULL, 'a.txt', 'processed', NULL, "
                "'text/plain', 'files/1:3\n');"
                "INSERT INTO uploads VALUES ('" +
                UploadId(1) +
                "', 'p', 10, 1700000000, 1700003600, 'big.txt', 'assistants', 'text/plain', "
                "'pending', NULL, NULL, '', NULL, 4, 1);"
                "INSERT INTO parts VALUES ('" +
                PartId(1) + "', '" + UploadId(1) + "', 'p', 1700000001, 4, 'parts/1', 1);" +
                "INSERT INTO api_keys VALUES ('" + KeyId(1) + "', 'p', '" + std::string(64, 'a') +
                "', 'sk-fp***aa', 1700000000, NULL);"
                "INSERT INTO garbage VALUES ('parts/in-flight', 1700086400), "
                "('files/deleted', 1700000000), ('files/deleted-too', 1700000005);");
  }
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  {
    RawDb db = OpenRaw(DbPath());
    EXPECT_EQ(QueryText(db.get(), "PRAGMA user_version"), "7");
    // Files are stored in (project, id) order, and their ids are still unique.
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'files' "
                                  "AND sql LIKE '%PRIMARY KEY (project, id)%WITHOUT ROWID%'"),
              "1");
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM pragma_index_list('files') "
                                  "WHERE name = 'files_by_id' AND \"unique\" = 1"),
              "1");
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM pragma_index_list('files')"), "4");
    EXPECT_EQ(QueryText(db.get(),
                        "SELECT COUNT(*) FROM pragma_table_info('garbage') "
                        "WHERE name = 'leased' AND \"notnull\" = 1 AND dflt_value = '0'"),
              "1");
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM garbage WHERE leased = 0"), "3");
  }

  // The old rows read back as before.
  auto f = store.GetFile("p", FileId(1));
  ASSERT_TRUE(IsOk(f));
  EXPECT_EQ(f->segments, (std::vector<Segment>{{"files/1", 3}}));
  EXPECT_EQ(f->mime_type, "text/plain");
  // The file's 3 bytes were counted by the migration to schema 7; the pending upload
  // reserves its 10.
  auto usage = store.GetUsage("p");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, 3 + 10);
  EXPECT_EQ(usage->pending_uploads, 1);
  FileQuery shown = Query("p");
  shown.shown_fields_only = true;
  auto listed = store.ListFiles(shown);
  ASSERT_TRUE(IsOk(listed));
  ASSERT_EQ(listed->data.size(), 1u);
  EXPECT_EQ(listed->data[0].filename, "a.txt");
  // Its wire object was written by the migration to schema 5.
  auto json = store.ListFileJson(Query("p"));
  ASSERT_TRUE(IsOk(json));
  EXPECT_EQ(*json, (FileJsonPage{ToJson(*f), FileId(1), FileId(1), false}));
  // The id is unique across projects in the migrated table too.
  File clash = MakeFile("q", FileId(1));
  clash.segments = {};
  EXPECT_CODE(store.InsertFile(clash), StatusCode::kAlreadyExists);
  auto parts = store.ListParts("p", UploadId(1));
  ASSERT_TRUE(IsOk(parts));
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].blob_key, "parts/1");
  auto any = store.HasApiKeys();
  ASSERT_TRUE(IsOk(any));
  EXPECT_TRUE(*any);
  // The old garbage rows are unleased: the intent is still consumable, due rows are claimed
  // and leased like new ones.
  UploadPart next = MakePart("p", UploadId(1), PartId(2), 6);
  next.blob_key = "parts/in-flight";
  EXPECT_OK(store.InsertPart(next, kT0 + 2));
  auto got = store.ClaimGarbage(kT0, 10, kT0 + kLease);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{"files/deleted"});
  got = store.ClaimGarbage(kT0 + 5, 10, kT0 + 5 + kLease);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{"files/deleted-too"});
  EXPECT_OK(store.ForgetGarbage({"files/deleted-too"}));
  opened->reset();

  // Opening again migrates nothing more, and the lease survived.
  auto again = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(again));
  EXPECT_OK((*again)->Migrate());
  got = (*again)->ClaimGarbage(kT0 + kLease - 1, 10, kT0 + 2 * kLease);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{});
  got = (*again)->ClaimGarbage(kT0 + kLease, 10, kT0 + 2 * kLease);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, std::vector<std::string>{"files/deleted"});
  RawDb db = OpenRaw(DbPath());
  EXPECT_EQ(QueryText(db.get(), "PRAGMA user_version"), "7");
  EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                                "name = 'uploads_by_project_status'"),
            "1")
      << "2 -> 3 indexes pending uploads by project (quotas)";
}

// Turns a database of the current schema into what schema 6 had: no project_usage table.
constexpr const char* kBackToSchemaSix = R"sql(
DROP TRIGGER files_add_usage;
DROP TRIGGER files_remove_usage;
DROP TABLE project_usage;
PRAGMA user_version=6;
)sql";

// Turns a database of the current schema into what schema 5 had: each file's segments in a
// last column of its row, no file_segments table.
const std::string kBackToSchemaFive = std::string(kBackToSchemaSix) + R"sql(
ALTER TABLE files ADD COLUMN segments TEXT NOT NULL DEFAULT '';
UPDATE files SET segments = (SELECT segments FROM file_segments s WHERE s.id = files.id);
DROP TABLE file_segments;
PRAGMA user_version=5;
)sql";

// Schema 4 → 5 writes every existing file's wire object, in batches, whatever the projects.
TEST_F(SqliteMetadataStoreTest, MigratingFromSchemaFourWritesEveryFilesObject) {
  constexpr int kFiles = 2345;  // more than two of the migration's batches
  {
    auto opened = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(opened));
    for (int n = 1; n <= kFiles; ++n) {
      File f = MakeFile(n % 3 == 0 ? "a" : n % 3 == 1 ? "b" : "c", FileId(n));
      f.segments.clear();
      f.created_at = kT0 + n;
      if (n % 7 == 0) f.expires_at = kT0 + 1000000 + n;
      if (n % 11 == 0) f.status_details = "line \"" + std::to_string(n) + "\"\n";
      f.filename = "f\t" + std::to_string(n) + ".jsonl";
      ASSERT_OK((*opened)->InsertFile(f));
    }
  }
  {
    // What schema 4 had: no `shown` column, the segments in the files row.
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), kBackToSchemaFive);
    ExecRaw(db.get(), "ALTER TABLE files DROP COLUMN shown; PRAGMA user_version=4;");
  }
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  {
    RawDb db = OpenRaw(DbPath());
    EXPECT_EQ(QueryText(db.get(), "PRAGMA user_version"), "7");
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM files WHERE shown IS NULL"), "0");
  }
  std::size_t seen = 0;
  for (const char* project : {"a", "b", "c"}) {
    auto files = (*opened)->ListFiles(Query(project));
    auto json = (*opened)->ListFileJson(Query(project));
    ASSERT_TRUE(IsOk(files));
    ASSERT_TRUE(IsOk(json));
    EXPECT_EQ(*json, Joined(*files));
    seen += files->data.size();
  }
  EXPECT_EQ(seen, static_cast<std::size_t>(kFiles));
}

// Schema 5 → 6 moves every file's segments out of its row into file_segments, whatever their
// length (128 parts of an 8 GiB upload: several KB) or the project, and nothing else changes.
TEST_F(SqliteMetadataStoreTest, MigratingFromSchemaFiveMovesEverySegmentListOutOfTheRow) {
  constexpr int kFiles = 300;
  std::vector<File> files;
  {
    auto opened = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(opened));
    for (int n = 1; n <= kFiles; ++n) {
      File f = MakeFile(n % 2 == 0 ? "a" : "b", FileId(n));
      f.created_at = kT0 + n;
      const int parts = n % 3 == 0 ? 128 : n % 3 == 1 ? 1 : 0;
      f.segments.clear();
      f.bytes = 0;
      std::vector<GarbageBlob> intents;
      for (int i = 0; i < parts; ++i) {
        f.segments.push_back({"p/" + std::to_string(n) + "/part_" + std::to_string(i), 1 << 26});
        f.bytes += 1 << 26;
        intents.push_back({f.segments.back().blob_key, kT0});
      }
      ASSERT_OK((*opened)->AddGarbage(intents));
      ASSERT_OK((*opened)->InsertFile(f));
      files.push_back(f);
    }
  }
  {
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), kBackToSchemaFive);
    ASSERT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM files WHERE length(segments) > 2000"),
              "100");
  }
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  {
    RawDb db = OpenRaw(DbPath());
    EXPECT_EQ(QueryText(db.get(), "PRAGMA user_version"), "7");
    EXPECT_EQ(QueryText(db.get(),
                        "SELECT COUNT(*) FROM pragma_table_info('files') "
                        "WHERE name = 'segments'"),
              "0");
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM file_segments"), "300");
    EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM pragma_index_list('files')"), "4");
  }
  for (const File& f : files) {
    auto got = store.GetFile(f.project, f.id);
    ASSERT_TRUE(IsOk(got)) << f.id;
    EXPECT_EQ(*got, f);
  }
  for (const char* project : {"a", "b"}) {
    auto page = store.ListFiles(Query(project, 1000));
    auto json = store.ListFileJson(Query(project, 1000));
    ASSERT_TRUE(IsOk(page));
    ASSERT_TRUE(IsOk(json));
    EXPECT_EQ(page->data.size(), static_cast<std::size_t>(kFiles / 2));
    EXPECT_EQ(*json, Joined(*page));
  }
  // A deleted file's blobs still go to the sweeper, read from the moved segments.
  const File& big = files[2];  // 128 parts
  ASSERT_EQ(big.segments.size(), 128u);
  ASSERT_OK(store.DeleteFile(big.project, big.id, kT0 + 1));
  auto claimed = store.ClaimGarbage(kT0 + 1, 1000, kT0 + 1 + kLease);
  ASSERT_TRUE(IsOk(claimed));
  std::set<std::string> want;
  for (const Segment& seg : big.segments) want.insert(seg.blob_key);
  EXPECT_EQ(std::set<std::string>(claimed->begin(), claimed->end()), want);
  EXPECT_CODE(store.GetFile(big.project, big.id), StatusCode::kNotFound);
  RawDb db = OpenRaw(DbPath());
  EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM file_segments"), "299");
}

// Files of two projects, one deleted from each: what a migration that counts each project's
// bytes of files finds.
void PutFilesOfTwoProjects(MetadataStore& store) {
  for (int n = 1; n <= 50; ++n) {
    File f = MakeFile(n % 5 == 0 ? "b" : "a", FileId(n));
    f.segments.clear();
    f.bytes = 1000 * n;
    ASSERT_OK(store.InsertFile(f));
  }
  ASSERT_OK(store.DeleteFile("a", FileId(1), kT0));
  ASSERT_OK(store.DeleteFile("b", FileId(50), kT0));
}

// The usage of PutFilesOfTwoProjects' files is counted, and the count follows an insert and a
// delete after the migration.
void ExpectUsageCountedAndFollowed(MetadataStore& store) {
  std::int64_t a = 0, b = 0;
  for (int n = 2; n <= 49; ++n) (n % 5 == 0 ? b : a) += 1000 * n;
  auto usage = store.GetUsage("a");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, a);
  usage = store.GetUsage("b");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, b);
  File more = MakeFile("b", FileId(51));
  more.segments.clear();
  more.bytes = 7;
  ASSERT_OK(store.InsertFile(more));
  ASSERT_OK(store.DeleteFile("a", FileId(2), kT0));
  usage = store.GetUsage("a");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, a - 2000);
  usage = store.GetUsage("b");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->bytes, b + 7);
}

// Schema 6 → 7 counts each project's bytes of files once, and the count then follows every
// insert and delete.
TEST_F(SqliteMetadataStoreTest, MigratingFromSchemaSixCountsEachProjectsBytes) {
  {
    auto opened = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(opened));
    PutFilesOfTwoProjects(**opened);
  }
  {
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), kBackToSchemaSix);
  }
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  ExpectUsageCountedAndFollowed(**opened);
  RawDb db = OpenRaw(DbPath());
  EXPECT_EQ(QueryText(db.get(),
                      "SELECT COUNT(*) FROM project_usage u WHERE file_bytes != "
                      "(SELECT SUM(bytes) FROM files f WHERE f.project = u.project)"),
            "0");
}

// A file whose segments row is missing (damage) is DataLoss where its bytes are needed, and a
// delete of it changes nothing; listings, which show no segments, go on.
TEST_F(SqliteMetadataStoreTest, AFileWithoutItsSegmentsIsDataLoss) {
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  File f = MakeFile("p", FileId(1));
  f.segments.clear();
  ASSERT_OK((*opened)->InsertFile(f));
  {
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), "DELETE FROM file_segments");
  }
  EXPECT_CODE((*opened)->GetFile("p", f.id), StatusCode::kDataLoss);
  EXPECT_CODE((*opened)->ListFiles(Query("p")), StatusCode::kDataLoss);
  FileQuery shown = Query("p");
  shown.shown_fields_only = true;
  auto page = (*opened)->ListFiles(shown);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->data.size(), 1u);
  auto json = (*opened)->ListFileJson(Query("p"));
  ASSERT_TRUE(IsOk(json));
  EXPECT_EQ(json->first_id, f.id);
  EXPECT_CODE((*opened)->DeleteFile("p", f.id, kT0), StatusCode::kDataLoss);
  RawDb db = OpenRaw(DbPath());
  EXPECT_EQ(QueryText(db.get(), "SELECT COUNT(*) FROM files"), "1");
}

// The segments column is parsed by hand ("key:bytes\n" per part, keys escaped). Text that
// breaks that form is DataLoss, never a file with fewer or other parts; an empty text is a
// file of no parts.
TEST_F(SqliteMetadataStoreTest, ASegmentsTextThatBreaksItsFormIsDataLoss) {
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  File f = MakeFile("p", FileId(1));
  f.segments.clear();  // its text is written below, past the store
  ASSERT_OK((*opened)->InsertFile(f));
  auto set_segments = [&](const std::string& text) {
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), "UPDATE file_segments SET segments = '" + text + "'");
  };
  for (const std::string bad :
       {"a:3\nb:4", "a3\nb:4\n", "a:\nb:4\n", "a:3x\nb:4\n", "a:-\n", "a%ZZ:3\nb:4\n", "a%3:3\n",
        "a:1234567890123456789\n", "\n", "a:b:3\n", "a:-3-\n", "a:--3\n"}) {
    SCOPED_TRACE(bad);
    set_segments(bad);
    auto got = (*opened)->GetFile("p", f.id);
    ASSERT_TRUE(HasCode(got, StatusCode::kDataLoss));
    EXPECT_EQ(got.status().message(), "Corrupt segments column in SQLite");
  }
  set_segments("a%25%3A%0Ab:3\nc:-4\nd:123456789012345678\n");
  auto read = (*opened)->GetFile("p", f.id);
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(read->segments,
            (std::vector<Segment>{{"a%:\nb", 3}, {"c", -4}, {"d", 123456789012345678}}));
  set_segments("");
  read = (*opened)->GetFile("p", f.id);
  ASSERT_TRUE(IsOk(read));
  EXPECT_TRUE(read->segments.empty());
}

// SQLite decodes the keys of the segments a range reads and no others: a range of a file of
// many parts costs one key, not one per part.
TEST_F(SqliteMetadataStoreTest, AFileReadForARangeHasOnlyTheKeysOfTheSegmentsHoldingIt) {
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  const File f = MakeFourPartFile("p", FileId(1));
  for (const Segment& seg : f.segments) {
    ASSERT_OK((*opened)->AddGarbage({{seg.blob_key, kIntentDue}}));
  }
  ASSERT_OK((*opened)->InsertFile(f));
  for (const auto& [offset, length] : kFourPartRanges) {
    ExpectReadFor((*opened)->GetFileToRead("p", f.id, offset, length), f, offset, length, "");
  }
  // Offsets past any file's size: no overflow, no keys.
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  ExpectReadFor((*opened)->GetFileToRead("p", f.id, kMax, -1), f, kMax, -1, "");
  ExpectReadFor((*opened)->GetFileToRead("p", f.id, kMax - 1, kMax), f, kMax - 1, 1, "");
  ExpectReadFor((*opened)->GetFileToRead("p", f.id, 10, kMax), f, 10, -1, "");
  // A key the range does not read is not decoded: its damage does not fail the read.
  RawDb db = OpenRaw(DbPath());
  ExecRaw(db.get(), "UPDATE file_segments SET segments = 'a:3\nb%ZZ:4\n'");
  auto first = (*opened)->GetFileToRead("p", f.id, 0, 3);
  ASSERT_TRUE(IsOk(first));
  EXPECT_EQ(first->segments, (std::vector<Segment>{{"a", 3}, {"", 4}}));
  auto second = (*opened)->GetFileToRead("p", f.id, 2, 2);
  ASSERT_TRUE(HasCode(second, StatusCode::kDataLoss));
  EXPECT_EQ(second.status().message(), "Corrupt segments column in SQLite");
  // Sizes whose sum passes int64 (no file has them) are damage too, where a range is read.
  ExecRaw(db.get(),
          "UPDATE file_segments SET segments = "
          "'a:900000000000000000\nb:900000000000000000\nc:900000000000000000\n"
          "d:900000000000000000\ne:900000000000000000\nf:900000000000000000\n"
          "g:900000000000000000\nh:900000000000000000\ni:900000000000000000\n"
          "j:900000000000000000\nk:900000000000000000\n'");
  auto past = (*opened)->GetFileToRead("p", f.id, 0, 1);
  ASSERT_TRUE(HasCode(past, StatusCode::kDataLoss));
  EXPECT_EQ(past.status().message(), "Corrupt segments column in SQLite");
  auto all = (*opened)->GetFile("p", f.id);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(all->segments.size(), 11u);
}

// A row whose object is missing (written by no migration: damage) is DataLoss, never an
// empty object in a listing.
TEST_F(SqliteMetadataStoreTest, AFileWithoutItsObjectIsDataLossInAListing) {
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  ASSERT_OK((*opened)->InsertFile([] {
    File f = MakeFile("p", FileId(1));
    f.segments.clear();
    return f;
  }()));
  {
    RawDb db = OpenRaw(DbPath());
    ExecRaw(db.get(), "UPDATE files SET shown = NULL");
  }
  EXPECT_CODE((*opened)->ListFileJson(Query("p")), StatusCode::kDataLoss);
  auto files = (*opened)->ListFiles(Query("p"));
  ASSERT_TRUE(IsOk(files));
  EXPECT_EQ(files->data.size(), 1u);
}

TEST_F(SqliteMetadataStoreTest, NewerSchemaIsFailedPrecondition) {
  {
    auto store = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(store));
  }
  RawDb db = OpenRaw(DbPath());
  ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  db.reset();
  EXPECT_CODE(SqliteMetadataStore::Open(DbPath()), StatusCode::kFailedPrecondition);
}

// A file with no segments, which needs no write intent.
File BareFile(int n) {
  File f = MakeFile("p", FileId(n));
  f.segments.clear();
  return f;
}

std::size_t CountFiles(MetadataStore& store) {
  auto page = store.ListFiles(Query("p"));
  EXPECT_TRUE(IsOk(page));
  return page.ok() ? page->data.size() : 0;
}

// Outside a scope every read is a snapshot of its own: the control for the tests below.
TEST_F(SqliteMetadataStoreTest, ReadsOutsideAScopeSeeEachCommittedWrite) {
  auto a = SqliteMetadataStore::Open(DbPath());
  auto b = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(a) && IsOk(b));
  ASSERT_OK((*a)->InsertFile(BareFile(1)));
  EXPECT_EQ(CountFiles(**a), 1u);
  ASSERT_OK((*b)->InsertFile(BareFile(2)));
  EXPECT_EQ(CountFiles(**a), 2u);
}

// A scope's reads are one transaction: a file another connection inserts meanwhile is not
// seen until the scope ends, or until a read fails (which ends the transaction).
TEST_F(SqliteMetadataStoreTest, SharedReadsAreOneSnapshotUntilTheScopeEndsOrAReadFails) {
  auto a = SqliteMetadataStore::Open(DbPath());
  auto b = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(a) && IsOk(b));
  ASSERT_OK((*a)->InsertFile(BareFile(1)));
  {
    const MetadataStore::SharedReads reads = (*a)->ShareReads();
    EXPECT_EQ(CountFiles(**a), 1u);
    ASSERT_OK((*b)->InsertFile(BareFile(2)));
    EXPECT_EQ(CountFiles(**a), 1u);
    ASSERT_OK((*a)->GetFile("p", FileId(1)));
    EXPECT_CODE((*a)->GetFile("p", FileId(2)), StatusCode::kNotFound);
    EXPECT_EQ(CountFiles(**a), 2u);  // the failed read ended the snapshot
    ASSERT_OK((*b)->InsertFile(BareFile(3)));
    EXPECT_EQ(CountFiles(**a), 2u);
  }
  EXPECT_EQ(CountFiles(**a), 3u);
}

// A write by the scope's own thread ends its transaction: the reads after it see the write,
// and a scope begun inside another ends nothing of the outer one.
TEST_F(SqliteMetadataStoreTest, AWriteInAScopeIsSeenAndAnInnerScopeEndsNothing) {
  auto a = SqliteMetadataStore::Open(DbPath());
  auto b = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(a) && IsOk(b));
  const MetadataStore::SharedReads reads = (*a)->ShareReads();
  EXPECT_EQ(CountFiles(**a), 0u);
  ASSERT_OK((*a)->InsertFile(BareFile(1)));
  EXPECT_EQ(CountFiles(**a), 1u);
  { const MetadataStore::SharedReads inner = (*a)->ShareReads(); }
  ASSERT_OK((*b)->InsertFile(BareFile(2)));
  EXPECT_EQ(CountFiles(**a), 1u);
}

// The scope gives its reader back: with a pool of one, another thread reads after it ends
// (a reader kept would leave that thread waiting for good; the wait here is bounded).
TEST_F(SqliteMetadataStoreTest, AScopeGivesItsReaderBack) {
  auto opened = SqliteMetadataStore::Open(DbPath(), {.pool_size = 1});
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  auto count_elsewhere = [&]() -> std::size_t {
    auto other = std::async(std::launch::async, [&] { return CountFiles(store); });
    if (other.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "the pool's one reader was not given back";
      std::abort();  // the waiting thread cannot be joined
    }
    return other.get();
  };
  ASSERT_OK(store.InsertFile(BareFile(1)));
  {
    const MetadataStore::SharedReads reads = store.ShareReads();
    EXPECT_EQ(CountFiles(store), 1u);
  }
  EXPECT_EQ(count_elsewhere(), 1u);
  {
    const MetadataStore::SharedReads reads = store.ShareReads();
    EXPECT_EQ(CountFiles(store), 1u);
    ASSERT_OK(store.InsertFile(BareFile(2)));  // a write gives the reader back at once
    EXPECT_EQ(count_elsewhere(), 2u);
  }
}

TEST_F(SqliteMetadataStoreTest, WriteLockHeldElsewhereIsUnavailableWhileReadsGoOn) {
  auto opened = SqliteMetadataStore::Open(DbPath(), {.busy_timeout_ms = 50});
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  File f = MakeFile("p", FileId(1));
  f.segments.clear();
  f.bytes = 0;
  ASSERT_OK(store.InsertFile(f));

  RawDb other = OpenRaw(DbPath());
  ASSERT_EQ(sqlite3_exec(other.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_CODE(store.AddGarbage({{"k", kT0}}), StatusCode::kUnavailable);
  EXPECT_CODE(store.InsertApiKey(MakeKey(1, "p", kT0)), StatusCode::kUnavailable);
  EXPECT_OK(store.GetFile("p", f.id));  // WAL: readers are not blocked by the writer
  EXPECT_OK(store.Ping());
  ASSERT_EQ(sqlite3_exec(other.get(), "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);

  EXPECT_OK(store.AddGarbage({{"k", kT0}}));
  auto keys = store.ClaimGarbage(kT0, 10, kT0 + kLease);
  ASSERT_TRUE(IsOk(keys));
  EXPECT_EQ(*keys, std::vector<std::string>{"k"});
}

// The text encoding of segments and part_ids must round-trip keys with its own separators.
TEST_F(SqliteMetadataStoreTest, SegmentsAndPartIdsWithSeparatorCharactersRoundTrip) {
  auto opened = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  File f = MakeFile("p", FileId(1));
  f.segments = {{"a:b", 1}, {"100%", 2}, {"line\nbreak", 3}, {"", 4}, {"%3A", -5}, {":", 0}};
  f.bytes = 5;
  for (const Segment& seg : f.segments) ASSERT_OK(store.AddGarbage({{seg.blob_key, kT0}}));
  ASSERT_OK(store.InsertFile(f));
  auto got = store.GetFile("p", f.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, f);

  Upload u = MakeUpload("p", UploadId(1), 0);
  u.part_ids = {"x:y", "", "50%\n"};
  ASSERT_OK(store.InsertUpload(u));
  auto up = store.GetUpload("p", u.id);
  ASSERT_TRUE(IsOk(up));
  EXPECT_EQ(*up, u);
}

// A segments column whose escapes were damaged reads back as DataLoss, never as other keys.
TEST_F(SqliteMetadataStoreTest, DamagedSegmentEscapesAreDataLoss) {
  {
    auto opened = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(opened));
    File f = MakeFile("p", FileId(1));
    f.segments = {{"a%b", 5}};
    f.bytes = 5;
    ASSERT_OK((*opened)->AddGarbage({{"a%b", kT0}}));
    ASSERT_OK((*opened)->InsertFile(f));
    ASSERT_OK((*opened)->GetFile("p", f.id).status());
  }
  for (const char* damaged : {"a%zzb:5\n", "ab%2:5\n", "ab%:5\n", "a%25%:5\n"}) {
    {
      RawDb db = OpenRaw(DbPath());
      ExecRaw(db.get(), std::string("UPDATE file_segments SET segments = '") + damaged + "'");
    }
    auto opened = SqliteMetadataStore::Open(DbPath());
    ASSERT_TRUE(IsOk(opened));
    EXPECT_CODE((*opened)->GetFile("p", FileId(1)), StatusCode::kDataLoss) << damaged;
  }
}

// A second store on the same file is what a `fileport keys` command next to a running server
// is: writes from both are serialized by SQLite's lock, and compare-and-set still holds.
// Two stores on one database are two nodes: the byte limit and the one completion hold
// across them as within one.
void ExpectTwoNodesKeepTheByteLimitAndOneCompletion(MetadataStore& a, MetadataStore& b) {
  MetadataStore* stores[] = {&a, &b};
  Upload u = MakeUpload("p", UploadId(1), 16);  // parts may total 32 bytes: 16 of them
  ASSERT_OK(stores[0]->InsertUpload(u));
  std::vector<GarbageBlob> intents;
  for (int i = 0; i < 40; ++i) {
    intents.push_back({MakePart("p", u.id, PartId(i), 2).blob_key, kIntentDue});
  }
  ASSERT_OK(stores[1]->AddGarbage(intents));

  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 40; i += 4) {
        Status s = stores[t % 2]->InsertPart(MakePart("p", u.id, PartId(i), 2), kT0);
        if (s.ok()) {
          ++accepted;
        } else {
          EXPECT_CODE(s, StatusCode::kOutOfRange);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 16);

  auto parts = stores[1]->ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  ASSERT_EQ(parts->size(), 16u);
  // Both complete with the first 8 parts (16 bytes) at once: one wins.
  const std::vector<UploadPart> listed(parts->begin(), parts->begin() + 8);
  Status results[2];
  threads.clear();
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      results[t] = stores[t]->CompleteUpload("p", u.id, PartIdsOf(listed), std::nullopt,
                                             FileOfParts(u, FileId(t), listed), kT0, kT0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_NE(results[0].ok(), results[1].ok())
      << results[0].ToString() << " / " << results[1].ToString();
  EXPECT_EQ(results[0].ok() ? results[1].code() : results[0].code(), StatusCode::kAborted);
  auto page = stores[0]->ListFiles(Query("p"));
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->data.size(), 1u);
  parts = stores[0]->ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, listed);
  // The 8 unlisted parts' blobs, and the 24 refused parts' intents, are garbage.
  auto claimed = stores[1]->ClaimGarbage(kFarFuture, 1000, kFarFuture + kLease);
  ASSERT_TRUE(IsOk(claimed));
  EXPECT_EQ(claimed->size(), 32u);
}

TEST_F(SqliteMetadataStoreTest, TwoStoresOnOneFileKeepTheByteLimitAndOneCompletion) {
  auto a = SqliteMetadataStore::Open(DbPath());
  auto b = SqliteMetadataStore::Open(DbPath());
  ASSERT_TRUE(IsOk(a));
  ASSERT_TRUE(IsOk(b));
  ExpectTwoNodesKeepTheByteLimitAndOneCompletion(**a, **b);
}

TEST_F(SqliteMetadataStoreTest, FullDatabaseIsResourceExhaustedAndKeepsWhatWasAcknowledged) {
  auto opened = SqliteMetadataStore::Open(DbPath(), {.max_db_bytes = 256 * 1024});
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  Status last;
  int stored = 0;
  for (int n = 0; n < 10000 && last.ok(); ++n) {
    File f = MakeFile("p", FileId(n));
    f.segments.clear();
    f.bytes = 0;
    f.filename = std::string(2000, 'x');
    last = store.InsertFile(f);
    if (last.ok()) ++stored;
  }
  ASSERT_EQ(last.code(), StatusCode::kResourceExhausted) << last.ToString();
  EXPECT_EQ(last.message().rfind("Storage is full", 0), 0u) << last.message();
  EXPECT_GT(stored, 10);
  EXPECT_CODE(store.GetFile("p", FileId(stored)), StatusCode::kNotFound);  // the refused one
  auto page = store.ListFiles(Query("p", 10000, true));
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->data.size(), static_cast<std::size_t>(stored));
  // Freeing space makes writes possible again.
  ASSERT_OK(store.DeleteFile("p", FileId(0), kT0));
  ASSERT_OK(store.DeleteFile("p", FileId(1), kT0));
  EXPECT_OK(store.AddGarbage({{"after-full", kT0}}));
}

// ---------------------------------------------------------------------------------------------
// What only the PostgreSQL backend promises: nodes sharing one schema, migrations that race,
// sessions that die or wait for another session's locks.

TEST(PostgresMetadataStoreOpenTest, UnreachableServerIsUnavailableAndNoMessageHasThePassword) {
  auto down = PostgresMetadataStore::Open("postgres://fileport:s3cret-pw@127.0.0.1:1/fileport",
                                          {.connect_timeout_seconds = 2});
  EXPECT_CODE(down, StatusCode::kUnavailable);
  EXPECT_EQ(down.status().message().find("s3cret-pw"), std::string::npos)
      << down.status().message();
  // libpq's own parse errors quote the URI: none of that may surface.
  auto malformed = PostgresMetadataStore::Open("postgres://fileport:s3cret-pw@[::1/fileport");
  EXPECT_CODE(malformed, StatusCode::kInvalidArgument);
  EXPECT_EQ(malformed.status().message().find("s3cret-pw"), std::string::npos)
      << malformed.status().message();
  const std::string uri = "postgres://127.0.0.1:1/fileport";
  EXPECT_CODE(PostgresMetadataStore::Open(uri, {.pool_size = 0}), StatusCode::kInvalidArgument);
  EXPECT_CODE(PostgresMetadataStore::Open(uri, {.schema = ""}), StatusCode::kInvalidArgument);
  EXPECT_CODE(PostgresMetadataStore::Open(uri, {.schema = std::string(64, 's')}),
              StatusCode::kInvalidArgument);
}

// Polls `probe` until it returns a non-empty string, for up to 10 s; "" if it never does.
std::string WaitFor(const std::function<std::string()>& probe) {
  for (int i = 0; i < 1000; ++i) {
    std::string v = probe();
    if (!v.empty()) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

class PostgresMetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> uri = TestPostgresUri();
    if (!uri.ok()) GTEST_SKIP() << "postgres is unavailable: " << uri.status().message();
    uri_ = *uri;
    schema_ = ScratchSchema(scratch_.path());
    admin_ = ConnectRaw(uri_);
  }
  void TearDown() override { DropTestSchemas(scratch_.path()); }

  PostgresOptions Options() const {
    PostgresOptions o;
    o.schema = schema_;
    return o;
  }
  // The URI with an application_name unique to this test, so its sessions can be found in
  // pg_stat_activity (and killed).
  std::string NamedUri() const {
    return uri_ + (uri_.find('?') == std::string::npos ? "?" : "&") +
           "application_name=" + AppName();
  }
  std::string AppName() const { return "fp-" + schema_; }
  std::string Table(const std::string& name) const {
    return QuoteIdentifier(schema_) + "." + name;
  }
  // The pid of one of the store's sessions waiting for a lock ("" when none).
  std::string WaitingSession() {
    return PgQuery(admin_.get(),
                   "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                   "AND wait_event_type = 'Lock' LIMIT 1",
                   {AppName()});
  }

  ScratchDir scratch_;
  std::string uri_;
  std::string schema_;
  RawPg admin_;
};

TEST_F(PostgresMetadataStoreTest, NodesStartingAtOnceMigrateTheSchemaOnce) {
  constexpr int kNodes = 6;
  std::vector<std::unique_ptr<MetadataStore>> nodes(kNodes);
  std::vector<Status> errors(kNodes);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      auto opened = PostgresMetadataStore::Open(uri_, Options());
      if (opened.ok()) {
        nodes[i] = std::move(opened).value();
      } else {
        errors[i] = opened.status();
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  for (int i = 0; i < kNodes; ++i) ASSERT_OK(errors[i]) << "node " << i;

  EXPECT_EQ(PgQuery(admin_.get(), "SELECT count(*) || ':' || max(version) FROM " +
                                      Table("fileport_schema_version")),
            "1:3");
  for (auto& node : nodes) EXPECT_OK(node->Migrate());
  // One schema, one set of tables: what one node writes, every other reads.
  File f = MakeFile("p", FileId(1));
  for (const Segment& seg : f.segments) ASSERT_OK(nodes[1]->AddGarbage({{seg.blob_key, kT0}}));
  ASSERT_OK(nodes[0]->InsertFile(f));
  auto got = nodes[kNodes - 1]->GetFile("p", f.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(*got, f);
}

// Schema 2 → 3 counts each project's bytes of files once; the trigger then follows every
// insert and delete, in whichever of a project's 16 rows a file's id falls.
TEST_F(PostgresMetadataStoreTest, MigratingFromSchemaTwoCountsEachProjectsBytes) {
  {
    auto opened = PostgresMetadataStore::Open(uri_, Options());
    ASSERT_TRUE(IsOk(opened));
    PutFilesOfTwoProjects(**opened);
  }
  for (const std::string& sql :
       {"DROP TRIGGER files_usage ON " + Table("files"),
        "DROP FUNCTION " + Table("fileport_count_file_bytes") + "()",
        "DROP TABLE " + Table("project_usage"),
        "UPDATE " + Table("fileport_schema_version") + " SET version = 2"}) {
    PgQuery(admin_.get(), sql);
  }
  auto opened = PostgresMetadataStore::Open(uri_, Options());
  ASSERT_TRUE(IsOk(opened));
  ExpectUsageCountedAndFollowed(**opened);
  EXPECT_EQ(PgQuery(admin_.get(),
                    "SELECT count(*) FROM (SELECT project, SUM(file_bytes) AS n "
                    "FROM " +
                        Table("project_usage") +
                        " GROUP BY project) u "
                        "WHERE n != (SELECT SUM(bytes) FROM " +
                        Table("files") + " f WHERE f.project = u.project)"),
            "0");
  // New files of one project spread over its 16 rows, and their sum stays exact.
  for (int n = 100; n < 116; ++n) {
    File f = MakeFile("c", FileId(n));
    f.segments.clear();
    f.bytes = n;
    ASSERT_OK((*opened)->InsertFile(f));
  }
  EXPECT_EQ(PgQuery(admin_.get(), "SELECT count(*) > 4 AND sum(file_bytes) = 1720 FROM " +
                                      Table("project_usage") + " WHERE project = 'c'"),
            "t");
}

TEST_F(PostgresMetadataStoreTest, NewerSchemaIsFailedPrecondition) {
  {
    auto opened = PostgresMetadataStore::Open(uri_, Options());
    ASSERT_TRUE(IsOk(opened));
  }
  PgQuery(admin_.get(), "UPDATE " + Table("fileport_schema_version") + " SET version = 99");
  EXPECT_CODE(PostgresMetadataStore::Open(uri_, Options()), StatusCode::kFailedPrecondition);
}

TEST_F(PostgresMetadataStoreTest, SchemaNameIsQuotedNeverSpliced) {
  PostgresOptions o = Options();
  o.schema += " Mixed\"Case; DROP TABLE x";  // starts with schema_: dropped after the test
  auto opened = PostgresMetadataStore::Open(uri_, o);
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  File f = MakeFile("p", FileId(1));
  for (const Segment& seg : f.segments) ASSERT_OK(store.AddGarbage({{seg.blob_key, kT0}}));
  ASSERT_OK(store.InsertFile(f));
  EXPECT_OK(store.GetFile("p", f.id));
  EXPECT_EQ(PgQuery(admin_.get(),
                    "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'files'",
                    {o.schema}),
            "1");
  EXPECT_EQ(PgQuery(admin_.get(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                    {schema_}),
            "0");
}

TEST_F(PostgresMetadataStoreTest, TextWithANulCharacterIsInvalidArgumentNotCutShort) {
  auto opened = PostgresMetadataStore::Open(uri_, Options());
  ASSERT_TRUE(IsOk(opened));
  File f = MakeFile("p", FileId(1));
  f.segments.clear();
  f.bytes = 0;
  f.filename = std::string("a\0b.txt", 7);
  EXPECT_CODE((*opened)->InsertFile(f), StatusCode::kInvalidArgument);
  EXPECT_CODE((*opened)->GetFile("p", f.id), StatusCode::kNotFound);
}

TEST_F(PostgresMetadataStoreTest, KilledIdleSessionsAreReplaced) {
  PostgresOptions o = Options();
  o.pool_size = 4;
  auto opened = PostgresMetadataStore::Open(NamedUri(), o);
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  auto busy = [&] {  // concurrent calls: each holds a session of its own
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 20; ++i) {
          if (!store.ListFiles(Query("p")).ok()) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    return failures.load();
  };
  ASSERT_EQ(busy(), 0);

  // An administrator (or a server restart) ends every session of the store.
  const std::string killed = PgQuery(admin_.get(),
                                     "SELECT count(pg_terminate_backend(pid, 5000)) "
                                     "FROM pg_stat_activity WHERE application_name = $1",
                                     {AppName()});
  EXPECT_NE(killed, "0");
  EXPECT_NE(killed, "");

  // Every call finds its session dead before using it and opens a new one.
  EXPECT_OK(store.Ping());
  EXPECT_EQ(busy(), 0);
  File f = MakeFile("p", FileId(1));
  for (const Segment& seg : f.segments) ASSERT_OK(store.AddGarbage({{seg.blob_key, kT0}}));
  EXPECT_OK(store.InsertFile(f));
  EXPECT_OK(store.GetFile("p", f.id));
}

TEST_F(PostgresMetadataStoreTest, SessionKilledInsideATransactionIsRetriedOnANewOneOnce) {
  auto opened = PostgresMetadataStore::Open(NamedUri(), Options());
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  Upload u = MakeUpload("p", UploadId(1), 10);
  ASSERT_OK(store.InsertUpload(u));
  UploadPart part = MakePart("p", u.id, PartId(1), 4);
  ASSERT_OK(store.AddGarbage({{part.blob_key, kIntentDue}}));

  // Another session holds the upload row, so InsertPart waits inside its transaction.
  RawPg locker = ConnectRaw(uri_);
  PgQuery(locker.get(), "BEGIN");
  PgQuery(locker.get(), "SELECT id FROM " + Table("uploads") + " WHERE id = $1 FOR UPDATE",
          {u.id});
  Status result;
  std::thread call([&] { result = store.InsertPart(part, kT0); });
  const std::string first = WaitFor([&] { return WaitingSession(); });
  ASSERT_FALSE(first.empty());
  PgQuery(admin_.get(), "SELECT pg_terminate_backend($1::int, 5000)", {first});
  // Nothing was committed, so the store runs the transaction again on another session.
  const std::string second = WaitFor([&] {
    std::string pid = WaitingSession();
    return pid == first ? "" : pid;
  });
  EXPECT_FALSE(second.empty());
  PgQuery(locker.get(), "COMMIT");
  call.join();
  EXPECT_OK(result);

  // The part is there once, and its bytes were counted once: 16 of 20 receivable are left.
  auto parts = store.ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(*parts, std::vector<UploadPart>{part});
  UploadPart over = MakePart("p", u.id, PartId(2), 17);
  ASSERT_OK(store.AddGarbage({{over.blob_key, kIntentDue}}));
  EXPECT_CODE(store.InsertPart(over, kT0), StatusCode::kOutOfRange);
  UploadPart rest = MakePart("p", u.id, PartId(3), 16);
  ASSERT_OK(store.AddGarbage({{rest.blob_key, kIntentDue}}));
  EXPECT_OK(store.InsertPart(rest, kT0));
}

TEST_F(PostgresMetadataStoreTest, RowLockedElsewhereTimesOutAsUnavailableWhileReadsGoOn) {
  PostgresOptions o = Options();
  o.statement_timeout_ms = 200;
  auto opened = PostgresMetadataStore::Open(uri_, o);
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  Upload u = MakeUpload("p", UploadId(1), 10);
  ASSERT_OK(store.InsertUpload(u));
  UploadPart part = MakePart("p", u.id, PartId(1), 4);
  ASSERT_OK(store.AddGarbage({{part.blob_key, kIntentDue}}));

  RawPg locker = ConnectRaw(uri_);
  PgQuery(locker.get(), "BEGIN");
  PgQuery(locker.get(), "SELECT id FROM " + Table("uploads") + " WHERE id = $1 FOR UPDATE",
          {u.id});
  EXPECT_CODE(store.InsertPart(part, kT0), StatusCode::kUnavailable);
  EXPECT_OK(store.GetUpload("p", u.id));  // readers never wait for row locks
  auto parts = store.ListParts("p", u.id);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_TRUE(parts->empty());
  PgQuery(locker.get(), "COMMIT");
  // The timed-out call changed nothing: its intent is still there to consume.
  EXPECT_OK(store.InsertPart(part, kT0));
}

TEST_F(PostgresMetadataStoreTest, CallsWaitForAFreeSessionThenFailAsUnavailable) {
  PostgresOptions o = Options();
  o.pool_size = 1;
  o.acquire_timeout_ms = 200;
  auto opened = PostgresMetadataStore::Open(NamedUri(), o);
  ASSERT_TRUE(IsOk(opened));
  MetadataStore& store = **opened;
  Upload u = MakeUpload("p", UploadId(1), 10);
  ASSERT_OK(store.InsertUpload(u));
  UploadPart part = MakePart("p", u.id, PartId(1), 4);
  ASSERT_OK(store.AddGarbage({{part.blob_key, kIntentDue}}));

  RawPg locker = ConnectRaw(uri_);
  PgQuery(locker.get(), "BEGIN");
  PgQuery(locker.get(), "SELECT id FROM " + Table("uploads") + " WHERE id = $1 FOR UPDATE",
          {u.id});
  Status result;
  std::thread call([&] { result = store.InsertPart(part, kT0); });  // holds the only session
  ASSERT_FALSE(WaitFor([&] { return WaitingSession(); }).empty());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_CODE(store.Ping(), StatusCode::kUnavailable);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  PgQuery(locker.get(), "COMMIT");
  call.join();
  EXPECT_OK(result);
  EXPECT_OK(store.Ping());
}

// Two stores on one schema are two nodes: the byte limit and the one completion hold across
// them as within one.
TEST_F(PostgresMetadataStoreTest, TwoNodesKeepTheByteLimitAndOneCompletion) {
  auto a = PostgresMetadataStore::Open(uri_, Options());
  auto b = PostgresMetadataStore::Open(uri_, Options());
  ASSERT_TRUE(IsOk(a));
  ASSERT_TRUE(IsOk(b));
  ExpectTwoNodesKeepTheByteLimitAndOneCompletion(**a, **b);
}

}  // namespace
}  // namespace fileport
