// SPDX-License-Identifier: MIT
// A key usually has one live job, so the sets stay tiny; they are sets rather than single ids
// because a retried job and the run coalesced behind it can both wait under one key.

#include "engine/admission.hpp"

namespace shelfjobs::detail {

std::string dedup_key(const CommandType& type, const nlohmann::json& body) {
  if (type.traits.dedup_key) return type.name + '\n' + type.traits.dedup_key(body);
  return type.name + '\n' + body.dump();
}

Result<Prepared> prepare(const Registry& registry, std::string_view name, const nlohmann::json& body,
                         PushOptions options) {
  const CommandType* type = registry.find(name);
  if (!type) return Error{errc::unknown_command, "unknown command '" + std::string(name) + "'"};
  if (!body.is_null() && !body.is_object()) {
    return Error{errc::invalid_body,
                 "body of " + type->name + " must be a JSON object, not " + std::string(body.type_name())};
  }
  Prepared p{type, {}, {}, {}, std::move(options), {}};
  try {
    p.body = type->canonicalize(body.is_null() ? nlohmann::json::object() : body);
  } catch (const std::exception& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.type_error.302] "; the rest names the field.
    if (!what.empty() && what.front() == '[') {
      auto close = what.find("] ");
      if (close != std::string::npos) what.erase(0, close + 2);
    }
    return Error{errc::invalid_body, "body of " + type->name + " does not decode: " + what};
  }
  if (p.options.priority && (static_cast<int>(*p.options.priority) < 0 ||
                             static_cast<int>(*p.options.priority) >= kPriorityCount)) {
    return Error{errc::invalid_argument, "priority out of range"};
  }
  p.body_text = p.body.dump();
  p.key = type->traits.dedup_key ? dedup_key(*type, p.body) : type->name + '\n' + p.body_text;
  return p;
}

std::optional<JobId> DedupIndex::twin(const std::string& key, bool into_running) const {
  auto it = slots_.find(key);
  if (it == slots_.end()) return std::nullopt;
  if (!it->second.queued.empty()) return *it->second.queued.begin();
  if (into_running && !it->second.running.empty()) return *it->second.running.begin();
  return std::nullopt;
}

void DedupIndex::queued(const std::string& key, JobId id) {
  auto& slot = slots_[key];
  slot.running.erase(id);
  slot.queued.insert(id);
}

void DedupIndex::started(const std::string& key, JobId id) {
  auto& slot = slots_[key];
  slot.queued.erase(id);
  slot.running.insert(id);
}

void DedupIndex::ended(const std::string& key, JobId id) {
  auto it = slots_.find(key);
  if (it == slots_.end()) return;
  it->second.queued.erase(id);
  it->second.running.erase(id);
  if (it->second.queued.empty() && it->second.running.empty()) slots_.erase(it);
}

}  // namespace shelfjobs::detail
