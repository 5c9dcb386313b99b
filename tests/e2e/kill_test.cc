// The kill test: "durable before acknowledged" (DESIGN.md, durability rules), proven against the
// real binary. Client threads run a Files/Uploads workload while a killer SIGKILLs the server at
// a random moment and restarts it on the same data directory. A model records only what was
// acknowledged (a 200 received) and what was in flight at the kill (sent, answer never
// received). After every restart the server must hold everything acknowledged, byte for byte;
// whatever was in flight may or may not exist, but if it exists it is whole; nothing else
// exists. At the end the blob directory is audited: every blob belongs to a live file or part,
// or is accounted for by a write that was in flight at a kill.
//
// Tuning (environment): FILEPORT_KILL_ITERATIONS (default 30), FILEPORT_KILL_SEED (default
// random; printed), FILEPORT_KILL_KEEP=1 keeps the data directory even when the test passes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"

extern char** environ;

#ifndef FILEPORT_BIN
#error "FILEPORT_BIN must name the fileport binary"
#endif

namespace fileport::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kWorkers = 4;
// Pending uploads the verifier completes after each restart (all of them at the end).
constexpr int kSampleCompletions = 2;
// Live files whose content is re-read after each restart besides the ones not yet read.
constexpr int kSampleContentChecks = 16;
constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kStopTimeout = std::chrono::seconds(30);
constexpr auto kSweepTimeout = std::chrono::seconds(10);

// ---------------------------------------------------------------------------------------------
// Small helpers.

long EnvLong(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (end != nullptr && *end == '\0') ? x : fallback;
}

std::uint64_t SeedFromEnv() {
  const char* v = std::getenv("FILEPORT_KILL_SEED");
  if (v != nullptr && *v != '\0') return std::strtoull(v, nullptr, 10);
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

std::uint64_t SplitMix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::int64_t Uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

// Sizes spread evenly over orders of magnitude, so small and large both occur often.
std::size_t LogUniform(std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> d(std::log(lo), std::log(hi));
  return static_cast<std::size_t>(std::exp(d(rng)));
}

std::string ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& s, std::size_t n = 2000) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

std::optional<json::object> ParseObject(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

std::string Str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return (v != nullptr && v->is_string()) ? std::string(v->as_string()) : std::string();
}

std::int64_t Int(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return -1;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return -1;
}

// The server keys blobs by object id, sharded on the id's last two characters
// (core/service_context.h); the local store keeps committed blobs under objects/<key>.
std::string FileBlobKey(const std::string& id) {
  return "f/" + id.substr(id.size() - 2) + "/" + id;
}
std::string PartBlobKey(const std::string& id) {
  return "p/" + id.substr(id.size() - 2) + "/" + id;
}

std::string Brief(const HttpResponse& r) {
  if (r.status == 0) return "transport error: " + r.transport_error;
  return std::to_string(r.status) + " " + r.body.substr(0, 300);
}

// A request that never reached the server (it was already dead): certainly not applied.
bool NeverSent(const HttpResponse& r) {
  return r.status == 0 && r.transport_error == "Couldn't connect to server";
}

// ---------------------------------------------------------------------------------------------
// The server under test, as a child process.

class ServerProcess {
 public:
  ServerProcess(fs::path root, fs::path data) : root_(std::move(root)), data_(std::move(data)) {}
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() {
    if (pid_ > 0) Kill();
  }

  // Starts `fileport serve` on a port the OS chooses and waits (bounded) for its banner, which
  // names the port, and for /healthz. Returns "" when serving, else what went wrong.
  std::string Start() {
    ++starts_;
    const fs::path out = root_ / ("server-" + std::to_string(starts_) + ".out");
    const fs::path err = root_ / ("server-" + std::to_string(starts_) + ".err");
    std::vector<std::string> args = {FILEPORT_BIN,       "serve",  "--listen",
                                     "127.0.0.1:0",      "--data", data_.string(),
                                     "--sweep-interval", "1", "--garbage-lease", "2"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;  // this process ignores SIGPIPE; the server must start from defaults
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int rc = posix_spawn(&pid_, FILEPORT_BIN, &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      return std::string("posix_spawn " FILEPORT_BIN ": ") + std::strerror(rc);
    }

    const auto deadline = SteadyClock::now() + kStartTimeout;
    const std::string marker = "fileport serving http://127.0.0.1:";
    int port = 0;
    for (;;) {
      const std::string text = ReadWholeFile(out);
      const auto at = text.find(marker);
      if (at != std::string::npos) {
        std::size_t i = at + marker.size();
        int p = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
          p = p * 10 + (text[i++] - '0');
        }
        if (text.compare(i, 3, "/v1") == 0 && p > 0) port = p;
      }
      if (port != 0) break;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "server exited before serving (status " + std::to_string(status) +
               "); stderr: " + Tail(ReadWholeFile(err));
      }
      if (SteadyClock::now() > deadline) return "no banner on stdout within 20 s";
      std::this_thread::sleep_for(milliseconds(2));  // bounded readiness polling
    }
    base_ = "http://127.0.0.1:" + std::to_string(port);
    HttpClient client(base_);
    for (;;) {
      if (client.Get("/healthz").status == 200) break;
      if (SteadyClock::now() > deadline) return "GET /healthz not 200 within 20 s at " + base_;
      std::this_thread::sleep_for(milliseconds(2));  // bounded readiness polling
    }
    return "";
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGTERM, then waits (bounded) for a clean exit. Returns "" on exit status 0.
  std::string Terminate() {
    if (pid_ <= 0) return "not running";
    ::kill(pid_, SIGTERM);
    return WaitForExit();
  }

  // Sends SIGTERM and returns at once (the server drains the requests in progress).
  void SendTerm() { ::kill(pid_, SIGTERM); }

  // Waits (bounded) for the process to exit. Returns "" on exit status 0.
  std::string WaitForExit() {
    if (pid_ <= 0) return "not running";
    const auto deadline = SteadyClock::now() + kStopTimeout;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
      if (SteadyClock::now() > deadline) {
        Kill();
        return "did not exit within 30 s of SIGTERM";
      }
      std::this_thread::sleep_for(milliseconds(5));  // bounded polling for the exit
    }
    pid_ = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    return "exited with wait status " + std::to_string(status);
  }

  // "http://127.0.0.1:PORT" of the running server (the /v1 routes hang below it).
  const std::string& base_url() const { return base_; }
  std::uint16_t port() const { return static_cast<std::uint16_t>(std::stoi(base_.substr(17))); }
  int starts() const { return starts_; }

 private:
  fs::path root_;
  fs::path data_;
  pid_t pid_ = -1;
  std::string base_;
  int starts_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The model: what was acknowledged, and what was in flight when the server died.

// Bytes are never kept: RandomBytes(size, seed) regenerates them when needed.
struct Chunk {
  std::size_t size = 0;
  unsigned seed = 0;
};

std::string Materialize(const std::vector<Chunk>& chunks) {
  std::string out;
  for (const Chunk& c : chunks) out += RandomBytes(c.size, c.seed);
  return out;
}

enum class FileState { kLive, kDeleteInFlight, kDeleted };

struct FileRec {
  std::string id;
  std::string filename;
  std::vector<Chunk> content;  // one chunk (POST /v1/files) or the upload's parts
  std::int64_t bytes = 0;
  std::string md5;
  std::vector<std::string> blob_keys;  // what holds its bytes on disk
  FileState state = FileState::kLive;
  bool acknowledged = true;  // false: found after a kill, its answer never came
  bool content_checked = false;
};

enum class PartState { kNotSent, kInFlight, kPresent };

struct PlanPart {
  Chunk chunk;
  PartState state = PartState::kNotSent;
  std::string id;             // kPresent
  bool acknowledged = false;  // kPresent: a 200 came (else: found listed after a kill)
};

enum class UploadState { kPending, kCompleteInFlight, kCompleted, kCancelInFlight, kCancelled };

struct UploadRec {
  std::string id;
  std::string filename;
  std::int64_t bytes = 0;
  std::vector<PlanPart> parts;  // the file's bytes are the parts in this order
  UploadState state = UploadState::kPending;
  std::string file_id;  // kCompleted
};

// A POST /v1/files whose answer never came: the file may exist; if it does, it is whole.
struct CreateInFlight {
  std::string filename;  // unique per create: how a file found in the list is matched
  Chunk chunk;
  std::string md5;
  bool resolved = false;  // the restart after its kill decided whether it exists
};

struct WorkerModel {
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<FileRec>> files;
  std::vector<std::unique_ptr<UploadRec>> uploads;
  std::vector<CreateInFlight> creates_in_flight;
};

struct Stats {
  std::atomic<long> files_acked{0};
  std::atomic<long> parts_acked{0};
  std::atomic<long> uploads_acked{0};
  std::atomic<long> completes_acked{0};
  std::atomic<long> cancels_acked{0};
  std::atomic<long> deletes_acked{0};
  std::atomic<long> downloads_ok{0};
  std::atomic<long> lost_answers{0};      // requests sent whose answer never came
  std::atomic<long> writes_in_flight{0};  // file creates and parts among those: may leave a blob
  std::atomic<long> unexpected{0};        // answers other than 200 (each also a test failure)
  // Verification.
  long files_verified = 0;  // content read back and compared
  long parts_verified = 0;  // acknowledged parts found listed with their size
  long files_found_after_kill = 0;
  long parts_found_after_kill = 0;
  long completes_found_after_kill = 0;
  long deletes_found_after_kill = 0;
  long verifier_completions = 0;
  long verifier_parts = 0;  // parts the verifier sent to complete pending uploads
};

struct Context {
  Stats stats;
  std::uint64_t seed = 0;
  std::atomic<std::uint64_t> next_content{0};

  // A fresh chunk of `size` bytes; `n` is unique across the run (used in filenames).
  Chunk NewChunk(std::size_t size, std::uint64_t* n) {
    *n = next_content.fetch_add(1);
    return Chunk{size, static_cast<unsigned>(SplitMix(seed ^ SplitMix(*n)))};
  }
};

// ---------------------------------------------------------------------------------------------
// The workload. Each worker touches only its own files and uploads, so one worker's model is
// never written by another; the verifier runs only while no worker does.

void Unexpected(Context& ctx, const std::string& what, const HttpResponse& r) {
  ctx.stats.unexpected++;
  ADD_FAILURE() << what << " answered " << Brief(r);
}

template <typename T, typename Pred>
T* PickRandom(std::vector<std::unique_ptr<T>>& items, std::mt19937_64& rng, Pred pred) {
  std::vector<T*> fit;
  for (auto& it : items) {
    if (pred(*it)) fit.push_back(it.get());
  }
  if (fit.empty()) return nullptr;
  return fit[static_cast<std::size_t>(Uniform(rng, 0, static_cast<std::int64_t>(fit.size()) - 1))];
}

void CreateFileOp(Context& ctx, WorkerModel& m, const HttpClient& c) {
  const std::size_t size =
      Uniform(m.rng, 0, 9) < 7
          ? static_cast<std::size_t>(Uniform(m.rng, 1, 16 << 10))
          : static_cast<std::size_t>(Uniform(m.rng, (16 << 10) + 1, 256 << 10));
  std::uint64_t n = 0;
  const Chunk chunk = ctx.NewChunk(size, &n);
  const std::string filename = "k" + std::to_string(n) + ".bin";
  const std::string data = RandomBytes(chunk.size, chunk.seed);
  static const char* kPurposes[] = {"assistants", "user_data", "vision", "evals"};
  const HttpResponse r = c.CreateFile(data, filename, kPurposes[Uniform(m.rng, 0, 3)]);
  if (NeverSent(r)) return;
  if (r.status == 200) {
    auto o = ParseObject(r.body);
    const std::string id = o ? Str(*o, "id") : "";
    if (id.rfind("file-", 0) == 0 && Int(*o, "bytes") == static_cast<std::int64_t>(size)) {
      auto f = std::make_unique<FileRec>();
      f->id = id;
      f->filename = filename;
      f->content = {chunk};
      f->bytes = static_cast<std::int64_t>(size);
      f->md5 = Md5Hex(data);
      f->blob_keys = {FileBlobKey(id)};
      m.files.push_back(std::move(f));
      ctx.stats.files_acked++;
      return;
    }
    Unexpected(ctx, "POST /v1/files (" + std::to_string(size) + " bytes)", r);
  } else if (r.status != 0) {
    Unexpected(ctx, "POST /v1/files", r);
  }
  ctx.stats.lost_answers++;
  ctx.stats.writes_in_flight++;
  m.creates_in_flight.push_back({filename, chunk, Md5Hex(data), false});
}

void CreateUploadOp(Context& ctx, WorkerModel& m, const HttpClient& c) {
  auto u = std::make_unique<UploadRec>();
  const int nparts = static_cast<int>(Uniform(m.rng, 1, 4));
  std::uint64_t n = 0;
  for (int i = 0; i < nparts; ++i) {
    PlanPart p;
    p.chunk = ctx.NewChunk(LogUniform(m.rng, 1024, 2 << 20), &n);
    u->bytes += static_cast<std::int64_t>(p.chunk.size);
    u->parts.push_back(p);
  }
  u->filename = "u" + std::to_string(n) + ".bin";
  const HttpResponse r =
      c.CreateUpload(u->bytes, u->filename, Uniform(m.rng, 0, 1) ? "assistants" : "user_data");
  if (r.status == 200) {
    auto o = ParseObject(r.body);
    u->id = o ? Str(*o, "id") : "";
    if (u->id.rfind("upload_", 0) == 0 && Str(*o, "status") == "pending") {
      m.uploads.push_back(std::move(u));
      ctx.stats.uploads_acked++;
      return;
    }
    Unexpected(ctx, "POST /v1/uploads", r);
  } else if (r.status != 0) {
    Unexpected(ctx, "POST /v1/uploads", r);
  } else if (!NeverSent(r)) {
    // An upload whose creation may have happened holds no bytes: nothing to account for.
    ctx.stats.lost_answers++;
  }
}

// Sends the parts `which` of `u` at once, each on its own connection.
void SendParts(Context& ctx, UploadRec& u, const std::vector<std::size_t>& which,
               const HttpClient& c) {
  std::vector<HttpResponse> answers(which.size());
  std::vector<std::thread> senders;
  for (std::size_t k = 0; k < which.size(); ++k) {
    senders.emplace_back([&, k] {
      const Chunk& ch = u.parts[which[k]].chunk;
      answers[k] = c.AddPart(u.id, RandomBytes(ch.size, ch.seed));
    });
  }
  for (auto& t : senders) t.join();
  for (std::size_t k = 0; k < which.size(); ++k) {
    PlanPart& p = u.parts[which[k]];
    const HttpResponse& r = answers[k];
    if (NeverSent(r)) continue;
    if (r.status == 200) {
      auto o = ParseObject(r.body);
      const std::string id = o ? Str(*o, "id") : "";
      if (id.rfind("part_", 0) == 0 && Str(*o, "upload_id") == u.id) {
        p.state = PartState::kPresent;
        p.id = id;
        p.acknowledged = true;
        ctx.stats.parts_acked++;
        continue;
      }
    }
    if (r.status != 0) Unexpected(ctx, "POST /v1/uploads/" + u.id + "/parts", r);
    p.state = PartState::kInFlight;
    ctx.stats.lost_answers++;
    ctx.stats.writes_in_flight++;
  }
}

std::unique_ptr<FileRec> FileOfUpload(const UploadRec& u, const std::string& file_id,
                                      bool acknowledged) {
  auto f = std::make_unique<FileRec>();
  f->id = file_id;
  f->filename = u.filename;
  f->bytes = u.bytes;
  for (const PlanPart& p : u.parts) {
    f->content.push_back(p.chunk);
    f->blob_keys.push_back(PartBlobKey(p.id));
  }
  f->md5 = Md5Hex(Materialize(f->content));
  f->acknowledged = acknowledged;
  return f;
}

// POST complete with every part in plan order. Returns the answer.
HttpResponse CompleteUpload(WorkerModel& m, UploadRec& u, const HttpClient& c,
                            std::unique_ptr<FileRec>* file) {
  std::vector<std::string> ids;
  for (const PlanPart& p : u.parts) ids.push_back(p.id);
  auto f = FileOfUpload(u, "", true);
  // Half the completes carry the md5, some of those in upper case (any case is valid).
  std::optional<std::string> md5;
  if (Uniform(m.rng, 0, 1) == 1) {
    md5 = f->md5;
    if (Uniform(m.rng, 0, 3) == 0) {
      for (char& ch : *md5) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
  }
  HttpResponse r = c.Complete(u.id, ids, md5);
  if (r.status == 200) {
    auto o = ParseObject(r.body);
    const json::value* fv = o ? o->if_contains("file") : nullptr;
    if (o && Str(*o, "status") == "completed" && fv != nullptr && fv->is_object() &&
        Int(fv->as_object(), "bytes") == u.bytes) {
      f->id = Str(fv->as_object(), "id");
      *file = std::move(f);
    }
  }
  return r;
}

void AdvanceUploadOp(Context& ctx, WorkerModel& m, const HttpClient& c) {
  UploadRec* u = PickRandom(m.uploads, m.rng, [](const UploadRec& x) {
    return x.state == UploadState::kPending &&
           std::none_of(x.parts.begin(), x.parts.end(),
                        [](const PlanPart& p) { return p.state == PartState::kInFlight; });
  });
  if (u == nullptr) return CreateUploadOp(ctx, m, c);
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < u->parts.size(); ++i) {
    if (u->parts[i].state == PartState::kNotSent) missing.push_back(i);
  }
  if (!missing.empty()) {
    if (missing.size() > 1 && Uniform(m.rng, 0, 9) < 3) {
      missing = {missing[Uniform(m.rng, 0, static_cast<std::int64_t>(missing.size()) - 1)]};
    }
    return SendParts(ctx, *u, missing, c);
  }
  const auto choice = Uniform(m.rng, 0, 99);
  if (choice < 65) {
    std::unique_ptr<FileRec> file;
    const HttpResponse r = CompleteUpload(m, *u, c, &file);
    if (NeverSent(r)) return;
    if (file) {
      u->state = UploadState::kCompleted;
      u->file_id = file->id;
      m.files.push_back(std::move(file));
      ctx.stats.completes_acked++;
      return;
    }
    if (r.status != 0) Unexpected(ctx, "POST /v1/uploads/" + u->id + "/complete", r);
    u->state = UploadState::kCompleteInFlight;
    ctx.stats.lost_answers++;
  } else if (choice < 80) {
    const HttpResponse r = c.Request("POST", "/v1/uploads/" + u->id + "/cancel");
    if (NeverSent(r)) return;
    if (r.status == 200) {
      auto o = ParseObject(r.body);
      if (o && Str(*o, "status") == "cancelled") {
        u->state = UploadState::kCancelled;
        ctx.stats.cancels_acked++;
        return;
      }
    }
    if (r.status != 0) Unexpected(ctx, "POST /v1/uploads/" + u->id + "/cancel", r);
    u->state = UploadState::kCancelInFlight;
    ctx.stats.lost_answers++;
  }
  // else: leave it pending, complete with all its parts (the verifier may complete it).
}

void DeleteOp(Context& ctx, WorkerModel& m, const HttpClient& c) {
  FileRec* f =
      PickRandom(m.files, m.rng, [](const FileRec& x) { return x.state == FileState::kLive; });
  if (f == nullptr) return;
  const HttpResponse r = c.Request("DELETE", "/v1/files/" + f->id);
  if (NeverSent(r)) return;
  if (r.status == 200) {
    auto o = ParseObject(r.body);
    const json::value* d = o ? o->if_contains("deleted") : nullptr;
    if (d != nullptr && d->is_bool() && d->as_bool() && Str(*o, "id") == f->id) {
      f->state = FileState::kDeleted;
      ctx.stats.deletes_acked++;
      return;
    }
  }
  if (r.status != 0) Unexpected(ctx, "DELETE /v1/files/" + f->id, r);
  f->state = FileState::kDeleteInFlight;
  ctx.stats.lost_answers++;
}

void DownloadOp(Context& ctx, WorkerModel& m, const HttpClient& c) {
  FileRec* f =
      PickRandom(m.files, m.rng, [](const FileRec& x) { return x.state == FileState::kLive; });
  if (f == nullptr) return;
  const HttpResponse r = c.Get("/v1/files/" + f->id + "/content");
  if (r.status == 0) return;
  if (r.status != 200) return Unexpected(ctx, "GET /v1/files/" + f->id + "/content", r);
  if (static_cast<std::int64_t>(r.body.size()) != f->bytes || Md5Hex(r.body) != f->md5) {
    ADD_FAILURE() << "download of live file " << f->id << " (" << f->filename << ", " << f->bytes
                  << " bytes) returned 200 with " << r.body.size()
                  << " bytes that differ from what was acknowledged";
    return;
  }
  ctx.stats.downloads_ok++;
}

void RunWorker(Context& ctx, WorkerModel& m, const HttpClient& c, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    const auto op = Uniform(m.rng, 0, 99);
    if (op < 35) {
      CreateFileOp(ctx, m, c);
    } else if (op < 50) {
      CreateUploadOp(ctx, m, c);
    } else if (op < 78) {
      AdvanceUploadOp(ctx, m, c);
    } else if (op < 88) {
      DeleteOp(ctx, m, c);
    } else {
      DownloadOp(ctx, m, c);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Verification after a restart (no worker runs).

std::string Describe(const FileRec& f) {
  std::string s = f.id + " (" + f.filename + ", " + std::to_string(f.bytes) + " bytes, " +
                  (f.acknowledged ? "acknowledged" : "found after a kill") + ", seeds";
  for (const Chunk& c : f.content) s += " " + std::to_string(c.seed) + "/" + std::to_string(c.size);
  return s + ")";
}

// Downloads `f` and compares it with its model; true when identical.
bool CheckContent(Context& ctx, const HttpClient& c, FileRec& f) {
  const HttpResponse r = c.Get("/v1/files/" + f.id + "/content");
  if (r.status != 200) {
    ADD_FAILURE() << "GET content of file " << Describe(f) << ": " << Brief(r);
    return false;
  }
  if (static_cast<std::int64_t>(r.body.size()) != f.bytes || Md5Hex(r.body) != f.md5) {
    const std::string want = Materialize(f.content);
    std::size_t at = 0;
    while (at < want.size() && at < r.body.size() && want[at] == r.body[at]) ++at;
    ADD_FAILURE() << "content of file " << Describe(f) << " differs: got " << r.body.size()
                  << " bytes, first difference at offset " << at;
    return false;
  }
  f.content_checked = true;
  ctx.stats.files_verified++;
  return true;
}

struct Listed {
  std::int64_t bytes = 0;
  std::string filename;
};

// Every file the server lists, through every page.
std::optional<std::map<std::string, Listed>> ListAllFiles(const HttpClient& c) {
  std::map<std::string, Listed> out;
  std::string after;
  for (;;) {
    std::string path = "/v1/files?limit=10000&order=asc";
    if (!after.empty()) path += "&after=" + after;
    const HttpResponse r = c.Get(path);
    auto o = r.status == 200 ? ParseObject(r.body) : std::nullopt;
    const json::value* data = o ? o->if_contains("data") : nullptr;
    if (data == nullptr || !data->is_array()) {
      ADD_FAILURE() << "GET " << path << ": " << Brief(r);
      return std::nullopt;
    }
    for (const json::value& v : data->as_array()) {
      if (!v.is_object()) continue;
      const auto& fo = v.as_object();
      out[Str(fo, "id")] = Listed{Int(fo, "bytes"), Str(fo, "filename")};
    }
    const json::value* more = o->if_contains("has_more");
    if (more == nullptr || !more->is_bool() || !more->as_bool() || data->as_array().empty()) break;
    after = Str(*o, "last_id");
  }
  return out;
}

// GET /v1/uploads/{id}; the parsed object or nullopt (a failure is recorded).
std::optional<json::object> GetUpload(const HttpClient& c, const UploadRec& u) {
  const HttpResponse r = c.Get("/v1/uploads/" + u.id);
  auto o = r.status == 200 ? ParseObject(r.body) : std::nullopt;
  if (!o) ADD_FAILURE() << "GET acknowledged upload " << u.id << ": " << Brief(r);
  return o;
}

// Checks the parts of a pending upload: every present part listed with its size; a listed
// part the model does not know must be one sent in flight (same size); in-flight parts not
// listed were never stored.
void VerifyParts(Context& ctx, const HttpClient& c, UploadRec& u) {
  const HttpResponse r = c.Get("/v1/uploads/" + u.id + "/parts");
  auto o = r.status == 200 ? ParseObject(r.body) : std::nullopt;
  const json::value* data = o ? o->if_contains("data") : nullptr;
  if (data == nullptr || !data->is_array()) {
    ADD_FAILURE() << "GET /v1/uploads/" << u.id << "/parts: " << Brief(r);
    return;
  }
  std::map<std::string, std::int64_t> listed;
  for (const json::value& v : data->as_array()) {
    if (v.is_object()) listed[Str(v.as_object(), "id")] = Int(v.as_object(), "bytes");
  }
  for (PlanPart& p : u.parts) {
    if (p.state != PartState::kPresent) continue;
    auto it = listed.find(p.id);
    if (it == listed.end()) {
      ADD_FAILURE() << "part " << p.id << " of upload " << u.id << " ("
                    << (p.acknowledged ? "acknowledged" : "found after a kill") << ", "
                    << p.chunk.size << " bytes, seed " << p.chunk.seed
                    << ") is missing from GET /v1/uploads/" << u.id << "/parts";
      continue;
    }
    if (it->second != static_cast<std::int64_t>(p.chunk.size)) {
      ADD_FAILURE() << "part " << p.id << " of upload " << u.id << " lists " << it->second
                    << " bytes; " << p.chunk.size << " were acknowledged";
    }
    ctx.stats.parts_verified++;
    listed.erase(it);
  }
  for (const auto& [id, bytes] : listed) {
    auto match = std::find_if(u.parts.begin(), u.parts.end(), [&, b = bytes](const PlanPart& p) {
      return p.state == PartState::kInFlight && static_cast<std::int64_t>(p.chunk.size) == b;
    });
    if (match == u.parts.end()) {
      ADD_FAILURE() << "upload " << u.id << " lists part " << id << " of " << bytes
                    << " bytes that no request in flight sent";
      continue;
    }
    match->state = PartState::kPresent;
    match->id = id;
    match->acknowledged = false;
    ctx.stats.parts_found_after_kill++;
  }
  for (PlanPart& p : u.parts) {
    if (p.state == PartState::kInFlight) p.state = PartState::kNotSent;
  }
}

// Settles each upload whose last answer was lost and checks every upload's state and parts.
void VerifyUploads(Context& ctx, const HttpClient& c, WorkerModel& m) {
  for (auto& up : m.uploads) {
    UploadRec& u = *up;
    auto o = GetUpload(c, u);
    if (!o) continue;
    const std::string status = Str(*o, "status");
    const json::value* fv = o->if_contains("file");
    const std::string file_id =
        (fv != nullptr && fv->is_object()) ? Str(fv->as_object(), "id") : "";
    switch (u.state) {
      case UploadState::kCompleteInFlight:
        if (status == "completed" && !file_id.empty()) {
          u.state = UploadState::kCompleted;
          u.file_id = file_id;
          m.files.push_back(FileOfUpload(u, file_id, false));
          ctx.stats.completes_found_after_kill++;
        } else if (status == "pending") {
          u.state = UploadState::kPending;
        } else {
          ADD_FAILURE() << "upload " << u.id << " whose complete was in flight is " << status;
        }
        break;
      case UploadState::kCancelInFlight:
        if (status == "cancelled") {
          u.state = UploadState::kCancelled;
        } else if (status == "pending") {
          u.state = UploadState::kPending;
        } else {
          ADD_FAILURE() << "upload " << u.id << " whose cancel was in flight is " << status;
        }
        break;
      case UploadState::kCompleted:
        EXPECT_EQ(status, "completed") << "acknowledged completion of upload " << u.id;
        if (!file_id.empty()) {
          EXPECT_EQ(file_id, u.file_id) << "file of completed upload " << u.id;
        }
        break;
      case UploadState::kCancelled:
        EXPECT_EQ(status, "cancelled") << "acknowledged cancel of upload " << u.id;
        break;
      case UploadState::kPending:
        EXPECT_EQ(status, "pending") << "acknowledged upload " << u.id;
        break;
    }
    if (u.state == UploadState::kPending) VerifyParts(ctx, c, u);
  }
}

// Lists every file: acknowledged ones are there with their size, acknowledged deletes stay
// deleted, a file the model does not know must be a create that was in flight (and whole).
// Reads back the content of files not read yet, plus a sample (every file when `full`).
void VerifyFiles(Context& ctx, const HttpClient& c, std::vector<WorkerModel>& models, bool full) {
  auto listed = ListAllFiles(c);
  if (!listed) return;
  std::vector<FileRec*> to_read;
  std::vector<FileRec*> sample_pool;
  std::set<std::string> known;
  for (auto& m : models) {
    for (auto& fp : m.files) {
      FileRec& f = *fp;
      known.insert(f.id);
      auto it = listed->find(f.id);
      if (f.state == FileState::kDeleteInFlight) {
        f.state = it != listed->end() ? FileState::kLive : FileState::kDeleted;
        if (f.state == FileState::kDeleted) ctx.stats.deletes_found_after_kill++;
      }
      if (f.state == FileState::kDeleted) {
        if (it != listed->end()) {
          ADD_FAILURE() << "deleted file " << Describe(f) << " is listed again";
        }
        continue;
      }
      if (it == listed->end()) {
        ADD_FAILURE() << "live file " << Describe(f) << " is missing from GET /v1/files; "
                      << "GET /v1/files/" << f.id << ": " << Brief(c.Get("/v1/files/" + f.id));
        continue;
      }
      if (it->second.bytes != f.bytes) {
        ADD_FAILURE() << "file " << Describe(f) << " is listed with " << it->second.bytes
                      << " bytes";
      }
      (full || !f.content_checked ? to_read : sample_pool).push_back(&f);
    }
  }
  // Files nobody was told about: only creates whose answer was lost may have produced them.
  for (const auto& [id, l] : *listed) {
    if (known.count(id)) continue;
    CreateInFlight* origin = nullptr;
    WorkerModel* owner = nullptr;
    for (auto& m : models) {
      for (auto& ci : m.creates_in_flight) {
        if (!ci.resolved && ci.filename == l.filename) {
          origin = &ci;
          owner = &m;
        }
      }
    }
    if (origin == nullptr) {
      ADD_FAILURE() << "GET /v1/files lists " << id << " (" << l.filename << ", " << l.bytes
                    << " bytes), which was never acknowledged nor in flight";
      continue;
    }
    origin->resolved = true;
    auto f = std::make_unique<FileRec>();
    f->id = id;
    f->filename = l.filename;
    f->content = {origin->chunk};
    f->bytes = static_cast<std::int64_t>(origin->chunk.size);
    f->md5 = origin->md5;
    f->blob_keys = {FileBlobKey(id)};
    f->acknowledged = false;
    if (l.bytes != f->bytes) {
      ADD_FAILURE() << "file " << Describe(*f) << " created in flight is listed with " << l.bytes
                    << " bytes";
    }
    to_read.push_back(f.get());
    owner->files.push_back(std::move(f));
    ctx.stats.files_found_after_kill++;
  }
  for (auto& m : models) {
    for (auto& ci : m.creates_in_flight) ci.resolved = true;
  }
  // Deleted files answer 404 on their own routes too.
  for (auto& m : models) {
    for (auto& fp : m.files) {
      if (fp->state != FileState::kDeleted) continue;
      const HttpResponse r = c.Get("/v1/files/" + fp->id);
      if (r.status != 404) ADD_FAILURE() << "deleted file " << Describe(*fp) << ": " << Brief(r);
    }
  }
  std::mt19937_64 rng(ctx.seed ^ static_cast<std::uint64_t>(ctx.stats.files_verified));
  std::shuffle(sample_pool.begin(), sample_pool.end(), rng);
  if (sample_pool.size() > kSampleContentChecks) sample_pool.resize(kSampleContentChecks);
  for (FileRec* f : to_read) CheckContent(ctx, c, *f);
  for (FileRec* f : sample_pool) CheckContent(ctx, c, *f);
}

// Completes pending uploads as a resuming client would: sends the parts not stored, completes
// with all of them (acknowledged and found-after-a-kill ones) and reads the file back.
void CompletePending(Context& ctx, const HttpClient& c, std::vector<WorkerModel>& models,
                     std::mt19937_64& rng, std::size_t how_many) {
  std::vector<std::pair<WorkerModel*, UploadRec*>> pending;
  for (auto& m : models) {
    for (auto& u : m.uploads) {
      if (u->state == UploadState::kPending) pending.emplace_back(&m, u.get());
    }
  }
  std::shuffle(pending.begin(), pending.end(), rng);
  if (pending.size() > how_many) pending.resize(how_many);
  for (auto [m, u] : pending) {
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < u->parts.size(); ++i) {
      if (u->parts[i].state == PartState::kNotSent) missing.push_back(i);
    }
    const long unexpected_before = ctx.stats.unexpected.load();
    const long acked_before = ctx.stats.parts_acked.load();
    if (!missing.empty()) SendParts(ctx, *u, missing, c);
    // Parts sent by the verifier are not part of the workload's count.
    ctx.stats.verifier_parts += ctx.stats.parts_acked.load() - acked_before;
    ctx.stats.parts_acked = acked_before;
    if (ctx.stats.unexpected.load() != unexpected_before) continue;
    if (std::any_of(u->parts.begin(), u->parts.end(),
                    [](const PlanPart& p) { return p.state != PartState::kPresent; })) {
      ADD_FAILURE() << "could not send the missing parts of pending upload " << u->id;
      continue;
    }
    std::unique_ptr<FileRec> file;
    const HttpResponse r = CompleteUpload(*m, *u, c, &file);
    if (!file) {
      std::string parts;
      for (const PlanPart& p : u->parts) {
        parts += " " + p.id + "/" + std::to_string(p.chunk.size) +
                 (p.acknowledged ? "(acked)" : "(found)");
      }
      ADD_FAILURE() << "completing pending upload " << u->id << " with its parts" << parts << ": "
                    << Brief(r);
      u->state = UploadState::kCompleteInFlight;  // settled by the next verification
      continue;
    }
    u->state = UploadState::kCompleted;
    u->file_id = file->id;
    CheckContent(ctx, c, *file);
    m->files.push_back(std::move(file));
    ctx.stats.verifier_completions++;
  }
}

void Verify(Context& ctx, const HttpClient& c, std::vector<WorkerModel>& models,
            std::mt19937_64& rng, bool full) {
  for (auto& m : models) VerifyUploads(ctx, c, m);
  VerifyFiles(ctx, c, models, full);
  CompletePending(ctx, c, models, rng, full ? SIZE_MAX : kSampleCompletions);
}

// ---------------------------------------------------------------------------------------------
// The blob directory audit (server stopped).

struct BlobSets {
  std::set<std::string> live;  // must exist
  std::set<std::string> dead;  // must have been swept
};

BlobSets ExpectedBlobs(const std::vector<WorkerModel>& models) {
  BlobSets s;
  for (const auto& m : models) {
    for (const auto& f : m.files) {
      for (const auto& k : f->blob_keys) {
        (f->state == FileState::kDeleted ? s.dead : s.live).insert(k);
      }
    }
    for (const auto& u : m.uploads) {
      for (const PlanPart& p : u->parts) {
        if (p.state != PartState::kPresent) continue;
        if (u->state == UploadState::kPending) s.live.insert(PartBlobKey(p.id));
        if (u->state == UploadState::kCancelled) s.dead.insert(PartBlobKey(p.id));
      }
    }
  }
  for (const auto& k : s.live) s.dead.erase(k);
  return s;
}

struct DiskCensus {
  std::set<std::string> keys;       // well-formed blob keys under objects/
  std::vector<std::string> strays;  // anything else (under objects/, tmp/ or the root)
  std::size_t temp_files = 0;       // regular files under tmp/
};

bool WellFormedKey(const std::string& key) {
  // f/XX/file-<24> or p/XX/part_<24>, XX the id's last two characters.
  const auto a = key.find('/');
  const auto b = key.find('/', a + 1);
  if (a != 1 || b != 4 || key.find('/', b + 1) != std::string::npos) return false;
  const std::string id = key.substr(b + 1);
  const std::string prefix = key[0] == 'f' ? "file-" : key[0] == 'p' ? "part_" : "";
  return !prefix.empty() && id.rfind(prefix, 0) == 0 && id.size() == prefix.size() + 24 &&
         key.compare(2, 2, id, id.size() - 2, 2) == 0;
}

DiskCensus TakeCensus(const fs::path& blobs) {
  DiskCensus d;
  const fs::path objects = blobs / "objects";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(objects, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory()) continue;
    const std::string rel = fs::relative(it->path(), objects).string();
    if (it->is_regular_file() && WellFormedKey(rel)) {
      d.keys.insert(rel);
    } else {
      d.strays.push_back(rel);
    }
  }
  for (auto it = fs::directory_iterator(blobs / "tmp", ec); it != fs::directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file()) {
      ++d.temp_files;
    } else {
      d.strays.push_back("tmp/" + it->path().filename().string());
    }
  }
  // The local store keeps nothing but objects/ and tmp/ under its root.
  for (auto it = fs::directory_iterator(blobs, ec); it != fs::directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (name != "objects" && name != "tmp") d.strays.push_back(name);
  }
  return d;
}

// Waits (bounded) until the running server's sweeper removed every blob the model knows dead.
void WaitForSweep(const fs::path& blobs, const BlobSets& expected) {
  const auto deadline = SteadyClock::now() + kSweepTimeout;
  for (;;) {
    bool any = false;
    for (const auto& k : expected.dead) any = any || fs::exists(blobs / "objects" / k);
    if (!any || SteadyClock::now() > deadline) return;
    std::this_thread::sleep_for(milliseconds(20));  // bounded polling for the sweeper
  }
}

// ---------------------------------------------------------------------------------------------

TEST(KillTest, AcknowledgedWritesSurviveSigkillAndRestart) {
  ::signal(SIGPIPE, SIG_IGN);
  const long iterations = std::max(1L, EnvLong("FILEPORT_KILL_ITERATIONS", 30));
  Context ctx;
  ctx.seed = SeedFromEnv();
  std::printf("[kill] seed %llu (rerun with FILEPORT_KILL_SEED=%llu), %ld iterations\n",
              static_cast<unsigned long long>(ctx.seed), static_cast<unsigned long long>(ctx.seed),
              iterations);
  std::fflush(stdout);

  std::string root_template = (fs::temp_directory_path() / "fileport-kill-XXXXXX").string();
  ASSERT_NE(::mkdtemp(root_template.data()), nullptr) << std::strerror(errno);
  const fs::path root = root_template;
  const fs::path data = root / "data";
  std::printf("[kill] data directory %s\n", data.c_str());

  ServerProcess server(root, data);
  std::string err = server.Start();
  ASSERT_EQ(err, "") << "first start";

  std::vector<WorkerModel> models(kWorkers);
  for (int w = 0; w < kWorkers; ++w) models[w].rng.seed(SplitMix(ctx.seed + 1 + w));
  std::mt19937_64 killer(ctx.seed);
  std::mt19937_64 verifier_rng(SplitMix(ctx.seed));
  const auto started = SteadyClock::now();
  long done = 0;

  for (long it = 1; it <= iterations; ++it) {
    const HttpClient client(server.base_url());
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] { RunWorker(ctx, models[w], client, stop); });
    }
    const auto delay = milliseconds(Uniform(killer, 20, 400));
    std::this_thread::sleep_for(delay);  // the random kill moment
    server.Kill();
    stop = true;
    for (auto& t : workers) t.join();

    err = server.Start();
    ASSERT_EQ(err, "") << "restart after kill " << it << " (seed " << ctx.seed << ")";
    const long verified_before = ctx.stats.files_verified;
    Verify(ctx, HttpClient(server.base_url()), models, verifier_rng, false);
    done = it;
    std::printf(
        "[kill] %ld/%ld: SIGKILL after %lld ms; acked files %ld parts %ld; "
        "answers lost %ld; read back %ld files\n",
        it, iterations, static_cast<long long>(delay.count()), ctx.stats.files_acked.load(),
        ctx.stats.parts_acked.load(), ctx.stats.lost_answers.load(),
        ctx.stats.files_verified - verified_before);
    std::fflush(stdout);
    if (::testing::Test::HasFailure()) {
      std::printf("[kill] stopping at iteration %ld after a failure (seed %llu)\n", it,
                  static_cast<unsigned long long>(ctx.seed));
      break;
    }
  }

  // A clean stop, a last start (the sweeper runs at once), a full verification, and the audit.
  EXPECT_EQ(server.Terminate(), "") << "SIGTERM";
  err = server.Start();
  ASSERT_EQ(err, "") << "start after SIGTERM";
  const std::size_t pending_before_final = [&] {
    std::size_t n = 0;
    for (auto& m : models) {
      for (auto& u : m.uploads) n += u->state == UploadState::kPending;
    }
    return n;
  }();
  Verify(ctx, HttpClient(server.base_url()), models, verifier_rng, true);
  const fs::path blobs = data / "blobs";
  BlobSets expected = ExpectedBlobs(models);
  WaitForSweep(blobs, expected);
  EXPECT_EQ(server.Terminate(), "") << "final SIGTERM";

  const DiskCensus disk = TakeCensus(blobs);
  std::size_t live_found = 0;
  std::vector<std::string> dead_left;
  std::vector<std::string> unknown;
  for (const auto& k : disk.keys) {
    if (expected.live.count(k)) {
      ++live_found;
    } else if (expected.dead.count(k)) {
      dead_left.push_back(k);
    } else {
      unknown.push_back(k);
    }
  }
  for (const auto& k : expected.live) {
    if (!disk.keys.count(k)) ADD_FAILURE() << "blob of a live file or part is gone: " << k;
  }
  for (const auto& s : disk.strays) ADD_FAILURE() << "unexpected entry in the blob store: " << s;
  for (const auto& k : dead_left) {
    ADD_FAILURE() << "blob " << k << " of a deleted file or cancelled upload was not swept "
                  << "within " << kSweepTimeout.count() << " s of a start with --sweep-interval 1";
  }
  // Each write whose answer was lost may leave one blob (committed, row never written) or one
  // temp file (killed mid-write); both wait out the orphan grace, so they are only bounded.
  const long budget = ctx.stats.writes_in_flight.load();
  EXPECT_LE(static_cast<long>(unknown.size() + disk.temp_files), budget)
      << "blobs and temp files not accounted for by writes in flight at a kill";
  std::printf(
      "[kill] disk: %zu blobs under objects/ (%zu live of %zu expected, %zu dead left, "
      "%zu orphans of writes in flight), %zu temp files; in-flight writes %ld\n",
      disk.keys.size(), live_found, expected.live.size(), dead_left.size(), unknown.size(),
      disk.temp_files, budget);

  const Stats& s = ctx.stats;
  const double secs = std::chrono::duration<double>(SteadyClock::now() - started).count();
  std::printf(
      "[kill] SUMMARY seed=%llu iterations=%ld time=%.1fs | acknowledged: files=%ld uploads=%ld "
      "parts=%ld completes=%ld cancels=%ld deletes=%ld downloads=%ld | answers lost=%ld "
      "(writes %ld), found after kill: files=%ld parts=%ld completes=%ld deletes=%ld | "
      "verified: file contents=%ld parts=%ld completions by verifier=%ld (final %zu, %ld parts "
      "sent) | "
      "unexpected answers=%ld\n",
      static_cast<unsigned long long>(ctx.seed), done, secs, s.files_acked.load(),
      s.uploads_acked.load(), s.parts_acked.load(), s.completes_acked.load(),
      s.cancels_acked.load(), s.deletes_acked.load(), s.downloads_ok.load(), s.lost_answers.load(),
      s.writes_in_flight.load(), s.files_found_after_kill, s.parts_found_after_kill,
      s.completes_found_after_kill, s.deletes_found_after_kill, s.files_verified, s.parts_verified,
      s.verifier_completions, pending_before_final, s.verifier_parts, s.unexpected.load());
  std::fflush(stdout);

  if (!::testing::Test::HasFailure() && EnvLong("FILEPORT_KILL_KEEP", 0) == 0) {
    std::error_code ec;
    fs::remove_all(root, ec);
  } else {
    std::printf("[kill] kept %s (server-N.out/.err are each start's output)\n", root.c_str());
  }
}

// A socket to 127.0.0.1:port; -1 when the connection is refused.
int ConnectTo(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

TEST(DrainTest, SigtermLetsTheRequestInProgressFinishAndRefusesNewConnections) {
  ::signal(SIGPIPE, SIG_IGN);
  std::string root_template = (fs::temp_directory_path() / "fileport-drain-XXXXXX").string();
  ASSERT_NE(::mkdtemp(root_template.data()), nullptr) << std::strerror(errno);
  const fs::path root = root_template;
  ServerProcess server(root, root / "data");
  ASSERT_EQ(server.Start(), "");

  const std::string payload(3 << 20, 'd');
  const std::string head_part =
      "--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
      "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.bin\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n";
  const std::string tail_part = "\r\n--b--\r\n";
  const std::size_t length = head_part.size() + payload.size() + tail_part.size();
  int fd = ConnectTo(server.port());
  ASSERT_GE(fd, 0);
  // Half the body, then SIGTERM while the request is in progress.
  ASSERT_TRUE(SendAll(fd, "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                          "boundary=b\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" +
                          head_part + payload.substr(0, payload.size() / 2)));
  // The request is in progress once the server has begun reading its body, which /metrics
  // counts (no other request here has one). Before that the connection may still be in the
  // listen queue, and a drain rightly drops what has not begun.
  {
    HttpClient probe_client(server.base_url());
    const std::string counter = "\nfileport_received_bytes_total ";
    const auto begun_by = SteadyClock::now() + std::chrono::seconds(20);
    std::int64_t received = 0;
    while (SteadyClock::now() < begun_by) {
      auto m = probe_client.Get("/metrics");
      ASSERT_EQ(m.status, 200) << m.body;
      auto at = m.body.find(counter);
      ASSERT_NE(at, std::string::npos) << m.body;
      received = std::stoll(m.body.substr(at + counter.size()));
      if (received > 0) break;
      std::this_thread::sleep_for(milliseconds(5));  // bounded polling for the server to read
    }
    ASSERT_GT(received, 0) << "the POST's body never reached the server";
  }
  server.SendTerm();
  // The listening socket closes: new connections are refused (bounded wait for the signal).
  const auto deadline = SteadyClock::now() + std::chrono::seconds(20);
  int probe = -1;
  while ((probe = ConnectTo(server.port())) >= 0 && SteadyClock::now() < deadline) {
    ::close(probe);
    std::this_thread::sleep_for(milliseconds(10));  // bounded polling for the drain to start
  }
  EXPECT_LT(probe, 0) << "still accepting connections after SIGTERM";
  // The request in progress still completes, and its answer closes the connection.
  ASSERT_TRUE(SendAll(fd, payload.substr(payload.size() / 2) + tail_part));
  std::string response;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
  EXPECT_EQ(server.WaitForExit(), "");

  // What was acknowledged during the drain is there after a restart.
  auto body_at = response.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  auto file = ParseObject(response.substr(body_at + 4));
  ASSERT_TRUE(file.has_value()) << response;
  ASSERT_EQ(server.Start(), "");
  HttpClient c(server.base_url());
  auto content = c.Get("/v1/files/" + Str(*file, "id") + "/content");
  EXPECT_EQ(content.status, 200);
  EXPECT_TRUE(content.body == payload);
  EXPECT_EQ(server.Terminate(), "");
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace fileport::testing
