// API keys and projects: who is calling, and what they may see (API.md §6).
//
// Until the first key is created the service runs open: every request belongs to the project
// "default". Once any key has been created every request must carry a valid, unrevoked one,
// and its project scopes every lookup — for good: revoked keys still count, so revoking every
// key locks everyone out instead of silently opening the service to anyone.
//
// Secrets are shown once at creation and stored only as SHA-256 (they are 240-bit random
// tokens, so a fast hash is enough); lookups go by hash and the final comparison is
// constant-time.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "store/meta/metadata_store.h"

namespace fileport {

inline constexpr std::string_view kDefaultProject = "default";

struct NewApiKey {
  ApiKey key;
  std::string secret;  // shown once
};

class Authenticator {
 public:
  Authenticator(MetadataStore& meta, const Clock& clock, const IdGenerator& ids)
      : meta_(meta), clock_(clock), ids_(ids) {}

  // The project of the caller. `authorization` is the Authorization header, if any.
  // Unauthenticated with the OpenAI messages when a key is needed and missing or wrong.
  Result<std::string> Authenticate(std::optional<std::string_view> authorization);

  Result<NewApiKey> CreateKey(const std::string& project);
  Result<std::vector<ApiKey>> ListKeys() { return meta_.ListApiKeys(); }
  Status RevokeKey(const std::string& id) { return meta_.RevokeApiKey(id, clock_.NowSeconds()); }
  // True while no key has ever been created (revoked keys count). Store errors are returned
  // as they are, never taken for "open". Once false it stays false without asking the store
  // again: keys are never deleted.
  Result<bool> IsOpen();

  // "sk-ab***yz": what may be shown of a secret.
  static std::string Mask(std::string_view secret);

 private:
  MetadataStore& meta_;
  const Clock& clock_;
  const IdGenerator& ids_;
  std::atomic<bool> closed_{false};  // a key has been seen: for good (see IsOpen)
};

}  // namespace fileport
