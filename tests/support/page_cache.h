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

// `length` bytes at `offset` of `path` (a multiple of the page size; -1: to the end, and no
// further than it either way), mapped read-only, with which of their pages the page cache
// holds (mincore). ok() is false when the file cannot be opened, mapped or looked at.
class MappedRange {
 public:
  MappedRange(const std::string& path, std::int64_t offset, std::int64_t length) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (::fstat(fd, &st) == 0) {
      if (length < 0 || offset + length > st.st_size) {
        length = std::max<std::int64_t>(0, st.st_size - offset);
      }
      size_ = static_cast<std::size_t>(length);
      ok_ = size_ == 0;
      if (size_ > 0) {
        map_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, offset);
        in_core_.resize((size_ + page_ - 1) / page_);
        ok_ = map_ != MAP_FAILED && ::mincore(map_, size_, in_core_.data()) == 0;
      }
    }
    ::close(fd);
  }
  ~MappedRange() {
    if (map_ != MAP_FAILED) ::munmap(map_, size_);
  }
  MappedRange(const MappedRange&) = delete;
  MappedRange& operator=(const MappedRange&) = delete;

  bool ok() const { return ok_; }
  std::size_t pages() const { return in_core_.size(); }
  bool resident(std::size_t page) const { return in_core_[page] & 1; }
  const char* address(std::size_t page) const {
    return static_cast<const char*>(map_) + page * page_;
  }
  long page_size() const { return page_; }

 private:
  const long page_ = ::sysconf(_SC_PAGESIZE);
  void* map_ = MAP_FAILED;
  std::size_t size_ = 0;
  std::vector<unsigned char> in_core_;
  bool ok_ = false;
};

// Pages of `path` in the page cache, of the whole file or of `length` bytes at `offset` (a
// multiple of the page size; -1: to the end); SIZE_MAX when the file cannot be opened or
// mapped.
inline std::size_t ResidentPages(const std::string& path, std::int64_t offset = 0,
                                 std::int64_t length = -1) {
  const MappedRange range(path, offset, length);
  if (!range.ok()) return SIZE_MAX;
  std::size_t count = 0;
  for (std::size_t i = 0; i < range.pages(); ++i) count += range.resident(i) ? 1 : 0;
  return count;
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
  const MappedRange range(path, offset, length);
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  const int flags = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  std::optional<FolioCount> count;
  if (range.ok() && pagemap >= 0 && flags >= 0) {
    count.emplace();
    for (std::size_t i = 0; i < range.pages(); ++i) {
      if (!range.resident(i)) continue;
      // Touching a resident page maps it without reading the device.
      const char* at = range.address(i);
      (void)*static_cast<const volatile char*>(at);
      std::uint64_t entry = 0;
      std::uint64_t page_flags = 0;
      const auto virtual_page = reinterpret_cast<std::uintptr_t>(at) / range.page_size();
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
  return count;
}

}  // namespace fileport::testing
