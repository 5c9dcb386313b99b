// RateLimiter: requests per second per project, on this node (a token bucket per project).
//
// Each project's bucket holds up to `burst` tokens and refills at `per_second`; a request takes
// one token or is told how long until one is there. Kept in memory: with N nodes behind a load
// balancer a project gets up to N times the rate, which bounds what one client can cost each
// node (the point: nobody starves the others) without a shared counter on every request.
//
// Thread-safe. Memory is bounded: once more than `max_projects` buckets exist, the buckets
// that have refilled completely (idle projects, whose state equals a fresh bucket) are dropped.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace fileport {

class RateLimiter {
 public:
  // per_second > 0; burst >= 1.
  RateLimiter(double per_second, double burst, const Clock& clock,
              std::size_t max_projects = 100'000);

  // 0 when the request may go ahead (it took a token); otherwise the milliseconds until the
  // project's next token (>= 1), and nothing is taken.
  std::int64_t Acquire(const std::string& project);

  double per_second() const { return per_second_; }
  double burst() const { return burst_; }
  std::size_t tracked_projects() const;

 private:
  struct Bucket {
    double tokens;
    std::int64_t at_ms;  // when `tokens` was last brought up to date
  };
  void DropFullBucketsLocked(std::int64_t now_ms);

  const double per_second_;
  const double burst_;
  const Clock& clock_;
  const std::size_t max_projects_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // Guarded by mu_.
};

}  // namespace fileport
