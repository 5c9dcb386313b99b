// Clock: the only source of wall time for business code.
//
// Services take a Clock& so that tests can drive expiry with a FakeClock in microseconds
// instead of sleeping. Both implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

namespace fileport {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual std::int64_t NowMillis() const = 0;
  // Whole seconds since the Unix epoch (the unit of every `*_at` field on the wire).
  std::int64_t NowSeconds() const { return NowMillis() / 1000; }
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowMillis() const override;
  // A process-wide instance; it holds no state.
  static SystemClock& Get();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start_millis = 1'700'000'000'000) : now_(start_millis) {}
  std::int64_t NowMillis() const override { return now_.load(); }
  void AdvanceMillis(std::int64_t ms) { now_ += ms; }
  void AdvanceSeconds(std::int64_t s) { now_ += s * 1000; }
  void SetMillis(std::int64_t ms) { now_ = ms; }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace fileport
