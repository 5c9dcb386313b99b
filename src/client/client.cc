// Client: option resolution from the environment and the wiring of the resources.
#include "client/client.h"

#include <cstdlib>

#include "client/core.h"

namespace fileport::client {
namespace {

void FromEnv(std::optional<std::string>& field, const char* name) {
  if (field) return;
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') field = v;
}

}  // namespace

Result<Client> Client::Make(ClientOptions options) {
  FromEnv(options.api_key, "OPENAI_API_KEY");
  FromEnv(options.base_url, "OPENAI_BASE_URL");
  FromEnv(options.organization, "OPENAI_ORG_ID");
  FromEnv(options.project, "OPENAI_PROJECT_ID");
  std::string base = options.base_url.value_or("https://api.openai.com/v1");
  if (!base.starts_with("http://") && !base.starts_with("https://")) {
    return UsageError("base_url must start with http:// or https://: " + base, "base_url");
  }
  return Client(std::make_shared<const internal::Core>(options, std::move(base)));
}

Client::Client(std::shared_ptr<const internal::Core> core)
    : files(core), uploads(core), core_(std::move(core)) {}

const std::string& Client::base_url() const { return core_->transport().base_url; }

}  // namespace fileport::client
