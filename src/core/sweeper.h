// Sweeper: the lifecycle janitor. Safe to run on every node at once: each step is a
// compare-and-set or a claim in the MetadataStore, so no work is done twice or lost.
//
// One pass (RunOnce):
//   1. pending uploads past expires_at → expired, their parts' blobs to garbage;
//   2. files past expires_at → deleted, their blobs to garbage;
//   3. garbage that is due (deleted files, discarded parts, blobs whose writer died) →
//      leased for options.garbage_lease_seconds, deleted from the BlobStore, and only then
//      forgotten; a blob whose delete failed, or whose sweeper died, keeps its leased row and
//      is taken again by a pass (on any node) after the lease;
//   4. temporary data of abandoned writers → removed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "core/service_context.h"

namespace fileport {

struct SweepStats {
  std::int64_t uploads_expired = 0;
  std::int64_t files_expired = 0;
  std::int64_t blobs_deleted = 0;
  std::int64_t errors = 0;
};

class Sweeper {
 public:
  explicit Sweeper(ServiceContext& ctx, int batch = 500) : ctx_(ctx), batch_(batch) {}
  ~Sweeper() { Stop(); }

  // One full pass; returns what it did. Errors are counted and logged by the caller, and the
  // pass goes on with the next step.
  SweepStats RunOnce();
  // Runs RunOnce every `interval_seconds` on a background thread until Stop().
  void Start(std::int64_t interval_seconds);
  // Wakes the background thread for an early pass (e.g. after a delete).
  void Kick();
  void Stop();
  SweepStats totals() const;

 private:
  ServiceContext& ctx_;
  int batch_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool kicked_ = false;
  SweepStats totals_;
};

}  // namespace fileport
