// Sweeper implementation.
#include "core/sweeper.h"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

namespace fileport {

SweepStats Sweeper::RunOnce() {
  SweepStats st;
  const std::int64_t now = ctx_.clock.NowSeconds();
  const std::int64_t due = now + ctx_.options.delete_grace_seconds;
  auto note = [&](const Status& s, const char* what) {
    if (!s.ok() && s.code() != StatusCode::kAborted && s.code() != StatusCode::kNotFound) {
      ++st.errors;
      spdlog::warn("sweeper: {}: {}", what, s.ToString());
    }
  };

  for (;;) {
    auto uploads = ctx_.meta.ListExpiredUploads(now, batch_);
    if (!uploads.ok()) { note(uploads.status(), "list expired uploads"); break; }
    const std::int64_t errors_before = st.errors;
    for (const Upload& u : *uploads) {
      auto r = ctx_.meta.TransitionUpload(u.project, u.id, UploadStatus::kPending,
                                          UploadStatus::kExpired, due);
      if (r.ok()) ++st.uploads_expired; else note(r.status(), "expire upload");
    }
    // A failed one would be listed again at once: leave it to the next pass rather than
    // spin on a store that answers reads but refuses writes.
    if (static_cast<int>(uploads->size()) < batch_ || st.errors > errors_before) break;
  }

  for (;;) {
    auto files = ctx_.meta.ListExpiredFiles(now, batch_);
    if (!files.ok()) { note(files.status(), "list expired files"); break; }
    const std::int64_t errors_before = st.errors;
    for (const File& f : *files) {
      Status s = ctx_.meta.DeleteFile(f.project, f.id, due);
      if (s.ok()) ++st.files_expired; else note(s, "delete expired file");
    }
    if (static_cast<int>(files->size()) < batch_ || st.errors > errors_before) break;
  }

  // Claimed rows are leased, not removed: a row goes only after its blob is gone. A failed
  // delete (or a crash right here) leaves the row leased, and it comes due again for any
  // node's pass once the lease runs out.
  const std::int64_t lease_until = now + ctx_.options.garbage_lease_seconds;
  for (;;) {
    auto keys = ctx_.meta.ClaimGarbage(now, batch_, lease_until);
    if (!keys.ok()) { note(keys.status(), "claim garbage"); break; }
    const std::int64_t errors_before = st.errors;
    std::vector<std::string> deleted;
    deleted.reserve(keys->size());
    for (const std::string& k : *keys) {
      Status s = ctx_.blobs.Delete(k);
      if (s.ok()) {
        deleted.push_back(k);
      } else {
        note(s, "delete blob");
      }
    }
    st.blobs_deleted += static_cast<std::int64_t>(deleted.size());
    // One call per batch. If it fails the rows stay leased: a later pass deletes those blobs
    // again (Delete is idempotent) and forgets them then.
    if (!deleted.empty()) note(ctx_.meta.ForgetGarbage(deleted), "forget garbage");
    // With a lease of 0 s the failed keys would be due again at once: leave them to the next
    // pass rather than spin on a store that keeps failing.
    if (static_cast<int>(keys->size()) < batch_ || st.errors > errors_before) break;
  }

  note(ctx_.blobs.CleanupTemporary(ctx_.options.orphan_grace_seconds), "cleanup temporary");

  std::lock_guard lock(mu_);
  totals_.uploads_expired += st.uploads_expired;
  totals_.files_expired += st.files_expired;
  totals_.blobs_deleted += st.blobs_deleted;
  totals_.errors += st.errors;
  return st;
}

void Sweeper::Start(std::int64_t interval_seconds) {
  thread_ = std::thread([this, interval_seconds] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      SweepStats st = RunOnce();
      if (st.uploads_expired || st.files_expired || st.blobs_deleted) {
        spdlog::info("sweeper: expired {} uploads, {} files; deleted {} blobs", st.uploads_expired,
                     st.files_expired, st.blobs_deleted);
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(interval_seconds),
                   [this] { return stop_ || kicked_; });
      kicked_ = false;
    }
  });
}

void Sweeper::Kick() {
  std::lock_guard lock(mu_);
  kicked_ = true;
  cv_.notify_all();
}

void Sweeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

SweepStats Sweeper::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

}  // namespace fileport
