// RateLimiter: one token bucket per project.
#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace fileport {

RateLimiter::RateLimiter(double per_second, double burst, const Clock& clock,
                         std::size_t max_projects)
    : per_second_(per_second),
      burst_(std::max(burst, 1.0)),
      clock_(clock),
      max_projects_(std::max<std::size_t>(max_projects, 1)) {}

std::int64_t RateLimiter::Acquire(const std::string& project) {
  const std::int64_t now = clock_.NowMillis();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(project);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_projects_) DropFullBucketsLocked(now);
    it = buckets_.emplace(project, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  // A clock that stepped back refills nothing (and never drains).
  const std::int64_t elapsed = std::max<std::int64_t>(now - b.at_ms, 0);
  b.tokens = std::min(burst_, b.tokens + static_cast<double>(elapsed) * per_second_ / 1000.0);
  b.at_ms = std::max(b.at_ms, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  // Less a hair, so float error in the refill cannot round an exact wait up.
  const double wait_ms = std::ceil((1.0 - b.tokens) * 1000.0 / per_second_ - 1e-6);
  return std::max<std::int64_t>(static_cast<std::int64_t>(wait_ms), 1);
}

std::size_t RateLimiter::tracked_projects() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RateLimiter::DropFullBucketsLocked(std::int64_t now_ms) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    const double refilled =
        b.tokens + static_cast<double>(std::max<std::int64_t>(now_ms - b.at_ms, 0)) *
                       per_second_ / 1000.0;
    return refilled >= burst_;
  });
}

}  // namespace fileport
