// ResponseHeadBytes.
#include "http/response_head.h"

namespace fileport {

std::string ResponseHeadBytes(const boost::beast::http::response_header<>& head) {
  std::string out;
  out.reserve(512);
  const unsigned version = head.version();
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10 % 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  out += std::to_string(head.result_int());
  out += ' ';
  const auto reason = head.reason();
  out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& field : head) {
    const auto name = field.name_string();
    const auto value = field.value();
    out.append(name.data(), name.size());
    out += ": ";
    out.append(value.data(), value.size());
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

}  // namespace fileport
