// `fileport keys create|list|revoke`: manage API keys directly in the metadata store (works
// while the server runs; the server reads keys on every request).
#include <cstdio>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "common/clock.h"
#include "common/ids.h"
#include "core/auth.h"
#include "store/factory.h"

namespace fileport::cli {
namespace {

struct KeysFlags {
  StoreFlags store;
  std::string project;
  std::string id;
  bool json = false;
};

int WithAuth(const KeysFlags& f, const std::function<int(Authenticator&)>& fn) {
  auto meta = OpenMetadataStore(f.store.MetaUri());
  if (!meta.ok()) {
    std::fprintf(stderr, "fileport: metadata store: %s\n", meta.status().ToString().c_str());
    return kExitError;
  }
  IdGenerator ids(SystemClock::Get());
  Authenticator auth(**meta, SystemClock::Get(), ids);
  return fn(auth);
}

boost::json::object KeyObject(const ApiKey& k) {
  boost::json::object o;
  o["id"] = k.id;
  o["project"] = k.project;
  o["hint"] = k.hint;
  o["created_at"] = k.created_at;
  o["revoked_at"] = k.revoked_at ? boost::json::value(*k.revoked_at) : boost::json::value(nullptr);
  return o;
}

int Create(const KeysFlags& f) {
  return WithAuth(f, [&](Authenticator& auth) {
    auto k = auth.CreateKey(f.project);
    if (!k.ok()) {
      std::fprintf(stderr, "fileport: %s\n", k.status().message().c_str());
      return static_cast<int>(kExitBadRequest);
    }
    if (f.json) {
      auto o = KeyObject(k->key);
      o["key"] = k->secret;
      std::printf("%s\n", boost::json::serialize(o).c_str());
    } else {
      std::printf("%s\n", k->secret.c_str());
      std::fprintf(stderr,
                   "Created key %s for project '%s'. The key above is shown only once: store it "
                   "now.\nEvery request now needs an API key.\n",
                   k->key.id.c_str(), k->key.project.c_str());
    }
    return static_cast<int>(kExitOk);
  });
}

int List(const KeysFlags& f) {
  return WithAuth(f, [&](Authenticator& auth) {
    auto keys = auth.ListKeys();
    if (!keys.ok()) {
      std::fprintf(stderr, "fileport: %s\n", keys.status().message().c_str());
      return static_cast<int>(kExitError);
    }
    if (f.json) {
      boost::json::array a;
      for (const auto& k : *keys) a.push_back(KeyObject(k));
      std::printf("%s\n", boost::json::serialize(a).c_str());
      return static_cast<int>(kExitOk);
    }
    std::printf("%-30s %-20s %-12s %s\n", "ID", "PROJECT", "KEY", "STATUS");
    for (const auto& k : *keys) {
      std::printf("%-30s %-20s %-12s %s\n", k.id.c_str(), k.project.c_str(), k.hint.c_str(),
                  k.revoked_at ? "revoked" : "active");
    }
    return static_cast<int>(kExitOk);
  });
}

int Revoke(const KeysFlags& f) {
  return WithAuth(f, [&](Authenticator& auth) {
    Status s = auth.RevokeKey(f.id);
    if (!s.ok()) {
      std::fprintf(stderr, "fileport: %s\n", s.message().c_str());
      return static_cast<int>(s.code() == StatusCode::kNotFound ? kExitNotFound : kExitError);
    }
    std::fprintf(stderr, "Revoked key %s.\n", f.id.c_str());
    return static_cast<int>(kExitOk);
  });
}

}  // namespace

void AddKeysCommands(CLI::App& app) {
  CLI::App* keys = app.add_subcommand("keys", "Manage API keys (stored hashed)");
  keys->require_subcommand(1);
  // One KeysFlags per subcommand: CLI11 applies an option's environment variable even for
  // subcommands that were not used, so shared storage would let FILEPORT_DATA overwrite the
  // --data given to the subcommand that runs.
  auto create_flags = std::make_shared<KeysFlags>();
  CLI::App* create = keys->add_subcommand("create", "Create a key for a project; prints it once");
  create->add_option("--project", create_flags->project, "Project the key belongs to")->required();
  create->add_flag("--json", create_flags->json, "Print the key as JSON");
  AddStoreFlags(*create, create_flags->store);
  create->callback([create_flags] { throw CLI::RuntimeError(Create(*create_flags)); });

  auto list_flags = std::make_shared<KeysFlags>();
  CLI::App* list = keys->add_subcommand("list", "List keys (secrets are never shown)");
  list->add_flag("--json", list_flags->json, "Print JSON");
  AddStoreFlags(*list, list_flags->store);
  list->callback([list_flags] { throw CLI::RuntimeError(List(*list_flags)); });

  auto revoke_flags = std::make_shared<KeysFlags>();
  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a key by its id (key_…)");
  revoke->add_option("KEY_ID", revoke_flags->id, "The key's id")->required();
  AddStoreFlags(*revoke, revoke_flags->store);
  revoke->callback([revoke_flags] { throw CLI::RuntimeError(Revoke(*revoke_flags)); });
}

}  // namespace fileport::cli
