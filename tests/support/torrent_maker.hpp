// SPDX-License-Identifier: MIT
#pragma once
// A small .torrent maker for the download-client tests: a torrent of files already on disk, so a
// client given it finds every piece after its hash check and completes with no network.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "adapters/download/download_util.hpp"

namespace testing {

/// Bencoding of the few value types a .torrent needs.
inline std::string bencode_string(const std::string& s) { return std::to_string(s.size()) + ":" + s; }
inline std::string bencode_int(std::int64_t v) { return "i" + std::to_string(v) + "e"; }
/// A dictionary of already-encoded values; std::map keeps the keys sorted, as bencoding requires.
inline std::string bencode_dict(const std::map<std::string, std::string>& entries) {
  std::string out = "d";
  for (const auto& [k, v] : entries) out += bencode_string(k) + v;
  return out + "e";
}

/// The .torrent of `content`: a single file, or a folder with every regular file under it (in
/// path order, as clients lay them out). Its name is the file's or folder's name, so a client
/// whose download folder holds `content` finds the data in place.
inline std::string make_torrent(const std::filesystem::path& content, std::int64_t piece_length = 16384) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  if (fs::is_directory(content)) {
    for (const auto& e : fs::recursive_directory_iterator(content))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(content);
  }
  std::string data;
  std::string file_list = "l";
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), {}};
    data += bytes;
    std::string path = "l";
    for (const auto& part : fs::relative(f, content)) path += bencode_string(part.string());
    path += "e";
    file_list +=
        bencode_dict({{"length", bencode_int(static_cast<std::int64_t>(bytes.size()))}, {"path", path}});
  }
  file_list += "e";
  std::string pieces;
  for (std::size_t at = 0; at < data.size(); at += static_cast<std::size_t>(piece_length))
    pieces +=
        shelfjobs::detail::sha1(std::string_view(data).substr(at, static_cast<std::size_t>(piece_length)));
  std::map<std::string, std::string> info{{"name", bencode_string(content.filename().string())},
                                          {"piece length", bencode_int(piece_length)},
                                          {"pieces", bencode_string(pieces)}};
  if (fs::is_directory(content))
    info["files"] = file_list;
  else
    info["length"] = bencode_int(static_cast<std::int64_t>(data.size()));
  return bencode_dict({{"created by", bencode_string("shelfjobs tests")}, {"info", bencode_dict(info)}});
}

}  // namespace testing
