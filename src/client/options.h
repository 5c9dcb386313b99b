// ClientOptions: how a Client reaches the server, as the official OpenAI SDKs configure it.
//
// Every field left unset falls back to the environment, like the SDKs: api_key ←
// OPENAI_API_KEY, base_url ← OPENAI_BASE_URL (else https://api.openai.com/v1), organization ←
// OPENAI_ORG_ID, project ← OPENAI_PROJECT_ID.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fileport::client {

struct ClientOptions {
  std::optional<std::string> api_key;       // sent as "Authorization: Bearer <key>"
  std::optional<std::string> base_url;      // e.g. "http://127.0.0.1:8080/v1"
  std::optional<std::string> organization;  // sent as OpenAI-Organization
  std::optional<std::string> project;       // sent as OpenAI-Project
  // Limit for one HTTP attempt, connection to last byte (the SDKs' default: 10 minutes).
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  // Retries after the first attempt, for connection errors, timeouts, 408, 409, 429 and 5xx
  // (unless the server sends x-should-retry: false). Backoff 0.5·2^n s (≤ 8 s) with up to 25%
  // jitter, or the server's retry-after-ms / Retry-After when it is in (0, 60] s.
  int max_retries = 2;
  // Extra headers for every request ("Name", "value").
  std::vector<std::pair<std::string, std::string>> default_headers;
};

}  // namespace fileport::client
