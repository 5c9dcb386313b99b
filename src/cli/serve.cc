// `fileport serve`: assemble stores, services, API and transport, then run until a signal.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include "api/api.h"
#include "cli/commands.h"
#include "common/sizes.h"
#include "core/auth.h"
#include "core/file_service.h"
#include "core/sweeper.h"
#include "core/upload_service.h"
#include "http/server.h"
#include "store/factory.h"

namespace fileport::cli {
namespace {

// The storage worker threads: `flag` when set, else the transport's default (2 x CPUs, at
// least 4), raised to 16 when a store is remote: an S3 or PostgreSQL call holds its thread for
// a network round trip, and parts of parallel uploads would queue behind each other.
int ServeWorkers(int flag, const StoreFlags& store) {
  if (flag > 0) return flag;
  const auto remote = [](const std::string& uri) {
    return uri.starts_with("s3://") || uri.starts_with("postgres://") ||
           uri.starts_with("postgresql://");
  };
  const int workers = ServerOptions{}.workers;
  return remote(store.MetaUri()) || remote(store.BlobUri()) ? std::max(workers, 16) : workers;
}

struct ServeFlags {
  StoreFlags store;
  std::string listen = "127.0.0.1:8080";
  int workers = 0;  // 0: automatic (ServeWorkers)
  int io_threads = ServerOptions{}.io_threads;
  int sweep_interval = 60;
  int garbage_lease = 300;
  int header_timeout = 30;
  int idle_timeout = 60;
  int max_connections = 4096;
  int drain_timeout = 30;
  std::string log_level = "info";
  bool restrict_downloads = false;
  std::string max_project_bytes;  // a size ("10GiB"); empty: no limit
  std::int64_t max_pending_uploads = 0;
  double rate_limit = 0;
  double rate_burst = 0;
};

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

// "HOST:PORT", "[::1]:PORT" or ":PORT".
bool SplitListen(const std::string& listen, std::string& host, std::uint16_t& port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  try {
    const int p = std::stoi(listen.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

void RaiseFileLimit() {
  // Downloads hold one descriptor per part of a file; allow what the hard limit allows.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int Serve(const ServeFlags& f) {
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  RaiseFileLimit();
  std::string host;
  std::uint16_t port = 0;
  if (!SplitListen(f.listen, host, port)) {
    std::fprintf(stderr, "fileport: --listen must be HOST:PORT, got '%s'\n", f.listen.c_str());
    return kExitUsage;
  }
  auto meta = OpenMetadataStore(f.store.MetaUri());
  if (!meta.ok()) {
    std::fprintf(stderr, "fileport: metadata store: %s\n", meta.status().ToString().c_str());
    return kExitError;
  }
  auto blobs = OpenBlobStore(f.store.BlobUri());
  if (!blobs.ok()) {
    std::fprintf(stderr, "fileport: blob store: %s\n", blobs.status().ToString().c_str());
    return kExitError;
  }
  const Clock& clock = SystemClock::Get();
  IdGenerator ids(clock);
  ServiceOptions opts;
  opts.restrict_downloads = f.restrict_downloads;
  if (!f.max_project_bytes.empty()) {
    const auto bytes = ParseByteSize(f.max_project_bytes);
    if (!bytes || *bytes < 0) {
      std::fprintf(stderr, "fileport: --max-project-bytes: '%s' is not a size (e.g. 10GiB)\n",
                   f.max_project_bytes.c_str());
      return kExitUsage;
    }
    opts.quota.max_bytes = *bytes;
  }
  opts.quota.max_pending_uploads = f.max_pending_uploads;
  opts.garbage_lease_seconds = f.garbage_lease;
  ServiceContext ctx{**meta, **blobs, clock, ids, opts};
  FileService files(ctx);
  UploadService uploads(ctx, files);
  Authenticator auth(**meta, clock, ids);
  Sweeper sweeper(ctx);
  Metrics metrics;
  ApiOptions api_options;
  api_options.rate_limit = f.rate_limit;
  api_options.rate_burst = f.rate_burst;
  Api api(files, uploads, auth, ctx, metrics, &sweeper, api_options);

  ServerOptions so;
  so.host = host;
  so.port = port;
  so.workers = ServeWorkers(f.workers, f.store);
  so.io_threads = f.io_threads;
  so.header_timeout = std::chrono::seconds(f.header_timeout);
  so.idle_timeout = std::chrono::seconds(f.idle_timeout);
  so.max_connections = f.max_connections;

  // Block the stop signals before any thread starts, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = HttpServer::Start(api, so);
  if (!server.ok()) {
    std::fprintf(stderr, "fileport: %s\n", server.status().message().c_str());
    return kExitError;
  }
  sweeper.Start(f.sweep_interval);

  auto open = auth.IsOpen();
  const bool is_open = open.ok() && *open;
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::printf("fileport serving http://%s:%u/v1 (give this to an OpenAI SDK as its base URL)\n",
              shown_host.c_str(), (*server)->port());
  std::printf("  data: metadata %s, blobs %s\n", DescribeStoreUri(f.store.MetaUri()).c_str(),
              DescribeStoreUri(f.store.BlobUri()).c_str());
  std::printf("  threads: %d event loops, %d storage workers\n", so.io_threads, so.workers);
  if (is_open) {
    std::printf(
        "  auth: OPEN, no API keys exist: every request is project 'default' "
        "(create one with: fileport keys create --project NAME)\n");
    if (!IsLoopback(host)) {
      std::printf("  WARNING: running open on %s, reachable beyond this machine: anyone who can "
                  "connect can read and write every file\n",
                  host.c_str());
    }
  } else {
    std::printf("  auth: API keys required (Authorization: Bearer KEY)\n");
  }
  std::string limits;
  if (opts.quota.max_bytes > 0) limits += " " + FormatBytes(opts.quota.max_bytes) + " stored;";
  if (opts.quota.max_pending_uploads > 0) {
    limits += " " + std::to_string(opts.quota.max_pending_uploads) + " pending uploads;";
  }
  if (f.rate_limit > 0) {
    limits += fmt::format(" {:g} requests/s (burst {:g}) on this node;", f.rate_limit,
                          f.rate_burst > 0 ? f.rate_burst : std::max(f.rate_limit, 1.0));
  }
  if (!limits.empty()) {
    limits.pop_back();
    std::printf("  limits per project:%s\n", limits.c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {} received: finishing the requests in progress (up to {} s; signal "
               "again to stop at once)",
               sig, f.drain_timeout);
  sweeper.Stop();
  std::atomic<bool> drained_all{false};
  std::atomic<bool> done{false};
  std::thread drain([&] {
    drained_all = (*server)->Drain(std::chrono::seconds(f.drain_timeout));
    done = true;
  });
  while (!done) {
    const timespec poll{0, 100'000'000};
    if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) {
      spdlog::warn("second signal: stopping now");
      (*server)->Stop();
      break;
    }
  }
  drain.join();
  if (!drained_all) spdlog::warn("stopped with requests still in progress");
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the fileport server");
  cmd->add_option("--listen", flags->listen, "Address to listen on, HOST:PORT")
      ->envname("FILEPORT_LISTEN")
      ->capture_default_str();
  AddStoreFlags(*cmd, flags->store);
  cmd->add_option("--workers", flags->workers,
                  "Threads for storage work; 0: 2 x CPUs (at least 4), at least 16 with S3 or "
                  "PostgreSQL")
      ->envname("FILEPORT_WORKERS")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--io-threads", flags->io_threads, "Event-loop threads (default: one per CPU)")
      ->envname("FILEPORT_IO_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--sweep-interval", flags->sweep_interval,
                  "Seconds between sweeps (expiry, garbage collection)")
      ->envname("FILEPORT_SWEEP_INTERVAL")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--garbage-lease", flags->garbage_lease,
                  "Seconds a sweeper holds a claimed blob before another may retry its deletion")
      ->envname("FILEPORT_GARBAGE_LEASE")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--header-timeout", flags->header_timeout,
                  "Seconds a client has to send a request header")
      ->envname("FILEPORT_HEADER_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--drain-timeout", flags->drain_timeout,
                  "Seconds SIGTERM/SIGINT waits for requests in progress before stopping")
      ->envname("FILEPORT_DRAIN_TIMEOUT")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  cmd->add_option("--idle-timeout", flags->idle_timeout,
                  "Seconds a body may stall before the request is dropped")
      ->envname("FILEPORT_IDLE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections, "Concurrent connections")
      ->envname("FILEPORT_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn, error, off")
      ->envname("FILEPORT_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  cmd->add_flag("--restrict-downloads", flags->restrict_downloads,
                "Refuse downloads of assistants, user_data, fine-tune and evals files, as OpenAI "
                "does")
      ->envname("FILEPORT_RESTRICT_DOWNLOADS");
  cmd->add_option("--max-project-bytes", flags->max_project_bytes,
                  "Per project: bytes of files plus pending uploads' declared bytes (e.g. 10GiB; "
                  "default: no limit)")
      ->envname("FILEPORT_MAX_PROJECT_BYTES");
  cmd->add_option("--max-pending-uploads", flags->max_pending_uploads,
                  "Per project: pending uploads at once (0: no limit)")
      ->envname("FILEPORT_MAX_PENDING_UPLOADS")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--rate-limit", flags->rate_limit,
                  "Per project and node: requests per second (0: no limit); over it, 429 with "
                  "retry-after-ms")
      ->envname("FILEPORT_RATE_LIMIT")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  cmd->add_option("--rate-burst", flags->rate_burst,
                  "Requests a project may send at once before --rate-limit applies (0: one "
                  "second's worth)")
      ->envname("FILEPORT_RATE_BURST")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  cmd->callback([flags] { throw CLI::RuntimeError(Serve(*flags)); });
}

}  // namespace fileport::cli
