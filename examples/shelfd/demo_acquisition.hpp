// SPDX-License-Identifier: MIT
#pragma once
// The demo's acquisition: a Torznab fixture indexer in this process offering releases of the
// library's wanted book (an EPUB and a PDF of it) among releases of authors the library does not
// follow, and a torrent blackhole in the demo folder, both saved as provider definitions. The
// demo plays the download program: once the blackhole holds a .torrent, it puts the book into
// the watch folder as a torrent client would when done.

#include <filesystem>
#include <memory>

#include "demo_library.hpp"
#include "indexer_fixture.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"

namespace shelfd {

struct DemoAcquisition {
  std::unique_ptr<shelfjobs::fixtures::IndexerFixture> indexer;
  std::filesystem::path drop;   ///< the blackhole's torrent folder
  std::filesystem::path watch;  ///< its watch folder
};

/// Starts the indexer and saves it and the blackhole (folders under `folder`) in `store`.
/// Errors: the store's; invalid_argument when a definition is refused. Throws
/// std::runtime_error when the indexer cannot bind a loopback port.
shelfjobs::Result<DemoAcquisition> set_up_demo_acquisition(shelfjobs::AcquisitionStore& store,
                                                           const std::filesystem::path& folder,
                                                           const DemoLibrary& library);

/// For each .torrent in the drop folder, writes the wanted book as an EPUB into
/// `watch/<release title>/`, dated an hour back (finished before anyone looked, so the
/// blackhole reports it completed at once). Returns how many downloads it finished.
int finish_demo_downloads(const DemoAcquisition& acquisition, const DemoLibrary& library);

}  // namespace shelfd
