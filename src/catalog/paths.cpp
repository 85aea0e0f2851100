// SPDX-License-Identifier: MIT
// The catalog's one form of a path, shared by the catalog and every service that compares its
// own paths with the catalog's (the library scan, the import).

#include <string>
#include <string_view>

#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {
namespace {

// Already in the catalog's form: absolute, no empty, "." or ".." component, no trailing
// separator. A scan asks this of every path it meets, and lexically_normal() allocates a path
// per component, so the common case is checked first.
bool plainly_normal(std::string_view s) {
  if (s.empty() || s.front() != '/') return false;
  if (s.size() > 1 && s.back() == '/') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '/') continue;
    const std::string_view next = s.substr(i + 1);
    if (next.empty()) break;
    if (next.front() == '/') return false;
    const std::string_view part = next.substr(0, next.find('/'));
    if (part == "." || part == "..") return false;
  }
  return true;
}

}  // namespace

std::string catalog_path(const std::filesystem::path& path) {
  if (plainly_normal(path.native())) return path.native();
  std::string s = path.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool path_is_under(std::string_view path, std::string_view folder) noexcept {
  if (path == folder) return true;
  return path.size() > folder.size() && path.substr(0, folder.size()) == folder &&
         (folder == "/" || path[folder.size()] == '/');
}

}  // namespace shelfjobs
