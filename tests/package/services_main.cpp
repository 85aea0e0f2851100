// A host's first use of the services: a catalog file, a BookInfo source and the refresh service
// registered with an engine.
#include <cstdio>
#include <filesystem>

#include <shelfjobs/services.hpp>

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path();
  std::filesystem::create_directories(dir);
  auto catalog = shelfjobs::open_sqlite_catalog({.path = dir / "catalog.db"});
  auto source = shelfjobs::make_bookinfo_source({.base_url = "http://127.0.0.1:9/v1/"});
  if (!catalog || !source) return 1;
  auto refresh = shelfjobs::RefreshService::create({.catalog = *catalog, .source = *source});
  if (!refresh) return 1;
  shelfjobs::Registry registry;
  (*refresh)->register_commands(registry);
  auto engine = shelfjobs::Engine::create({.store_path = ":memory:"}, std::move(registry));
  if (!engine) return 1;
  auto counts = (*catalog)->counts();
  std::printf("catalog: %lld authors; commands: %zu\n", counts ? static_cast<long long>(counts->authors) : -1LL,
              (*engine)->registry().names().size());
  return counts && (*engine)->registry().find("RefreshAuthor") ? 0 : 1;
}
