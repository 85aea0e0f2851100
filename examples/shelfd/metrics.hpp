// SPDX-License-Identifier: MIT
#pragma once
// The health snapshot in Prometheus' text format (`GET /metrics`), built in a prometheus-cpp
// registry and written by its text serializer.

#include <string>

#include "shelfjobs/engine/health.hpp"

namespace shelfd {

std::string metrics_text(const shelfjobs::HealthSnapshot& h);

}  // namespace shelfd
