// Hashes fileport needs: MD5 (the Uploads API's checksum, RFC 1864 Content-MD5) and SHA-256
// (how API keys are stored). Thin wrappers over OpenSSL's EVP interface, kept out of headers.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace fileport {

// Incremental MD5. Not thread-safe; one instance per stream of bytes.
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(Md5&&) noexcept;
  Md5& operator=(Md5&&) noexcept;
  void Update(std::span<const char> data);
  // The 16-byte digest; the object must not be updated afterwards.
  std::array<unsigned char, 16> Final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string HexEncode(std::span<const unsigned char> bytes);
std::string Base64Encode(std::span<const unsigned char> bytes);
// Strict base64 (RFC 4648, padding required); empty result on malformed input.
std::string Base64Decode(std::string_view text);
// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Constant-time equality for secrets of equal length (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace fileport
