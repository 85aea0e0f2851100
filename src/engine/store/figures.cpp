// SPDX-License-Identifier: MIT
#include "engine/store/figures.hpp"

#include <charconv>

namespace shelfjobs::detail {

std::int64_t minute_of(std::int64_t ms) {
  constexpr std::int64_t kMinute = 60000;
  std::int64_t m = ms / kMinute;
  if (ms % kMinute < 0) --m;
  return m * kMinute;
}

bool has_duration(const JobInfo& j) { return j.status != JobStatus::cancelled && j.started_at.has_value(); }

std::string encode_histogram(const DurationHistogram& h) {
  std::string out;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i] == 0) continue;
    if (!out.empty()) out += ',';
    out += std::to_string(i) + ':' + std::to_string(h[i]);
  }
  return out;
}

DurationHistogram decode_histogram(const std::string& text) {
  // On the open path (a day of minutes for every type), so no allocation per item.
  DurationHistogram h{};
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    std::size_t bin = 0;
    std::int64_t count = 0;
    auto [after_bin, e1] = std::from_chars(p, end, bin);
    if (e1 == std::errc() && after_bin < end && *after_bin == ':') {
      auto [after_count, e2] = std::from_chars(after_bin + 1, end, count);
      // A damaged item is skipped: figures are advisory, the file stays usable.
      if (e2 == std::errc() && bin < h.size()) h[bin] += count;
      p = after_count;
    } else {
      p = after_bin;
    }
    while (p < end && *p != ',') ++p;
    ++p;
  }
  return h;
}

}  // namespace shelfjobs::detail
