// SPDX-License-Identifier: MIT
#pragma once
// A hash table of 32-bit references to entries its owner keeps elsewhere, for the matching
// index (match.hpp), which holds one entry per catalog book and must stay small.
//
// It stores no keys: the owner hashes its key and confirms each candidate against its own
// data, so two keys that share a hash are told apart and a lookup never returns a wrong
// entry. Open addressing with linear probing, eight bytes a slot (32 bits of the hash and the
// reference), at most three quarters full. Nothing is ever removed.
//
// Thread-safety: none of its own; `find` may run on several threads at once when nothing adds.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shelfjobs::scan {

class RefTable {
 public:
  static constexpr std::uint32_t npos = UINT32_MAX;

  /// The reference under `hash` for which `same(ref)` holds, or npos.
  template <class Same>
  std::uint32_t find(std::uint64_t hash, const Same& same) const {
    if (slots_.empty()) return npos;
    const std::size_t mask = slots_.size() - 1;
    const std::uint32_t tag = tag_of(hash);
    for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.ref == npos) return npos;
      if (s.tag == tag && same(s.ref)) return s.ref;
    }
  }

  /// Adds `ref` under `hash`. The caller has made sure with `find` that no reference for the
  /// same key is there (so the first one added stays, as std::map::emplace keeps it).
  /// `hash_of(r)` gives the hash of a reference added before, for growing. `ref` must not be
  /// npos.
  template <class HashOf>
  void add(std::uint64_t hash, std::uint32_t ref, const HashOf& hash_of) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow(hash_of);
    place(hash, ref);
    ++size_;
  }

  std::size_t size() const noexcept { return size_; }

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t ref = npos;
  };

  // The bits not used for the slot's place (the low ones), so a tag tells most keys apart.
  static std::uint32_t tag_of(std::uint64_t hash) noexcept { return static_cast<std::uint32_t>(hash >> 32); }

  void place(std::uint64_t hash, std::uint32_t ref) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(hash) & mask;
    while (slots_[i].ref != npos) i = (i + 1) & mask;
    slots_[i] = Slot{tag_of(hash), ref};
  }

  template <class HashOf>
  void grow(const HashOf& hash_of) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    for (const Slot& s : old)
      if (s.ref != npos) place(hash_of(s.ref), s.ref);
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace shelfjobs::scan
