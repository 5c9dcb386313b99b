// OpenSSL-backed hashing helpers.
#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace fileport {

struct Md5::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Md5::Md5() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_md5(), nullptr) != 1) {
    throw std::runtime_error("EVP md5 init failed");
  }
}
Md5::~Md5() = default;
Md5::Md5(Md5&&) noexcept = default;
Md5& Md5::operator=(Md5&&) noexcept = default;

void Md5::Update(std::span<const char> data) {
  EVP_DigestUpdate(impl_->ctx, data.data(), data.size());
}

std::array<unsigned char, 16> Md5::Final() {
  std::array<unsigned char, 16> out{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, out.data(), &n);
  return out;
}

std::string HexEncode(std::span<const unsigned char> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Base64Encode(std::span<const unsigned char> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                          static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

std::string Base64Decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return {};
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  std::size_t pad = 0;
  if (text.ends_with("==")) pad = 2;
  else if (text.ends_with("=")) pad = 1;
  out.resize(static_cast<std::size_t>(n) - pad);
  // EVP_DecodeBlock is lenient: it skips leading whitespace, takes '=' anywhere as a zero
  // digit ("====" decodes) and ignores stray bits before the padding. Only the one canonical
  // encoding of the bytes is accepted.
  const std::string canonical = Base64Encode(std::span<const unsigned char>(
      reinterpret_cast<const unsigned char*>(out.data()), out.size()));
  if (canonical != text) return {};
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return HexEncode(std::span<const unsigned char>(md, n));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace fileport
