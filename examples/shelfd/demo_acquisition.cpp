// SPDX-License-Identifier: MIT
#include "demo_acquisition.hpp"

#include <ctime>
#include <system_error>

#include <nlohmann/json.hpp>

#include "book_samples.hpp"
#include "shelfjobs/services/providers.hpp"

namespace shelfd {

using namespace shelfjobs;
namespace fs = std::filesystem;
namespace fx = shelfjobs::fixtures;

Result<DemoAcquisition> set_up_demo_acquisition(AcquisitionStore& store, const fs::path& folder,
                                                const DemoLibrary& library) {
  DemoAcquisition out;
  out.drop = folder / "torrents";
  out.watch = folder / "complete";
  fs::create_directories(out.drop);
  fs::create_directories(out.watch);
  out.indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  const std::time_t now = std::time(nullptr);
  const std::string wanted = library.wanted_author.name + " - " + library.wanted_book.title;
  auto release = [&](std::string title, std::string guid, std::time_t age, std::vector<int> categories) {
    fx::FixtureRelease r;
    r.title = std::move(title);
    r.guid = std::move(guid);
    r.published = now - age;
    r.categories = std::move(categories);
    r.size = 3'500'000;
    return r;
  };
  // The feed: the wanted book as a PDF and as an EPUB (the profile prefers the EPUB), and what
  // any feed is mostly made of, books nobody here follows.
  std::vector<fx::FixtureRelease> feed = {
      release(wanted + " (2019) [PDF]", "demo-pdf", 900, {7020}),
      release(wanted + " (2019) [EPUB]", "demo-epub", 600, {7020}),
  };
  for (auto& r : fx::make_releases(8, now - 1200, "noise")) feed.push_back(std::move(r));
  out.indexer->set_releases(std::move(feed));

  ProviderDefinition indexer;
  indexer.kind = ProviderKind::indexer;
  indexer.name = "Demo Torznab";
  indexer.implementation = "Torznab";
  indexer.settings = nlohmann::json{
      {"baseUrl", out.indexer->base_url()},
      {"apiPath", "/api"},
      {"apiKey", out.indexer->options().api_key},
      {"categories",
       {3030, 7020}}}.dump();
  ProviderDefinition blackhole;
  blackhole.kind = ProviderKind::download_client;
  blackhole.name = "Demo Blackhole";
  blackhole.implementation = "TorrentBlackhole";
  blackhole.settings =
      nlohmann::json{{"torrentFolder", out.drop.string()}, {"watchFolder", out.watch.string()}}.dump();
  for (auto* d : {&indexer, &blackhole}) {
    auto valid = validate_definition(*d);
    if (!valid) return valid.error();
    auto added = store.add_provider(*valid);
    if (!added) return added.error();
  }
  return out;
}

int finish_demo_downloads(const DemoAcquisition& acquisition, const DemoLibrary& library) {
  int finished = 0;
  std::error_code ec;
  for (fs::directory_iterator it(acquisition.drop, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".torrent") continue;
    const fs::path folder = acquisition.watch / it->path().stem();
    if (fs::exists(folder)) continue;
    const fs::path book = folder / (library.wanted_book.title + ".epub");
    book_samples::make_epub(book, book_samples::spec(library.wanted_book.title, library.wanted_author.name));
    fs::last_write_time(book, fs::file_time_type::clock::now() - std::chrono::hours(1));
    ++finished;
  }
  return finished;
}

}  // namespace shelfd
