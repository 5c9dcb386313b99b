// `fileport files create|list|get|delete|content` and `fileport download`: the Files API from
// the command line, through the client library.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/remote.h"
#include "common/sizes.h"
#include "model/wire.h"

namespace fileport::cli {
namespace {

namespace fs = std::filesystem;
using client::ContentRange;
using client::FileInput;

struct FilesFlags {
  RemoteFlags remote;
  std::string path;
  std::string purpose;
  std::string mime_type;
  std::string filename;
  std::optional<std::int64_t> expires_after;
  std::optional<int> limit;
  std::string order;
  std::string after;
  bool all = false;
  std::string id;
  std::string output;
};

// The media type of a file to upload, from its extension (application/octet-stream when
// unknown): the server records it and serves it back as the content's Content-Type.
std::string GuessMimeType(const fs::path& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".jsonl", "application/jsonl"}, {".json", "application/json"}, {".txt", "text/plain"},
      {".md", "text/markdown"},        {".csv", "text/csv"},          {".pdf", "application/pdf"},
      {".png", "image/png"},           {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},           {".webp", "image/webp"},       {".html", "text/html"},
  };
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

int Create(const FilesFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  client::FileCreateOptions o;
  o.expires_after_seconds = f.expires_after;
  o.content_type = f.mime_type.empty() ? GuessMimeType(f.path) : f.mime_type;
  auto file = c->files.create(FileInput::Path(f.path, f.filename), f.purpose, o);
  if (!file.ok()) return ReportError(file.error());
  if (f.remote.json) {
    PrintJson(ToJson(*file));
  } else {
    std::printf("%s\n", DescribeFile(*file).c_str());
  }
  return kExitOk;
}

int List(const FilesFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  client::FileListParams p;
  if (!f.purpose.empty()) p.purpose = f.purpose;
  p.limit = f.limit;
  if (!f.order.empty()) p.order = f.order;
  if (!f.after.empty()) p.after = f.after;
  auto page = c->files.list(p);
  if (!page.ok()) return ReportError(page.error());

  Page<File> shown;
  if (f.all) {
    for (const File& file : *page) {
      if (!f.remote.json) std::printf("%s\n", DescribeFile(file).c_str());
      if (f.remote.json) shown.data.push_back(file);
    }
    if (page->iteration_error() != nullptr) return ReportError(*page->iteration_error());
  } else {
    shown.data = page->data;
    shown.has_more = page->has_more;
    if (!f.remote.json) {
      for (const File& file : shown.data) std::printf("%s\n", DescribeFile(file).c_str());
    }
  }
  if (f.remote.json) {
    PrintJson(ToJson(shown));
  } else if (shown.has_more && !shown.data.empty()) {
    std::fprintf(stderr, "More files follow: --after %s (or --all)\n",
                 shown.data.back().id.c_str());
  }
  return kExitOk;
}

int Get(const FilesFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto file = c->files.retrieve(f.id);
  if (!file.ok()) return ReportError(file.error());
  if (f.remote.json) {
    PrintJson(ToJson(*file));
  } else {
    std::printf("%s\n", DescribeFile(*file).c_str());
  }
  return kExitOk;
}

int Delete(const FilesFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto deleted = c->files.del(f.id);
  if (!deleted.ok()) return ReportError(deleted.error());
  if (f.remote.json) {
    PrintJson(ToJson(*deleted));
  } else {
    std::printf("Deleted %s\n", deleted->id.c_str());
  }
  return kExitOk;
}

// `files content ID [-o FILE]`: the bytes to a file, or to stdout.
int Content(const FilesFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  if (!f.output.empty() && f.output != "-") {
    auto n = c->files.content(f.id, fs::path(f.output));
    if (!n.ok()) return ReportError(n.error());
    return kExitOk;
  }
  auto n = c->files.content(f.id, [](std::string_view bytes) {
    return std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size();
  });
  if (!n.ok()) return ReportError(n.error());
  return std::fflush(stdout) == 0 ? kExitOk : kExitError;
}

// The name to save a download under when -o is not given: the file's own name, reduced to
// its last component (a stored filename is display text and may hold "../" or "/").
std::string LocalName(const File& file) {
  std::string name = file.filename;
  if (auto slash = name.find_last_of("/\\"); slash != std::string::npos) name.erase(0, slash + 1);
  if (name.empty() || name == "." || name == "..") return file.id;
  for (char& ch : name) {
    if (static_cast<unsigned char>(ch) < 0x20) ch = '_';
  }
  return name;
}

// `download ID [-o FILE]`: the content into FILE through FILE.<id>.part, which survives an
// interruption; a later download of the same id to the same FILE asks only for the bytes the
// partial file lacks (a Range request) and renames it into place once it is whole.
int Download(const FilesFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto file = c->files.retrieve(f.id);
  if (!file.ok()) return ReportError(file.error());
  const fs::path out = f.output.empty() ? fs::path(LocalName(*file)) : fs::path(f.output);
  const fs::path partial = out.string() + "." + file->id + ".part";

  std::error_code ec;
  if (f.output.empty() && fs::exists(out, ec)) {
    std::fprintf(stderr, "fileport: %s already exists; pass -o %s to replace it\n", out.c_str(),
                 out.c_str());
    return kExitUsage;
  }
  std::int64_t have = fs::exists(partial, ec) ? static_cast<std::int64_t>(fs::file_size(partial, ec))
                                              : 0;
  if (ec || have > file->bytes) have = 0;  // not a prefix of this file: start over
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> sink(
      std::fopen(partial.c_str(), have > 0 ? "r+b" : "wb"), std::fclose);
  if (!sink || std::fseek(sink.get(), static_cast<long>(have), SEEK_SET) != 0) {
    std::fprintf(stderr, "fileport: cannot write %s\n", partial.c_str());
    return kExitError;
  }
  if (have > 0 && !f.remote.json) {
    std::fprintf(stderr, "Resuming %s at %s of %s\n", out.c_str(), FormatBytes(have).c_str(),
                 FormatBytes(file->bytes).c_str());
  }
  ProgressBar bar(!f.remote.json && ::isatty(STDERR_FILENO) != 0, file->bytes, have);

  // Each attempt asks for what is still missing; an attempt that got bytes earns a fresh
  // set of retries (the library's own retries cover failures before the first byte).
  int stalled = 0;
  while (have < file->bytes) {
    const std::int64_t before = have;
    bool write_failed = false;
    auto got = c->files.content(
        file->id, ContentRange{.offset = have}, [&](std::string_view bytes) {
          if (std::fwrite(bytes.data(), 1, bytes.size(), sink.get()) != bytes.size()) {
            write_failed = true;
            return false;
          }
          have += static_cast<std::int64_t>(bytes.size());
          bar.Update(have);
          return true;
        });
    if (write_failed) {
      std::fprintf(stderr, "\nfileport: cannot write %s (kept for a later resume)\n",
                   partial.c_str());
      return kExitError;
    }
    if (got.ok()) continue;
    if (have > before) stalled = 0;
    if (!IsTransient(got.error()) || ++stalled > f.remote.max_retries) {
      bar.Finish();
      int code = ReportError(got.error());
      if (IsTransient(got.error())) {
        std::fprintf(stderr, "Partial download kept in %s; run the same command to resume.\n",
                     partial.c_str());
      }
      return code;
    }
  }
  if (std::fflush(sink.get()) != 0 || ::fsync(fileno(sink.get())) != 0 ||
      std::fclose(sink.release()) != 0) {
    std::fprintf(stderr, "fileport: cannot write %s\n", partial.c_str());
    return kExitError;
  }
  fs::rename(partial, out, ec);
  if (ec) {
    std::fprintf(stderr, "fileport: cannot rename %s to %s: %s\n", partial.c_str(), out.c_str(),
                 ec.message().c_str());
    return kExitError;
  }
  bar.Finish();
  if (f.remote.json) {
    PrintJson(ToJson(*file));
  } else {
    std::printf("Downloaded %s (%s) to %s\n", file->id.c_str(), FormatBytes(file->bytes).c_str(),
                out.c_str());
  }
  return kExitOk;
}

}  // namespace

std::string MimeTypeFor(const std::filesystem::path& path) { return GuessMimeType(path); }

void AddFilesCommands(CLI::App& app) {
  auto flags = std::make_shared<FilesFlags>();
  CLI::App* files = app.add_subcommand("files", "Files API: create, list, get, delete, content");
  files->require_subcommand(1);

  CLI::App* create = files->add_subcommand("create", "Upload a file (up to 512 MiB) in one request");
  create->add_option("FILE", flags->path, "The file to upload")->required()->check(CLI::ExistingFile);
  create->add_option("--purpose", flags->purpose,
                     "assistants, batch, fine-tune, vision, user_data or evals")
      ->required();
  create->add_option("--expires-after", flags->expires_after,
                     "Seconds after creation the file expires (3600 … 2592000)");
  create->add_option("--filename", flags->filename, "Name to record (default: FILE's name)");
  create->add_option("--mime-type", flags->mime_type, "Media type (default: from the extension)");
  AddRemoteFlags(*create, flags->remote);
  create->callback([flags] { throw CLI::RuntimeError(Create(*flags)); });

  CLI::App* list = files->add_subcommand("list", "List files, newest first");
  list->add_option("--purpose", flags->purpose, "Only files of this purpose");
  list->add_option("--limit", flags->limit, "Files per page (1 … 10000; server default 10000)");
  list->add_option("--order", flags->order, "asc or desc (by creation)")
      ->check(CLI::IsMember({"asc", "desc"}));
  list->add_option("--after", flags->after, "Start after this file id");
  list->add_flag("--all", flags->all, "Follow every page to the end");
  AddRemoteFlags(*list, flags->remote);
  list->callback([flags] { throw CLI::RuntimeError(List(*flags)); });

  CLI::App* get = files->add_subcommand("get", "Show one file");
  get->add_option("FILE_ID", flags->id, "The file's id")->required();
  AddRemoteFlags(*get, flags->remote);
  get->callback([flags] { throw CLI::RuntimeError(Get(*flags)); });

  CLI::App* del = files->add_subcommand("delete", "Delete a file and its bytes");
  del->add_option("FILE_ID", flags->id, "The file's id")->required();
  AddRemoteFlags(*del, flags->remote);
  del->callback([flags] { throw CLI::RuntimeError(Delete(*flags)); });

  CLI::App* content = files->add_subcommand("content", "Write a file's bytes to stdout or -o FILE");
  content->add_option("FILE_ID", flags->id, "The file's id")->required();
  content->add_option("-o,--output", flags->output, "Write here instead of stdout");
  AddRemoteFlags(*content, flags->remote);
  content->callback([flags] { throw CLI::RuntimeError(Content(*flags)); });

  CLI::App* download = app.add_subcommand(
      "download", "Download a file's content; an interrupted download resumes where it stopped");
  download->add_option("FILE_ID", flags->id, "The file's id")->required();
  download->add_option("-o,--output", flags->output, "Save as (default: the file's name)");
  AddRemoteFlags(*download, flags->remote);
  download->callback([flags] { throw CLI::RuntimeError(Download(*flags)); });
}

}  // namespace fileport::cli
