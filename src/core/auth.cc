// Authenticator implementation.
#include "core/auth.h"

#include "common/crypto.h"

namespace fileport {
namespace {

Status NoKey() {
  return Status(StatusCode::kUnauthenticated,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
}

Status BadKey(std::string_view secret) {
  return Status(StatusCode::kUnauthenticated,
                "Incorrect API key provided: " + Authenticator::Mask(secret) + ".", "",
                "invalid_api_key");
}

}  // namespace

std::string Authenticator::Mask(std::string_view secret) {
  if (secret.size() < 8) return "***";
  return std::string(secret.substr(0, 5)) + "***" + std::string(secret.substr(secret.size() - 2));
}

Result<bool> Authenticator::IsOpen() {
  if (closed_.load(std::memory_order_relaxed)) return false;
  ASSIGN_OR_RETURN(bool any, meta_.HasApiKeys());
  if (any) closed_.store(true, std::memory_order_relaxed);
  return !any;
}

Result<std::string> Authenticator::Authenticate(std::optional<std::string_view> authorization) {
  ASSIGN_OR_RETURN(bool open, IsOpen());
  if (open) return std::string(kDefaultProject);
  if (!authorization) return NoKey();
  std::string_view h = *authorization;
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  if (h.size() < 7 || !(h.substr(0, 7) == "Bearer " || h.substr(0, 7) == "bearer ")) {
    return NoKey();
  }
  std::string_view secret = h.substr(7);
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  while (!secret.empty() && secret.back() == ' ') secret.remove_suffix(1);
  if (secret.empty()) return NoKey();
  const std::string hash = Sha256Hex(secret);
  auto key = meta_.FindApiKey(hash);
  if (!key.ok()) {
    if (key.status().code() == StatusCode::kNotFound) return BadKey(secret);
    return key.status();
  }
  if (!ConstantTimeEquals(key->secret_sha256_hex, hash) || key->revoked_at) {
    return BadKey(secret);
  }
  return key->project;
}

Result<NewApiKey> Authenticator::CreateKey(const std::string& project) {
  if (project.empty() || project.size() > 64) {
    return InvalidArgument("project must be 1 to 64 characters", "project");
  }
  for (char c : project) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidArgument("project may only contain letters, digits, '-', '_' and '.'",
                             "project");
    }
  }
  NewApiKey out;
  out.secret = "sk-fp-" + RandomToken(40);
  out.key.id = ids_.NewId(kKeyIdPrefix);
  out.key.project = project;
  out.key.secret_sha256_hex = Sha256Hex(out.secret);
  out.key.hint = Mask(out.secret);
  out.key.created_at = clock_.NowSeconds();
  RETURN_IF_ERROR(meta_.InsertApiKey(out.key));
  return out;
}

}  // namespace fileport
