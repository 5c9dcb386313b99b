// ResidentPages: how many pages of a file the page cache holds (mincore over a mapping);
// CountFolios: how many of them sit in folios larger than a page.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fileport::testing {

// Pages of `path` in the page cache, of the whole file or of `length` bytes at `offset` (a
// multiple of the page size; -1: to the end); SIZE_MAX when the file cannot be opened or
// mapped.
inline std::size_t ResidentPages(const std::string& path, std::int64_t offset = 0,
                                 std::int64_t length = -1) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SIZE_MAX;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return SIZE_MAX;
  }
  if (length < 0 || offset + length > st.st_size) {
    length = std::max<std::int64_t>(0, st.st_size - offset);
  }
  if (length == 0) {
    ::close(fd);
    return 0;
  }
  const auto size = static_cast<std::size_t>(length);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, offset);
  ::close(fd);
  if (map == MAP_FAILED) return SIZE_MAX;
  const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> in_core((size + page - 1) / page);
  const int rc = ::mincore(map, size, in_core.data());
  ::munmap(map, size);
  if (rc != 0) return SIZE_MAX;
  return static_cast<std::size_t>(
      std::count_if(in_core.begin(), in_core.end(), [](unsigned char c) { return c & 1; }));
}

// Of the pages of `length` bytes at `offset` of `path` (a multiple of the page size) that the
// page cache holds, how many sit in folios larger than a page (compound pages, from
// /proc/kpageflags). nullopt when the file cannot be mapped or the page flags cannot be read
// (they take CAP_SYS_ADMIN).
struct FolioCount {
  std::size_t resident = 0;
  std::size_t in_large_folios = 0;
};
inline std::optional<FolioCount> CountFolios(const std::string& path, std::int64_t offset,
                                             std::int64_t length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const auto size = static_cast<std::size_t>(length);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, offset);
  ::close(fd);
  if (map == MAP_FAILED) return std::nullopt;
  const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> in_core((size + page - 1) / page);
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  const int flags = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  std::optional<FolioCount> count;
  if (pagemap >= 0 && flags >= 0 && ::mincore(map, size, in_core.data()) == 0) {
    count.emplace();
    for (std::size_t i = 0; i < in_core.size(); ++i) {
      if (!(in_core[i] & 1)) continue;
      // Touching a resident page maps it without reading the device.
      const char* at = static_cast<const char*>(map) + i * page;
      (void)*static_cast<const volatile char*>(at);
      std::uint64_t entry = 0;
      std::uint64_t page_flags = 0;
      const auto virtual_page = reinterpret_cast<std::uintptr_t>(at) / page;
      if (::pread(pagemap, &entry, sizeof entry, virtual_page * sizeof entry) != sizeof entry) {
        count.reset();
        break;
      }
      const std::uint64_t frame = entry & ((std::uint64_t{1} << 55) - 1);
      if (frame == 0 || ::pread(flags, &page_flags, sizeof page_flags, frame * sizeof page_flags) !=
                            sizeof page_flags) {
        count.reset();  // no frame numbers without CAP_SYS_ADMIN
        break;
      }
      ++count->resident;
      constexpr std::uint64_t kCompoundHead = std::uint64_t{1} << 15;
      constexpr std::uint64_t kCompoundTail = std::uint64_t{1} << 16;
      if (page_flags & (kCompoundHead | kCompoundTail)) ++count->in_large_folios;
    }
  }
  if (pagemap >= 0) ::close(pagemap);
  if (flags >= 0) ::close(flags);
  ::munmap(map, size);
  return count;
}

}  // namespace fileport::testing
