// Time-sortable random identifiers.
#include "common/ids.h"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "common/crypto.h"

namespace fileport {
namespace {

// ASCII-ordered 64-character alphabet: '-' < '0'..'9' < 'A'..'Z' < '_' < 'a'..'z'.
constexpr std::string_view kAlphabet =
    "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
static_assert(kAlphabet.size() == 64);

void FillRandom(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    // The CSPRNG failing is not a condition the process can continue under safely.
    throw std::runtime_error("RAND_bytes failed");
  }
}

}  // namespace

std::string RandomToken(std::size_t n) {
  std::string out(n, '\0');
  std::array<unsigned char, 64> buf{};
  std::size_t i = 0;
  while (i < n) {
    FillRandom(buf.data(), buf.size());
    for (unsigned char b : buf) {
      if (i == n) break;
      out[i++] = kAlphabet[b & 63];
    }
  }
  return out;
}

std::string RandomHex(std::size_t n) {
  std::string raw(n, '\0');
  FillRandom(reinterpret_cast<unsigned char*>(raw.data()), n);
  return HexEncode({reinterpret_cast<const unsigned char*>(raw.data()), n});
}

std::string NewRequestId() {
  // SplitMix64 over two per-thread counters: each output word is a bijection of its counter,
  // so a thread repeats no id before 2^64 draws; the counters' random 128-bit start keeps
  // threads and processes apart.
  thread_local std::array<std::uint64_t, 2> counters = [] {
    std::array<std::uint64_t, 2> start;
    FillRandom(reinterpret_cast<unsigned char*>(start.data()), sizeof(start));
    return start;
  }();
  std::array<std::uint64_t, 2> words;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::uint64_t z = (counters[i] += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    words[i] = z ^ (z >> 31);
  }
  return "req_" + HexEncode({reinterpret_cast<const unsigned char*>(words.data()), sizeof(words)});
}

std::string IdGenerator::NewId(std::string_view prefix) const {
  // 42 bits of milliseconds last until the year 2109.
  std::uint64_t ms = static_cast<std::uint64_t>(clock_.NowMillis()) & ((1ULL << 42) - 1);
  std::string id(prefix);
  for (int shift = 36; shift >= 0; shift -= 6) id.push_back(kAlphabet[(ms >> shift) & 63]);
  id += RandomToken(17);
  return id;
}

bool IsWellFormedId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + kIdBodyLength || id.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : id.substr(prefix.size())) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace fileport
