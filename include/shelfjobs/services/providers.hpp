// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Indexer and download-client definitions (acquisition_store.hpp's ProviderDefinition) in
/// Readarr's provider form, and the adapters they make.
///
/// Each implementation ("Newznab", "Torznab", "QBittorrent", "Transmission", "Nzbget",
/// "Sabnzbd", "TorrentBlackhole", "UsenetBlackhole") has Readarr's config contract
/// ("NewznabSettings", ...) and its fields with Readarr's names, so a tool that syncs indexers
/// or download clients into Readarr over its API (Prowlarr's "Readarr" application, for one)
/// sends definitions this reads unchanged. `ProviderDefinition::settings` holds the fields'
/// values as a JSON object by field name.
///
/// Errors: `validate_definition` and the factories return errc::invalid_argument naming the
/// field ("baseUrl: must be an http or https URL", "implementation: unknown implementation
/// 'Foo' ..."); when several fields are wrong the message holds every failure, each
/// "<field>: <reason>", joined by "; " (a host splits them into Readarr's validation failures).
///
/// Thread-safety: pure functions; the adapters they return keep their own contracts.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "shelfjobs/adapters/download_client.hpp"
#include "shelfjobs/adapters/newznab.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

/// One field of a provider's settings, as Readarr's /schema lists it.
struct ProviderField {
  std::string name;   ///< JSON name ("baseUrl", "apiKey", "seedCriteria.seedRatio")
  std::string label;  ///< for people
  /// Readarr's field type: "textbox", "password", "number", "checkbox", "select", "path",
  /// "tag" (a list), "url". A "select" whose default `value` is an array takes a list of
  /// numbers (Readarr's "categories", whose options come from "newznabCategories").
  std::string type = "textbox";
  std::string help;
  nlohmann::json value;  ///< the default
  bool advanced = false;
  /// A secret (API key, password): hosts return it as "********" and keep the stored value
  /// when a client sends that placeholder back (Readarr's privacy "apiKey"/"password").
  bool secret = false;
  bool required = false;
  struct Option {
    int value = 0;
    std::string name;
  };
  std::vector<Option> select_options;  ///< "select" only
};

struct ProviderImplementation {
  ProviderKind kind = ProviderKind::indexer;
  std::string implementation;   ///< "Newznab"
  std::string name;             ///< the implementation's display name ("Newznab")
  std::string config_contract;  ///< "NewznabSettings"
  std::string protocol;         ///< "usenet" or "torrent"
  std::string info_link;
  std::vector<ProviderField> fields;
};

/// Every implementation of a kind, with its fields and defaults.
const std::vector<ProviderImplementation>& provider_implementations(ProviderKind kind);
/// The implementation by name (case-insensitive), or null.
const ProviderImplementation* find_implementation(ProviderKind kind, std::string_view implementation);

/// Checks a definition: a known implementation of its kind, its protocol set from the
/// implementation, every required field present and of its type, URLs http(s), ports 1..65535,
/// folders absolute, plus the rules Readarr's validators tie fields together with. Fills in the
/// defaults of absent (or null) fields and stores numbers sent as text as numbers; settings
/// beyond the implementation's fields are kept as sent. Returns the definition as it is to be
/// stored (the implementation spelt as the table spells it).
Result<ProviderDefinition> validate_definition(ProviderDefinition definition);

/// The placeholder hosts show instead of a secret.
inline constexpr std::string_view kSecretPlaceholder = "********";
/// `settings` with every secret field's non-empty value replaced by the placeholder.
nlohmann::json hide_secrets(const ProviderDefinition& definition);
/// `incoming` with every secret field that holds the placeholder given `stored`'s value back
/// (an update from a client that only ever saw the placeholder keeps the secret).
nlohmann::json keep_secrets(const nlohmann::json& incoming, const ProviderDefinition& stored);

/// The settings of a Newznab or Torznab definition's client (a host may add a
/// `before_request` hook, as the acquisition service does to space requests). Errors as
/// `validate_definition`'s, and invalid_argument for a download-client definition.
Result<IndexerSettings> indexer_settings(const ProviderDefinition& definition,
                                         std::shared_ptr<Clock> clock = nullptr);

/// The indexer client of a Newznab or Torznab definition (`clock` for its caps cache and retry
/// times; null: the system clock).
Result<std::unique_ptr<NewznabClient>> make_indexer_client(const ProviderDefinition& definition,
                                                           std::shared_ptr<Clock> clock = nullptr);

/// The download client of a download-client definition.
Result<std::unique_ptr<DownloadClient>> make_download_client(const ProviderDefinition& definition,
                                                             std::shared_ptr<Clock> clock = nullptr);

/// The category (label) a download-client definition names for shelfjobs' items
/// ("musicCategory" in Readarr's settings; "" for a blackhole).
std::string download_category(const ProviderDefinition& definition);

}  // namespace shelfjobs
