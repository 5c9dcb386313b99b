// Unit tests of the stateless request rules (core/validation.h): purposes, expires_after,
// .jsonl formats, md5 normalisation, default expiry and the "required property" text, each
// with the exact code, message and param API.md §5 gives.
#include "core/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sizes.h"
#include "unit/faulty_stores.h"

namespace fileport {
namespace {

constexpr char kPurposeList[] =
    "['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - 'purpose'";

TEST(ValidatePurpose, AcceptsTheSixCreatePurposes) {
  for (const char* p : {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}) {
    FP_EXPECT_OK(ValidatePurpose(p));
  }
}

TEST(ValidatePurpose, RefusesOthersWithTheOpenAiMessage) {
  EXPECT_THAT(ValidatePurpose("bogus"),
              StatusIs(StatusCode::kInvalidArgument,
                       std::string("'bogus' is not one of ") + kPurposeList, "purpose"));
  EXPECT_THAT(ValidatePurpose(""),
              StatusIs(StatusCode::kInvalidArgument,
                       std::string("'' is not one of ") + kPurposeList, "purpose"));
  // Case matters, and the purposes only the server produces cannot be created.
  for (const char* p : {"Assistants", "assistants_output", "batch_output", "fine-tune-results"}) {
    EXPECT_THAT(ValidatePurpose(p),
                StatusIs(StatusCode::kInvalidArgument,
                         "'" + std::string(p) + "' is not one of " + kPurposeList, "purpose"));
  }
}

TEST(ValidateExpiresAfter, AnchorMustBeCreatedAt) {
  FP_EXPECT_OK(ValidateExpiresAfter({"created_at", 3600}));
  EXPECT_THAT(ValidateExpiresAfter({"last_active_at", 3600}),
              StatusIs(StatusCode::kInvalidArgument,
                       "'last_active_at' is not one of ['created_at'] - 'expires_after.anchor'",
                       "expires_after.anchor"));
}

TEST(ValidateExpiresAfter, SecondsFrom3600To2592000Inclusive) {
  FP_EXPECT_OK(ValidateExpiresAfter({"created_at", 3600}));
  FP_EXPECT_OK(ValidateExpiresAfter({"created_at", 2592000}));
  EXPECT_THAT(ValidateExpiresAfter({"created_at", 3599}),
              StatusIs(StatusCode::kInvalidArgument,
                       "expires_after.seconds must be between 3600 and 2592000, got 3599",
                       "expires_after.seconds"));
  EXPECT_THAT(ValidateExpiresAfter({"created_at", 2592001}),
              StatusIs(StatusCode::kInvalidArgument,
                       "expires_after.seconds must be between 3600 and 2592000, got 2592001",
                       "expires_after.seconds"));
  EXPECT_THAT(ValidateExpiresAfter({"created_at", -1}),
              StatusIs(StatusCode::kInvalidArgument,
                       "expires_after.seconds must be between 3600 and 2592000, got -1",
                       "expires_after.seconds"));
}

TEST(ValidateFileFormat, FineTuneAndBatchNeedJsonl) {
  FP_EXPECT_OK(ValidateFileFormat("fine-tune", "train.jsonl"));
  FP_EXPECT_OK(ValidateFileFormat("batch", "requests.jsonl"));
  EXPECT_THAT(ValidateFileFormat("fine-tune", "train.json"),
              StatusIs(StatusCode::kInvalidArgument,
                       "Invalid file format for Fine-Tuning API. Must be .jsonl", "file"));
  EXPECT_THAT(ValidateFileFormat("batch", "requests.txt"),
              StatusIs(StatusCode::kInvalidArgument,
                       "Invalid file format for Batch API. Must be .jsonl", "file"));
  EXPECT_THAT(ValidateFileFormat("batch", "upload"),
              StatusIs(StatusCode::kInvalidArgument,
                       "Invalid file format for Batch API. Must be .jsonl", "file"));
  EXPECT_THAT(ValidateFileFormat("batch", "jsonl"),
              StatusIs(StatusCode::kInvalidArgument,
                       "Invalid file format for Batch API. Must be .jsonl", "file"));
}

TEST(ValidateFileFormat, OtherPurposesTakeAnyName) {
  for (const char* p : {"assistants", "vision", "user_data", "evals"}) {
    FP_EXPECT_OK(ValidateFileFormat(p, "photo.png"));
    FP_EXPECT_OK(ValidateFileFormat(p, "upload"));
  }
}

TEST(NormalizeMd5, LowercasesThirtyTwoHexDigitsOfAnyCase) {
  auto r = NormalizeMd5("D41D8CD98F00B204E9800998ECF8427E");
  FP_ASSERT_OK(r);
  EXPECT_EQ(*r, "d41d8cd98f00b204e9800998ecf8427e");
  auto same = NormalizeMd5("d41d8cd98f00b204e9800998ecf8427e");
  FP_ASSERT_OK(same);
  EXPECT_EQ(*same, "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(NormalizeMd5, RefusesWrongLengthOrNonHex) {
  const auto bad = [](std::string_view md5) {
    return StatusIs(StatusCode::kInvalidArgument, "md5 must be 32 hexadecimal characters", "md5");
  };
  EXPECT_THAT(NormalizeMd5(""), bad(""));
  EXPECT_THAT(NormalizeMd5("d41d8cd98f00b204e9800998ecf8427"), bad("31"));
  EXPECT_THAT(NormalizeMd5("d41d8cd98f00b204e9800998ecf8427e0"), bad("33"));
  EXPECT_THAT(NormalizeMd5("g41d8cd98f00b204e9800998ecf8427e"), bad("g"));
  EXPECT_THAT(NormalizeMd5("d41d8cd98f00b204e9800998ecf8427 "), bad("space"));
}

TEST(FileExpiry, BatchDefaultsToThirtyDaysOthersNever) {
  const std::int64_t t = 1'700'000'000;
  EXPECT_EQ(FileExpiry("batch", std::nullopt, t), t + 30 * 24 * 3600);
  EXPECT_EQ(FileExpiry("batch", std::nullopt, t), t + kBatchDefaultExpirySeconds);
  for (const char* p : {"assistants", "fine-tune", "vision", "user_data", "evals"}) {
    EXPECT_EQ(FileExpiry(p, std::nullopt, t), std::nullopt) << p;
  }
}

TEST(FileExpiry, ExpiresAfterOverridesTheDefault) {
  const std::int64_t t = 1'700'000'000;
  EXPECT_EQ(FileExpiry("batch", ExpiresAfter{"created_at", 3600}, t), t + 3600);
  EXPECT_EQ(FileExpiry("assistants", ExpiresAfter{"created_at", 7200}, t), t + 7200);
}

TEST(MissingField, NamesTheFieldAsOpenAiDoes) {
  EXPECT_THAT(MissingField("purpose"), StatusIs(StatusCode::kInvalidArgument,
                                                "'purpose' is a required property", "purpose"));
  EXPECT_THAT(MissingField("data"),
              StatusIs(StatusCode::kInvalidArgument, "'data' is a required property", "data"));
}

}  // namespace
}  // namespace fileport
