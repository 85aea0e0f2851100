// SPDX-License-Identifier: MIT
#include "adapters/download/download_util.hpp"

#include <array>
#include <cctype>
#include <cstring>
#include <random>

#include "shelfjobs/adapters/download_client.hpp"

namespace shelfjobs {

const char* to_string(DownloadProtocol p) noexcept {
  return p == DownloadProtocol::torrent ? "torrent" : "usenet";
}

const char* to_string(DownloadStatus s) noexcept {
  switch (s) {
    case DownloadStatus::queued: return "queued";
    case DownloadStatus::downloading: return "downloading";
    case DownloadStatus::paused: return "paused";
    case DownloadStatus::completed: return "completed";
    case DownloadStatus::failed: return "failed";
    case DownloadStatus::warning: return "warning";
  }
  return "unknown";
}

namespace {

// A bencoded value starting at `pos`: returns the position after it, or npos when malformed.
// Depth-limited so that a hostile file cannot overflow the stack.
std::size_t skip_value(std::string_view s, std::size_t pos, int depth = 0) {
  if (depth > 64 || pos >= s.size()) return std::string_view::npos;
  const char c = s[pos];
  if (c == 'i') {
    const auto end = s.find('e', pos + 1);
    return end == std::string_view::npos || end == pos + 1 ? std::string_view::npos : end + 1;
  }
  if (c == 'l' || c == 'd') {
    ++pos;
    while (pos < s.size() && s[pos] != 'e') {
      pos = skip_value(s, pos, depth + 1);
      if (pos == std::string_view::npos) return pos;
    }
    return pos < s.size() ? pos + 1 : std::string_view::npos;
  }
  if (c >= '0' && c <= '9') {
    std::size_t len = 0;
    std::size_t i = pos;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      len = len * 10 + static_cast<std::size_t>(s[i] - '0');
      if (len > s.size()) return std::string_view::npos;
      ++i;
    }
    if (i >= s.size() || s[i] != ':' || i + 1 + len > s.size()) return std::string_view::npos;
    return i + 1 + len;
  }
  return std::string_view::npos;
}

// A bencoded string at `pos` (the key of a dictionary): its text and the position after it.
std::optional<std::pair<std::string_view, std::size_t>> read_string(std::string_view s, std::size_t pos) {
  if (pos >= s.size() || s[pos] < '0' || s[pos] > '9') return std::nullopt;
  const auto end = skip_value(s, pos);
  if (end == std::string_view::npos) return std::nullopt;
  const auto colon = s.find(':', pos);
  return std::make_pair(s.substr(colon + 1, end - colon - 1), end);
}

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

Result<std::string> torrent_info_hash(std::string_view t) {
  if (t.empty() || t[0] != 'd')
    return Error{errc::invalid_argument, "the .torrent is not a bencoded dictionary"};
  std::size_t pos = 1;
  while (pos < t.size() && t[pos] != 'e') {
    auto key = read_string(t, pos);
    if (!key)
      return Error{errc::invalid_argument,
                   "the .torrent is malformed (a key at byte " + std::to_string(pos) + ")"};
    const std::size_t value_at = key->second;
    const std::size_t end = skip_value(t, value_at);
    if (end == std::string_view::npos)
      return Error{errc::invalid_argument,
                   "the .torrent is malformed (a value at byte " + std::to_string(value_at) + ")"};
    if (key->first == "info") {
      if (t[value_at] != 'd') return Error{errc::invalid_argument, "the .torrent's info is not a dictionary"};
      return detail::to_hex(detail::sha1(t.substr(value_at, end - value_at)));
    }
    pos = end;
  }
  return Error{errc::invalid_argument, "the .torrent has no info dictionary"};
}

Result<std::string> magnet_info_hash(std::string_view m) {
  if (m.substr(0, 8) != "magnet:?") return Error{errc::invalid_argument, "not a magnet URI"};
  const std::string_view tag = "urn:btih:";
  auto at = m.find(tag);
  if (at == std::string_view::npos) return Error{errc::invalid_argument, "the magnet URI has no btih hash"};
  at += tag.size();
  auto end = m.find('&', at);
  const std::string_view h = m.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
  std::string out;
  if (h.size() == 40) {
    for (char c : h) {
      if (!std::isxdigit(static_cast<unsigned char>(c)))
        return Error{errc::invalid_argument, "the magnet's btih is not hex"};
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
  }
  if (h.size() == 32) {
    std::string raw;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : h) {
      const int v = base32_value(c);
      if (v < 0) return Error{errc::invalid_argument, "the magnet's btih is not base32"};
      buffer = (buffer << 5) | static_cast<unsigned>(v);
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        raw += static_cast<char>((buffer >> bits) & 0xff);
      }
    }
    return detail::to_hex(raw);
  }
  return Error{errc::invalid_argument, "the magnet's btih has " + std::to_string(h.size()) +
                                           " characters (40 hex or 32 base32 expected)"};
}

}  // namespace shelfjobs

namespace shelfjobs::detail {

namespace {
std::uint32_t rol(std::uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }
}  // namespace

std::string sha1(std::string_view data) {
  std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(data);
  const std::uint64_t bit_len = static_cast<std::uint64_t>(data.size()) * 8;
  m += static_cast<char>(0x80);
  while (m.size() % 64 != 56) m += '\0';
  for (int i = 7; i >= 0; --i) m += static_cast<char>((bit_len >> (i * 8)) & 0xff);
  for (std::size_t chunk = 0; chunk < m.size(); chunk += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* p =
          reinterpret_cast<const unsigned char*>(m.data() + chunk + static_cast<std::size_t>(i) * 4);
      w[i] = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f = 0, k = 0;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const std::uint32_t temp = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::string out;
  for (auto v : h)
    for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (i * 8)) & 0xff);
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v =
        (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += url_encode(k) + "=" + url_encode(v);
  }
  return out;
}

Multipart::Multipart() {
  std::random_device rd;
  boundary_ = "shelfjobs-" + std::to_string(rd()) + std::to_string(rd());
}

void Multipart::field(const std::string& name, std::string_view value) {
  body_ += "--" + boundary_ + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n";
  body_ += value;
  body_ += "\r\n";
}

void Multipart::file(const std::string& name, const std::string& filename, const std::string& type,
                     std::string_view bytes) {
  std::string safe = filename;
  for (char& c : safe)
    if (c == '"' || c == '\r' || c == '\n') c = '_';
  body_ += "--" + boundary_ + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" +
           safe + "\"\r\nContent-Type: " + type + "\r\n\r\n";
  body_ += bytes;
  body_ += "\r\n";
}

std::string Multipart::finish() const { return body_ + "--" + boundary_ + "--\r\n"; }

std::optional<Error> transport_error(const HttpResponse& r, const std::string& who) {
  switch (r.error) {
    case TransportError::none: break;
    case TransportError::cancelled: return Error{errc::cancelled, who + ": cancelled"};
    case TransportError::timeout:
      return Error{errc::unavailable, who + " did not answer in time: " + r.error_message};
    case TransportError::invalid: return Error{errc::invalid_argument, who + ": " + r.error_message};
    default: return Error{errc::unavailable, who + " cannot be reached: " + r.error_message};
  }
  if (r.status >= 500)
    return Error{errc::unavailable, who + " failed on its side (HTTP " + std::to_string(r.status) + ")"};
  return std::nullopt;
}

std::string clean_file_name(std::string_view title) {
  std::string out;
  for (unsigned char c : title) {
    if (c < 0x20 || c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' || c == '"' || c == '<' ||
        c == '>' || c == '|')
      out += ' ';
    else
      out += static_cast<char>(c);
  }
  while (!out.empty() && (out.front() == '.' || out.front() == ' ')) out.erase(out.begin());
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  if (out.size() > 200) out.resize(200);
  if (out.empty()) out = "release";
  return out;
}

}  // namespace shelfjobs::detail
