// Memory aligned for direct I/O, shared by the transport (which reads request bodies into it)
// and the local blob store (which writes it to files opened with O_DIRECT).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace fileport {

// The unit of direct I/O: a buffer address, file offset and length that are multiples of it
// can be written with O_DIRECT on every Linux filesystem that supports it.
inline constexpr std::size_t kIoAlignment = 4096;

struct AlignedDelete {
  void operator()(char* p) const { ::operator delete[](p, std::align_val_t{kIoAlignment}); }
};
using AlignedBuffer = std::unique_ptr<char[], AlignedDelete>;

// Uninitialized on purpose: zero-filling would fault in pages that may never be touched.
inline AlignedBuffer AllocateAligned(std::size_t n) {
  return AlignedBuffer(static_cast<char*>(::operator new[](n, std::align_val_t{kIoAlignment})));
}

inline bool IsAligned(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % kIoAlignment == 0;
}

}  // namespace fileport
