// SPDX-License-Identifier: MIT
// A key usually has one live job, so its id lists stay inline; they are lists rather than single
// ids because a retried job and the run coalesced behind it can both wait under one key.

#include "engine/admission.hpp"

#include <algorithm>
#include <functional>
#include <memory>

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

namespace {

// Where an id goes among ascending ids; a new job's id is the largest, so usually at the end.
void add_id(DedupIndex::Ids& ids, JobId id) {
  auto at = std::lower_bound(ids.begin(), ids.end(), id);
  if (at == ids.end() || *at != id) ids.insert(at, id);
}

void drop_id(DedupIndex::Ids& ids, JobId id) {
  auto at = std::find(ids.begin(), ids.end(), id);
  if (at != ids.end()) ids.erase(at);
}

}  // namespace

DedupIndex::~DedupIndex() {
  for (const Entry& e : table_) delete e.slot;
}

std::optional<JobId> DedupIndex::twin_in(const Slot& slot, bool into_running) {
  if (!slot.queued.empty()) return slot.queued.front();
  if (into_running && !slot.running.empty()) return slot.running.front();
  return std::nullopt;
}

std::size_t DedupIndex::probe(const std::string& key, std::size_t hash) const {
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Entry& e = table_[i];
    if (!e.slot || (e.hash == hash && e.slot->key == key)) return i;
  }
}

void DedupIndex::grow() {
  std::vector<Entry> old(table_.empty() ? 16 : table_.size() * 2);
  old.swap(table_);
  const std::size_t mask = table_.size() - 1;
  for (const Entry& e : old) {
    if (!e.slot) continue;
    std::size_t i = e.hash & mask;
    while (table_[i].slot) i = (i + 1) & mask;
    table_[i] = e;
  }
}

DedupIndex::Slot& DedupIndex::find_or_add(const std::string& key) {
  // Grown first, so that nothing below can fail after the table changed.
  if ((size_ + 1) * 2 > table_.size()) grow();
  const std::size_t hash = std::hash<std::string>{}(key);
  const std::size_t i = probe(key, hash);
  if (!table_[i].slot) {
    auto slot = std::make_unique<Slot>();
    slot->key = key;
    slot->hash = hash;
    table_[i] = {hash, slot.release()};
    ++size_;
  }
  return *table_[i].slot;
}

std::optional<JobId> DedupIndex::twin(const std::string& key, bool into_running) const {
  if (table_.empty()) return std::nullopt;
  const Entry& e = table_[probe(key, std::hash<std::string>{}(key))];
  if (!e.slot) return std::nullopt;
  return twin_in(*e.slot, into_running);
}

DedupIndex::Admitted DedupIndex::twin_or_queue(const std::string& key, bool into_running, JobId id) {
  Slot& slot = find_or_add(key);
  if (auto found = twin_in(slot, into_running)) return {found, nullptr};
  queued(slot, id);
  return {std::nullopt, &slot};
}

DedupIndex::Slot& DedupIndex::queued(const std::string& key, JobId id) {
  Slot& slot = find_or_add(key);
  queued(slot, id);
  return slot;
}

void DedupIndex::queued(Slot& slot, JobId id) {
  drop_id(slot.running, id);
  add_id(slot.queued, id);
}

void DedupIndex::started(Slot& slot, JobId id) {
  drop_id(slot.queued, id);
  add_id(slot.running, id);
}

void DedupIndex::ended(Slot& slot, JobId id) {
  drop_id(slot.queued, id);
  drop_id(slot.running, id);
  if (!slot.queued.empty() || !slot.running.empty()) return;
  // Linear probing's deletion: the entries after the freed one that probed past it move back,
  // so that every entry stays reachable from its home without markers for deleted ones.
  const std::size_t mask = table_.size() - 1;
  std::size_t hole = slot.hash & mask;
  while (table_[hole].slot != &slot) hole = (hole + 1) & mask;
  delete table_[hole].slot;
  table_[hole] = {};
  --size_;
  for (std::size_t j = (hole + 1) & mask; table_[j].slot; j = (j + 1) & mask) {
    const std::size_t home = table_[j].hash & mask;
    // table_[j] may fill the hole unless its home lies cyclically in (hole, j].
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      table_[hole] = table_[j];
      table_[j] = {};
      hole = j;
    }
  }
}

}  // namespace shelfjobs::detail
