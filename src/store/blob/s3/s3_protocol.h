// The parts of the S3 protocol that need no network: percent-encoding and canonical query
// strings (libcurl's SigV4 signs the URL exactly as written), the few XML fields fileport
// reads, the translation of S3 errors into Status, Content-Range and timestamps. Pure
// functions, so the details most likely to be subtly wrong are tested without a server.
// Internal to the S3 backend.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace fileport::s3 {

// RFC 3986 percent-encoding of everything but the unreserved characters (A-Za-z0-9 - . _ ~),
// and of '/' too unless `keep_slash` (object paths keep their slashes). This is the encoding
// SigV4 canonicalization expects.
std::string UriEncode(std::string_view text, bool keep_slash);

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// "partNumber=3&uploadId=2~x", "prefix=a%2Fb&uploads=": parameters sorted by name, every name
// followed by '=' (even with an empty value), names and values encoded. libcurl 7.88 signs the
// query string as written, so only this form gets a valid signature.
std::string CanonicalQuery(QueryParams params);

// The text of the first <tag>…</tag> (or <tag/>, empty) in `xml`, with entities decoded;
// nullopt when there is none. Enough for S3's flat, namespace-free answers: no CDATA, and
// `tag` must not occur nested inside itself.
std::optional<std::string> XmlField(std::string_view xml, std::string_view tag);
// The raw inner text of every <tag>…</tag> in `xml`, in order (e.g. each <Upload> of a
// listing); views into `xml`.
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag);
// Escapes &, <, >, " and ' for element text.
std::string XmlEscape(std::string_view text);

// An S3 error as the server described it.
struct S3Error {
  long http_status = 0;
  std::string code;  // "NoSuchKey", "SlowDown", …; empty when the answer had no body (HEAD).
  std::string message;
  std::string request_id;
};

// The error an answer carries, if any: every non-2xx answer is one (with the <Error>
// document's fields when the body holds one), and so is a 2xx answer whose body is an <Error>
// document: S3 may answer 200 and report the failure in the body (CompleteMultipartUpload,
// CopyObject), so a 2xx body is inspected whenever one was read.
std::optional<S3Error> ErrorOf(long http_status, std::string_view body);

// True for failures worth another attempt of the same request: HTTP 500, 502, 503 and 504,
// 429, and the codes SlowDown, InternalError, RequestTimeout and ServiceUnavailable whatever
// the status (RequestTimeout is a 400; InternalError may come in a 200 body).
bool IsRetryable(const S3Error& error);

// The one translation of an S3 error into a Status; `what` names the operation ("read blob
// 'k'") and starts the message. The message never holds credentials.
//   404, NoSuchKey, NoSuchUpload                                  → NotFound
//   416, InvalidRange                                             → OutOfRange
//   EntityTooLarge, QuotaExceeded, InsufficientCapacity, 507      → ResourceExhausted
//   401/403 (SignatureDoesNotMatch, InvalidAccessKeyId, expired
//   tokens, clock skew, AccessDenied, …), NoSuchBucket            → Unavailable, saying why
//   retryable errors (once retries ran out) and any other 5xx     → Unavailable
//   anything else (a request fileport should not have sent)       → Internal
Status ErrorToStatus(const S3Error& error, std::string_view what);

// "bytes 0-9/100" → {0, 9, 100}; total is -1 for "bytes 0-9/*". nullopt when malformed.
struct ContentRange {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t total = -1;
};
std::optional<ContentRange> ParseContentRange(std::string_view value);

// "2024-05-01T12:34:56.789Z" (S3's timestamps, always UTC) → milliseconds since the epoch;
// nullopt when malformed.
std::optional<std::int64_t> ParseTimestampMillis(std::string_view text);

}  // namespace fileport::s3
