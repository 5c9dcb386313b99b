// `fileport uploads create|get|parts|add-part|complete|cancel` (the Uploads API step by step)
// and `fileport upload FILE` (the whole of it: parallel parts, a progress bar, and --resume).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/journal.h"
#include "cli/progress.h"
#include "cli/remote.h"
#include "common/sizes.h"
#include "model/wire.h"

namespace fileport::cli {
namespace {

namespace fs = std::filesystem;
using client::FileInput;

struct UploadsFlags {
  RemoteFlags remote;
  std::string id;
  std::string path;
  std::int64_t bytes = -1;
  std::string filename;
  std::string mime_type;
  std::string purpose;
  std::optional<std::int64_t> expires_after;
  std::vector<std::string> part_ids;
  std::string md5;
  // upload FILE
  std::string part_size = "64MiB";
  int parallel = 4;
  bool compute_md5 = false;
  bool resume = false;
  bool no_progress = false;
};

int PrintUpload(const UploadsFlags& f, const Upload& u) {
  if (f.remote.json) {
    PrintJson(ToJson(u));
  } else {
    std::printf("%s\n", DescribeUpload(u).c_str());
  }
  return kExitOk;
}

int Create(const UploadsFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto u = c->uploads.create({.bytes = f.bytes,
                              .filename = f.filename,
                              .mime_type = f.mime_type,
                              .purpose = f.purpose,
                              .expires_after_seconds = f.expires_after});
  if (!u.ok()) return ReportError(u.error());
  return PrintUpload(f, *u);
}

int Get(const UploadsFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto u = c->uploads.retrieve(f.id);
  if (!u.ok()) return ReportError(u.error());
  return PrintUpload(f, *u);
}

int ListParts(const UploadsFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto parts = c->uploads.parts.list(f.id);
  if (!parts.ok()) return ReportError(parts.error());
  if (f.remote.json) {
    Page<UploadPart> page;
    page.data = *parts;
    PrintJson(ToJson(page));
    return kExitOk;
  }
  std::int64_t total = 0;
  for (const auto& p : *parts) {
    std::printf("%s  %s  created %s\n", p.id.c_str(), FormatBytes(p.bytes).c_str(),
                FormatTime(p.created_at).c_str());
    total += p.bytes;
  }
  std::fprintf(stderr, "%zu parts, %s\n", parts->size(), FormatBytes(total).c_str());
  return kExitOk;
}

int AddPart(const UploadsFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto part = c->uploads.parts.create(f.id, FileInput::Path(f.path));
  if (!part.ok()) return ReportError(part.error());
  if (f.remote.json) {
    PrintJson(ToJson(*part));
  } else {
    std::printf("%s\n", part->id.c_str());
  }
  return kExitOk;
}

int Complete(const UploadsFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  std::optional<std::string> md5;
  if (!f.md5.empty()) md5 = f.md5;
  auto u = c->uploads.complete(f.id, f.part_ids, md5);
  if (!u.ok()) return ReportError(u.error());
  return PrintUpload(f, *u);
}

int Cancel(const UploadsFlags& f) {
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  auto u = c->uploads.cancel(f.id);
  if (!u.ok()) return ReportError(u.error());
  return PrintUpload(f, *u);
}

// What --resume found: the upload to continue and the parts to skip, or nothing.
struct ResumePoint {
  std::string upload_id;
  std::map<std::int64_t, std::string> done;
  std::int64_t done_bytes = 0;
};

// Checks a journal against the server: the upload must still be pending with the same size,
// and only parts the server still lists (with the expected size) count as sent.
// Returns nullopt (start a new upload) when the journal cannot be used; sets *finished when
// the upload had completed already (the process ended between completion and cleanup).
std::optional<ResumePoint> CheckResume(const client::Client& c, const UploadJournal::Entry& entry,
                                       std::int64_t size, std::int64_t part_size, bool quiet,
                                       std::optional<Upload>* finished, client::ApiError* error) {
  auto u = c.uploads.retrieve(entry.upload_id);
  if (!u.ok()) {
    if (u.error().kind != client::ErrorKind::kNotFound) *error = u.error();
    if (!quiet && u.error().kind == client::ErrorKind::kNotFound) {
      std::fprintf(stderr, "Upload %s is gone; starting a new one.\n", entry.upload_id.c_str());
    }
    return std::nullopt;
  }
  if (u->status == UploadStatus::kCompleted) {
    *finished = *u;
    return std::nullopt;
  }
  if (u->status != UploadStatus::kPending || u->bytes != size) {
    if (!quiet) {
      std::fprintf(stderr, "Upload %s is %s; starting a new one.\n", u->id.c_str(),
                   std::string(UploadStatusName(u->status)).c_str());
    }
    return std::nullopt;
  }
  auto parts = c.uploads.parts.list(u->id);
  if (!parts.ok()) {
    *error = parts.error();
    return std::nullopt;
  }
  std::map<std::string, std::int64_t> held;  // part id → bytes, as the server lists them
  for (const auto& p : *parts) held[p.id] = p.bytes;
  ResumePoint r{u->id, {}, 0};
  for (const auto& [index, id] : entry.parts) {
    const std::int64_t want = std::min(part_size, size - index * part_size);
    auto it = held.find(id);
    if (it != held.end() && it->second == want) {
      r.done[index] = id;
      r.done_bytes += want;
    }
  }
  return r;
}

// `upload FILE`: an Upload sent as parallel parts, journaled so that --resume continues it.
int UploadFile(const UploadsFlags& f) {
  auto part_size = ParseByteSize(f.part_size);
  if (!part_size || *part_size <= 0 || *part_size > kMaxPartBytes) {
    std::fprintf(stderr, "fileport: --part-size must be between 1 byte and %s, got '%s'\n",
                 FormatBytes(kMaxPartBytes).c_str(), f.part_size.c_str());
    return kExitUsage;
  }
  struct stat st {};
  if (::stat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fprintf(stderr, "fileport: cannot read %s\n", f.path.c_str());
    return kExitUsage;
  }
  auto c = MakeClient(f.remote);
  if (!c) return kExitUsage;
  const std::int64_t size = st.st_size;
  const fs::path path = fs::absolute(f.path);
  const std::string filename = f.filename.empty() ? path.filename().string() : f.filename;
  const std::string mime_type = f.mime_type.empty() ? MimeTypeFor(path) : f.mime_type;
  const bool quiet = f.remote.json;
  UploadJournal journal(UploadJournal::DefaultDir(),
                        {.base_url = c->base_url(),
                         .path = path.string(),
                         .size = size,
                         .mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                     st.st_mtim.tv_nsec,
                         .part_size = *part_size,
                         .purpose = f.purpose,
                         .filename = filename,
                         .mime_type = mime_type});

  std::optional<ResumePoint> resume;
  if (auto entry = journal.Load()) {
    if (f.resume) {
      std::optional<Upload> finished;
      client::ApiError error;
      resume = CheckResume(*c, *entry, size, *part_size, quiet, &finished, &error);
      if (finished) {  // completed by the run that was interrupted
        journal.Remove();
        if (!quiet) std::fprintf(stderr, "Upload %s had completed already.\n", entry->upload_id.c_str());
        return PrintUpload(f, *finished);
      }
      if (!error.message.empty()) return ReportError(error);
    } else {
      // A new upload was asked for: the interrupted one would only hold space until it expires.
      c->uploads.cancel(entry->upload_id).status().IgnoreError();
      if (!quiet) {
        std::fprintf(stderr, "Cancelled the interrupted upload %s (--resume continues one).\n",
                     entry->upload_id.c_str());
      }
    }
  } else if (f.resume && !quiet) {
    std::fprintf(stderr, "No interrupted upload of %s to resume; starting a new one.\n",
                 f.path.c_str());
  }

  if (!resume) {
    auto u = c->uploads.create({.bytes = size,
                                .filename = filename,
                                .mime_type = mime_type,
                                .purpose = f.purpose,
                                .expires_after_seconds = f.expires_after});
    if (!u.ok()) return ReportError(u.error());
    resume = ResumePoint{u->id, {}, 0};
  } else if (!quiet) {
    const std::int64_t n_parts = (size + *part_size - 1) / *part_size;
    std::fprintf(stderr, "Resuming %s: %zu of %lld parts (%s) already on the server.\n",
                 resume->upload_id.c_str(), resume->done.size(), static_cast<long long>(n_parts),
                 FormatBytes(resume->done_bytes).c_str());
  }
  if (Status s = journal.Start(resume->upload_id); !s.ok()) {
    std::fprintf(stderr, "fileport: journal: %s\n", s.ToString().c_str());
    return kExitError;
  }
  for (const auto& [index, id] : resume->done) {
    if (Status s = journal.AddPart(index, id); !s.ok()) {
      std::fprintf(stderr, "fileport: journal: %s\n", s.ToString().c_str());
      return kExitError;
    }
  }

  ProgressBar bar(!quiet && !f.no_progress && ::isatty(STDERR_FILENO) != 0, size,
                  resume->done_bytes);
  Status journal_status;
  client::ChunkedUploadParams p;
  p.mime_type = mime_type;
  p.purpose = f.purpose;
  p.filename = filename;
  p.bytes = size;
  p.part_size = *part_size;
  p.parallel = f.parallel;
  p.compute_md5 = f.compute_md5;
  p.expires_after_seconds = f.expires_after;
  p.upload_id = resume->upload_id;
  p.done_parts = resume->done;
  p.cancel_on_failure = false;  // decided below: a transient failure keeps it for --resume
  p.on_progress = [&](std::int64_t done, std::int64_t) { bar.Update(done); };
  p.on_part = [&](std::int64_t index, const UploadPart& part) {
    if (Status s = journal.AddPart(index, part.id); !s.ok() && journal_status.ok()) {
      journal_status = s;  // the upload goes on; only a later resume would resend this part
    }
  };
  const auto start = std::chrono::steady_clock::now();
  auto done = c->uploads.upload_file_chunked(FileInput::Path(path, filename), p);
  bar.Finish();
  if (!journal_status.ok()) {
    std::fprintf(stderr, "fileport: warning: journal: %s\n", journal_status.ToString().c_str());
  }
  if (!done.ok()) {
    int code = ReportError(done.error());
    if (IsTransient(done.error())) {
      std::fprintf(stderr,
                   "Upload %s stays pending for now; run the same command with --resume to "
                   "send only what is missing.\n",
                   resume->upload_id.c_str());
    } else {
      c->uploads.cancel(resume->upload_id).status().IgnoreError();
      journal.Remove();
    }
    return code;
  }
  journal.Remove();
  if (quiet) return PrintUpload(f, *done);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::int64_t sent = size - resume->done_bytes;
  std::fprintf(stderr, "Sent %s in %.2f s (%s/s)\n", FormatBytes(sent).c_str(), seconds,
               FormatBytes(seconds > 0 ? static_cast<std::int64_t>(sent / seconds) : sent).c_str());
  if (done->file) {
    std::printf("%s\n", DescribeFile(*done->file).c_str());
  } else {
    PrintUpload(f, *done);
  }
  return kExitOk;
}

}  // namespace

void AddUploadsCommands(CLI::App& app) {
  auto flags = std::make_shared<UploadsFlags>();
  CLI::App* uploads =
      app.add_subcommand("uploads", "Uploads API step by step: create, add-part, complete, …");
  uploads->require_subcommand(1);

  CLI::App* create = uploads->add_subcommand("create", "Start an upload of BYTES bytes");
  create->add_option("--bytes", flags->bytes, "Size of the whole file")->required()->check(
      CLI::NonNegativeNumber);
  create->add_option("--filename", flags->filename, "Name of the file")->required();
  create->add_option("--mime-type", flags->mime_type, "Media type of the file")->required();
  create->add_option("--purpose", flags->purpose, "Purpose of the file")->required();
  create->add_option("--expires-after", flags->expires_after,
                     "Seconds after completion the file expires (3600 … 2592000)");
  AddRemoteFlags(*create, flags->remote);
  create->callback([flags] { throw CLI::RuntimeError(Create(*flags)); });

  CLI::App* get = uploads->add_subcommand("get", "Show an upload");
  get->add_option("UPLOAD_ID", flags->id, "The upload's id")->required();
  AddRemoteFlags(*get, flags->remote);
  get->callback([flags] { throw CLI::RuntimeError(Get(*flags)); });

  CLI::App* parts = uploads->add_subcommand("parts", "List the parts an upload holds");
  parts->add_option("UPLOAD_ID", flags->id, "The upload's id")->required();
  AddRemoteFlags(*parts, flags->remote);
  parts->callback([flags] { throw CLI::RuntimeError(ListParts(*flags)); });

  CLI::App* add = uploads->add_subcommand("add-part", "Send FILE as one part (up to 64 MiB)");
  add->add_option("UPLOAD_ID", flags->id, "The upload's id")->required();
  add->add_option("FILE", flags->path, "The part's bytes")->required()->check(CLI::ExistingFile);
  AddRemoteFlags(*add, flags->remote);
  add->callback([flags] { throw CLI::RuntimeError(AddPart(*flags)); });

  CLI::App* complete =
      uploads->add_subcommand("complete", "Complete an upload from its parts, in order");
  complete->add_option("UPLOAD_ID", flags->id, "The upload's id")->required();
  complete->add_option("--part-id", flags->part_ids, "Part ids in file order (repeat or a,b,c)")
      ->required()
      ->delimiter(',');
  complete->add_option("--md5", flags->md5, "MD5 (hex) of the whole file, checked by the server");
  AddRemoteFlags(*complete, flags->remote);
  complete->callback([flags] { throw CLI::RuntimeError(Complete(*flags)); });

  CLI::App* cancel = uploads->add_subcommand("cancel", "Cancel an upload; its parts are deleted");
  cancel->add_option("UPLOAD_ID", flags->id, "The upload's id")->required();
  AddRemoteFlags(*cancel, flags->remote);
  cancel->callback([flags] { throw CLI::RuntimeError(Cancel(*flags)); });

  CLI::App* upload = app.add_subcommand(
      "upload", "Upload FILE (up to 8 GiB) as parallel parts, with progress and --resume");
  upload->add_option("FILE", flags->path, "The file to upload")->required()->check(CLI::ExistingFile);
  upload->add_option("--purpose", flags->purpose,
                     "assistants, batch, fine-tune, vision, user_data or evals")
      ->required();
  upload->add_option("--part-size", flags->part_size, "Bytes per part, e.g. 8MiB (max 64MiB)")
      ->capture_default_str();
  upload->add_option("--parallel", flags->parallel, "Parts in flight at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  upload->add_flag("--md5", flags->compute_md5,
                   "Compute the file's MD5 while sending; the server verifies it");
  upload->add_flag("--resume", flags->resume,
                   "Continue an interrupted upload of FILE, sending only the missing parts");
  upload->add_option("--filename", flags->filename, "Name to record (default: FILE's name)");
  upload->add_option("--mime-type", flags->mime_type, "Media type (default: from the extension)");
  upload->add_option("--expires-after", flags->expires_after,
                     "Seconds after completion the file expires (3600 … 2592000)");
  upload->add_flag("--no-progress", flags->no_progress, "Never draw the progress bar");
  AddRemoteFlags(*upload, flags->remote);
  upload->callback([flags] { throw CLI::RuntimeError(UploadFile(*flags)); });
}

}  // namespace fileport::cli
