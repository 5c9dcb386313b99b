// Streaming multipart/form-data parser (RFC 7578 over RFC 2046).
//
// The parser turns a request body, fed in chunks of any size, into a sequence of parts: for
// each part the handler gets OnPartBegin (the parsed headers), zero or more OnPartData calls
// and OnPartEnd. A part body is never buffered: OnPartData receives spans that point into the
// chunk passed to Feed, except for the few bytes that looked like the start of a boundary at
// the end of a chunk and turned out to be data (those come from a small internal buffer).
// Memory per parser is O(boundary length + max_header_bytes), whatever the size of the parts.
//
// The delimiter search filters 16 or 32 positions at a time on the delimiter's first and
// last byte (portable vector code, AVX2 where the CPU has it) and confirms candidates with
// memcmp, so data of any shape (random, text, a file of CRLFs) moves at tens of GB/s, and each
// chunk's data reaches the handler in one call per part.
//
// No Boost or Beast here: the HTTP layer adapts its body reader to Feed/Finish.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace fileport {

// The headers of one part, as the parser understood them.
struct MultipartPartHeaders {
  // Content-Disposition name="…" (quoted or token). "%22", "%0D" and "%0A" in a quoted value
  // are decoded to '"', CR and LF (the WHATWG form encoding used by browsers, undici, curl);
  // "\"" and "\\" are unescaped. Present but possibly empty.
  std::string name;
  // Content-Disposition filename="…" (decoded like `name`), or the RFC 5987 `filename*`
  // (UTF-8 or ISO-8859-1, percent-decoded, returned as UTF-8) which wins when both are sent.
  // Present => a file part. May be empty (browsers send filename="" for an empty file input)
  // and may hold any bytes, control characters and NUL included: the caller decides.
  std::optional<std::string> filename;
  // The part's Content-Type value with surrounding whitespace trimmed; empty if absent.
  std::string content_type;
};

// Receives the parts of one form. Any non-OK Status returned by a callback stops the parser;
// Feed/Finish return that Status unchanged, and no further callback is made (in particular no
// OnPartEnd for the part that was open: the handler must abort whatever it was writing).
// Callbacks run synchronously inside Feed, on the caller's thread.
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  // A part starts. `headers` is valid only during the call.
  virtual Status OnPartBegin(const MultipartPartHeaders& headers) = 0;
  // The next bytes of the current part's body; never empty. `data` is valid only during the
  // call (it points into the caller's chunk or the parser's own small buffer).
  virtual Status OnPartData(std::span<const char> data) = 0;  // zero or more calls per part
  // The current part ended with a boundary. Not called when the body is truncated.
  virtual Status OnPartEnd() = 0;
};

struct MultipartLimits {
  std::size_t max_header_bytes = 16 * 1024;  // one part's header block, blank line included
  std::size_t max_parts = 1000;              // parts in one form
};

// Makes every parser use the portable delimiter search (16-byte vectors) even where the CPU
// has AVX2, or not (the default). Process-wide; for the tests and bench/micro, so that both
// copies of the search run and are measured on any machine.
void SetPortableDelimiterSearch(bool on);

// Parses one multipart/form-data body. Not thread-safe; one parser per request. The handler
// must outlive the parser.
//
// Grammar notes (all deviations from RFC 2046 are on the lenient side and documented here):
// - The delimiter is CRLF "--" boundary. The first one may start the body without a CRLF.
//   Bytes before it (preamble) and after the close delimiter (epilogue) are ignored.
// - After the boundary: "--" closes the form; otherwise optional spaces/tabs then CRLF. A
//   "\r\n--boundary" followed by any other byte is not a delimiter (RFC 2046 forbids senders
//   to produce it; like Go's mime/multipart we treat it as data rather than fail).
// - A form with no parts at all ("--boundary--", what undici sends for an empty FormData) is
//   accepted: parts_seen() == 0, and the caller reports the missing field.
// - Part header lines must end in CRLF; folded lines are rejected; header names are
//   case-insensitive; headers other than Content-Disposition and Content-Type are ignored.
class MultipartParser {
 public:
  // The boundary parameter of a multipart/form-data Content-Type (quoted or token form,
  // case-insensitive type and parameter name, 1..70 chars per RFC 2046). InvalidArgument when
  // the type is not multipart/form-data or the boundary is missing/invalid.
  static Result<std::string> BoundaryFromContentType(std::string_view content_type);

  // `boundary` should come from BoundaryFromContentType. An invalid boundary (empty, over 70
  // chars, or with bytes outside RFC 2046 bchars) makes every Feed/Finish return
  // InvalidArgument.
  MultipartParser(std::string boundary, MultipartHandler& handler, MultipartLimits limits = {});

  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  // Feed body bytes in chunks of any size (1 byte … many MiB). Returns the first error: a
  // parse error (InvalidArgument, param empty, message naming what was wrong) or a handler's
  // Status unchanged. After an error every further call returns the same error.
  Status Feed(std::span<const char> data);
  // End of body. InvalidArgument if the closing boundary ("--boundary--") was not seen
  // (truncated body). Bytes after the closing boundary (epilogue) are ignored; bytes before
  // the first boundary (preamble) are ignored. Calling it again returns the same result.
  Status Finish();

  // Parts whose OnPartBegin has been called.
  std::size_t parts_seen() const { return parts_seen_; }
  // The body offset (bytes fed before it) of the current part's first data byte; valid from
  // its OnPartBegin on.
  std::uint64_t part_offset() const { return part_offset_; }
  // The most data bytes the current part can hold in a body of `body_bytes` (its length, as
  // Content-Length gives it): after the data come at least the delimiter, the "--" that closes
  // the last part, and the CRLF every client ends the body with. A body without that CRLF
  // holds two bytes more than this says: fit for size hints, never for limits. Valid from the
  // part's OnPartBegin on.
  std::uint64_t PartBytesAtMost(std::uint64_t body_bytes) const {
    const std::uint64_t after = part_offset_ + delimiter_.size() + 4;  // "--" CRLF
    return body_bytes > after ? body_bytes - after : 0;
  }

 private:
  enum class State {
    kPreamble,           // scanning for the first delimiter; bytes are discarded
    kBody,               // scanning for the next delimiter; bytes are part data
    kAfterBoundary,      // matched "\r\n--boundary"; deciding what it is from the next byte
    kAfterBoundaryDash,  // matched "\r\n--boundary-"
    kPadding,            // transport padding after a part delimiter
    kPaddingLf,          // CR seen after a part delimiter, LF expected
    kHeaders,            // collecting a part's header block
    kEpilogue,           // after the close delimiter; bytes are discarded
    kError,              // error_ holds the first error
  };

  Status FeedInternal(std::span<const char> data);
  // Scans data[*pos..] (after carry_) for the delimiter while in kPreamble/kBody. On a match
  // sets *pos just past it and moves to kAfterBoundary; otherwise consumes all of data.
  Status Scan(std::span<const char> data, std::size_t* pos);
  Status ConsumeHeaders(std::span<const char> data, std::size_t* pos);
  Status BeginPart();
  Status EmitData(const char* data, std::size_t size);
  // "\r\n--boundary" turned out not to be a delimiter: hand its bytes back as data.
  Status RevertDelimiter(bool with_dash);
  // A part delimiter ("--boundary" + padding + CRLF) is certain: end the open part, if any.
  Status CommitPartDelimiter();
  Status Fail(Status status);

  std::string delimiter_;  // "\r\n--" + boundary
  std::uint64_t fed_ = 0;  // bytes fed before the current chunk
  std::uint64_t part_offset_ = 0;
  MultipartHandler& handler_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  State scan_state_ = State::kPreamble;  // kPreamble or kBody, while not scanning
  bool part_open_ = false;
  std::size_t parts_seen_ = 0;
  // A proper prefix of delimiter_ seen at the end of the last chunk (≤ boundary + 3 bytes).
  std::string carry_;
  // The header block being collected: "\r\n" (the boundary line's end) + header lines.
  std::string header_buf_;
  Status error_;
};

}  // namespace fileport
