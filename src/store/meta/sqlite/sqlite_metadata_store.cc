// SqliteMetadataStore: every MetadataStore method as one SQLite transaction.
//
// The pieces, bottom up: SqliteStatus (the one translation of SQLite result codes into
// Status), owning handles for connections and statements, Stmt (a guard that resets a cached
// statement when it goes out of scope, so no statement keeps a read snapshot open), Conn (a
// connection with its statement cache), ReaderPool, and Impl::Write / Impl::Read, which run a
// method body inside BEGIN IMMEDIATE … COMMIT on the writer connection or inside a read
// transaction on a pooled reader. State changes are compare-and-set UPDATEs whose changed-row
// count decides the outcome; the follow-up read that names the reason (NotFound versus
// Aborted) runs in the same transaction, so it cannot disagree with the UPDATE.
#include "store/meta/sqlite/sqlite_metadata_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "store/meta/shown_file_row.h"
#include "store/meta/store_errors.h"

namespace fileport {
namespace {

using namespace meta_errors;  // NOLINT: the shared texts of every backend

constexpr int kMaxListLimit = 10000;

// ---- Result codes --------------------------------------------------------------------------

// The one place SQLite's result codes become Status. `rc` is an extended code.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  std::string msg = "SQLite: ";
  msg += what;
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status(StatusCode::kResourceExhausted, "Storage is full (" + msg + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable(msg);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return Status(StatusCode::kAlreadyExists, msg);
      }
      return Internal(msg);  // a CHECK or FOREIGN KEY failure is a bug in this file
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status(StatusCode::kDataLoss, msg);
    default:  // SQLITE_IOERR included: the disk failed, what was stored is not known lost
      return Internal(msg);
  }
}

// A short name for a statement in error messages: its first words.
std::string_view SqlHead(std::string_view sql) { return sql.substr(0, 48); }

// ---- Column encodings ----------------------------------------------------------------------
//
// segments: "key:bytes\n" per segment; part_ids: "id\n" per id. Keys and ids are escaped
// (%25 %3A %0A) so any text round-trips, while the usual [A-Za-z0-9_/-] keys stay readable.

void AppendEscaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '%':
        out += "%25";
        break;
      case ':':
        out += "%3A";
        break;
      case '\n':
        out += "%0A";
        break;
      default:
        out += c;
    }
  }
}

Status Corrupt(std::string_view what) {
  return Status(StatusCode::kDataLoss, "Corrupt " + std::string(what) + " column in SQLite");
}

Result<std::string> Unescape(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (;;) {
    const std::size_t pct = s.find('%');
    out.append(s.substr(0, pct));  // the run up to the next escape (all of it, usually)
    if (pct == std::string_view::npos) return out;
    const std::string_view esc = s.substr(pct, 3);
    if (esc == "%25") {
      out += '%';
    } else if (esc == "%3A") {
      out += ':';
    } else if (esc == "%0A") {
      out += '\n';
    } else {
      return Corrupt(what);
    }
    s.remove_prefix(pct + 3);
  }
}

std::string EncodeSegments(const std::vector<Segment>& segments) {
  std::string out;
  for (const Segment& s : segments) {
    AppendEscaped(out, s.blob_key);
    out += ':';
    out += std::to_string(s.bytes);
    out += '\n';
  }
  return out;
}

// The bytes [from, to) of a file: a download's range, whose segments alone need their keys.
struct Window {
  std::int64_t from = 0;
  std::int64_t to = std::numeric_limits<std::int64_t>::max();
};

// Every segment of `text` with its size; the blob key of those that hold bytes of `window`
// (all, without one), the others' left empty.
Result<std::vector<Segment>> DecodeSegments(std::string_view text,
                                            std::optional<Window> window = std::nullopt) {
  // A download reads every segment of its file: one allocation for the list, none to grow it.
  const char* line = text.data();
  const char* const end = line + text.size();
  std::size_t lines = 0;
  for (const char* at = line; (at = static_cast<const char*>(std::memchr(at, '\n', end - at)));
       ++at) {
    ++lines;
  }
  std::vector<Segment> out;
  out.reserve(lines);
  std::int64_t start = 0;  // with a window: where the segment being read starts in the file
  while (line != end) {
    const char* nl = static_cast<const char*>(std::memchr(line, '\n', end - line));
    if (nl == nullptr) return Corrupt("segments");
    // The size ends the line, after its last ':' (a key's own are escaped). It is read from the
    // end, digit by digit, so that a range of a file of many parts scans no key but its own.
    const char* at = nl;
    Segment& seg = out.emplace_back();
    for (std::int64_t unit = 1; at != line && at[-1] >= '0' && at[-1] <= '9'; --at, unit *= 10) {
      if (nl - at == 18) return Corrupt("segments");  // more digits than any size has
      seg.bytes += (at[-1] - '0') * unit;
    }
    if (at == nl) return Corrupt("segments");
    // A sign is never written for real data, but whatever was stored must read back.
    if (at != line && at[-1] == '-') {
      seg.bytes = -seg.bytes;
      --at;
    }
    if (at == line || at[-1] != ':') return Corrupt("segments");
    const std::string_view key(line, at - 1 - line);
    bool needed = true;
    if (window) {
      std::int64_t to;  // sizes no file has summing past int64 can only be damage
      if (__builtin_add_overflow(start, seg.bytes, &to)) return Corrupt("segments");
      needed = seg.bytes > 0 && to > window->from && start < window->to;
      start = to;
    }
    if (needed) {
      if (key.find(':') != std::string_view::npos) return Corrupt("segments");
      ASSIGN_OR_RETURN(seg.blob_key, Unescape(key, "segments"));
    }
    line = nl + 1;
  }
  return out;
}

std::string EncodeIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    AppendEscaped(out, id);
    out += '\n';
  }
  return out;
}

Result<std::vector<std::string>> DecodeIds(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return Corrupt("part_ids");
    ASSIGN_OR_RETURN(std::string id, Unescape(text.substr(0, nl), "part_ids"));
    out.push_back(std::move(id));
    text.remove_prefix(nl + 1);
  }
  return out;
}

// ---- Handles -------------------------------------------------------------------------------

struct DbCloser {
  // close_v2: a statement still alive by mistake delays the close instead of leaking the db.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

struct CachedStmt {
  StmtPtr stmt;
  bool in_use = false;  // one guard at a time: a second would reset the first's cursor
};

// A borrowed cached statement. Binds parameters left to right; on destruction resets the
// statement (ending its implicit read) and clears the bindings.
class Stmt {
 public:
  Stmt(CachedStmt* cached, sqlite3* db) : cached_(cached), db_(db) { cached_->in_use = true; }
  Stmt(Stmt&& o) noexcept
      : cached_(std::exchange(o.cached_, nullptr)), db_(o.db_), next_(o.next_), rc_(o.rc_) {}
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() {
    if (cached_ == nullptr) return;
    sqlite3_reset(s());
    sqlite3_clear_bindings(s());
    cached_->in_use = false;
  }

  Stmt& Bind(std::int64_t v) { return Check(sqlite3_bind_int64(s(), next_++, v)); }
  Stmt& Bind(int v) { return Bind(static_cast<std::int64_t>(v)); }
  Stmt& Bind(std::string_view v) {
    return Check(
        sqlite3_bind_text(s(), next_++, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& Bind(const std::string& v) { return Bind(std::string_view(v)); }
  Stmt& Bind(const char* v) { return Bind(std::string_view(v)); }
  template <class T>
  Stmt& Bind(const std::optional<T>& v) {
    if (v) return Bind(*v);
    return Check(sqlite3_bind_null(s(), next_++));
  }
  template <class... A>
  Stmt& BindAll(const A&... a) {
    (Bind(a), ...);
    return *this;
  }

  // True when a row is ready, false when the statement is done.
  Result<bool> Step() {
    if (rc_ != SQLITE_OK) return SqliteStatus(rc_, db_, SqlHead(sqlite3_sql(s())));
    int rc = sqlite3_step(s());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(sqlite3_extended_errcode(db_), db_, SqlHead(sqlite3_sql(s())));
  }
  // Steps to the end, ignoring rows; for statements run for their effect.
  Status Run() {
    while (true) {
      ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
    }
  }
  // Rows changed by the statement just run (INSERT/UPDATE/DELETE without RETURNING).
  int Changes() const { return sqlite3_changes(db_); }

  std::int64_t Int(int col) { return sqlite3_column_int64(s(), col); }
  std::string Text(int col) { return std::string(TextView(col)); }
  // The column's text, valid until the next Step (or the statement's end).
  std::string_view TextView(int col) {
    const unsigned char* p = sqlite3_column_text(s(), col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                static_cast<std::size_t>(sqlite3_column_bytes(s(), col)))
             : std::string_view();
  }
  bool IsNull(int col) { return sqlite3_column_type(s(), col) == SQLITE_NULL; }
  std::optional<std::int64_t> OptInt(int col) {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  std::optional<std::string> OptText(int col) {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
  }

 private:
  sqlite3_stmt* s() const { return cached_->stmt.get(); }
  Stmt& Check(int rc) {
    if (rc != SQLITE_OK && rc_ == SQLITE_OK) rc_ = rc;  // reported by the next Step()
    return *this;
  }

  CachedStmt* cached_;
  sqlite3* db_;
  int next_ = 1;
  int rc_ = SQLITE_OK;
};

// SQLite's process-wide settings, before its first connection opens. Without memory statistics,
// which fileport does not read, no allocation of any connection takes SQLite's global memory
// mutex: a look-up costs 12-14% fewer instructions (fileport_micro, SqliteGetFileToRead), and
// the workers' look-ups no longer meet on one lock. Where something else in the process has
// started SQLite already, the setting is refused and changes nothing else.
void ConfigureSqliteOnce() {
  static const int kConfigured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kConfigured;
}

// One connection and its prepared statements. Used by one thread at a time.
class Conn {
 public:
  static Result<std::unique_ptr<Conn>> Open(const std::string& path, int flags,
                                            const SqliteOptions& options) {
    ConfigureSqliteOnce();
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    DbPtr db(raw);  // sqlite3_open_v2 hands out a handle even on failure
    if (rc != SQLITE_OK) {
      return SqliteStatus(rc, db.get(), "open " + path);
    }
    sqlite3_extended_result_codes(db.get(), 1);
    sqlite3_busy_timeout(db.get(), options.busy_timeout_ms);
    auto conn = std::unique_ptr<Conn>(new Conn(std::move(db)));
    // FULL: in WAL mode the log is fsynced at every commit, so an acknowledged change
    // survives power loss (NORMAL would only keep the database consistent).
    RETURN_IF_ERROR(conn->Exec("PRAGMA synchronous=FULL"));
    RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys=ON"));
    return conn;
  }

  sqlite3* db() const { return db_.get(); }

  // The cached statement for `sql`, prepared on first use.
  Result<Stmt> Prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v3(db(), sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      StmtPtr stmt(raw);
      if (rc != SQLITE_OK) return SqliteStatus(rc, db(), SqlHead(sql));
      it = cache_.emplace(sql, CachedStmt{std::move(stmt), false}).first;
    }
    if (it->second.in_use) return Internal("SQLite statement used re-entrantly: " + sql);
    return Stmt(&it->second, db());
  }

  // Runs `sql` (possibly several statements) without caching; for pragmas and DDL.
  Status Exec(const char* sql) {
    int rc = sqlite3_exec(db(), sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      return SqliteStatus(sqlite3_extended_errcode(db()), db(), SqlHead(sql));
    }
    return Status::Ok();
  }

  Result<std::int64_t> QueryInt(const std::string& sql) {
    ASSIGN_OR_RETURN(Stmt s, Prepare(sql));
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Internal("SQLite: no row from " + sql);
    return s.Int(0);
  }

  Status RunCached(const std::string& sql) {
    ASSIGN_OR_RETURN(Stmt s, Prepare(sql));
    return s.Run();
  }

  // Ends whatever transaction is open; used on every failure path.
  void RollbackIfOpen() {
    if (!sqlite3_get_autocommit(db())) {
      sqlite3_exec(db(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

 private:
  explicit Conn(DbPtr db) : db_(std::move(db)) {}

  DbPtr db_;  // declared first, destroyed last: after every statement in the cache
  std::unordered_map<std::string, CachedStmt> cache_;
};

// Rolls back the transaction unless Commit() succeeded, also on an exception.
class TxnGuard {
 public:
  explicit TxnGuard(Conn& c) : conn_(c) {}
  ~TxnGuard() {
    if (!committed_) conn_.RollbackIfOpen();
  }
  Status Commit() {
    RETURN_IF_ERROR(conn_.RunCached("COMMIT"));
    committed_ = true;
    return Status::Ok();
  }

 private:
  Conn& conn_;
  bool committed_ = false;
};

class ReaderPool {
 public:
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Conn> c) : pool_(pool), conn_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (conn_) pool_->Return(std::move(conn_));
    }
    Conn& operator*() const { return *conn_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  void Add(std::unique_ptr<Conn> c) { Return(std::move(c)); }

  Lease Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty(); });
    std::unique_ptr<Conn> c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }

 private:
  void Return(std::unique_ptr<Conn> c) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

// ---- Schema --------------------------------------------------------------------------------
//
// Migration i takes the schema from version i to i+1 (PRAGMA user_version). Append, never
// edit: databases in the field have run the earlier entries.
constexpr const char* kMigrations[] = {
    R"sql(
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
)sql",
    // 1 → 2: garbage rows are leased by ClaimGarbage and removed by ForgetGarbage once the blob is
    // deleted, so a sweeper that dies in between leaves a row that comes due again.
    R"sql(
ALTER TABLE garbage ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
)sql",
    // 2 → 3: quotas count a project's pending uploads (GetUsage, InsertUpload).
    R"sql(
CREATE INDEX uploads_by_project_status ON uploads (project, status);
)sql",
    // 3 → 4: files are stored in (project, id) order, the order a listing walks and the key
    // every look-up gives, so neither goes from an index to the table row by row. The id stays
    // unique across projects.
    R"sql(
CREATE TABLE files_v4 (
  id             TEXT NOT NULL,
  project        TEXT NOT NULL,
  purpose        TEXT NOT NULL,
  bytes          INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,
  filename       TEXT NOT NULL,
  status         TEXT NOT NULL,
  status_details TEXT,
  mime_type      TEXT NOT NULL,
  segments       TEXT NOT NULL,
  PRIMARY KEY (project, id)
) WITHOUT ROWID;
INSERT INTO files_v4 SELECT id, project, purpose, bytes, created_at, expires_at, filename, status,
                            status_details, mime_type, segments FROM files;
DROP TABLE files;
ALTER TABLE files_v4 RENAME TO files;
CREATE UNIQUE INDEX files_by_id ON files (id);
CREATE INDEX files_by_project_purpose ON files (project, purpose, id);
CREATE INDEX files_by_expiry ON files (expires_at, id);
)sql",
    // 4 → 5: each file's wire object, written once when the row is inserted (files never
    // change), so that a listing reads one column per file instead of eight and copies it.
    // Migrate writes it for the rows already there (RenderShownFiles): the wire format is
    // C++'s (ToJson), not SQL's. A change to the File wire object needs a migration that sets
    // the column to NULL, which Migrate then writes again.
    R"sql(
ALTER TABLE files ADD COLUMN shown TEXT;
)sql",
    // 5 → 6: a file's segments (one blob key per part: 5.8 KB for 128 parts) move to a table of
    // their own. In the files row they pushed it past what an index b-tree page keeps in place
    // (about 1 KB of a 4 KB page), so most of each row, `shown` included, went to overflow
    // pages, and a listing read one or two of those per file: half the speed for files made
    // from a few parts or more. The files row is now what GET and list read, and it stays in
    // place; only a download or a delete reads the segments.
    R"sql(
CREATE TABLE file_segments (
  id       TEXT PRIMARY KEY,
  segments TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO file_segments SELECT id, segments FROM files;
CREATE TABLE files_v6 (
  id             TEXT NOT NULL,
  project        TEXT NOT NULL,
  purpose        TEXT NOT NULL,
  bytes          INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,
  filename       TEXT NOT NULL,
  status         TEXT NOT NULL,
  status_details TEXT,
  mime_type      TEXT NOT NULL,
  shown          TEXT,
  PRIMARY KEY (project, id)
) WITHOUT ROWID;
INSERT INTO files_v6 SELECT id, project, purpose, bytes, created_at, expires_at, filename, status,
                            status_details, mime_type, shown FROM files;
DROP TABLE files;
ALTER TABLE files_v6 RENAME TO files;
CREATE UNIQUE INDEX files_by_id ON files (id);
CREATE INDEX files_by_project_purpose ON files (project, purpose, id);
CREATE INDEX files_by_expiry ON files (expires_at, id);
)sql",
    // 6 → 7: each project's bytes of files, kept by triggers as files come and go, so that a
    // quota check reads one row rather than summing every file of the project (with a million
    // files, 0.2 s inside the write lock: every write of every project waited). A migration
    // that rebuilds `files` drops its triggers with it and must create them again.
    R"sql(
CREATE TABLE project_usage (
  project    TEXT PRIMARY KEY,
  file_bytes INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO project_usage SELECT project, SUM(bytes) FROM files GROUP BY project;
CREATE TRIGGER files_add_usage AFTER INSERT ON files BEGIN
  INSERT INTO project_usage (project, file_bytes) VALUES (NEW.project, NEW.bytes)
    ON CONFLICT (project) DO UPDATE SET file_bytes = file_bytes + excluded.file_bytes;
END;
CREATE TRIGGER files_remove_usage AFTER DELETE ON files BEGIN
  UPDATE project_usage SET file_bytes = file_bytes - OLD.bytes WHERE project = OLD.project;
END;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// ---- Rows ----------------------------------------------------------------------------------

// The columns of a files row: the shown ones first, so that ReadFileRow starts with
// ReadShownFile.
#define FP_FILE_COLS FP_SHOWN_FILE_COLS ", project, mime_type"
// All of a file, selected from `files`: its row and its segments (NULL when the segments row
// is missing, which ReadFileRow calls DataLoss).
#define FP_FULL_FILE_COLS \
  FP_FILE_COLS ", (SELECT segments FROM file_segments WHERE file_segments.id = files.id)"
#define FP_UPLOAD_COLS                                                                 \
  "id, project, bytes, created_at, expires_at, filename, purpose, mime_type, status, " \
  "file_expires_after, file_id, part_ids, md5"
#define FP_PART_COLS "id, upload_id, project, created_at, bytes, blob_key"
#define FP_KEY_COLS "id, project, secret_sha256, hint, created_at, revoked_at"

// Every remaining row of `s`, each turned into a T by `read` (returning T or Result<T>).
template <class T, class F>
Result<std::vector<T>> CollectRows(Stmt& s, F read) {
  std::vector<T> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    Result<T> item = read(s);
    if (!item.ok()) return item.status();
    out.push_back(std::move(item).value());
  }
}

// The row's file; with a window, only the segments holding bytes of it have their keys.
Result<File> ReadFileRow(Stmt& s, std::optional<Window> window = std::nullopt) {
  File f = ReadShownFile(s, s.Text(8));
  f.mime_type = s.Text(9);
  if (s.IsNull(10)) return Corrupt("file_segments");
  ASSIGN_OR_RETURN(f.segments, DecodeSegments(s.TextView(10), window));
  return f;
}

// Writes files.shown wherever it is NULL (see migration 4 → 5), a thousand rows at a time in
// (project, id) order, inside the migrating transaction.
Status RenderShownFiles(Conn& c) {
  std::string project, id;  // where the last batch stopped
  while (true) {
    std::vector<std::pair<File, std::string>> batch;  // each file and its project
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT " FP_SHOWN_FILE_COLS ", project FROM files "
                                         "WHERE (project, id) > (?, ?) AND shown IS NULL "
                                         "ORDER BY project, id LIMIT 1000"));
      s.BindAll(project, id);
      while (true) {
        ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        std::string row_project = s.Text(8);
        File f = ReadShownFile(s, row_project);
        batch.emplace_back(std::move(f), std::move(row_project));
      }
    }
    if (batch.empty()) return Status::Ok();
    for (const auto& [f, row_project] : batch) {
      ASSIGN_OR_RETURN(Stmt u,
                       c.Prepare("UPDATE files SET shown = ? WHERE project = ? AND id = ?"));
      RETURN_IF_ERROR(u.BindAll(ToJson(f), row_project, f.id).Run());
    }
    project = batch.back().second;
    id = batch.back().first.id;
  }
}

Result<Upload> ReadUploadRow(Stmt& s) {
  Upload u;
  u.id = s.Text(0);
  u.project = s.Text(1);
  u.bytes = s.Int(2);
  u.created_at = s.Int(3);
  u.expires_at = s.Int(4);
  u.filename = s.Text(5);
  u.purpose = s.Text(6);
  u.mime_type = s.Text(7);
  std::optional<UploadStatus> status = ParseUploadStatus(s.Text(8));
  if (!status) return Corrupt("uploads.status");
  u.status = *status;
  u.file_expires_after = s.OptInt(9);
  u.file_id = s.OptText(10);
  ASSIGN_OR_RETURN(u.part_ids, DecodeIds(s.Text(11)));
  u.md5 = s.OptText(12);
  return u;
}

UploadPart ReadPartRow(Stmt& s) {
  UploadPart p;
  p.id = s.Text(0);
  p.upload_id = s.Text(1);
  p.project = s.Text(2);
  p.created_at = s.Int(3);
  p.bytes = s.Int(4);
  p.blob_key = s.Text(5);
  return p;
}

ApiKey ReadKeyRow(Stmt& s) {
  ApiKey k;
  k.id = s.Text(0);
  k.project = s.Text(1);
  k.secret_sha256_hex = s.Text(2);
  k.hint = s.Text(3);
  k.created_at = s.Int(4);
  k.revoked_at = s.OptInt(5);
  return k;
}


// The upsert every move into garbage uses: an unleased row keeps the earlier due_at, a leased
// one is left alone (its claimer is deleting the blob, or its lease runs out).
#define FP_GARBAGE_UPSERT \
  " ON CONFLICT (blob_key) DO UPDATE SET due_at = MIN(due_at, excluded.due_at) WHERE leased = 0"

Status AddGarbageRow(Conn& c, const std::string& key, std::int64_t due_at) {
  ASSIGN_OR_RETURN(
      Stmt s, c.Prepare("INSERT INTO garbage (blob_key, due_at) VALUES (?, ?)" FP_GARBAGE_UPSERT));
  return s.BindAll(key, due_at).Run();
}

// Removes the intent row of `key`; Aborted when the sweeper took it (the row is leased, or
// already gone): the blob may be deleted.
Status ConsumeIntent(Conn& c, const std::string& key) {
  ASSIGN_OR_RETURN(Stmt s, c.Prepare("DELETE FROM garbage WHERE blob_key = ? AND leased = 0"));
  RETURN_IF_ERROR(s.Bind(key).Run());
  if (s.Changes() != 1) return IntentGone(key);
  return Status::Ok();
}

// The status and expiry of an upload, read to explain a compare-and-set that changed nothing.
struct UploadState {
  UploadStatus status;
  std::int64_t expires_at;
  std::int64_t bytes;
  std::int64_t received_bytes;
};
Result<std::optional<UploadState>> ReadUploadState(Conn& c, const std::string& project,
                                                   const std::string& id) {
  ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT status, expires_at, bytes, received_bytes "
                                     "FROM uploads WHERE id = ? AND project = ?"));
  ASSIGN_OR_RETURN(bool row, s.BindAll(id, project).Step());
  if (!row) return std::optional<UploadState>();
  std::optional<UploadStatus> status = ParseUploadStatus(s.Text(0));
  if (!status) return Corrupt("uploads.status");
  return std::optional<UploadState>(UploadState{*status, s.Int(1), s.Int(2), s.Int(3)});
}

}  // namespace

// This thread's shared read transaction (MetadataStore::ShareReads): whose store, its reader
// once a read took one, and whether a transaction is open on it.
struct SharedRead {
  const void* store = nullptr;  // the Impl whose reads are shared; null: none
  std::optional<ReaderPool::Lease> lease;
  bool open = false;
};
thread_local SharedRead t_shared;

// ---- Impl ----------------------------------------------------------------------------------

struct SqliteMetadataStore::Impl {
  SqliteOptions options;
  std::mutex write_mu;  // in-process writers queue here instead of polling SQLite's lock
  std::unique_ptr<Conn> writer;
  ReaderPool readers;

  // Runs body(Conn&) -> Status | Result<T> in BEGIN IMMEDIATE … COMMIT on the writer: the
  // write lock is taken up front, so no read inside the body can be invalidated by another
  // writer before the commit. Any error rolls everything back.
  template <class F>
  std::invoke_result_t<F, Conn&> Write(F&& body) {
    if (t_shared.store == this) EndSharedTransaction();  // later reads see this write
    std::lock_guard lock(write_mu);
    Conn& c = *writer;
    TxnGuard txn(c);
    RETURN_IF_ERROR(c.RunCached("BEGIN IMMEDIATE"));
    auto result = body(c);
    if (!result.ok()) return result;
    RETURN_IF_ERROR(txn.Commit());
    return result;
  }

  // Runs body(Conn&) in a read transaction on a pooled reader: one consistent snapshot.
  template <class F>
  std::invoke_result_t<F, Conn&> Read(F&& body) {
    if (t_shared.store == this) return ReadShared(body);
    ReaderPool::Lease lease = readers.Acquire();
    Conn& c = *lease;
    TxnGuard txn(c);
    RETURN_IF_ERROR(c.RunCached("BEGIN"));
    auto result = body(c);
    if (!result.ok()) return result;
    RETURN_IF_ERROR(txn.Commit());
    return result;
  }

  // Read, in this thread's shared transaction: begun by the first read, ended by the scope, a
  // write, or a read that fails (the next read then begins afresh).
  template <class F>
  std::invoke_result_t<F, Conn&> ReadShared(F& body) {
    if (!t_shared.lease) t_shared.lease.emplace(readers.Acquire());
    Conn& c = **t_shared.lease;
    if (!t_shared.open) {
      RETURN_IF_ERROR(c.RunCached("BEGIN"));
      t_shared.open = true;
    }
    auto result = body(c);
    if (!result.ok()) EndSharedTransaction();
    return result;
  }

  // Ends this thread's shared transaction, if one is open, and returns its reader.
  static void EndSharedTransaction() {
    if (t_shared.open) {
      Conn& c = **t_shared.lease;
      if (!c.RunCached("COMMIT").ok()) c.RollbackIfOpen();  // a read has nothing to keep
      t_shared.open = false;
    }
    t_shared.lease.reset();
  }
};

bool SqliteMetadataStore::BeginSharedReads() {
  if (t_shared.store != nullptr) return false;
  t_shared.store = impl_.get();
  return true;
}

void SqliteMetadataStore::EndSharedReads() {
  Impl::EndSharedTransaction();
  t_shared.store = nullptr;
}

SqliteMetadataStore::SqliteMetadataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteMetadataStore::~SqliteMetadataStore() = default;

Result<std::unique_ptr<MetadataStore>> SqliteMetadataStore::Open(const std::string& path,
                                                                 SqliteOptions options) {
  if (options.pool_size < 1) return InvalidArgument("pool_size must be at least 1");
  if (options.busy_timeout_ms < 0) return InvalidArgument("busy_timeout_ms must be >= 0");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ASSIGN_OR_RETURN(impl->writer,
                   Conn::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options));
  Conn& w = *impl->writer;
  // WAL is a property of the file (it persists); readers then never block the writer.
  {
    ASSIGN_OR_RETURN(Stmt s, w.Prepare("PRAGMA journal_mode=WAL"));
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.Text(0) != "wal") {
      return Internal("SQLite: could not switch " + path + " to WAL mode");
    }
  }
  // After a burst the WAL is truncated back to this size at checkpoints instead of staying
  // as large as the burst made it.
  RETURN_IF_ERROR(w.Exec("PRAGMA journal_size_limit=67108864"));
  if (options.max_db_bytes > 0) {
    ASSIGN_OR_RETURN(std::int64_t page_size, w.QueryInt("PRAGMA page_size"));
    std::string sql = "PRAGMA max_page_count=" +
                      std::to_string(std::max<std::int64_t>(1, options.max_db_bytes / page_size));
    RETURN_IF_ERROR(w.Exec(sql.c_str()));
  }

  auto store = std::unique_ptr<SqliteMetadataStore>(new SqliteMetadataStore(std::move(impl)));
  RETURN_IF_ERROR(store->Migrate());
  for (int i = 0; i < options.pool_size; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<Conn> reader,
                     Conn::Open(path, SQLITE_OPEN_READWRITE, options));
    // Readers never write; query_only turns a slip into an error instead of a second writer.
    RETURN_IF_ERROR(reader->Exec("PRAGMA query_only=1"));
    store->impl_->readers.Add(std::move(reader));
  }
  return std::unique_ptr<MetadataStore>(std::move(store));
}

Status SqliteMetadataStore::Migrate() {
  return impl_->Write([&](Conn& c) -> Status {
    ASSIGN_OR_RETURN(std::int64_t version, c.QueryInt("PRAGMA user_version"));
    if (version > kSchemaVersion) {
      return FailedPrecondition("The metadata database has schema version " +
                                std::to_string(version) + "; this fileport knows up to " +
                                std::to_string(kSchemaVersion));
    }
    if (version == kSchemaVersion) return Status::Ok();
    // An existing database's migration rewrites its files table: a start that takes long for
    // a reason the operator is told.
    const auto started = std::chrono::steady_clock::now();
    if (version > 0) {
      spdlog::info(
          "SQLite metadata: migrating the database from schema {} to {}; this reads or "
          "rewrites every file's row once (a few seconds per million files)",
          version, kSchemaVersion);
    }
    for (std::int64_t v = version; v < kSchemaVersion; ++v) {
      RETURN_IF_ERROR(c.Exec(kMigrations[v]));
    }
    RETURN_IF_ERROR(RenderShownFiles(c));
    // user_version is in the database header, so it commits with the DDL above.
    std::string sql = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
    RETURN_IF_ERROR(c.Exec(sql.c_str()));
    if (version > 0) {
      spdlog::info("SQLite metadata: schema {} written in {:.1f} s", kSchemaVersion,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                       .count());
    }
    return Status::Ok();
  });
}

Status SqliteMetadataStore::Ping() {
  return impl_->Read([](Conn& c) -> Status { return c.QueryInt("SELECT 1").status(); });
}

// ---- Garbage -------------------------------------------------------------------------------

Status SqliteMetadataStore::AddGarbage(const std::vector<GarbageBlob>& blobs) {
  if (blobs.empty()) return Status::Ok();
  return impl_->Write([&](Conn& c) -> Status {
    for (const GarbageBlob& b : blobs) RETURN_IF_ERROR(AddGarbageRow(c, b.blob_key, b.due_at));
    return Status::Ok();
  });
}

Result<std::vector<std::string>> SqliteMetadataStore::ClaimGarbage(std::int64_t now, int limit,
                                                                   std::int64_t lease_until) {
  RETURN_IF_ERROR(CheckLimit(limit));
  return impl_->Write([&](Conn& c) -> Result<std::vector<std::string>> {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("UPDATE garbage SET leased = 1, due_at = ? "
                                       "WHERE blob_key IN ("
                                       "SELECT blob_key FROM garbage WHERE due_at <= ? "
                                       "ORDER BY due_at, blob_key LIMIT ?) RETURNING blob_key"));
    s.BindAll(lease_until, now, limit);
    return CollectRows<std::string>(s, [](Stmt& r) { return r.Text(0); });
  });
}

Status SqliteMetadataStore::ForgetGarbage(const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::Ok();
  return impl_->Write([&](Conn& c) -> Status {
    for (const std::string& key : keys) {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("DELETE FROM garbage WHERE blob_key = ?"));
      RETURN_IF_ERROR(s.Bind(key).Run());
    }
    return Status::Ok();
  });
}

// ---- Files ---------------------------------------------------------------------------------

namespace {
// A project's usage, read inside the transaction that enforces its quota.
Result<ProjectUsage> ReadUsage(Conn& c, const std::string& project) {
  ProjectUsage usage;
  ASSIGN_OR_RETURN(Stmt f, c.Prepare("SELECT file_bytes FROM project_usage WHERE project = ?"));
  ASSIGN_OR_RETURN(bool row, f.Bind(project).Step());
  if (row) usage.bytes = f.Int(0);
  ASSIGN_OR_RETURN(Stmt u, c.Prepare("SELECT COALESCE(SUM(bytes), 0), COUNT(*) FROM uploads "
                                     "WHERE project = ? AND status = 'pending'"));
  ASSIGN_OR_RETURN(row, u.Bind(project).Step());
  if (row) {
    usage.bytes += u.Int(0);
    usage.pending_uploads = u.Int(1);
  }
  return usage;
}

// Checks `quota` inside the inserting transaction (SQLite has one writer at a time, so the
// usage read here cannot change before the insert commits).
Status CheckQuotaIn(Conn& c, const std::string& project, const Quota& quota,
                    std::int64_t add_bytes, bool new_upload) {
  if (!quota.limited()) return Status::Ok();
  ASSIGN_OR_RETURN(ProjectUsage usage, ReadUsage(c, project));
  return CheckQuota(quota, usage, add_bytes, new_upload);
}

// The file's row and its segments' row.
Status InsertFileRows(Conn& c, const File& f) {
  {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO files (" FP_FILE_COLS
                                       ", shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(s.BindAll(f.id, f.purpose, f.bytes, f.created_at, f.expires_at, f.filename,
                              f.status, f.status_details, f.project, f.mime_type, ToJson(f))
                        .Run());
  }
  ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO file_segments (id, segments) VALUES (?, ?)"));
  return s.BindAll(f.id, EncodeSegments(f.segments)).Run();
}
}  // namespace

Status SqliteMetadataStore::InsertFile(const File& file, const Quota& quota) {
  return impl_->Write([&](Conn& c) -> Status {
    RETURN_IF_ERROR(CheckQuotaIn(c, file.project, quota, file.bytes, /*new_upload=*/false));
    RETURN_IF_ERROR(InsertFileRows(c, file));
    std::set<std::string> keys;  // a key listed twice has one intent row
    for (const Segment& s : file.segments) keys.insert(s.blob_key);
    for (const std::string& key : keys) RETURN_IF_ERROR(ConsumeIntent(c, key));
    return Status::Ok();
  });
}

namespace {

// The file `id` of `project`; with a window, only the segments holding bytes of it have keys.
template <class Impl>
Result<File> GetFileRow(Impl& impl, const std::string& project, const std::string& id,
                        std::optional<Window> window) {
  return impl.Read([&](Conn& c) -> Result<File> {
    ASSIGN_OR_RETURN(
        Stmt s, c.Prepare("SELECT " FP_FULL_FILE_COLS " FROM files WHERE id = ? AND project = ?"));
    ASSIGN_OR_RETURN(bool row, s.BindAll(id, project).Step());
    if (!row) return FileNotFound(id);
    return ReadFileRow(s, window);
  });
}

}  // namespace

Result<File> SqliteMetadataStore::GetFile(const std::string& project, const std::string& id) {
  return GetFileRow(*impl_, project, id, std::nullopt);
}

Result<File> SqliteMetadataStore::GetFileToRead(const std::string& project, const std::string& id,
                                                std::int64_t offset, std::int64_t length) {
  if (offset < 0) return GetFile(project, id);  // no range: the reader will refuse it
  Window window;
  window.from = offset;
  if (length >= 0 && length <= window.to - offset) window.to = offset + length;
  return GetFileRow(*impl_, project, id, window);
}

Result<File> SqliteMetadataStore::GetShownFile(const std::string& project, const std::string& id) {
  return impl_->Read([&](Conn& c) -> Result<File> {
    ASSIGN_OR_RETURN(
        Stmt s, c.Prepare("SELECT " FP_SHOWN_FILE_COLS " FROM files WHERE id = ? AND project = ?"));
    ASSIGN_OR_RETURN(bool row, s.BindAll(id, project).Step());
    if (!row) return FileNotFound(id);
    return ReadShownFile(s, project);
  });
}

namespace {

// Runs q's listing with `columns` of each row, calling `row(s)` for every row of the page
// (returning Status); true when more rows follow. A keyset walk of the table itself (stored
// in (project, id) order) or of files_by_project_purpose. The expiry test is kept off the
// expiry index with unary '+': the walk must follow id order.
template <class Impl, class F>
Result<bool> WalkFileRows(Impl& impl, const FileQuery& q, std::string_view columns, F row) {
  RETURN_IF_ERROR(CheckLimit(q.limit));
  if (q.limit > kMaxListLimit) return InvalidArgument("limit must be at most 10000", "limit");
  std::string sql = "SELECT ";
  sql += columns;
  sql += " FROM files WHERE project = ?";
  if (q.purpose) sql += " AND purpose = ?";
  if (q.after) sql += q.ascending ? " AND id > ?" : " AND id < ?";
  sql += " AND (+expires_at IS NULL OR +expires_at > ?)";
  sql += q.ascending ? " ORDER BY id ASC" : " ORDER BY id DESC";
  sql += " LIMIT ?";
  return impl.Read([&](Conn& c) -> Result<bool> {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare(sql));
    s.Bind(q.project);
    if (q.purpose) s.Bind(*q.purpose);
    if (q.after) s.Bind(*q.after);
    s.BindAll(q.now, q.limit + 1);  // the extra row only says whether more follow
    for (int n = 0;; ++n) {
      ASSIGN_OR_RETURN(bool more, s.Step());
      if (!more || n == q.limit) return more;
      RETURN_IF_ERROR(row(s));
    }
  });
}

}  // namespace

Result<Page<File>> SqliteMetadataStore::ListFiles(const FileQuery& q) {
  Page<File> page;
  page.data.reserve(static_cast<std::size_t>(std::clamp(q.limit, 0, 1000)));
  auto more = WalkFileRows(
      *impl_, q, q.shown_fields_only ? FP_SHOWN_FILE_COLS : FP_FULL_FILE_COLS,
      [&](Stmt& s) -> Status {
        ASSIGN_OR_RETURN(File f, q.shown_fields_only ? Result<File>(ReadShownFile(s, q.project))
                                                     : ReadFileRow(s));
        page.data.push_back(std::move(f));
        return Status::Ok();
      });
  if (!more.ok()) return more.status();
  page.has_more = *more;
  return page;
}

Result<FileJsonPage> SqliteMetadataStore::ListFileJson(FileQuery q) {
  FileJsonPage page;
  // Objects run to about 230 bytes: most pages are made in one allocation.
  page.objects.reserve(static_cast<std::size_t>(std::clamp(q.limit, 0, 1000)) * 256);
  auto more = WalkFileRows(*impl_, q, "id, shown", [&](Stmt& s) -> Status {
    if (s.IsNull(1)) return Corrupt("shown");  // Migrate writes every row's
    AppendFileJson(page, s.TextView(0), s.TextView(1));
    return Status::Ok();
  });
  if (!more.ok()) return more.status();
  page.has_more = *more;
  return page;
}

Status SqliteMetadataStore::DeleteFile(const std::string& project, const std::string& id,
                                       std::int64_t garbage_due) {
  return impl_->Write([&](Conn& c) -> Status {
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("DELETE FROM files WHERE id = ? AND project = ?"));
      RETURN_IF_ERROR(s.BindAll(id, project).Run());
      if (s.Changes() == 0) return FileNotFound(id);
    }
    std::vector<Segment> segments;
    {
      ASSIGN_OR_RETURN(Stmt s,
                       c.Prepare("DELETE FROM file_segments WHERE id = ? RETURNING segments"));
      ASSIGN_OR_RETURN(bool row, s.Bind(id).Step());
      if (!row) return Corrupt("file_segments");  // rolls the row's delete back
      ASSIGN_OR_RETURN(segments, DecodeSegments(s.TextView(0)));
      RETURN_IF_ERROR(s.Run());
    }
    for (const Segment& seg : segments) {
      RETURN_IF_ERROR(AddGarbageRow(c, seg.blob_key, garbage_due));
    }
    return Status::Ok();
  });
}

Result<std::vector<File>> SqliteMetadataStore::ListExpiredFiles(std::int64_t now, int limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  return impl_->Read([&](Conn& c) -> Result<std::vector<File>> {
    ASSIGN_OR_RETURN(Stmt s,
                     c.Prepare("SELECT " FP_FULL_FILE_COLS " FROM files WHERE expires_at <= ? "
                               "ORDER BY expires_at, id LIMIT ?"));
    s.BindAll(now, limit);
    return CollectRows<File>(s, [](Stmt& row) { return ReadFileRow(row); });
  });
}

// ---- Uploads and parts ---------------------------------------------------------------------

Status SqliteMetadataStore::InsertUpload(const Upload& u, const Quota& quota) {
  return impl_->Write([&](Conn& c) -> Status {
    RETURN_IF_ERROR(CheckQuotaIn(c, u.project, quota, u.bytes, /*new_upload=*/true));
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO uploads (" FP_UPLOAD_COLS
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    return s
        .BindAll(u.id, u.project, u.bytes, u.created_at, u.expires_at, u.filename, u.purpose,
                 u.mime_type, UploadStatusName(u.status), u.file_expires_after, u.file_id,
                 EncodeIds(u.part_ids), u.md5)
        .Run();
  });
}

Result<ProjectUsage> SqliteMetadataStore::GetUsage(const std::string& project) {
  return impl_->Read([&](Conn& c) { return ReadUsage(c, project); });
}

Result<Upload> SqliteMetadataStore::GetUpload(const std::string& project, const std::string& id) {
  return impl_->Read([&](Conn& c) -> Result<Upload> {
    ASSIGN_OR_RETURN(
        Stmt s, c.Prepare("SELECT " FP_UPLOAD_COLS " FROM uploads WHERE id = ? AND project = ?"));
    ASSIGN_OR_RETURN(bool row, s.BindAll(id, project).Step());
    if (!row) return UploadNotFound(id);
    return ReadUploadRow(s);
  });
}

Status SqliteMetadataStore::InsertPart(const UploadPart& part, std::int64_t now) {
  if (part.bytes < 0) return InvalidArgument("A part cannot have a negative size", "data");
  return impl_->Write([&](Conn& c) -> Status {
    // The byte budget is taken by compare-and-set on the running total, so concurrent parts
    // can never jointly overshoot `bytes`.
    std::int64_t seq = 0;
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("UPDATE uploads SET received_bytes = received_bytes + ?1, "
                                         "part_count = part_count + 1 "
                                         "WHERE id = ?2 AND project = ?3 AND status = 'pending' "
                                         "AND expires_at > ?4 AND received_bytes + ?1 <= 2 * bytes "
                                         "RETURNING part_count"));
      ASSIGN_OR_RETURN(bool row, s.BindAll(part.bytes, part.upload_id, part.project, now).Step());
      if (row) {
        seq = s.Int(0);
        RETURN_IF_ERROR(s.Run());
      }
    }
    if (seq == 0) {
      ASSIGN_OR_RETURN(std::optional<UploadState> st,
                       ReadUploadState(c, part.project, part.upload_id));
      if (!st) return UploadNotFound(part.upload_id);
      RETURN_IF_ERROR(PartRefusedByState(part.upload_id, st->status, st->expires_at, now));
      return PartsOverLimit(st->received_bytes, part.bytes, st->bytes);
    }
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO parts (" FP_PART_COLS
                                         ", seq) VALUES (?, ?, ?, ?, ?, ?, ?)"));
      RETURN_IF_ERROR(s.BindAll(part.id, part.upload_id, part.project, part.created_at, part.bytes,
                                part.blob_key, seq)
                          .Run());
    }
    return ConsumeIntent(c, part.blob_key);
  });
}

namespace {
Result<std::vector<UploadPart>> SelectParts(Conn& c, const std::string& upload_id) {
  ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT " FP_PART_COLS " FROM parts WHERE upload_id = ? "
                                     "ORDER BY created_at, seq"));
  s.Bind(upload_id);
  return CollectRows<UploadPart>(s, ReadPartRow);
}
}  // namespace

Result<std::vector<UploadPart>> SqliteMetadataStore::ListParts(const std::string& project,
                                                               const std::string& upload_id) {
  return impl_->Read([&](Conn& c) -> Result<std::vector<UploadPart>> {
    ASSIGN_OR_RETURN(std::optional<UploadState> st, ReadUploadState(c, project, upload_id));
    if (!st) return UploadNotFound(upload_id);
    return SelectParts(c, upload_id);
  });
}

Status SqliteMetadataStore::CompleteUpload(const std::string& project, const std::string& upload_id,
                                           const std::vector<std::string>& part_ids,
                                           const std::optional<std::string>& md5, const File& file,
                                           std::int64_t now, std::int64_t garbage_due) {
  return impl_->Write([&](Conn& c) -> Status {
    std::optional<std::int64_t> bytes;
    {
      ASSIGN_OR_RETURN(
          Stmt s, c.Prepare("UPDATE uploads SET status = 'completed', file_id = ?, part_ids = ?, "
                            "md5 = ?, received_bytes = bytes "
                            "WHERE id = ? AND project = ? AND status = 'pending' "
                            "AND expires_at > ? RETURNING bytes"));
      ASSIGN_OR_RETURN(
          bool row, s.BindAll(file.id, EncodeIds(part_ids), md5, upload_id, project, now).Step());
      if (row) {
        bytes = s.Int(0);
        RETURN_IF_ERROR(s.Run());
      }
    }
    if (!bytes) {
      ASSIGN_OR_RETURN(std::optional<UploadState> st, ReadUploadState(c, project, upload_id));
      if (!st) return UploadNotFound(upload_id);
      if (st->status != UploadStatus::kPending) {
        return Aborted("Upload " + upload_id + " is " + std::string(UploadStatusName(st->status)));
      }
      return Aborted("Upload " + upload_id + " has expired");
    }

    // The store re-checks what the caller validated: a file pointing at a blob this call is
    // about to hand to the sweeper would lose data. Failing here rolls the UPDATE back.
    ASSIGN_OR_RETURN(std::vector<UploadPart> parts, SelectParts(c, upload_id));
    std::map<std::string, const UploadPart*> mine;
    for (const UploadPart& p : parts) mine.emplace(p.id, &p);
    std::set<std::string> listed;
    std::vector<Segment> segments;
    std::int64_t sum = 0;
    for (const std::string& pid : part_ids) {
      auto it = mine.find(pid);
      if (it == mine.end()) {
        return InvalidArgument("Part " + pid + " does not belong to upload " + upload_id,
                               "part_ids");
      }
      if (!listed.insert(pid).second) {
        return InvalidArgument("Part " + pid + " is listed more than once", "part_ids");
      }
      sum += it->second->bytes;
      segments.push_back({it->second->blob_key, it->second->bytes});
    }
    if (sum != *bytes) {
      return InvalidArgument("The number of bytes uploaded (" + std::to_string(sum) +
                                 ") does not match the expected number of bytes (" +
                                 std::to_string(*bytes) + ")",
                             "part_ids");
    }
    if (file.project != project || file.bytes != *bytes || file.segments != segments) {
      return InvalidArgument("The file of upload " + upload_id +
                             " does not match its listed parts");
    }
    RETURN_IF_ERROR(InsertFileRows(c, file));

    for (const UploadPart& p : parts) {
      if (listed.count(p.id)) continue;
      RETURN_IF_ERROR(AddGarbageRow(c, p.blob_key, garbage_due));
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("DELETE FROM parts WHERE id = ?"));
      RETURN_IF_ERROR(s.Bind(p.id).Run());
    }
    return Status::Ok();
  });
}

Result<Upload> SqliteMetadataStore::TransitionUpload(const std::string& project,
                                                     const std::string& id, UploadStatus from,
                                                     UploadStatus to, std::int64_t garbage_due) {
  if (from != UploadStatus::kPending ||
      (to != UploadStatus::kCancelled && to != UploadStatus::kExpired)) {
    // Any other move would hand a completed file's blobs to the sweeper.
    return InvalidArgument("An upload can only move from pending to cancelled or expired");
  }
  return impl_->Write([&](Conn& c) -> Result<Upload> {
    std::optional<Upload> upload;
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("UPDATE uploads SET status = ?, received_bytes = 0 "
                                         "WHERE id = ? AND project = ? AND status = ? "
                                         "RETURNING " FP_UPLOAD_COLS));
      ASSIGN_OR_RETURN(bool row,
                       s.BindAll(UploadStatusName(to), id, project, UploadStatusName(from)).Step());
      if (row) {
        ASSIGN_OR_RETURN(upload, ReadUploadRow(s));
        RETURN_IF_ERROR(s.Run());
      }
    }
    if (!upload) {
      ASSIGN_OR_RETURN(std::optional<UploadState> st, ReadUploadState(c, project, id));
      if (!st) return UploadNotFound(id);
      return Aborted("Upload " + id + " is " + std::string(UploadStatusName(st->status)));
    }
    {
      ASSIGN_OR_RETURN(
          Stmt s, c.Prepare("INSERT INTO garbage (blob_key, due_at) "
                            "SELECT blob_key, ? FROM parts WHERE upload_id = ?" FP_GARBAGE_UPSERT));
      RETURN_IF_ERROR(s.BindAll(garbage_due, id).Run());
    }
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("DELETE FROM parts WHERE upload_id = ?"));
      RETURN_IF_ERROR(s.Bind(id).Run());
    }
    return *std::move(upload);
  });
}

Result<std::vector<Upload>> SqliteMetadataStore::ListExpiredUploads(std::int64_t now, int limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  return impl_->Read([&](Conn& c) -> Result<std::vector<Upload>> {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT " FP_UPLOAD_COLS " FROM uploads "
                                       "WHERE status = 'pending' AND expires_at <= ? "
                                       "ORDER BY expires_at, id LIMIT ?"));
    s.BindAll(now, limit);
    return CollectRows<Upload>(s, ReadUploadRow);
  });
}

// ---- API keys ------------------------------------------------------------------------------

Status SqliteMetadataStore::InsertApiKey(const ApiKey& k) {
  return impl_->Write([&](Conn& c) -> Status {
    ASSIGN_OR_RETURN(Stmt s,
                     c.Prepare("INSERT INTO api_keys (" FP_KEY_COLS ") VALUES (?, ?, ?, ?, ?, ?)"));
    return s.BindAll(k.id, k.project, k.secret_sha256_hex, k.hint, k.created_at, k.revoked_at)
        .Run();
  });
}

Result<std::vector<ApiKey>> SqliteMetadataStore::ListApiKeys() {
  return impl_->Read([&](Conn& c) -> Result<std::vector<ApiKey>> {
    ASSIGN_OR_RETURN(Stmt s,
                     c.Prepare("SELECT " FP_KEY_COLS " FROM api_keys ORDER BY created_at, id"));
    return CollectRows<ApiKey>(s, ReadKeyRow);
  });
}

Status SqliteMetadataStore::RevokeApiKey(const std::string& id, std::int64_t now) {
  return impl_->Write([&](Conn& c) -> Status {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) "
                                       "WHERE id = ?"));
    RETURN_IF_ERROR(s.BindAll(now, id).Run());
    if (s.Changes() != 1) return NotFound("No such API key: " + id, "id");
    return Status::Ok();
  });
}

Result<ApiKey> SqliteMetadataStore::FindApiKey(const std::string& secret_sha256_hex) {
  return impl_->Read([&](Conn& c) -> Result<ApiKey> {
    ASSIGN_OR_RETURN(Stmt s,
                     c.Prepare("SELECT " FP_KEY_COLS " FROM api_keys WHERE secret_sha256 = ?"));
    ASSIGN_OR_RETURN(bool row, s.Bind(secret_sha256_hex).Step());
    if (!row) return NotFound("No API key has this secret");
    return ReadKeyRow(s);
  });
}

Result<bool> SqliteMetadataStore::HasApiKeys() {
  return impl_->Read([&](Conn& c) -> Result<bool> {
    ASSIGN_OR_RETURN(std::int64_t n, c.QueryInt("SELECT EXISTS (SELECT 1 FROM api_keys)"));
    return n != 0;
  });
}

#undef FP_FILE_COLS
#undef FP_FULL_FILE_COLS
#undef FP_UPLOAD_COLS
#undef FP_PART_COLS
#undef FP_KEY_COLS
#undef FP_GARBAGE_UPSERT

}  // namespace fileport
