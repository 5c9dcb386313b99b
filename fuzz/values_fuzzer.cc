// Fuzzes the parsers of single header and flag values:
// - ParseByteSize (common/sizes.h): `--part-size`, env values;
// - Base64Decode (common/crypto.h): the Content-MD5 header of a part;
// - NormalizeMd5 (core/validation.h): the `md5` of /complete;
// - IsWellFormedId (common/ids.h): ids from paths and bodies;
// - the client's Retry-After / retry-after-ms handling (client/core.h RetryDelay, with
//   ParseHttpDate): what a server answers decides how long the client sleeps.
//
// Input: the value, as is. Checks: a parsed size is >= 0 and parses back from its decimal
// form; decoded base64 is at most 3/4 of its text and encodes back to it (strict: padding,
// no whitespace, no stray bits); a normalised md5 is 32 lowercase hex digits; a well-formed
// id has its prefix and 24 characters; a retry delay is between 0 and 60 s.
#include <cstdint>
#include <string>
#include <string_view>

#include "client/core.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "common/sizes.h"
#include "core/validation.h"
#include "fuzz/check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fileport;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string text(input);

  if (auto bytes = ParseByteSize(input)) {
    FUZZ_CHECK(*bytes >= 0, text);
    FUZZ_CHECK(ParseByteSize(std::to_string(*bytes)) == *bytes, text);
    FUZZ_CHECK(!FormatBytes(*bytes).empty(), text);
  }

  const std::string raw = Base64Decode(input);
  if (!raw.empty()) {
    FUZZ_CHECK(raw.size() <= 3 * input.size() / 4, text);
    const std::string again = Base64Encode(std::span<const unsigned char>(
        reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
    FUZZ_CHECK(again == input, text + " -> " + again);
  }

  if (auto md5 = NormalizeMd5(input); md5.ok()) {
    FUZZ_CHECK(md5->size() == 32 && md5->find_first_not_of("0123456789abcdef") == std::string::npos,
               text);
  }

  for (std::string_view prefix : {kFilePrefix, kUploadPrefix, kPartPrefix}) {
    if (IsWellFormedId(input, prefix)) {
      FUZZ_CHECK(input.size() == prefix.size() + kIdBodyLength && input.starts_with(prefix),
                 text);
    }
  }

  using client::internal::Core;
  using client::internal::HttpResponse;
  for (const char* header : {"retry-after", "retry-after-ms"}) {
    HttpResponse response;
    response.status = 429;
    response.headers.emplace(header, text);
    const auto delay = Core::RetryDelay(0, &response);
    FUZZ_CHECK(delay.count() >= 0 && delay.count() <= 60'000,
               text + " -> " + std::to_string(delay.count()) + " ms");
  }
  return 0;
}
