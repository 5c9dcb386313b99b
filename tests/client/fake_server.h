// A tiny scripted HTTP/1.1 server for client tests: a raw socket on 127.0.0.1 served by one
// thread, answering each request with the next reply of a script (the last reply repeats),
// one request per connection. It records every request head so tests can count attempts and
// inspect headers — what the real server cannot do on demand (503, 429, x-should-retry).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fileport::client::testing {

struct FakeReply {
  int status = 200;
  std::vector<std::string> headers;  // "Name: value"
  std::string body = "{}";
};

class FakeHttpServer {
 public:
  explicit FakeHttpServer(std::vector<FakeReply> script);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  // "http://127.0.0.1:PORT/v1".
  std::string base_url() const;
  int requests() const { return requests_.load(); }
  // The heads (request line and headers) received so far, in order.
  std::vector<std::string> heads() const;

 private:
  void Serve();
  void Handle(int fd);

  std::vector<FakeReply> script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::thread thread_;
};

}  // namespace fileport::client::testing
