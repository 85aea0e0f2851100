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

std::optional<JobId> DedupIndex::twin_in(const Slot& slot, bool into_running) {
  if (!slot.queued.empty()) return *slot.queued.begin();
  if (into_running && !slot.running.empty()) return *slot.running.begin();
  return std::nullopt;
}

std::optional<JobId> DedupIndex::twin(const std::string& key, bool into_running) const {
  auto it = slots_.find(key);
  if (it == slots_.end()) return std::nullopt;
  return twin_in(it->second, into_running);
}

DedupIndex::Admitted DedupIndex::twin_or_queue(const std::string& key, bool into_running, JobId id) {
  auto& slot = slots_.try_emplace(key).first->second;
  if (auto found = twin_in(slot, into_running)) return {found, nullptr};
  queued(slot, id);
  return {std::nullopt, &slot};
}

DedupIndex::Slot& DedupIndex::queued(const std::string& key, JobId id) {
  auto& slot = slots_[key];
  queued(slot, id);
  return slot;
}

void DedupIndex::queued(Slot& slot, JobId id) {
  slot.running.erase(id);
  slot.queued.insert(id);
}

void DedupIndex::started(Slot& slot, JobId id) {
  slot.queued.erase(id);
  slot.running.insert(id);
}

void DedupIndex::ended(Slot& slot, const std::string& key, JobId id) {
  slot.queued.erase(id);
  slot.running.erase(id);
  if (slot.queued.empty() && slot.running.empty()) slots_.erase(key);
}

}  // namespace shelfjobs::detail
