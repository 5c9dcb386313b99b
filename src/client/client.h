// Client: the entry point of the fileport C++ SDK, an OpenAI-compatible Files and Uploads
// client (`client.files.create(…)`, `client.uploads.parts.create(…)`, as in the official SDKs).
//
//   auto client = fileport::client::Client::Make({.base_url = "http://127.0.0.1:8080/v1"});
//   if (!client.ok()) …;
//   auto file = client->files.create(FileInput::Path("data.jsonl"), "batch");
//   if (!file.ok()) std::cerr << file.error().ToString();
//
// Errors are values: every call returns client::Result<T> (client/error.h), never throws.
// Thread-safety: a Client may be used from many threads at once. Copies are cheap and share
// one immutable configuration (as do the resources), so asynchronous calls stay valid even if
// the Client is destroyed before their futures are waited on.
#pragma once

#include <memory>

#include "client/error.h"
#include "client/file_input.h"
#include "client/files.h"
#include "client/options.h"
#include "client/uploads.h"
#include "model/objects.h"

namespace fileport::client {

class Client {
 public:
  // Resolves `options` against the environment (see options.h) and checks base_url (http or
  // https). A missing API key is allowed (a fileport server without keys runs open); the
  // request then carries no Authorization header and a keyed server answers 401.
  static Result<Client> Make(ClientOptions options = {});

  Files files;
  Uploads uploads;

  // The resolved base URL, e.g. "http://127.0.0.1:8080/v1".
  const std::string& base_url() const;

 private:
  explicit Client(std::shared_ptr<const internal::Core> core);
  std::shared_ptr<const internal::Core> core_;
};

}  // namespace fileport::client
