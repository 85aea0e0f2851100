// SPDX-License-Identifier: MIT
// The qBittorrent client against the real qbittorrent-nox (Debian's 4.5.2), started on a free
// loopback port with a temporary profile: login, add with a category, a torrent of files already
// in its download folder completing after the hash check, listing, removal, the session ending
// (403) and a new login, bad credentials, a daemon that is not there.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon.hpp"
#include "download_support.hpp"
#include "loopback.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "test_support.hpp"

namespace download_qbittorrent_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
namespace fs = std::filesystem;

constexpr const char* kBinary = "/usr/bin/qbittorrent-nox";

/// qbittorrent-nox on a free loopback port, with a profile of its own: the legal notice
/// accepted, no DHT, LSD, PeX or UPnP (nothing leaves the machine), the WebUI on 127.0.0.1 with
/// its default login (admin / adminadmin) and sessions that end after `session_timeout` s.
struct QbtEnv {
  TempDir dir;
  fs::path downloads = dir.path() / "downloads";
  int port = closed_port();
  std::unique_ptr<Daemon> daemon;

  explicit QbtEnv(int session_timeout = 3600) {
    fs::create_directories(downloads);
    const fs::path conf = dir.path() / "profile" / "qBittorrent" / "config" / "qBittorrent.conf";
    write_file(
        conf,
        "[LegalNotice]\nAccepted=true\n\n"
        "[BitTorrent]\nSession\\DefaultSavePath=" +
            downloads.string() +
            "\nSession\\TempPathEnabled=false\nSession\\DHTEnabled=false\nSession\\LSDEnabled=false\n"
            "Session\\PeXEnabled=false\nSession\\Port=" +
            std::to_string(closed_port()) +
            "\nSession\\Interface=lo\nSession\\InterfaceName=lo\nSession\\AnonymousModeEnabled=true\n\n"
            "[Preferences]\nWebUI\\Address=127.0.0.1\nWebUI\\Port=" +
            std::to_string(port) +
            "\nWebUI\\LocalHostAuth=true\nWebUI\\HostHeaderValidation=false\nWebUI\\UseUPnP=false\n"
            "WebUI\\SessionTimeout=" +
            std::to_string(session_timeout) + "\nConnection\\UPnP=false\nGeneral\\Locale=en\n");
    daemon = std::make_unique<Daemon>(
        std::vector<std::string>{kBinary, "--profile=" + (dir.path() / "profile").string()}, port,
        (dir.path() / "qbittorrent.log").string());
  }
  HttpDownloadClientOptions options(const std::string& password = "adminadmin") const {
    HttpDownloadClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port);
    o.username = "admin";
    o.password = password;
    o.timeout = seconds(10);
    return o;
  }
};

TEST_CASE("qBittorrent: a torrent of files already downloaded completes, is listed by category and removed",
          "[download][qbittorrent]") {
  if (!daemon_installed(kBinary, "qbittorrent-nox")) return;
  QbtEnv env;
  REQUIRE(env.daemon->ready());
  auto client = make_qbittorrent(env.options());
  CHECK(client->protocol() == DownloadProtocol::torrent);
  REQUIRE(client->test());

  const fs::path content = env.downloads / "Ann Leckie - Ancillary Justice";
  write_file(content / "Ancillary Justice.epub", random_bytes(70000, 1));
  write_file(content / "cover.jpg", random_bytes(5000, 2));
  const std::string torrent = make_torrent(content);
  const std::string hash = torrent_info_hash(torrent).value();

  auto id = client->add(
      {DownloadRequest::Kind::torrent_file, torrent, "Ann Leckie - Ancillary Justice", "shelfjobs"});
  REQUIRE(id);
  CHECK(*id == hash);

  auto done = wait_for_item(*client, "shelfjobs", hash,
                            [](const DownloadItem& i) { return i.status == DownloadStatus::completed; });
  INFO(env.daemon->log());
  REQUIRE(done);
  CHECK(done->status == DownloadStatus::completed);
  CHECK(done->title == "Ann Leckie - Ancillary Justice");
  CHECK(done->total_bytes == 75000);
  CHECK(done->bytes_left == 0);
  CHECK(fs::path(done->output_path) == content);

  // Another category does not list it.
  auto other = client->items("other");
  REQUIRE(other);
  CHECK(other->empty());

  // Adding it again is no error: same id.
  auto again = client->add(
      {DownloadRequest::Kind::torrent_file, torrent, "Ann Leckie - Ancillary Justice", "shelfjobs"});
  REQUIRE(again);
  CHECK(*again == hash);

  // A magnet with no peers anywhere (no DHT, no trackers) stays on its way.
  const std::string magnet_hash = "a9993e364706816aba3e25717850c26c9cd0d89d";
  auto m = client->add({DownloadRequest::Kind::magnet, "magnet:?xt=urn:btih:" + magnet_hash + "&dn=Nothing",
                        "Nothing", "shelfjobs"});
  REQUIRE(m);
  CHECK(*m == magnet_hash);
  auto pending = wait_for_item(
      *client, "shelfjobs", magnet_hash, [](const DownloadItem&) { return true; }, seconds(5));
  REQUIRE(pending);
  CHECK((pending->status == DownloadStatus::downloading || pending->status == DownloadStatus::queued));

  // Removal: without data the files stay; with data they go.
  REQUIRE(client->remove(magnet_hash, false));
  REQUIRE(client->remove(hash, true));
  auto after = client->items("shelfjobs");
  REQUIRE(after);
  CHECK(after->empty());
  auto gone = client->remove(hash, true);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == errc::not_found);
  const auto until = steady_clock::now() + seconds(5);
  while (fs::exists(content) && steady_clock::now() < until) std::this_thread::sleep_for(milliseconds(50));
  CHECK_FALSE(fs::exists(content / "Ancillary Justice.epub"));
}

TEST_CASE("qBittorrent: bad input, bad credentials, an ended session and a missing daemon",
          "[download][qbittorrent]") {
  if (!daemon_installed(kBinary, "qbittorrent-nox")) return;
  QbtEnv env(1);  // sessions end after a second
  REQUIRE(env.daemon->ready());
  auto client = make_qbittorrent(env.options());
  REQUIRE(client->test());

  // Not bencode: refused before anything is sent. Bencode that is no torrent: qBittorrent
  // refuses it.
  auto junk = client->add({DownloadRequest::Kind::torrent_file, "junk", "Junk", "shelfjobs"});
  REQUIRE_FALSE(junk);
  CHECK(junk.error().code == errc::invalid_argument);
  auto empty_info =
      client->add({DownloadRequest::Kind::torrent_file, "d4:infod4:name1:aee", "Empty", "shelfjobs"});
  REQUIRE_FALSE(empty_info);
  CHECK(empty_info.error().code == errc::invalid_argument);
  auto nzb = client->add({DownloadRequest::Kind::nzb_file, "<nzb/>", "N", ""});
  REQUIRE_FALSE(nzb);
  CHECK(nzb.error().code == errc::invalid_argument);

  // The session ends (403 to the next call): the client logs in again and the call succeeds.
  REQUIRE(client->items("shelfjobs"));
  std::this_thread::sleep_for(milliseconds(2500));
  auto listed = client->items("shelfjobs");
  INFO((listed ? std::string() : listed.error().message));
  CHECK(listed);

  auto wrong = make_qbittorrent(env.options("wrong"));
  auto t = wrong->test();
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unauthorized);
  auto w = wrong->items("shelfjobs");
  REQUIRE_FALSE(w);
  CHECK(w.error().code == errc::unauthorized);

  env.daemon->stop();
  auto down = client->items("shelfjobs");
  REQUIRE_FALSE(down);
  CHECK(down.error().code == errc::unavailable);
  CHECK(down.error().message.find("qBittorrent") != std::string::npos);
}

}  // namespace download_qbittorrent_test
