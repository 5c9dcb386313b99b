// FakeHttpServer: accept, read one request (head and Content-Length body), answer, close.
#include "client/fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace fileport::client::testing {

FakeHttpServer::FakeHttpServer(std::vector<FakeReply> script) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 16);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

FakeHttpServer::~FakeHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string FakeHttpServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

std::vector<std::string> FakeHttpServer::heads() const {
  std::lock_guard lock(mu_);
  return heads_;
}

void FakeHttpServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Handle(fd);
    ::close(fd);
  }
}

void FakeHttpServer::Handle(int fd) {
  std::string in;
  char buf[4096];
  std::size_t head_end = std::string::npos;
  auto read_more = [&] {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return false;
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return;
  }
  std::string head = in.substr(0, head_end);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::size_t body_len = 0;
  if (auto pos = lower.find("content-length:"); pos != std::string::npos) {
    body_len = std::stoul(lower.substr(pos + 15));
  }
  while (in.size() < head_end + 4 + body_len) {
    if (!read_more()) break;
  }
  int index = requests_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    heads_.push_back(head);
  }
  const FakeReply& r = script_[std::min<std::size_t>(index, script_.size() - 1)];
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " Fake\r\n";
  out += "Content-Type: application/json\r\nConnection: close\r\n";
  out += "x-request-id: req_fake_" + std::to_string(index) + "\r\n";
  for (const auto& h : r.headers) out += h + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
  std::size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::write(fd, out.data() + sent, out.size() - sent);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace fileport::client::testing
