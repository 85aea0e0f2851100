// SPDX-License-Identifier: MIT
// The torrent and usenet blackholes: atomic drops, the watch folder's items and their 30 s
// grace on a manual clock, removal; and the info hashes of .torrent files and magnets.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "adapters/download/download_util.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "test_support.hpp"

namespace download_blackhole_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

struct Env {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  fs::path drop = dir.path() / "drop";
  fs::path watch = dir.path() / "watch";
  Env() {
    fs::create_directories(drop);
    fs::create_directories(watch);
  }
  BlackholeOptions options() const {
    BlackholeOptions o;
    o.drop_folder = drop;
    o.watch_folder = watch;
    o.clock = clock;
    return o;
  }
};

const DownloadItem* find(const std::vector<DownloadItem>& items, const std::string& title) {
  for (const auto& i : items)
    if (i.title == title) return &i;
  return nullptr;
}

TEST_CASE("SHA-1 and base64 match their reference vectors", "[download]") {
  CHECK(detail::to_hex(detail::sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(detail::to_hex(detail::sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(detail::to_hex(detail::sha1(std::string(1000, 'a'))) == "291e9a6c66994949b57ba5e650361e98fc36b1ba");
  CHECK(detail::base64("") == "");
  CHECK(detail::base64("f") == "Zg==");
  CHECK(detail::base64("fo") == "Zm8=");
  CHECK(detail::base64("foobar") == "Zm9vYmFy");
}

TEST_CASE("The info hash is the SHA-1 of the info dictionary's bytes, wherever it sits", "[download]") {
  const std::string info = "d6:lengthi3e4:name1:a12:piece lengthi16384e6:pieces20:01234567890123456789e";
  const std::string want = detail::to_hex(detail::sha1(info));
  CHECK(torrent_info_hash("d8:announce3:x/y4:info" + info + "e").value() == want);
  CHECK(torrent_info_hash("d4:info" + info + "4:zzzzli1ei2eee").value() == want);
  CHECK(torrent_info_hash("d8:announce3:x/ye").error().code == errc::invalid_argument);
  CHECK(torrent_info_hash("not bencode").error().code == errc::invalid_argument);
  CHECK(torrent_info_hash("d4:info" + info.substr(0, 20)).error().code == errc::invalid_argument);
  CHECK(torrent_info_hash("d4:infoi3ee").error().code == errc::invalid_argument);
  CHECK(torrent_info_hash("d999999999999:xe").error().code == errc::invalid_argument);
}

TEST_CASE("A magnet's btih is read as hex or base32", "[download]") {
  CHECK(magnet_info_hash("magnet:?xt=urn:btih:A9993E364706816ABA3E25717850C26C9CD0D89D&dn=x").value() ==
        "a9993e364706816aba3e25717850c26c9cd0d89d");
  // base32 of the same 20 bytes.
  CHECK(magnet_info_hash("magnet:?xt=urn:btih:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5").value() ==
        "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(magnet_info_hash("magnet:?dn=x").error().code == errc::invalid_argument);
  CHECK(magnet_info_hash("http://x/y").error().code == errc::invalid_argument);
  CHECK(magnet_info_hash("magnet:?xt=urn:btih:1234").error().code == errc::invalid_argument);
}

TEST_CASE("The torrent blackhole writes the .torrent under a safe name, whole, and leaves no temporary file",
          "[download]") {
  Env env;
  auto client = make_torrent_blackhole(env.options());
  CHECK(client->protocol() == DownloadProtocol::torrent);
  REQUIRE(client->test());
  const std::string bytes(100000, 'x');
  auto id = client->add({DownloadRequest::Kind::torrent_file, bytes, "Author: The/Title?", "books"});
  REQUIRE(id);
  CHECK(*id == "Author  The Title.torrent");
  CHECK(read(env.drop / *id) == bytes);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(env.drop)) ++files;
  CHECK(files == 1);

  // A second add of the same title replaces the file.
  REQUIRE(client->add({DownloadRequest::Kind::torrent_file, "new", "Author: The/Title?", ""}));
  CHECK(read(env.drop / *id) == "new");

  SECTION("magnets are refused unless they are saved") {
    auto refused = client->add({DownloadRequest::Kind::magnet, "magnet:?xt=urn:btih:x", "M", ""});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == errc::invalid_argument);
    auto o = env.options();
    o.save_magnet_files = true;
    auto saving = make_torrent_blackhole(o);
    auto m = saving->add({DownloadRequest::Kind::magnet, "magnet:?xt=urn:btih:x", "M", ""});
    REQUIRE(m);
    CHECK(*m == "M.magnet");
    CHECK(read(env.drop / "M.magnet") == "magnet:?xt=urn:btih:x");
  }
  SECTION("an .nzb, an empty release or no title are invalid input") {
    CHECK(client->add({DownloadRequest::Kind::nzb_file, "<nzb/>", "N", ""}).error().code ==
          errc::invalid_argument);
    CHECK(client->add({DownloadRequest::Kind::torrent_file, "", "N", ""}).error().code ==
          errc::invalid_argument);
    CHECK(client->add({DownloadRequest::Kind::torrent_file, "x", "", ""}).error().code ==
          errc::invalid_argument);
  }
}

TEST_CASE("The usenet blackhole writes .nzb files only", "[download]") {
  Env env;
  auto client = make_usenet_blackhole(env.options());
  CHECK(client->protocol() == DownloadProtocol::usenet);
  auto id = client->add({DownloadRequest::Kind::nzb_file, "<nzb></nzb>", "A Book", "books"});
  REQUIRE(id);
  CHECK(*id == "A Book.nzb");
  CHECK(read(env.drop / "A Book.nzb") == "<nzb></nzb>");
  CHECK(client->add({DownloadRequest::Kind::torrent_file, "d4:infodee", "T", ""}).error().code ==
        errc::invalid_argument);
}

TEST_CASE("A blackhole that cannot write its folder is unavailable, and says which folder", "[download]") {
  Env env;
  auto o = env.options();
  o.drop_folder = env.dir.path() / "missing";
  auto client = make_usenet_blackhole(o);
  auto t = client->test();
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unavailable);
  CHECK(t.error().message.find("missing") != std::string::npos);
  auto add = client->add({DownloadRequest::Kind::nzb_file, "<nzb/>", "A", ""});
  REQUIRE_FALSE(add);
  CHECK(add.error().code == errc::unavailable);
  CHECK(add.error().message.find("missing") != std::string::npos);
  o = env.options();
  o.watch_folder = env.dir.path() / "gone";
  CHECK(make_usenet_blackhole(o)->items("").error().code == errc::unavailable);
}

TEST_CASE("A watch-folder item completes once it has not changed for the grace period", "[download]") {
  Env env;
  auto client = make_torrent_blackhole(env.options());
  write(env.watch / "Book One" / "book.epub", "12345");
  write(env.watch / "loose.mobi", "123");
  write(env.watch / ".hidden.partial", "x");

  auto first = client->items("");
  REQUIRE(first);
  REQUIRE(first->size() == 2);
  const DownloadItem* folder = find(*first, "Book One");
  REQUIRE(folder);
  CHECK(folder->status == DownloadStatus::downloading);
  CHECK(folder->total_bytes == 5);
  CHECK(folder->eta == seconds(30));
  CHECK(folder->output_path == env.watch / "Book One");
  const DownloadItem* loose = find(*first, "loose");
  REQUIRE(loose);
  CHECK(loose->total_bytes == 3);

  env.clock->advance(seconds(29));
  auto second = client->items("");
  REQUIRE(second);
  CHECK(find(*second, "Book One")->status == DownloadStatus::downloading);
  CHECK(find(*second, "Book One")->eta == seconds(1));

  // A file grows: the grace starts again for that item only.
  write(env.watch / "Book One" / "part2.mp3", "abc");
  env.clock->advance(seconds(1));
  auto third = client->items("");
  REQUIRE(third);
  CHECK(find(*third, "Book One")->status == DownloadStatus::downloading);
  CHECK(find(*third, "Book One")->total_bytes == 8);
  CHECK(find(*third, "loose")->status == DownloadStatus::completed);

  env.clock->advance(seconds(30));
  auto fourth = client->items("");
  REQUIRE(fourth);
  const DownloadItem* done = find(*fourth, "Book One");
  CHECK(done->status == DownloadStatus::completed);
  CHECK_FALSE(done->eta);
  CHECK(done->id == first->at(folder - first->data()).id);  // the id is stable

  SECTION("removing an item deletes its files; an unknown id is not found") {
    CHECK(client->remove(done->id, false).error().code == errc::invalid_argument);
    CHECK(fs::exists(env.watch / "Book One"));
    REQUIRE(client->remove(done->id, true));
    CHECK_FALSE(fs::exists(env.watch / "Book One"));
    CHECK(client->remove(done->id, true).error().code == errc::not_found);
    auto after = client->items("");
    REQUIRE(after);
    CHECK(after->size() == 1);
  }
  SECTION("an item that leaves and comes back starts its grace again") {
    fs::rename(env.watch / "loose.mobi", env.dir.path() / "loose.mobi");
    REQUIRE(client->items("")->size() == 1);
    fs::rename(env.dir.path() / "loose.mobi", env.watch / "loose.mobi");
    CHECK(find(*client->items(""), "loose")->status == DownloadStatus::downloading);
  }
}

TEST_CASE("An item whose files were last written before the grace period is complete at first sight",
          "[download]") {
  Env env;
  env.clock->set(std::chrono::system_clock::now());
  auto client = make_torrent_blackhole(env.options());
  write(env.watch / "Finished Earlier" / "book.epub", "12345");
  write(env.watch / "Still Writing" / "book.epub", "123");
  // The download program finished this one an hour ago (before shelfjobs looked, or before a
  // restart): nothing will change in it any more.
  fs::last_write_time(env.watch / "Finished Earlier" / "book.epub",
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  auto items = client->items("");
  REQUIRE(items);
  REQUIRE(items->size() == 2);
  CHECK(find(*items, "Finished Earlier")->status == DownloadStatus::completed);
  CHECK(find(*items, "Still Writing")->status == DownloadStatus::downloading);
}

TEST_CASE("The grace period is a setting", "[download]") {
  Env env;
  auto o = env.options();
  o.grace = seconds(0);
  auto client = make_usenet_blackhole(o);
  write(env.watch / "Now" / "a.epub", "x");
  auto items = client->items("");
  REQUIRE(items);
  REQUIRE(items->size() == 1);
  CHECK(items->front().status == DownloadStatus::completed);
}

}  // namespace download_blackhole_test
