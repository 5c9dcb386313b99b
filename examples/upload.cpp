// Example: upload a file of any size with the chunked-upload helper, then print the new File.
//
//   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-… upload big.bin [purpose]
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "client/client.h"

namespace fc = fileport::client;

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << "usage: upload FILE [PURPOSE]\n"
                 "Uploads FILE in 64 MiB parts, 4 at a time, with its md5 checked by the\n"
                 "server, and prints the new file id. Configured by OPENAI_BASE_URL,\n"
                 "OPENAI_API_KEY, OPENAI_ORG_ID and OPENAI_PROJECT_ID.\n";
    return argc < 2 ? 2 : 0;
  }
  auto client = fc::Client::Make();
  if (!client.ok()) {
    std::cerr << client.error().ToString() << "\n";
    return 1;
  }
  fc::ChunkedUploadParams params;
  params.purpose = argc > 2 ? argv[2] : "assistants";
  params.compute_md5 = true;
  params.on_progress = [](std::int64_t done, std::int64_t total) {
    std::fprintf(stderr, "\r%lld / %lld bytes", static_cast<long long>(done),
                 static_cast<long long>(total));
  };
  auto upload = client->uploads.upload_file_chunked(fc::FileInput::Path(argv[1]), params);
  std::fprintf(stderr, "\n");
  if (!upload.ok()) {
    std::cerr << upload.error().ToString() << "\n";
    return 1;
  }
  std::cout << upload->file->id << "\n";
  return 0;
}
