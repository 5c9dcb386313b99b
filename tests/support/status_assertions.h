// Status assertions for tests: IsOk and HasCode accept a Status or a Result<T> and print the
// status on failure (EXPECT_TRUE(IsOk(store.Ping())), EXPECT_TRUE(HasCode(r, kNotFound))).
#pragma once

#include <gtest/gtest.h>

#include "common/status.h"

namespace fileport::testing {

inline const Status& StatusOf(const Status& s) { return s; }
template <class T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

template <class T>
::testing::AssertionResult IsOk(const T& result) {
  const Status& s = StatusOf(result);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}

template <class T>
::testing::AssertionResult HasCode(const T& result, StatusCode want) {
  const Status& s = StatusOf(result);
  if (s.code() == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "want " << StatusCodeName(want) << ", got " << (s.ok() ? "OK" : s.ToString());
}

}  // namespace fileport::testing
