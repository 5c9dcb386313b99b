// Time-sortable random identifiers.
#include "common/ids.h"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

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
  static constexpr char kHex[] = "0123456789abcdef";
  std::string raw(n, '\0');
  FillRandom(reinterpret_cast<unsigned char*>(raw.data()), n);
  std::string out;
  out.reserve(2 * n);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string NewRequestId() {
  // SplitMix64 over a per-thread counter: a bijection of the counter, so a thread repeats no
  // value before 2^64 draws; the 128-bit random start of each thread keeps threads and
  // processes apart.
  struct Generator {
    Generator() { FillRandom(reinterpret_cast<unsigned char*>(state.data()), sizeof(state)); }
    std::uint64_t Next(std::uint64_t& s) {
      std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return z ^ (z >> 31);
    }
    std::array<std::uint64_t, 2> state{};
  };
  thread_local Generator gen;
  static constexpr char kHex[] = "0123456789abcdef";
  const std::uint64_t words[2] = {gen.Next(gen.state[0]), gen.Next(gen.state[1])};
  std::string id = "req_";
  id.resize(4 + 32);
  char* out = id.data() + 4;
  for (std::uint64_t w : words) {
    for (int shift = 60; shift >= 0; shift -= 4) *out++ = kHex[(w >> shift) & 15];
  }
  return id;
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
