// PostgresMetadataStore: every MetadataStore method as one PostgreSQL transaction.
//
// The pieces, bottom up: Translate (the one translation of libpq failures and SQLSTATEs into
// Status), array literals (text[] and bigint[] in libpq's text format), Params and Rows (the
// statement's inputs and its owned PGresult), Conn (a connection with its prepared
// statements), Pool, and Impl::Read / Impl::Write, which run a method body as autocommit reads
// or inside BEGIN … COMMIT and run it again when that is known to be safe.
//
// Concurrency is READ COMMITTED plus explicit locks, which is what makes every outcome match
// the SQLite store's single writer: a compare-and-set UPDATE that waits for a concurrent one
// re-checks its WHERE clause on the row as committed by the other, InsertPart holds the upload
// row FOR UPDATE while it checks the byte budget, and ClaimGarbage skips rows another claimer
// has locked. A failed compare-and-set is explained by a read in the same transaction; the
// fields it reads (status moves only away from pending, rows are never deleted) cannot turn
// the answer from NotFound to Aborted or back.
#include "store/meta/postgres/postgres_metadata_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "common/sizes.h"
#include "store/meta/shown_file_row.h"
#include "store/meta/store_errors.h"

namespace fileport {
namespace {

using namespace meta_errors;  // NOLINT: the shared texts of every backend

constexpr int kMaxListLimit = 10000;
// Runs of a transaction that lost a serialization or deadlock race, before Unavailable.
constexpr int kMaxAttempts = 5;

std::string FirstLine(const char* text) {
  std::string_view s = text != nullptr ? text : "";
  return std::string(s.substr(0, s.find('\n')));
}

// A short name for a statement in error messages: its first words.
std::string SqlHead(std::string_view sql) { return std::string(sql.substr(0, 48)); }

// ---- Errors --------------------------------------------------------------------------------

// What a failure means for running the transaction again.
enum class Failure {
  kNone,
  kConflict,    // serialization failure or deadlock: rolled back by the server; run it again
  kConnection,  // the connection is gone: the server rolls back whatever was not committed
  kOther,
};

struct PgFailure {
  Status status;
  Failure failure;
};

// The one place libpq failures become Status. `res` may be null (libpq could not make a
// result). Only the server's primary message is used: its DETAIL may quote row values.
PgFailure Translate(PGconn* conn, const PGresult* res, std::string_view what) {
  if (PQstatus(conn) == CONNECTION_BAD) {
    return {Unavailable("PostgreSQL connection lost (" + std::string(what) +
                        "): " + FirstLine(PQerrorMessage(conn))),
            Failure::kConnection};
  }
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string_view code = state != nullptr ? state : "";
  const std::string msg =
      "PostgreSQL: " + std::string(what) + ": " +
      (primary != nullptr ? std::string(primary) : FirstLine(PQerrorMessage(conn)));
  if (code == "23505") return {Status(StatusCode::kAlreadyExists, msg), Failure::kOther};
  if (code == "40001" || code == "40P01") return {Unavailable(msg), Failure::kConflict};
  if (code == "53100") {
    return {Status(StatusCode::kResourceExhausted, "Storage is full (" + msg + ")"),
            Failure::kOther};
  }
  // Class 53 is "insufficient resources"; too_many_connections among them is a transient
  // shortage of connection slots, the others (memory, configured limits) are exhaustion.
  if (code == "53300") return {Unavailable(msg), Failure::kOther};
  if (code.substr(0, 2) == "53") {
    return {Status(StatusCode::kResourceExhausted, msg), Failure::kOther};
  }
  // Connection exceptions, shutdown in progress, statement or lock timeout, a read-only
  // standby (during a failover): all pass with time.
  if (code.substr(0, 2) == "08" || code.substr(0, 3) == "57P" || code == "57014" ||
      code == "55P03" || code == "25006") {
    return {Unavailable(msg), Failure::kOther};
  }
  if (code == "22021") {
    return {InvalidArgument("Text is not valid UTF-8 (" + msg + ")"), Failure::kOther};
  }
  return {Internal(msg), Failure::kOther};
}

Status Corrupt(std::string_view what) {
  return Status(StatusCode::kDataLoss, "Corrupt " + std::string(what) + " column in PostgreSQL");
}

// ---- Arrays --------------------------------------------------------------------------------
//
// Segments are two parallel arrays (segment_keys text[], segment_bytes bigint[]) and part_ids
// a text[], so SQL can unnest them (DeleteFile moves a file's keys to garbage in one
// statement). They travel in PostgreSQL's text format: every element written double-quoted
// with \ and " escaped; read back quoted or bare as the server chooses.

struct TextArray {
  const std::vector<std::string>& items;
};
struct IntArray {
  std::vector<std::int64_t> items;
};

std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string ArrayLiteral(const std::vector<std::int64_t>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

// A one-dimensional array without NULL elements, as the server prints it.
Result<std::vector<std::string>> ParseArray(std::string_view s, std::string_view what) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return Corrupt(what);
  s = s.substr(1, s.size() - 2);
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t i = 0;
  while (true) {
    std::string item;
    if (i < s.size() && s[i] == '"') {
      for (++i;; ++i) {
        if (i >= s.size()) return Corrupt(what);
        if (s[i] == '"') break;
        if (s[i] == '\\' && ++i >= s.size()) return Corrupt(what);
        item += s[i];
      }
      ++i;
    } else {
      const std::size_t end = std::min(s.find(',', i), s.size());
      item = std::string(s.substr(i, end - i));
      if (item.empty() || item == "NULL") return Corrupt(what);
      i = end;
    }
    out.push_back(std::move(item));
    if (i == s.size()) return out;
    if (s[i] != ',') return Corrupt(what);
    ++i;
  }
}

Result<std::vector<std::int64_t>> ParseIntArray(std::string_view s, std::string_view what) {
  ASSIGN_OR_RETURN(std::vector<std::string> items, ParseArray(s, what));
  std::vector<std::int64_t> out;
  for (const std::string& item : items) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size()) return Corrupt(what);
    out.push_back(v);
  }
  return out;
}

// ---- Statements ----------------------------------------------------------------------------

// Statement parameters in libpq's text format; nullopt is SQL NULL.
class Params {
 public:
  template <class... A>
  explicit Params(const A&... a) {
    (Add(a), ...);
  }

  void Add(std::string_view v) {
    // libpq takes C strings: a NUL would silently cut the value short.
    if (v.find('\0') != std::string_view::npos) has_nul_ = true;
    values_.emplace_back(std::string(v));
  }
  void Add(const std::string& v) { Add(std::string_view(v)); }
  void Add(const char* v) { Add(std::string_view(v)); }
  void Add(std::int64_t v) { values_.emplace_back(std::to_string(v)); }
  void Add(int v) { Add(static_cast<std::int64_t>(v)); }
  void Add(const TextArray& a) {
    for (const std::string& item : a.items) {
      if (item.find('\0') != std::string::npos) has_nul_ = true;
    }
    values_.emplace_back(ArrayLiteral(a.items));
  }
  void Add(const IntArray& a) { values_.emplace_back(ArrayLiteral(a.items)); }
  template <class T>
  void Add(const std::optional<T>& v) {
    if (v) {
      Add(*v);
    } else {
      values_.emplace_back(std::nullopt);
    }
  }

  bool has_nul() const { return has_nul_; }
  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> Pointers() const {
    std::vector<const char*> out;
    for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
    return out;
  }

 private:
  std::vector<std::optional<std::string>> values_;
  bool has_nul_ = false;
};

struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct ConnFinisher {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;
using PgConnPtr = std::unique_ptr<PGconn, ConnFinisher>;

// One row of a result, in text format.
class Row {
 public:
  Row(const PGresult* r, int row) : r_(r), row_(row) {}
  bool IsNull(int col) const { return PQgetisnull(r_, row_, col) != 0; }
  std::string Text(int col) const {
    return std::string(PQgetvalue(r_, row_, col), PQgetlength(r_, row_, col));
  }
  // Columns read with Int are bigint or integer: the server's text is always a valid number.
  std::int64_t Int(int col) const {
    const char* p = PQgetvalue(r_, row_, col);
    std::int64_t v = 0;
    std::from_chars(p, p + PQgetlength(r_, row_, col), v);
    return v;
  }
  bool Bool(int col) const { return PQgetvalue(r_, row_, col)[0] == 't'; }
  std::optional<std::int64_t> OptInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  std::optional<std::string> OptText(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
  }

 private:
  const PGresult* r_;
  int row_;
};

// The owned result of a statement that succeeded.
class Rows {
 public:
  explicit Rows(ResultPtr r) : r_(std::move(r)) {}
  int size() const { return PQntuples(r_.get()); }
  Row operator[](int i) const { return Row(r_.get(), i); }
  // Rows changed by an INSERT/UPDATE/DELETE without RETURNING.
  std::int64_t Affected() const {
    const char* n = PQcmdTuples(r_.get());
    std::int64_t v = 0;
    std::from_chars(n, n + std::strlen(n), v);
    return v;
  }

 private:
  ResultPtr r_;
};

// Every row of `rows`, each turned into a T by `read` (returning T or Result<T>).
template <class T, class F>
Result<std::vector<T>> CollectRows(const Rows& rows, F read) {
  std::vector<T> out;
  for (int i = 0; i < rows.size(); ++i) {
    Result<T> item = read(rows[i]);
    if (!item.ok()) return item.status();
    out.push_back(std::move(item).value());
  }
  return out;
}

// ---- Connections ---------------------------------------------------------------------------

// What every connection of a store is opened with.
struct ConnectSpec {
  std::string uri;
  std::string connect_timeout;    // seconds, as libpq wants it
  std::string search_path;        // the schema, quoted
  std::string statement_timeout;  // milliseconds
};

// One server session and its prepared statements. Used by one thread at a time. Records how
// its last failure happened, for the retry decision of Impl::Run.
class Conn {
 public:
  static Result<std::unique_ptr<Conn>> Connect(const ConnectSpec& spec) {
    // Keywords before "dbname" (which holds the URI and is expanded) are defaults the URI may
    // override; those after it are fixed because the code relies on them. Keepalives and
    // tcp_user_timeout notice a server that vanished without closing the socket (a failover,
    // a cut network) in about a minute instead of the kernel's quarter of an hour.
    const std::pair<const char*, const char*> settings[] = {
        {"connect_timeout", spec.connect_timeout.c_str()},
        {"application_name", "fileport"},
        {"keepalives_idle", "30"},
        {"keepalives_interval", "10"},
        {"keepalives_count", "3"},
        {"tcp_user_timeout", "60000"},
        {"dbname", spec.uri.c_str()},
        {"client_encoding", "UTF8"},
    };
    std::vector<const char*> keys, values;
    for (const auto& [key, value] : settings) {
      keys.push_back(key);
      values.push_back(value);
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    PgConnPtr pg(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
    if (pg == nullptr) return Unavailable("Cannot connect to PostgreSQL: out of memory");
    if (PQstatus(pg.get()) != CONNECTION_OK) {
      // libpq's message names host and port, never the password.
      return Unavailable("Cannot connect to PostgreSQL: " + FirstLine(PQerrorMessage(pg.get())));
    }
    auto conn = std::unique_ptr<Conn>(new Conn(std::move(pg)));
    // Session settings, as parameters: the schema name is never spliced into SQL here.
    // libpq prints what the server reports besides results on stderr: warnings are worth
    // that, notices ("relation already exists, skipping" at every start) are not.
    RETURN_IF_ERROR(conn->Query("SELECT set_config('search_path', $1, false), "
                                "set_config('statement_timeout', $2, false), "
                                "set_config('client_min_messages', 'warning', false)",
                                Params(spec.search_path, spec.statement_timeout))
                        .status());
    return conn;
  }

  // False when the server closed the session while it sat in the pool (a restart, an admin's
  // pg_terminate_backend, an idle timeout). Reads only what already arrived: never blocks.
  // The server says goodbye with an error message and then closes; one read may return just
  // the message, so read again while input is there: the second read meets the end of the
  // stream. An idle session of a healthy server has nothing to read.
  bool Alive() {
    for (int reads = 0; reads < 8 && PQstatus(pg_.get()) == CONNECTION_OK && Readable(); ++reads) {
      if (PQconsumeInput(pg_.get()) == 0) return false;
    }
    return PQstatus(pg_.get()) == CONNECTION_OK;
  }
  // True when the session is healthy and outside any transaction: fit for the next caller.
  bool Reusable() const {
    return PQstatus(pg_.get()) == CONNECTION_OK && PQtransactionStatus(pg_.get()) == PQTRANS_IDLE;
  }

  Failure failure() const { return failure_; }
  void ResetFailure() { failure_ = Failure::kNone; }

  // Runs `sql` as a prepared statement (prepared on first use) with `params`.
  Result<Rows> Query(const std::string& sql, const Params& params = Params()) {
    if (params.has_nul()) {
      return InvalidArgument("PostgreSQL text cannot contain NUL characters");
    }
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "fp" + std::to_string(prepared_.size());
      ResultPtr r(PQprepare(pg_.get(), name.c_str(), sql.c_str(), 0, nullptr));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return Fail(r.get(), sql);
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    std::vector<const char*> values = params.Pointers();
    ResultPtr r(PQexecPrepared(pg_.get(), it->second.c_str(), params.size(), values.data(), nullptr,
                               nullptr, 0));
    const ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Fail(r.get(), sql);
    return Rows(std::move(r));
  }

  // Runs `sql` (possibly several statements) without parameters; for BEGIN/COMMIT and DDL.
  Status Exec(const std::string& sql) {
    ResultPtr r(PQexec(pg_.get(), sql.c_str()));
    const ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Fail(r.get(), sql);
    return Status::Ok();
  }

  // Ends whatever transaction is open; used on every failure path. If even that fails the
  // session is not Reusable() and the pool closes it.
  void RollbackIfOpen() {
    if (PQstatus(pg_.get()) == CONNECTION_OK && PQtransactionStatus(pg_.get()) != PQTRANS_IDLE) {
      ResultPtr r(PQexec(pg_.get(), "ROLLBACK"));
    }
  }

 private:
  explicit Conn(PgConnPtr pg) : pg_(std::move(pg)) {}

  bool Readable() const {
    pollfd p{PQsocket(pg_.get()), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  Status Fail(const PGresult* r, std::string_view sql) {
    PgFailure f = Translate(pg_.get(), r, SqlHead(sql));
    failure_ = f.failure;
    return f.status;
  }

  PgConnPtr pg_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text → statement name
  Failure failure_ = Failure::kNone;
};

// At most `size` connections, opened on demand; a caller waits up to `wait` for one.
class Pool {
 public:
  using Connector = std::function<Result<std::unique_ptr<Conn>>()>;

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Conn> c) : pool_(pool), conn_(std::move(c)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->Release(std::move(conn_));
    }
    Conn& operator*() const { return *conn_; }

   private:
    Pool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  Pool(Connector connect, int size, std::chrono::milliseconds wait)
      : connect_(std::move(connect)), size_(size), wait_(wait) {}

  Result<Lease> Acquire() {
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    std::unique_lock lock(mu_);
    while (true) {
      if (!idle_.empty()) {
        std::unique_ptr<Conn> c = std::move(idle_.back());
        idle_.pop_back();
        lock.unlock();
        if (c->Alive()) return Lease(this, std::move(c));
        c.reset();  // closed outside the lock: PQfinish may write to the socket
        lock.lock();
        --open_;
        continue;
      }
      if (open_ < size_) {
        ++open_;
        lock.unlock();
        Result<std::unique_ptr<Conn>> made = connect_();
        if (!made.ok()) {
          {
            std::lock_guard relock(mu_);
            --open_;
          }
          cv_.notify_one();
          return made.status();
        }
        return Lease(this, std::move(made).value());
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= size_) {
        return Unavailable("No PostgreSQL connection became free within " +
                           std::to_string(wait_.count()) + " ms (pool of " + std::to_string(size_) +
                           ")");
      }
    }
  }

 private:
  void Release(std::unique_ptr<Conn> c) {
    if (c->Reusable()) {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(c));
    } else {
      c.reset();
      std::lock_guard lock(mu_);
      --open_;
    }
    cv_.notify_one();
  }

  const Connector connect_;
  const int size_;
  const std::chrono::milliseconds wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;  // idle, leased or being opened
};

// ---- Schema --------------------------------------------------------------------------------
//
// Migration i takes the schema from version i to i+1 (fileport_schema_version). Append, never
// edit: databases in the field have run the earlier entries. Keys and ids are COLLATE "C":
// ids sort by bytes (they are time-ordered in ASCII, mixed case), as keyset pagination and
// the SQLite store need, whatever the database's locale.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE files (
  id             text COLLATE "C" PRIMARY KEY,
  project        text COLLATE "C" NOT NULL,
  purpose        text COLLATE "C" NOT NULL,
  bytes          bigint NOT NULL,
  created_at     bigint NOT NULL,
  expires_at     bigint,
  filename       text NOT NULL,
  status         text NOT NULL,
  status_details text,
  mime_type      text NOT NULL,
  segment_keys   text[] NOT NULL,
  segment_bytes  bigint[] NOT NULL,
  CHECK (cardinality(segment_keys) = cardinality(segment_bytes))
);
CREATE INDEX files_by_project ON files (project, id);
CREATE INDEX files_by_project_purpose ON files (project, purpose, id);
CREATE INDEX files_by_expiry ON files (expires_at, id);

CREATE TABLE uploads (
  id                 text COLLATE "C" PRIMARY KEY,
  project            text COLLATE "C" NOT NULL,
  bytes              bigint NOT NULL,
  created_at         bigint NOT NULL,
  expires_at         bigint NOT NULL,
  filename           text NOT NULL,
  purpose            text NOT NULL,
  mime_type          text NOT NULL,
  status             text NOT NULL
                     CHECK (status IN ('pending', 'completed', 'cancelled', 'expired')),
  file_expires_after bigint,
  file_id            text,
  part_ids           text[] NOT NULL,
  md5                text,
  received_bytes     bigint NOT NULL DEFAULT 0,
  part_count         bigint NOT NULL DEFAULT 0
);
CREATE INDEX uploads_pending_by_expiry ON uploads (expires_at, id) WHERE status = 'pending';

CREATE TABLE parts (
  id         text COLLATE "C" PRIMARY KEY,
  upload_id  text COLLATE "C" NOT NULL REFERENCES uploads (id),
  project    text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  bytes      bigint NOT NULL,
  blob_key   text NOT NULL,
  seq        bigint NOT NULL
);
CREATE INDEX parts_by_upload ON parts (upload_id, created_at, seq);

CREATE TABLE garbage (
  blob_key text COLLATE "C" PRIMARY KEY,
  due_at   bigint NOT NULL,
  leased   boolean NOT NULL DEFAULT false
);
CREATE INDEX garbage_by_due ON garbage (due_at, blob_key);

CREATE TABLE api_keys (
  id            text COLLATE "C" PRIMARY KEY,
  project       text COLLATE "C" NOT NULL,
  secret_sha256 text NOT NULL UNIQUE,
  hint          text NOT NULL,
  created_at    bigint NOT NULL,
  revoked_at    bigint
);
CREATE INDEX api_keys_by_age ON api_keys (created_at, id);
)sql",
    // 1 → 2: quotas count a project's pending uploads (GetUsage, InsertUpload).
    R"sql(
CREATE INDEX uploads_pending_by_project ON uploads (project) WHERE status = 'pending';
)sql",
    // 2 → 3: each project's bytes of files, kept by a trigger as files come and go, so that a
    // quota check reads at most 16 rows rather than summing every file of the project (with a
    // million files, a scan per create inside the project's quota lock). Spread over 16 rows
    // per project by the file id's hash: concurrent inserts into one project, which each lock
    // the row they add to until they commit, rarely wait for one another. Only a project's sum
    // means anything: the migration counts the files already there in shard 0, and a delete
    // takes a file's bytes from its own shard, which may go below zero. The function keeps the
    // schema it was made in, whatever the caller's search_path.
    R"sql(
CREATE TABLE project_usage (
  project    text COLLATE "C" NOT NULL,
  shard      smallint NOT NULL,
  file_bytes bigint NOT NULL,
  PRIMARY KEY (project, shard)
);
INSERT INTO project_usage SELECT project, 0, SUM(bytes) FROM files GROUP BY project;
CREATE FUNCTION fileport_count_file_bytes() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO project_usage VALUES (NEW.project, hashtext(NEW.id) & 15, NEW.bytes)
      ON CONFLICT (project, shard)
      DO UPDATE SET file_bytes = project_usage.file_bytes + EXCLUDED.file_bytes;
  ELSE
    INSERT INTO project_usage VALUES (OLD.project, hashtext(OLD.id) & 15, -OLD.bytes)
      ON CONFLICT (project, shard)
      DO UPDATE SET file_bytes = project_usage.file_bytes + EXCLUDED.file_bytes;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER files_usage AFTER INSERT OR DELETE ON files
  FOR EACH ROW EXECUTE FUNCTION fileport_count_file_bytes();
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// A quoted identifier: the one way the schema name enters SQL text (DDL takes no parameters).
std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// An advisory lock key: a 64-bit FNV-1a of `name`, the same in every build and on every node.
std::int64_t AdvisoryLockKey(std::string_view name) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return static_cast<std::int64_t>(h);
}

// The lock that serializes migrations of one schema across every node.
std::int64_t MigrationLockKey(std::string_view schema) {
  return AdvisoryLockKey("fileport migrate " + std::string(schema));
}

// The transaction-scoped lock that serializes quota checks of one project: two inserts racing
// against one quota must not both see the usage before the other.
std::int64_t QuotaLockKey(std::string_view project) {
  return AdvisoryLockKey("fileport quota " + std::string(project));
}

// ---- Rows ----------------------------------------------------------------------------------

// Every column of a file: the shown ones first, so that ReadFileRow starts with ReadShownFile.
#define FP_FILE_COLS FP_SHOWN_FILE_COLS ", project, mime_type, segment_keys, segment_bytes"
#define FP_UPLOAD_COLS                                                                 \
  "id, project, bytes, created_at, expires_at, filename, purpose, mime_type, status, " \
  "file_expires_after, file_id, part_ids, md5"
#define FP_PART_COLS "id, upload_id, project, created_at, bytes, blob_key"
#define FP_KEY_COLS "id, project, secret_sha256, hint, created_at, revoked_at"

Result<File> ReadFileRow(const Row& r) {
  File f = ReadShownFile(r, r.Text(8));
  f.mime_type = r.Text(9);
  ASSIGN_OR_RETURN(std::vector<std::string> keys, ParseArray(r.Text(10), "files.segment_keys"));
  ASSIGN_OR_RETURN(std::vector<std::int64_t> bytes,
                   ParseIntArray(r.Text(11), "files.segment_bytes"));
  if (keys.size() != bytes.size()) return Corrupt("files.segment_bytes");
  f.segments.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    f.segments.push_back({std::move(keys[i]), bytes[i]});
  }
  return f;
}

Params FileParams(const File& f) {
  std::vector<std::string> keys;
  IntArray bytes;
  for (const Segment& s : f.segments) {
    keys.push_back(s.blob_key);
    bytes.items.push_back(s.bytes);
  }
  return Params(f.id, f.purpose, f.bytes, f.created_at, f.expires_at, f.filename, f.status,
                f.status_details, f.project, f.mime_type, TextArray{keys}, bytes);
}

Result<Upload> ReadUploadRow(const Row& r) {
  Upload u;
  u.id = r.Text(0);
  u.project = r.Text(1);
  u.bytes = r.Int(2);
  u.created_at = r.Int(3);
  u.expires_at = r.Int(4);
  u.filename = r.Text(5);
  u.purpose = r.Text(6);
  u.mime_type = r.Text(7);
  std::optional<UploadStatus> status = ParseUploadStatus(r.Text(8));
  if (!status) return Corrupt("uploads.status");
  u.status = *status;
  u.file_expires_after = r.OptInt(9);
  u.file_id = r.OptText(10);
  ASSIGN_OR_RETURN(u.part_ids, ParseArray(r.Text(11), "uploads.part_ids"));
  u.md5 = r.OptText(12);
  return u;
}

UploadPart ReadPartRow(const Row& r) {
  UploadPart p;
  p.id = r.Text(0);
  p.upload_id = r.Text(1);
  p.project = r.Text(2);
  p.created_at = r.Int(3);
  p.bytes = r.Int(4);
  p.blob_key = r.Text(5);
  return p;
}

ApiKey ReadKeyRow(const Row& r) {
  ApiKey k;
  k.id = r.Text(0);
  k.project = r.Text(1);
  k.secret_sha256_hex = r.Text(2);
  k.hint = r.Text(3);
  k.created_at = r.Int(4);
  k.revoked_at = r.OptInt(5);
  return k;
}


// The upsert every move into garbage uses: an unleased row keeps the earlier due_at, a leased
// one is left alone (its claimer is deleting the blob, or its lease runs out). A statement
// must not propose one key twice (ON CONFLICT cannot touch a row twice): callers dedupe.
#define FP_GARBAGE_UPSERT                                                                 \
  " ON CONFLICT (blob_key) DO UPDATE SET due_at = LEAST(garbage.due_at, EXCLUDED.due_at)" \
  " WHERE NOT garbage.leased"

// Removes the intent rows of `keys` (sorted, distinct); Aborted naming the first key whose
// row the sweeper took (leased, or already gone): its blob may be deleted. A row being leased
// right now is locked by its claimer; the DELETE waits for it and then sees it leased.
Status ConsumeIntents(Conn& c, const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(Rows rows, c.Query("DELETE FROM garbage WHERE blob_key = ANY($1::text[]) "
                                      "AND NOT leased RETURNING blob_key",
                                      Params(TextArray{keys})));
  if (static_cast<std::size_t>(rows.size()) == keys.size()) return Status::Ok();
  std::set<std::string> consumed;
  for (int i = 0; i < rows.size(); ++i) consumed.insert(rows[i].Text(0));
  for (const std::string& key : keys) {
    if (!consumed.count(key)) return IntentGone(key);
  }
  return Internal("PostgreSQL: consumed intents that were not asked for");
}

// The status and expiry of an upload, read to explain a compare-and-set that changed nothing
// (or, with FOR UPDATE, to decide one).
struct UploadState {
  UploadStatus status;
  std::int64_t expires_at;
  std::int64_t bytes;
  std::int64_t received_bytes;
};
Result<std::optional<UploadState>> ReadUploadState(Conn& c, const std::string& project,
                                                   const std::string& id, bool lock) {
  ASSIGN_OR_RETURN(Rows rows,
                   c.Query(lock ? "SELECT status, expires_at, bytes, received_bytes FROM uploads "
                                  "WHERE id = $1 AND project = $2 FOR UPDATE"
                                : "SELECT status, expires_at, bytes, received_bytes FROM uploads "
                                  "WHERE id = $1 AND project = $2",
                           Params(id, project)));
  if (rows.size() == 0) return std::optional<UploadState>();
  std::optional<UploadStatus> status = ParseUploadStatus(rows[0].Text(0));
  if (!status) return Corrupt("uploads.status");
  return std::optional<UploadState>(
      UploadState{*status, rows[0].Int(1), rows[0].Int(2), rows[0].Int(3)});
}

Status InsertFileRow(Conn& c, const File& file) {
  return c
      .Query("INSERT INTO files (" FP_FILE_COLS
             ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text[], $12::bigint[])",
             FileParams(file))
      .status();
}

Result<std::vector<UploadPart>> SelectParts(Conn& c, const std::string& upload_id) {
  ASSIGN_OR_RETURN(Rows rows, c.Query("SELECT " FP_PART_COLS " FROM parts WHERE upload_id = $1 "
                                      "ORDER BY created_at, seq",
                                      Params(upload_id)));
  return CollectRows<UploadPart>(rows, ReadPartRow);
}

}  // namespace

// ---- Impl ----------------------------------------------------------------------------------

struct PostgresMetadataStore::Impl {
  Impl(ConnectSpec spec, const PostgresOptions& o)
      : options(o),
        quoted_schema(QuoteIdentifier(o.schema)),
        pool([spec = std::move(spec)] { return Conn::Connect(spec); }, o.pool_size,
             std::chrono::milliseconds(o.acquire_timeout_ms)) {}

  // Runs body(Conn&) -> Status | Result<T> as autocommit statements: each sees one snapshot,
  // so a read that needs two tables joins them in one statement.
  template <class F>
  std::invoke_result_t<F&, Conn&> Read(F&& body) {
    return Run(false, body);
  }

  // Runs body(Conn&) in BEGIN … COMMIT; any error rolls everything back.
  template <class F>
  std::invoke_result_t<F&, Conn&> Write(F&& body) {
    return Run(true, body);
  }

  // Runs the body again (from scratch: bodies keep their state inside) when the server
  // rolled it back for a serialization failure or deadlock, and once on a new connection when
  // the connection broke before COMMIT was sent: the server rolled back whatever the broken
  // session had done, so nothing can happen twice. A break during COMMIT leaves the outcome
  // unknown and is reported as Unavailable.
  template <class F>
  std::invoke_result_t<F&, Conn&> Run(bool txn, F& body) {
    bool reconnected = false;
    for (int attempt = 1;; ++attempt) {
      ASSIGN_OR_RETURN(Pool::Lease lease, pool.Acquire());
      Conn& c = *lease;
      c.ResetFailure();
      bool committing = false;
      auto result = Attempt(c, txn, body, committing);
      if (result.ok()) return result;
      if (c.failure() == Failure::kConflict && attempt < kMaxAttempts) {
        Backoff(attempt);
        continue;
      }
      if (c.failure() == Failure::kConnection && !committing && !reconnected) {
        reconnected = true;
        continue;
      }
      return result;
    }
  }

  template <class F>
  static std::invoke_result_t<F&, Conn&> Attempt(Conn& c, bool txn, F& body, bool& committing) {
    if (txn) RETURN_IF_ERROR(c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED"));
    auto result = body(c);
    if (!txn) return result;
    if (!result.ok()) {
      c.RollbackIfOpen();
      return result;
    }
    committing = true;
    RETURN_IF_ERROR(c.Exec("COMMIT"));
    return result;
  }

  // A few milliseconds, growing and jittered, so racing transactions stop colliding.
  static void Backoff(int attempt) {
    thread_local std::minstd_rand rng(std::random_device{}());
    std::uniform_int_distribution<int> ms(1, 1 << std::min(attempt + 1, 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));
  }

  const PostgresOptions options;
  const std::string quoted_schema;
  Pool pool;
};

PostgresMetadataStore::PostgresMetadataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresMetadataStore::~PostgresMetadataStore() = default;

Result<std::unique_ptr<MetadataStore>> PostgresMetadataStore::Open(const std::string& uri,
                                                                   PostgresOptions options) {
  if (options.pool_size < 1) return InvalidArgument("pool_size must be at least 1");
  if (options.acquire_timeout_ms < 0) return InvalidArgument("acquire_timeout_ms must be >= 0");
  if (options.connect_timeout_seconds < 0) {
    return InvalidArgument("connect_timeout_seconds must be >= 0");
  }
  if (options.statement_timeout_ms < 0) {
    return InvalidArgument("statement_timeout_ms must be >= 0");
  }
  if (options.schema.empty() || options.schema.size() > 63 ||
      options.schema.find('\0') != std::string::npos) {
    return InvalidArgument("schema must be 1 to 63 bytes without NUL");
  }
  // libpq's parse errors may quote the URI, password included: report none of it.
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(uri.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (parsed == nullptr) return InvalidArgument("Invalid PostgreSQL connection URI");
  PQconninfoFree(parsed);

  ConnectSpec spec;
  spec.uri = uri;
  spec.connect_timeout = std::to_string(options.connect_timeout_seconds);
  spec.search_path = QuoteIdentifier(options.schema);
  spec.statement_timeout = std::to_string(options.statement_timeout_ms);
  auto store = std::unique_ptr<PostgresMetadataStore>(
      new PostgresMetadataStore(std::make_unique<Impl>(std::move(spec), options)));
  RETURN_IF_ERROR(store->Migrate());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

Status PostgresMetadataStore::Migrate() {
  const std::string& schema = impl_->options.schema;
  return impl_->Write([&](Conn& c) -> Status {
    // Held to the end of this transaction: concurrent starters queue here, and the later ones
    // find the schema up to date. CREATE SCHEMA/TABLE IF NOT EXISTS alone still race.
    RETURN_IF_ERROR(
        c.Query("SELECT pg_advisory_xact_lock($1)", Params(MigrationLockKey(schema))).status());
    // Looked up first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database
    // even when the schema exists.
    ASSIGN_OR_RETURN(Rows found,
                     c.Query("SELECT 1 FROM pg_namespace WHERE nspname = $1", Params(schema)));
    if (found.size() == 0) RETURN_IF_ERROR(c.Exec("CREATE SCHEMA " + impl_->quoted_schema));
    RETURN_IF_ERROR(
        c.Exec("CREATE TABLE IF NOT EXISTS fileport_schema_version ("
               "id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)"));
    ASSIGN_OR_RETURN(Rows v, c.Query("SELECT version FROM fileport_schema_version"));
    const std::int64_t version = v.size() > 0 ? v[0].Int(0) : 0;
    if (version > kSchemaVersion) {
      return FailedPrecondition("The metadata schema " + impl_->quoted_schema + " has version " +
                                std::to_string(version) + "; this fileport knows up to " +
                                std::to_string(kSchemaVersion));
    }
    for (std::int64_t i = version; i < kSchemaVersion; ++i) RETURN_IF_ERROR(c.Exec(kMigrations[i]));
    if (version != kSchemaVersion) {
      RETURN_IF_ERROR(c.Query("INSERT INTO fileport_schema_version (id, version) VALUES (1, $1) "
                              "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
                              Params(kSchemaVersion))
                          .status());
    }
    return Status::Ok();
  });
}

Status PostgresMetadataStore::Ping() {
  return impl_->Read([](Conn& c) -> Status { return c.Query("SELECT 1").status(); });
}

// ---- Garbage -------------------------------------------------------------------------------

Status PostgresMetadataStore::AddGarbage(const std::vector<GarbageBlob>& blobs) {
  if (blobs.empty()) return Status::Ok();
  // One row per key with its earliest due_at: the upsert cannot touch a row twice, and two
  // upserts in sequence would keep the earlier time anyway. Sorted keys lock rows in one
  // order across callers.
  std::map<std::string, std::int64_t> due;
  for (const GarbageBlob& b : blobs) {
    auto [it, inserted] = due.emplace(b.blob_key, b.due_at);
    if (!inserted) it->second = std::min(it->second, b.due_at);
  }
  std::vector<std::string> keys;
  IntArray times;
  for (const auto& [key, at] : due) {
    keys.push_back(key);
    times.items.push_back(at);
  }
  return impl_->Write([&](Conn& c) -> Status {
    return c
        .Query(
            "INSERT INTO garbage (blob_key, due_at) "
            "SELECT * FROM unnest($1::text[], $2::bigint[])" FP_GARBAGE_UPSERT,
            Params(TextArray{keys}, times))
        .status();
  });
}

Result<std::vector<std::string>> PostgresMetadataStore::ClaimGarbage(std::int64_t now, int limit,
                                                                     std::int64_t lease_until) {
  RETURN_IF_ERROR(CheckLimit(limit));
  return impl_->Write([&](Conn& c) -> Result<std::vector<std::string>> {
    // SKIP LOCKED: rows another claimer is leasing right now are passed over, not waited for;
    // a row whose lease that claimer has just committed is re-checked and is no longer due.
    ASSIGN_OR_RETURN(Rows rows,
                     c.Query("WITH picked AS (SELECT blob_key FROM garbage WHERE due_at <= $2 "
                             "ORDER BY due_at, blob_key LIMIT $3 FOR UPDATE SKIP LOCKED) "
                             "UPDATE garbage SET leased = true, due_at = $1 FROM picked "
                             "WHERE garbage.blob_key = picked.blob_key RETURNING garbage.blob_key",
                             Params(lease_until, now, limit)));
    return CollectRows<std::string>(rows, [](const Row& r) { return r.Text(0); });
  });
}

Status PostgresMetadataStore::ForgetGarbage(const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::Ok();
  return impl_->Write([&](Conn& c) -> Status {
    return c.Query("DELETE FROM garbage WHERE blob_key = ANY($1::text[])", Params(TextArray{keys}))
        .status();
  });
}

// ---- Files ---------------------------------------------------------------------------------

namespace {
// A project's usage. Read committed: each statement sees every transaction committed before it.
Result<ProjectUsage> ReadUsage(Conn& c, const std::string& project) {
  ASSIGN_OR_RETURN(
      Rows rows, c.Query("SELECT (SELECT COALESCE(SUM(file_bytes), 0) FROM project_usage "
                         "WHERE project = $1)::bigint + "
                         "(SELECT COALESCE(SUM(bytes), 0) FROM uploads WHERE project = $1 AND "
                         "status = 'pending')::bigint, "
                         "(SELECT COUNT(*) FROM uploads WHERE project = $1 AND status = 'pending')",
                         Params(project)));
  ProjectUsage usage;
  if (rows.size() > 0) {
    usage.bytes = rows[0].Int(0);
    usage.pending_uploads = rows[0].Int(1);
  }
  return usage;
}

// Takes the project's quota lock for the rest of the transaction, then checks the quota.
Status LockAndCheckQuota(Conn& c, const std::string& project, const Quota& quota,
                         std::int64_t add_bytes, bool new_upload) {
  RETURN_IF_ERROR(
      c.Query("SELECT pg_advisory_xact_lock($1)", Params(QuotaLockKey(project))).status());
  ASSIGN_OR_RETURN(ProjectUsage usage, ReadUsage(c, project));
  return CheckQuota(quota, usage, add_bytes, new_upload);
}
}  // namespace

Result<ProjectUsage> PostgresMetadataStore::GetUsage(const std::string& project) {
  return impl_->Read([&](Conn& c) { return ReadUsage(c, project); });
}

Status PostgresMetadataStore::InsertFile(const File& file, const Quota& quota) {
  std::set<std::string> distinct;  // a key listed twice has one intent row
  for (const Segment& s : file.segments) distinct.insert(s.blob_key);
  const std::vector<std::string> keys(distinct.begin(), distinct.end());
  return impl_->Write([&](Conn& c) -> Status {
    if (quota.limited()) {
      RETURN_IF_ERROR(LockAndCheckQuota(c, file.project, quota, file.bytes, false));
    }
    RETURN_IF_ERROR(InsertFileRow(c, file));
    return ConsumeIntents(c, keys);
  });
}

Result<File> PostgresMetadataStore::GetFile(const std::string& project, const std::string& id) {
  return impl_->Read([&](Conn& c) -> Result<File> {
    ASSIGN_OR_RETURN(Rows rows,
                     c.Query("SELECT " FP_FILE_COLS " FROM files WHERE id = $1 AND project = $2",
                             Params(id, project)));
    if (rows.size() == 0) return FileNotFound(id);
    return ReadFileRow(rows[0]);
  });
}

Result<File> PostgresMetadataStore::GetShownFile(const std::string& project,
                                                 const std::string& id) {
  return impl_->Read([&](Conn& c) -> Result<File> {
    ASSIGN_OR_RETURN(Rows rows, c.Query("SELECT " FP_SHOWN_FILE_COLS
                                        " FROM files WHERE id = $1 AND project = $2",
                                        Params(id, project)));
    if (rows.size() == 0) return FileNotFound(id);
    return ReadShownFile(rows[0], project);
  });
}

Result<Page<File>> PostgresMetadataStore::ListFiles(const FileQuery& q) {
  RETURN_IF_ERROR(CheckLimit(q.limit));
  if (q.limit > kMaxListLimit) return InvalidArgument("limit must be at most 10000", "limit");
  // A keyset walk of files_by_project or files_by_project_purpose. Only the shape of the SQL
  // depends on the query; every value is a parameter.
  Params params(q.project);
  std::string sql = q.shown_fields_only ? "SELECT " FP_SHOWN_FILE_COLS : "SELECT " FP_FILE_COLS;
  sql += " FROM files WHERE project = $1";
  auto next = [&] { return "$" + std::to_string(params.size()); };
  if (q.purpose) {
    params.Add(*q.purpose);
    sql += " AND purpose = " + next();
  }
  if (q.after) {
    params.Add(*q.after);
    sql += (q.ascending ? " AND id > " : " AND id < ") + next();
  }
  params.Add(q.now);
  sql += " AND (expires_at IS NULL OR expires_at > " + next() + ")";
  params.Add(q.limit + 1);  // the extra row only says whether more follow
  sql += (q.ascending ? " ORDER BY id ASC LIMIT " : " ORDER BY id DESC LIMIT ") + next();
  return impl_->Read([&](Conn& c) -> Result<Page<File>> {
    ASSIGN_OR_RETURN(Rows rows, c.Query(sql, params));
    Page<File> page;
    for (int i = 0; i < rows.size(); ++i) {
      if (i == q.limit) {
        page.has_more = true;
        break;
      }
      if (q.shown_fields_only) {
        page.data.push_back(ReadShownFile(rows[i], q.project));
      } else {
        ASSIGN_OR_RETURN(File f, ReadFileRow(rows[i]));
        page.data.push_back(std::move(f));
      }
    }
    return page;
  });
}

Status PostgresMetadataStore::DeleteFile(const std::string& project, const std::string& id,
                                         std::int64_t garbage_due) {
  return impl_->Write([&](Conn& c) -> Status {
    // One statement: the row goes and its keys (once each) move to garbage.
    ASSIGN_OR_RETURN(Rows rows,
                     c.Query("WITH gone AS (DELETE FROM files WHERE id = $1 AND project = $2 "
                             "RETURNING segment_keys), "
                             "moved AS (INSERT INTO garbage (blob_key, due_at) "
                             "SELECT DISTINCT k, $3::bigint FROM gone, unnest(gone.segment_keys) "
                             "AS k" FP_GARBAGE_UPSERT ") SELECT count(*) FROM gone",
                             Params(id, project, garbage_due)));
    if (rows[0].Int(0) == 0) return FileNotFound(id);
    return Status::Ok();
  });
}

Result<std::vector<File>> PostgresMetadataStore::ListExpiredFiles(std::int64_t now, int limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  return impl_->Read([&](Conn& c) -> Result<std::vector<File>> {
    ASSIGN_OR_RETURN(Rows rows, c.Query("SELECT " FP_FILE_COLS " FROM files WHERE expires_at <= $1 "
                                        "ORDER BY expires_at, id LIMIT $2",
                                        Params(now, limit)));
    return CollectRows<File>(rows, ReadFileRow);
  });
}

// ---- Uploads and parts ---------------------------------------------------------------------

Status PostgresMetadataStore::InsertUpload(const Upload& u, const Quota& quota) {
  return impl_->Write([&](Conn& c) -> Status {
    if (quota.limited()) RETURN_IF_ERROR(LockAndCheckQuota(c, u.project, quota, u.bytes, true));
    return c
        .Query("INSERT INTO uploads (" FP_UPLOAD_COLS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text[], $13)",
               Params(u.id, u.project, u.bytes, u.created_at, u.expires_at, u.filename, u.purpose,
                      u.mime_type, std::string(UploadStatusName(u.status)), u.file_expires_after,
                      u.file_id, TextArray{u.part_ids}, u.md5))
        .status();
  });
}

Result<Upload> PostgresMetadataStore::GetUpload(const std::string& project, const std::string& id) {
  return impl_->Read([&](Conn& c) -> Result<Upload> {
    ASSIGN_OR_RETURN(
        Rows rows, c.Query("SELECT " FP_UPLOAD_COLS " FROM uploads WHERE id = $1 AND project = $2",
                           Params(id, project)));
    if (rows.size() == 0) return UploadNotFound(id);
    return ReadUploadRow(rows[0]);
  });
}

Status PostgresMetadataStore::InsertPart(const UploadPart& part, std::int64_t now) {
  if (part.bytes < 0) return InvalidArgument("A part cannot have a negative size", "data");
  return impl_->Write([&](Conn& c) -> Status {
    // The upload row stays locked to the end of the transaction, so parts of one upload are
    // decided one at a time and can never jointly overshoot the limit; completion and
    // cancellation wait for it too.
    ASSIGN_OR_RETURN(std::optional<UploadState> st,
                     ReadUploadState(c, part.project, part.upload_id, /*lock=*/true));
    if (!st) return UploadNotFound(part.upload_id);
    RETURN_IF_ERROR(PartRefusedByState(part.upload_id, st->status, st->expires_at, now));
    // Compared as a difference: a huge part.bytes cannot overflow the sum.
    if (part.bytes > MaxReceivedBytes(st->bytes) - st->received_bytes) {
      return PartsOverLimit(st->received_bytes, part.bytes, st->bytes);
    }
    ASSIGN_OR_RETURN(Rows counted,
                     c.Query("UPDATE uploads SET received_bytes = received_bytes + $1, "
                             "part_count = part_count + 1 WHERE id = $2 RETURNING part_count",
                             Params(part.bytes, part.upload_id)));
    RETURN_IF_ERROR(c.Query("INSERT INTO parts (" FP_PART_COLS
                            ", seq) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            Params(part.id, part.upload_id, part.project, part.created_at,
                                   part.bytes, part.blob_key, counted[0].Int(0)))
                        .status());
    return ConsumeIntents(c, {part.blob_key});
  });
}

Result<std::vector<UploadPart>> PostgresMetadataStore::ListParts(const std::string& project,
                                                                 const std::string& upload_id) {
  return impl_->Read([&](Conn& c) -> Result<std::vector<UploadPart>> {
    // One statement, one snapshot: no row means no such upload, a row of NULLs an upload
    // without parts.
    ASSIGN_OR_RETURN(
        Rows rows, c.Query("SELECT p.id, p.upload_id, p.project, p.created_at, p.bytes, p.blob_key "
                           "FROM uploads u LEFT JOIN parts p ON p.upload_id = u.id "
                           "WHERE u.id = $1 AND u.project = $2 ORDER BY p.created_at, p.seq",
                           Params(upload_id, project)));
    if (rows.size() == 0) return UploadNotFound(upload_id);
    std::vector<UploadPart> parts;
    for (int i = 0; i < rows.size(); ++i) {
      if (!rows[i].IsNull(0)) parts.push_back(ReadPartRow(rows[i]));
    }
    return parts;
  });
}

Status PostgresMetadataStore::CompleteUpload(const std::string& project,
                                             const std::string& upload_id,
                                             const std::vector<std::string>& part_ids,
                                             const std::optional<std::string>& md5,
                                             const File& file, std::int64_t now,
                                             std::int64_t garbage_due) {
  return impl_->Write([&](Conn& c) -> Status {
    // The compare-and-set: a racing completion waits for this row, then re-checks
    // status = 'pending' against what this one committed and changes nothing.
    ASSIGN_OR_RETURN(
        Rows updated,
        c.Query("UPDATE uploads SET status = 'completed', file_id = $1, part_ids = $2::text[], "
                "md5 = $3, received_bytes = bytes "
                "WHERE id = $4 AND project = $5 AND status = 'pending' AND expires_at > $6 "
                "RETURNING bytes",
                Params(file.id, TextArray{part_ids}, md5, upload_id, project, now)));
    if (updated.size() == 0) {
      ASSIGN_OR_RETURN(std::optional<UploadState> st,
                       ReadUploadState(c, project, upload_id, /*lock=*/false));
      if (!st) return UploadNotFound(upload_id);
      if (st->status != UploadStatus::kPending) {
        return Aborted("Upload " + upload_id + " is " + std::string(UploadStatusName(st->status)));
      }
      return Aborted("Upload " + upload_id + " has expired");
    }
    const std::int64_t bytes = updated[0].Int(0);

    // The store re-checks what the caller validated: a file pointing at a blob this call is
    // about to hand to the sweeper would lose data. Failing here rolls the UPDATE back. No
    // part can arrive meanwhile: InsertPart locks the upload row this UPDATE holds.
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
    if (sum != bytes) {
      return InvalidArgument("The number of bytes uploaded (" + std::to_string(sum) +
                                 ") does not match the expected number of bytes (" +
                                 std::to_string(bytes) + ")",
                             "part_ids");
    }
    if (file.project != project || file.bytes != bytes || file.segments != segments) {
      return InvalidArgument("The file of upload " + upload_id +
                             " does not match its listed parts");
    }
    RETURN_IF_ERROR(InsertFileRow(c, file));
    if (listed.size() == parts.size()) return Status::Ok();
    return c
        .Query(
            "WITH gone AS (DELETE FROM parts WHERE upload_id = $1 "
            "AND NOT (id = ANY($2::text[])) RETURNING blob_key) "
            "INSERT INTO garbage (blob_key, due_at) "
            "SELECT DISTINCT blob_key, $3::bigint FROM gone" FP_GARBAGE_UPSERT,
            Params(upload_id, TextArray{part_ids}, garbage_due))
        .status();
  });
}

Result<Upload> PostgresMetadataStore::TransitionUpload(const std::string& project,
                                                       const std::string& id, UploadStatus from,
                                                       UploadStatus to, std::int64_t garbage_due) {
  if (from != UploadStatus::kPending ||
      (to != UploadStatus::kCancelled && to != UploadStatus::kExpired)) {
    // Any other move would hand a completed file's blobs to the sweeper.
    return InvalidArgument("An upload can only move from pending to cancelled or expired");
  }
  return impl_->Write([&](Conn& c) -> Result<Upload> {
    ASSIGN_OR_RETURN(Rows updated, c.Query("UPDATE uploads SET status = $1, received_bytes = 0 "
                                           "WHERE id = $2 AND project = $3 AND status = $4 "
                                           "RETURNING " FP_UPLOAD_COLS,
                                           Params(std::string(UploadStatusName(to)), id, project,
                                                  std::string(UploadStatusName(from)))));
    if (updated.size() == 0) {
      ASSIGN_OR_RETURN(std::optional<UploadState> st,
                       ReadUploadState(c, project, id, /*lock=*/false));
      if (!st) return UploadNotFound(id);
      return Aborted("Upload " + id + " is " + std::string(UploadStatusName(st->status)));
    }
    ASSIGN_OR_RETURN(Upload upload, ReadUploadRow(updated[0]));
    RETURN_IF_ERROR(c.Query("WITH gone AS (DELETE FROM parts WHERE upload_id = $1 "
                            "RETURNING blob_key) "
                            "INSERT INTO garbage (blob_key, due_at) "
                            "SELECT DISTINCT blob_key, $2::bigint FROM gone" FP_GARBAGE_UPSERT,
                            Params(id, garbage_due))
                        .status());
    return upload;
  });
}

Result<std::vector<Upload>> PostgresMetadataStore::ListExpiredUploads(std::int64_t now, int limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  return impl_->Read([&](Conn& c) -> Result<std::vector<Upload>> {
    ASSIGN_OR_RETURN(Rows rows, c.Query("SELECT " FP_UPLOAD_COLS " FROM uploads "
                                        "WHERE status = 'pending' AND expires_at <= $1 "
                                        "ORDER BY expires_at, id LIMIT $2",
                                        Params(now, limit)));
    return CollectRows<Upload>(rows, ReadUploadRow);
  });
}

// ---- API keys ------------------------------------------------------------------------------

Status PostgresMetadataStore::InsertApiKey(const ApiKey& k) {
  return impl_->Write([&](Conn& c) -> Status {
    return c
        .Query("INSERT INTO api_keys (" FP_KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6)",
               Params(k.id, k.project, k.secret_sha256_hex, k.hint, k.created_at, k.revoked_at))
        .status();
  });
}

Result<std::vector<ApiKey>> PostgresMetadataStore::ListApiKeys() {
  return impl_->Read([&](Conn& c) -> Result<std::vector<ApiKey>> {
    ASSIGN_OR_RETURN(Rows rows,
                     c.Query("SELECT " FP_KEY_COLS " FROM api_keys ORDER BY created_at, id"));
    return CollectRows<ApiKey>(rows, ReadKeyRow);
  });
}

Status PostgresMetadataStore::RevokeApiKey(const std::string& id, std::int64_t now) {
  return impl_->Write([&](Conn& c) -> Status {
    ASSIGN_OR_RETURN(Rows rows, c.Query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) "
                                        "WHERE id = $2",
                                        Params(now, id)));
    if (rows.Affected() != 1) return NotFound("No such API key: " + id, "id");
    return Status::Ok();
  });
}

Result<ApiKey> PostgresMetadataStore::FindApiKey(const std::string& secret_sha256_hex) {
  return impl_->Read([&](Conn& c) -> Result<ApiKey> {
    ASSIGN_OR_RETURN(Rows rows,
                     c.Query("SELECT " FP_KEY_COLS " FROM api_keys WHERE secret_sha256 = $1",
                             Params(secret_sha256_hex)));
    if (rows.size() == 0) return NotFound("No API key has this secret");
    return ReadKeyRow(rows[0]);
  });
}

Result<bool> PostgresMetadataStore::HasApiKeys() {
  return impl_->Read([&](Conn& c) -> Result<bool> {
    ASSIGN_OR_RETURN(Rows rows, c.Query("SELECT EXISTS (SELECT 1 FROM api_keys)"));
    return rows[0].Bool(0);
  });
}

#undef FP_FILE_COLS
#undef FP_UPLOAD_COLS
#undef FP_PART_COLS
#undef FP_KEY_COLS
#undef FP_GARBAGE_UPSERT

}  // namespace fileport
