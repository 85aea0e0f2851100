// SPDX-License-Identifier: MIT
#pragma once
// The health snapshot in Prometheus' text format (`GET /metrics`).

#include <string>

#include "shelfjobs/engine/health.hpp"

namespace shelfd {

std::string metrics_text(const shelfjobs::HealthSnapshot& h);

}  // namespace shelfd
