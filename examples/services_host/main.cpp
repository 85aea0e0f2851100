// SPDX-License-Identifier: MIT
// services_host: a host that embeds the book services, each added with one line.
//
// Shows: a catalog file, a metadata source (here a BookInfo fixture server on loopback, so the
// program stays offline), the library and refresh services on a ServiceHost built in one step,
// adding an author (AuthorAdded -> RefreshAuthor by the refresh service's rule), the health
// checks, and what an add answers when the source does not know the id (an error value).
// Exits 0 only when the author's books arrived through the refresh the event triggered.
//
//   services_host [folder]     (default: a temporary folder, removed at the end)
//   ctest --test-dir build/dev -R '^example\.services_host$'

#include <cstdio>
#include <filesystem>

#include <unistd.h>

#include <shelfjobs/services.hpp>

#include "bookinfo_fixture.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const bool temporary = argc < 2;
  const std::filesystem::path dir = temporary ? std::filesystem::temp_directory_path() /
                                                    ("shelfjobs-services-host-" + std::to_string(::getpid()))
                                              : std::filesystem::path(argv[1]);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "books");
  int code = 1;
  {
    // A metadata server that knows one author with three books.
    auto server = shelfjobs::fixtures::BookInfoFixture::start();
    server->put_author(shelfjobs::fixtures::make_author(1001, "Ada Example", 3));

    auto catalog = shelfjobs::open_sqlite_catalog({.path = dir / "catalog.db"}).value();
    auto source = shelfjobs::make_bookinfo_source(
                      {.base_url = server->base_url(), .cache_path = dir / "metadata-cache.db"})
                      .value();
    auto library = shelfjobs::LibraryService::create({.catalog = catalog, .source = source}).value();
    auto refresh = shelfjobs::RefreshService::create({.catalog = catalog, .source = source}).value();

    // The host: one line per service, then one build. The services publish on the host's event
    // bus; the refresh service's rules turn AuthorAdded into RefreshAuthor.
    shelfjobs::ServiceHost::Builder builder({.engine = {.store_path = (dir / "jobs.db").string()}});
    builder.add(library);
    builder.add(refresh);
    auto host = builder.build().value();
    host->start();

    auto root = catalog->add_root_folder(dir / "books", "Books").value();
    auto author = library->add_author("1001", root.id);  // the name comes from the source
    if (!author) {
      std::fprintf(stderr, "add_author: %s\n", author.error().message.c_str());
    } else {
      std::printf("added %s at %s\n", author->name.c_str(), author->path.c_str());
      host->engine().wait_idle(20s);  // the refresh AuthorAdded pushed
      auto books = catalog->books_of(author->id);
      std::printf("its books after the refresh: %zu\n", books ? books->size() : 0);
      code = books && books->size() == 3 ? 0 : 1;
    }

    // An id the source does not know: an error value that says so (an API answers 404).
    auto unknown = library->add_author("4040", root.id);
    std::printf("adding 4040: %s (%s)\n", unknown ? "added?" : unknown.error().message.c_str(),
                unknown ? "" : shelfjobs::to_string(unknown.error().code));
    if (unknown || unknown.error().code != shelfjobs::errc::not_found) code = 1;

    // The services' health checks (the library's RootFolderCheck): none fail here.
    const auto issues = host->context().check_health();
    std::printf("health issues: %zu\n", issues.size());
    if (!issues.empty()) code = 1;
    host->stop(5s);
  }
  if (temporary) std::filesystem::remove_all(dir);
  return code;
}
