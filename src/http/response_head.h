// The bytes of an HTTP response header, written straight from Beast's header object.
#pragma once

#include <boost/beast/http/message.hpp>

#include <string>

namespace fileport {

// The status line, each field and the blank line, byte for byte as Beast's serializer writes
// them. Gathering the serializer's buffer sequence for the same bytes costs several times the
// instructions of writing them, which a chain of small range requests pays on every answer.
std::string ResponseHeadBytes(const boost::beast::http::response_header<>& head);

}  // namespace fileport
