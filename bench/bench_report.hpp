// SPDX-License-Identifier: MIT
#pragma once
// What every benchmark program prints the same way: medians over the runs, each target checked
// against them (a figure against a fixed limit, or against a reference measured in the same
// run: then the median of each run's own ratio, so that a run measured while the machine was
// slower is compared with its own reference, not with a faster run's), one line per figure with
// its runs, and the pass/fail map for the JSON line.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

/// A figure's target: `figure >= factor * reference`, or with `at_most` `figure <= factor`
/// (`< factor` when `strict`). An empty `reference` makes `factor` the limit itself.
struct Target {
  const char* figure;
  const char* reference;
  double factor;
  bool at_most;
  bool strict;
  const char* text;  ///< how the line states the target (">= 0.5x ref_read_files_per_s")
};

using Medians = std::map<std::string, double>;
using PerRun = std::map<std::string, std::vector<double>>;

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// 12345 -> "12345", 12.34 -> "12.3", 1.2345 -> "1.234".
inline std::string format_figure(double v) {
  char b[64];
  if (v >= 1000)
    std::snprintf(b, sizeof b, "%.0f", v);
  else if (v >= 10)
    std::snprintf(b, sizeof b, "%.1f", v);
  else
    std::snprintf(b, sizeof b, "%.3f", v);
  return std::string(b);
}

/// The median over the runs of `figure / reference` taken within each run (runs whose reference
/// is not positive left out); the ratio of the medians when the runs' values do not pair up (a
/// figure or reference measured once). Callers record a figure and its reference in every run,
/// so the i-th values of both belong to the same run.
inline double median_ratio(const Medians& med, const PerRun& per_run, const std::string& figure,
                           const std::string& reference) {
  const auto f = per_run.find(figure);
  const auto r = per_run.find(reference);
  if (f != per_run.end() && r != per_run.end() && !f->second.empty() &&
      f->second.size() == r->second.size()) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < f->second.size(); ++i)
      if (r->second[i] > 0) ratios.push_back(f->second[i] / r->second[i]);
    if (!ratios.empty()) return median(ratios);
  }
  // No reference measured: not a number, which no target passes.
  const double ref = med.at(reference);
  return ref > 0 ? med.at(figure) / ref : std::numeric_limits<double>::quiet_NaN();
}

/// Prints each target whose figures were measured (PASS or MISS), then every other median, each
/// padded to `width` and followed by its runs when there were several. A relative target is
/// judged on median_ratio. `note` may add text after a target's figure. Returns
/// {"<figure>[_vs_<reference>]": passed} for the JSON line.
inline nlohmann::json print_figures(const std::vector<Target>& targets, const Medians& med,
                                    const PerRun& per_run, int runs, std::size_t width,
                                    const std::function<std::string(const Target&)>& note = {}) {
  auto runs_of = [&](const std::string& k) {
    std::string s;
    for (double v : per_run.at(k)) s += (s.empty() ? "" : ", ") + format_figure(v);
    return s;
  };
  auto with_runs = [&](std::string line, const std::string& k) {
    if (per_run.count(k) && runs > 1) line += "  [runs: " + runs_of(k) + "]";
    return line;
  };
  nlohmann::json passed = nlohmann::json::object();
  std::set<std::string> printed;
  for (const auto& t : targets) {
    const bool relative = *t.reference != '\0';
    if (!med.count(t.figure) || (relative && !med.count(t.reference))) continue;
    const double v = med.at(t.figure);
    // A relative target compares the ratio with the factor; an absolute one the figure.
    const double judged = relative ? median_ratio(med, per_run, t.figure, t.reference) : v;
    const double limit = t.factor;
    const bool pass = t.at_most ? (t.strict ? judged < limit : judged <= limit) : judged >= limit;
    std::string line = std::string("  ") + t.figure;
    line.resize(std::max(width, line.size() + 1), ' ');
    line += format_figure(v);
    if (relative) {
      char b[160];
      std::snprintf(b, sizeof b, "  = %.2fx %s (%s)", judged, t.reference,
                    format_figure(med.at(t.reference)).c_str());
      line += b;
    }
    if (note) line += note(t);
    line += "  target " + std::string(t.text) + "  " + (pass ? "PASS" : "MISS");
    std::printf("%s\n", with_runs(line, t.figure).c_str());
    passed[std::string(t.figure) + (relative ? std::string("_vs_") + t.reference : "")] = pass;
    printed.insert(t.figure);
  }
  for (const auto& [k, v] : med) {
    if (printed.count(k)) continue;
    std::string line = "  " + k;
    line.resize(std::max(width, line.size() + 1), ' ');
    line += format_figure(v);
    std::printf("%s\n", with_runs(line, k).c_str());
  }
  return passed;
}

}  // namespace bench
