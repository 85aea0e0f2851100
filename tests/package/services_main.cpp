// A host's first use of the services: a catalog file, a BookInfo source, and the library and
// refresh services on a service host; and a book file's metadata.
#include <cstdio>
#include <filesystem>

#include <shelfjobs/services.hpp>

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path();
  std::filesystem::create_directories(dir);
  auto catalog = shelfjobs::open_sqlite_catalog({.path = dir / "catalog.db"});
  auto source = shelfjobs::make_bookinfo_source({.base_url = "http://127.0.0.1:9/v1/"});
  if (!catalog || !source) return 1;
  auto library = shelfjobs::LibraryService::create({.catalog = *catalog, .source = *source});
  auto refresh = shelfjobs::RefreshService::create({.catalog = *catalog, .source = *source});
  if (!library || !refresh) return 1;
  shelfjobs::ServiceHost::Builder builder({.engine = {.store_path = ":memory:"}});
  builder.add(*library);
  builder.add(*refresh);
  auto host = builder.build();
  if (!host) return 1;
  auto& engine = (*host)->engine();
  auto counts = (*catalog)->counts();
  std::printf("catalog: %lld authors; commands: %zu\n",
              counts ? static_cast<long long>(counts->authors) : -1LL, engine.registry().names().size());
  // The book-file readers: linking this pulls in libzip, pugixml, qpdf, TagLib and libmobi,
  // the adapters' private dependencies that the package config must find for a static build.
  const auto missing = shelfjobs::read_book_metadata(dir / "missing.epub");
  std::printf("book file: %s\n", missing ? "read" : missing.error().message.c_str());
  return counts && engine.registry().find("RefreshAuthor") && !missing &&
                 missing.error().code == shelfjobs::errc::not_found
             ? 0
             : 1;
}
