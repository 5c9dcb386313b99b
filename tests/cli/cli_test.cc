// The `fileport` client commands, run as a user runs them: the real binary in a child
// process, against a real server on loopback (the in-process TestServer), checking exit
// codes, what is printed, and the bytes stored and fetched.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

#include "common/crypto.h"
#include "e2e/test_server.h"
#include "support/scratch_dir.h"

extern char** environ;

namespace fileport::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  for (std::size_t i = n - n % 8; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

// True when the files at `a` and `b` hold the same bytes (compared a MiB at a time).
bool SameFile(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb || fs::file_size(a) != fs::file_size(b)) return false;
  std::vector<char> ba(1 << 20), bb(1 << 20);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() ||
        std::memcmp(ba.data(), bb.data(), static_cast<std::size_t>(fa.gcount())) != 0) {
      return false;
    }
  }
  return true;
}

std::string Md5Hex(std::string_view data) {
  Md5 md5;
  md5.Update(std::span<const char>(data.data(), data.size()));
  auto digest = md5.Final();
  return HexEncode(digest);
}

boost::json::object ParseObject(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << text;
    return {};
  }
  return v.as_object();
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the fileport binary with a clean environment: the server's base URL, a private
// state folder, and no API key unless given.
class Cli {
 public:
  Cli(std::string base_url, fs::path dir) : base_url_(std::move(base_url)), dir_(std::move(dir)) {
    fs::create_directories(dir_ / "state");
  }
  void set_api_key(std::string key) { api_key_ = std::move(key); }
  fs::path state_dir() const { return dir_ / "state" / "uploads"; }

  // Starts the binary; stdout and stderr go to files read by Wait.
  pid_t Start(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s{FILEPORT_CLI_BIN};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s{"PATH=/usr/bin:/bin", "HOME=" + dir_.string(),
                                   "OPENAI_BASE_URL=" + base_url_ + "/v1",
                                   "FILEPORT_STATE_DIR=" + (dir_ / "state").string()};
    if (!api_key_.empty()) env_s.push_back("OPENAI_API_KEY=" + api_key_);
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << FILEPORT_CLI_BIN;
    return rc == 0 ? pid : -1;
  }

  CliResult Wait(pid_t pid) {
    CliResult r;
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid) {
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    r.out = ReadFile(dir_ / "stdout");
    r.err = ReadFile(dir_ / "stderr");
    return r;
  }

  CliResult Run(const std::vector<std::string>& args) { return Wait(Start(args)); }

 private:
  std::string base_url_;
  fs::path dir_;
  std::string api_key_;
};

class CliTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    cli_ = std::make_unique<Cli>(server().base_url(), scratch_.path());
  }
  Cli& cli() { return *cli_; }
  fs::path Path(const std::string& name) const { return fs::path(scratch_.path()) / name; }

  ScratchDir scratch_{"cli"};  // declared first: outlives cli_
  std::unique_ptr<Cli> cli_;
};

#define EXPECT_EXIT_CODE(result, code) \
  EXPECT_EQ((result).exit_code, code) << "stdout: " << (result).out << "\nstderr: " << (result).err

// --- files -----------------------------------------------------------------------------------

TEST_F(CliTest, FilesCreateGetListContentDeleteSpeakTheApiJson) {
  WriteFile(Path("train.jsonl"), "{\"prompt\":\"a\"}\n");
  auto created = cli().Run({"files", "create", Path("train.jsonl").string(), "--purpose",
                            "fine-tune", "--json"});
  EXPECT_EXIT_CODE(created, 0);
  auto file = ParseObject(created.out);
  const std::string id = Str(file, "id");
  // --json prints the object exactly as the API returns it.
  auto direct = client().Get("/v1/files/" + id);
  ASSERT_EQ(direct.status, 200);
  EXPECT_EQ(boost::json::parse(created.out), boost::json::parse(direct.body));
  EXPECT_EQ(Str(file, "filename"), "train.jsonl");
  EXPECT_EQ(Int(file, "bytes"), 15);

  auto got = cli().Run({"files", "get", id, "--json"});
  EXPECT_EXIT_CODE(got, 0);
  EXPECT_EQ(boost::json::parse(got.out), boost::json::parse(direct.body));

  auto human = cli().Run({"files", "get", id});
  EXPECT_EXIT_CODE(human, 0);
  EXPECT_EQ(human.out.rfind(id + "  train.jsonl  15 B  fine-tune  processed  created ", 0), 0u)
      << human.out;

  auto listed = cli().Run({"files", "list", "--json"});
  EXPECT_EXIT_CODE(listed, 0);
  auto list = ParseObject(listed.out);
  EXPECT_EQ(ExpectListShape(list), std::vector<std::string>{id});

  auto content = cli().Run({"files", "content", id});
  EXPECT_EXIT_CODE(content, 0);
  EXPECT_EQ(content.out, "{\"prompt\":\"a\"}\n");
  auto to_file = cli().Run({"files", "content", id, "-o", Path("copy.jsonl").string()});
  EXPECT_EXIT_CODE(to_file, 0);
  EXPECT_EQ(ReadFile(Path("copy.jsonl")), "{\"prompt\":\"a\"}\n");

  auto deleted = cli().Run({"files", "delete", id});
  EXPECT_EXIT_CODE(deleted, 0);
  EXPECT_EQ(deleted.out, "Deleted " + id + "\n");
  auto gone = cli().Run({"files", "get", id});
  EXPECT_EXIT_CODE(gone, 5);
  EXPECT_EQ(gone.out, "");
  EXPECT_EQ(gone.err.rfind("fileport: No such File object: " + id + " [HTTP 404, param: id, "
                           "request: req_",
                           0),
            0u)
      << gone.err;
}

TEST_F(CliTest, FilesListAllFollowsEveryPage) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Str(MustCreateFile(client(), "x" + std::to_string(i)), "id"));
    server().clock().AdvanceSeconds(1);  // ids (and so the order) follow creation time
  }
  std::reverse(ids.begin(), ids.end());  // newest first

  auto all = cli().Run({"files", "list", "--limit", "2", "--all", "--json"});
  EXPECT_EXIT_CODE(all, 0);
  auto list = ParseObject(all.out);
  EXPECT_EQ(ExpectListShape(list), ids);
  EXPECT_FALSE(list["has_more"].as_bool());

  auto page = cli().Run({"files", "list", "--limit", "2"});
  EXPECT_EXIT_CODE(page, 0);
  EXPECT_EQ(std::count(page.out.begin(), page.out.end(), '\n'), 2);
  EXPECT_EQ(page.err, "More files follow: --after " + ids[1] + " (or --all)\n");

  auto asc = cli().Run({"files", "list", "--order", "asc", "--after", ids[4], "--json"});
  EXPECT_EXIT_CODE(asc, 0);
  auto asc_list = ParseObject(asc.out);
  EXPECT_EQ(ExpectListShape(asc_list), (std::vector<std::string>{ids[3], ids[2], ids[1], ids[0]}));
}

TEST_F(CliTest, ErrorsPrintTheApiMessageAndExitWithTheirKind) {
  WriteFile(Path("a.txt"), "abc");
  auto bad = cli().Run({"files", "create", Path("a.txt").string(), "--purpose", "nope"});
  EXPECT_EXIT_CODE(bad, 3);
  EXPECT_EQ(bad.err.rfind("fileport: 'nope' is not one of ['assistants', 'batch', 'fine-tune', "
                          "'vision', 'user_data', 'evals'] - 'purpose' [HTTP 400, param: "
                          "purpose, request: req_",
                          0),
            0u)
      << bad.err;

  auto unknown = cli().Run({"uploads", "cancel", "upload_nope"});
  EXPECT_EXIT_CODE(unknown, 5);
  EXPECT_NE(unknown.err.find("No such Upload object: upload_nope [HTTP 404, param: upload_id"),
            std::string::npos)
      << unknown.err;

  // Nothing listens there: a connection error, after the retries.
  auto refused = cli().Run({"files", "list", "--base-url", "http://127.0.0.1:1/v1",
                            "--max-retries", "0"});
  EXPECT_EXIT_CODE(refused, 9);
  EXPECT_EQ(refused.err.rfind("fileport: Connection error: ", 0), 0u) << refused.err;

  auto usage = cli().Run({"upload", Path("a.txt").string(), "--purpose", "assistants",
                          "--part-size", "65MiB"});
  EXPECT_EXIT_CODE(usage, 2);
  EXPECT_EQ(usage.err, "fileport: --part-size must be between 1 byte and 64.0 MiB, got '65MiB'\n");
}

TEST_F(CliTest, KeyedServerAnswers401WithoutAKeyAndServesTheRightOne) {
  const std::string key = server().CreateKey("proj-a");
  auto none = cli().Run({"files", "list"});
  EXPECT_EXIT_CODE(none, 4);
  EXPECT_NE(none.err.find("You didn't provide an API key."), std::string::npos) << none.err;
  cli().set_api_key(key.substr(0, key.size() - 1) + (key.back() == 'a' ? "b" : "a"));
  auto wrong = cli().Run({"files", "list"});
  EXPECT_EXIT_CODE(wrong, 4);
  EXPECT_NE(wrong.err.find("code: invalid_api_key"), std::string::npos) << wrong.err;
  cli().set_api_key(key);
  auto ok = cli().Run({"files", "list", "--json"});
  EXPECT_EXIT_CODE(ok, 0);
}

// --- uploads step by step --------------------------------------------------------------------

TEST_F(CliTest, UploadsStepByStep) {
  auto created = cli().Run({"uploads", "create", "--bytes", "10", "--filename", "ten.bin",
                            "--mime-type", "application/octet-stream", "--purpose", "assistants",
                            "--json"});
  EXPECT_EXIT_CODE(created, 0);
  auto upload = ParseObject(created.out);
  ExpectUploadShape(upload);
  const std::string id = Str(upload, "id");
  EXPECT_EQ(Str(upload, "status"), "pending");

  WriteFile(Path("p1"), "012345");
  WriteFile(Path("p2"), "6789");
  auto p1 = cli().Run({"uploads", "add-part", id, Path("p1").string()});
  auto p2 = cli().Run({"uploads", "add-part", id, Path("p2").string(), "--json"});
  EXPECT_EXIT_CODE(p1, 0);
  EXPECT_EXIT_CODE(p2, 0);
  const std::string part1 = p1.out.substr(0, p1.out.size() - 1);
  auto part2_obj = ParseObject(p2.out);
  ExpectPartShape(part2_obj, false);
  const std::string part2 = Str(part2_obj, "id");

  auto parts = cli().Run({"uploads", "parts", id, "--json"});
  EXPECT_EXIT_CODE(parts, 0);
  auto parts_list = ParseObject(parts.out);
  EXPECT_EQ(ExpectListShape(parts_list), (std::vector<std::string>{part1, part2}));

  auto wrong_md5 = cli().Run({"uploads", "complete", id, "--part-id", part1 + "," + part2,
                              "--md5", std::string(32, '0')});
  EXPECT_EXIT_CODE(wrong_md5, 3);
  EXPECT_NE(wrong_md5.err.find("The md5 checksum of the uploaded bytes does not match [HTTP 400, "
                               "param: md5"),
            std::string::npos)
      << wrong_md5.err;
  auto done = cli().Run({"uploads", "complete", id, "--part-id", part1, "--part-id", part2,
                         "--md5", Md5Hex("0123456789"), "--json"});
  EXPECT_EXIT_CODE(done, 0);
  auto completed = ParseObject(done.out);
  EXPECT_EQ(Str(completed, "status"), "completed");
  const std::string file_id = Str(completed["file"].as_object(), "id");
  EXPECT_EQ(client().Get("/v1/files/" + file_id + "/content").body, "0123456789");

  auto got = cli().Run({"uploads", "get", id});
  EXPECT_EXIT_CODE(got, 0);
  EXPECT_NE(got.out.find(id + "  ten.bin  10 B  assistants  completed  -> " + file_id),
            std::string::npos)
      << got.out;

  const std::string other = MustCreateUpload(client(), 5);
  auto cancelled = cli().Run({"uploads", "cancel", other, "--json"});
  EXPECT_EXIT_CODE(cancelled, 0);
  EXPECT_EQ(Str(ParseObject(cancelled.out), "status"), "cancelled");
}

// --- upload and download ---------------------------------------------------------------------

TEST_F(CliTest, Upload300MiBWithEightParallelPartsAndDownloadItBack) {
  const std::int64_t size = 300LL << 20;
  {
    std::ofstream out(Path("big.bin"), std::ios::binary);
    for (int i = 0; i < 300; ++i) out << RandomBytes(1 << 20, static_cast<unsigned>(i));
  }
  const std::int64_t parts_before = server().metrics().parts_stored.load();
  auto up = cli().Run({"upload", Path("big.bin").string(), "--purpose", "assistants",
                       "--part-size", "32MiB", "--parallel", "8", "--md5", "--json"});
  EXPECT_EXIT_CODE(up, 0);
  auto upload = ParseObject(up.out);
  ExpectUploadShape(upload);
  EXPECT_EQ(Str(upload, "status"), "completed");
  EXPECT_EQ(Int(upload, "bytes"), size);
  EXPECT_EQ(server().metrics().parts_stored.load() - parts_before, 10);  // ceil(300 / 32)
  const std::string file_id = Str(upload["file"].as_object(), "id");
  EXPECT_TRUE(fs::is_empty(cli().state_dir())) << "the journal outlived the upload";

  auto down = cli().Run({"download", file_id, "-o", Path("back.bin").string()});
  EXPECT_EXIT_CODE(down, 0);
  EXPECT_EQ(down.out, "Downloaded " + file_id + " (300.0 MiB) to " + Path("back.bin").string() + "\n");
  EXPECT_TRUE(SameFile(Path("big.bin"), Path("back.bin")));
  EXPECT_FALSE(fs::exists(Path("back.bin").string() + "." + file_id + ".part"));
}

TEST_F(CliTest, DownloadResumesAPartialFileWithARangeRequest) {
  const std::string data = RandomBytes(5 << 20, 7);
  const std::string id = Str(MustCreateFile(client(), data, "five.bin"), "id");
  const fs::path out = Path("five.bin");
  const fs::path partial = out.string() + "." + id + ".part";
  WriteFile(partial, std::string_view(data).substr(0, 2 << 20));

  const std::int64_t sent_before = server().metrics().bytes_sent.load();
  auto down = cli().Run({"download", id, "-o", out.string()});
  EXPECT_EXIT_CODE(down, 0);
  EXPECT_EQ(down.err, "Resuming " + out.string() + " at 2.0 MiB of 5.0 MiB\n");
  EXPECT_EQ(ReadFile(out), data);
  EXPECT_FALSE(fs::exists(partial));
  // Only the missing 3 MiB crossed the wire (plus two responses' headers and a File object).
  const std::int64_t sent = server().metrics().bytes_sent.load() - sent_before;
  EXPECT_GE(sent, 3 << 20);
  EXPECT_LT(sent, (3 << 20) + 4096);

  // A partial file longer than the file is not a prefix of it: the download starts over.
  fs::remove(out);
  WriteFile(partial, data + "junk");
  auto again = cli().Run({"download", id, "-o", out.string()});
  EXPECT_EXIT_CODE(again, 0);
  EXPECT_EQ(ReadFile(out), data);
}

TEST_F(CliTest, DownloadWithoutOutputUsesTheFileNameAndNeverOverwrites) {
  const std::string id = Str(MustCreateFile(client(), "hello", "../../etc/evil.txt"), "id");
  fs::path cwd = fs::current_path();
  fs::current_path(scratch_.path());
  auto first = cli().Run({"download", id});
  auto second = cli().Run({"download", id});
  fs::current_path(cwd);
  EXPECT_EXIT_CODE(first, 0);
  EXPECT_EQ(ReadFile(Path("evil.txt")), "hello");  // the last component only
  EXPECT_EXIT_CODE(second, 2);
  EXPECT_EQ(second.err, "fileport: evil.txt already exists; pass -o evil.txt to replace it\n");
}

// A blob store whose writes commit until `allowed` runs out; later commits wait for Release.
// So a test can stop an upload with some parts acknowledged and some on the wire.
class GatedBlobStore final : public BlobStore {
 public:
  GatedBlobStore(std::unique_ptr<BlobStore> inner, int allowed)
      : inner_(std::move(inner)), allowed_(allowed) {}

  class Writer final : public BlobWriter {
   public:
    Writer(GatedBlobStore* gate, std::unique_ptr<BlobWriter> inner)
        : gate_(gate), inner_(std::move(inner)) {}
    Status Append(std::span<const char> data) override { return inner_->Append(data); }
    Status Commit() override {
      gate_->Pass();
      return inner_->Commit();
    }
    void Abort() override { inner_->Abort(); }
    std::int64_t bytes_written() const override { return inner_->bytes_written(); }

   private:
    GatedBlobStore* gate_;
    std::unique_ptr<BlobWriter> inner_;
  };

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override {
    {
      std::lock_guard lock(mu_);
      ++writers_;
    }
    ASSIGN_OR_RETURN(auto w, inner_->NewWriter(key));
    return std::unique_ptr<BlobWriter>(std::make_unique<Writer>(this, std::move(w)));
  }
  Result<std::unique_ptr<BlobReader>> NewReader(const std::string& key, std::int64_t offset,
                                                std::int64_t length) override {
    return inner_->NewReader(key, offset, length);
  }
  Result<std::int64_t> Stat(const std::string& key) override { return inner_->Stat(key); }
  Status Delete(const std::string& key) override { return inner_->Delete(key); }
  Status CleanupTemporary(std::int64_t s) override { return inner_->CleanupTemporary(s); }
  Status Ping() override { return inner_->Ping(); }

  // Waits until `n` commits are held; false after `timeout`.
  bool WaitForHeld(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_ >= n; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int writers() {
    std::lock_guard lock(mu_);
    return writers_;
  }

 private:
  void Pass() {
    std::unique_lock lock(mu_);
    if (allowed_ > 0) {
      --allowed_;
      return;
    }
    ++held_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
  }

  std::unique_ptr<BlobStore> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int allowed_;
  int held_ = 0;
  int writers_ = 0;
  bool released_ = false;
};

// The parts a journal in `dir` lists (0 when there is none).
std::size_t JournaledParts(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    boost::system::error_code ec;
    auto v = boost::json::parse(ReadFile(entry.path()), ec);
    if (!ec && v.is_object() && v.as_object().contains("parts")) {
      return v.as_object().at("parts").as_object().size();
    }
  }
  return 0;
}

TEST_F(CliTest, UploadKilledMidwayResumesSendingOnlyTheMissingParts) {
  GatedBlobStore* gate = nullptr;
  TestServerOptions options;
  options.wrap_blobs = [&gate](std::unique_ptr<BlobStore> inner) {
    auto g = std::make_unique<GatedBlobStore>(std::move(inner), /*allowed=*/3);
    gate = g.get();
    return std::unique_ptr<BlobStore>(std::move(g));
  };
  Restart(options);
  ASSERT_NE(gate, nullptr);
  cli_ = std::make_unique<Cli>(server().base_url(), scratch_.path());

  const std::string data = RandomBytes(10 << 20, 11);
  WriteFile(Path("ten.bin"), data);
  const std::vector<std::string> args{"upload", Path("ten.bin").string(), "--purpose",
                                      "assistants", "--part-size", "1MiB", "--parallel", "2"};
  pid_t pid = cli().Start(args);
  // Three parts acknowledged (and journaled), two more fully sent and held at commit.
  ASSERT_TRUE(gate->WaitForHeld(2, 60s)) << "the upload never reached the gate";
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (JournaledParts(cli().state_dir()) < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // polling a file the child writes, with a deadline
  }
  ASSERT_EQ(JournaledParts(cli().state_dir()), 3u);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_EQ(cli().Wait(pid).exit_code, 128 + SIGKILL);
  // The held parts are stored after their client died: the server holds 5 parts, the journal
  // knows 3. The other 2 must be sent again; the stored copies are discarded at completion.
  gate->Release();
  std::string upload_id;
  for (const auto& entry : fs::directory_iterator(cli().state_dir())) {
    if (entry.path().extension() == ".json") {
      upload_id =
          std::string(boost::json::parse(ReadFile(entry.path())).at("upload_id").as_string());
    }
  }
  ASSERT_FALSE(upload_id.empty());
  const auto deadline2 = std::chrono::steady_clock::now() + 60s;
  std::size_t held_parts = 0;
  while (held_parts < 5 && std::chrono::steady_clock::now() < deadline2) {
    auto parts = JsonObject(client().Get("/v1/uploads/" + upload_id + "/parts"));
    held_parts = parts.contains("data") ? parts["data"].as_array().size() : 0;
    if (held_parts < 5) std::this_thread::sleep_for(5ms);  // released requests finish
  }
  ASSERT_EQ(held_parts, 5u) << "the two held parts were not stored";
  const int writers_before = gate->writers();

  auto resumed = cli().Run([&] {
    auto a = args;
    a.push_back("--resume");
    return a;
  }());
  EXPECT_EXIT_CODE(resumed, 0);
  EXPECT_NE(resumed.err.find("Resuming " + upload_id +
                             ": 3 of 10 parts (3.0 MiB) already on the server."),
            std::string::npos)
      << resumed.err;
  EXPECT_EQ(gate->writers() - writers_before, 7) << "only the 7 missing parts are sent";
  EXPECT_TRUE(fs::is_empty(cli().state_dir()));

  auto upload = JsonObject(client().Get("/v1/uploads/" + upload_id));
  EXPECT_EQ(Str(upload, "status"), "completed");
  const std::string file_id = Str(upload["file"].as_object(), "id");
  EXPECT_EQ(client().Get("/v1/files/" + file_id + "/content").body, data);
  // The two unlisted copies are garbage: after a sweep only the file's 10 parts remain.
  server().sweeper().RunOnce();
  EXPECT_EQ(server().BlobFiles().size(), 10u);
}

TEST_F(CliTest, ResumeWithNothingToResumeStartsANewUpload) {
  WriteFile(Path("small.txt"), "small");
  auto r = cli().Run({"upload", Path("small.txt").string(), "--purpose", "assistants", "--resume"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(r.err.find("No interrupted upload of " + Path("small.txt").string() +
                       " to resume; starting a new one."),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("  small.txt  5 B  assistants  processed  created "), std::string::npos)
      << r.out;
}

// `fileport serve` says how many threads it runs: the flags when given, else one event loop
// per CPU and 2 x CPUs storage workers (at least 4) for the embedded stores.
TEST(ServeCommand, PrintsItsThreadsFromTheFlagsOrTheMachine) {
  ScratchDir dir("serve");
  const auto first_lines = [&](const std::string& flags) {
    // `timeout` sends SIGTERM after two seconds; the server drains and exits, and popen
    // returns all it printed.
    const std::string cmd = "timeout 2 " + std::string(FILEPORT_CLI_BIN) +
                            " serve --listen 127.0.0.1:0 --data " + dir.path() + " " + flags +
                            " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    while (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    if (p != nullptr) ::pclose(p);
    return out;
  };
  const std::string given = first_lines("--workers 7 --io-threads 3");
  EXPECT_NE(given.find("\n  threads: 3 event loops, 7 storage workers\n"), std::string::npos)
      << given;
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  const long cpus = CPU_COUNT(&set);  // what the server counts: its affinity mask
  const std::string automatic = first_lines("");
  EXPECT_NE(automatic.find("\n  threads: " + std::to_string(std::min(cpus, 16L)) +
                           " event loops, " +
                           std::to_string(std::clamp(2 * cpus, 4L, 64L)) + " storage workers\n"),
            std::string::npos)
      << automatic << " (" << cpus << " CPUs)";
}

}  // namespace
}  // namespace fileport::testing
