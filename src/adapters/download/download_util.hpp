// SPDX-License-Identifier: MIT
#pragma once
// What the download clients share: SHA-1 and bencode for info hashes, base64, form and
// multipart bodies, and the mapping of an HTTP answer onto the clients' errors.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http_client.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs::detail {

/// The SHA-1 digest of `data` (20 raw bytes).
std::string sha1(std::string_view data);
std::string to_hex(std::string_view bytes);
std::string base64(std::string_view bytes);
std::string url_encode(std::string_view s);

/// `a=1&b=2` with each value URL-encoded.
std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields);

/// A multipart/form-data body; `content_type()` carries its boundary.
class Multipart {
 public:
  Multipart();
  void field(const std::string& name, std::string_view value);
  void file(const std::string& name, const std::string& filename, const std::string& type,
            std::string_view bytes);
  /// The body with its closing boundary.
  std::string finish() const;
  std::string content_type() const { return "multipart/form-data; boundary=" + boundary_; }

 private:
  std::string boundary_;
  std::string body_;
};

/// The error for a request that got no usable answer (transport failure, 5xx), or nullopt when
/// it got an HTTP answer below 500. `who` names the client in the message.
std::optional<Error> transport_error(const HttpResponse& r, const std::string& who);

/// A file name made from a release title: characters file systems refuse become blanks, no
/// leading dots (hidden files) and no empty result.
std::string clean_file_name(std::string_view title);

}  // namespace shelfjobs::detail
