// SPDX-License-Identifier: MIT
// The NZBGet client against the real nzbget (Debian's 21.0) in server mode, on a free loopback
// port with a temporary main folder, its one news server a loopback server with no articles: an
// .nzb is appended with its category, every article fails, and it ends in the history as a
// failed download; removal; bad input and credentials; a daemon that is not there.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>

#include "daemon.hpp"
#include "download_support.hpp"
#include "fake_nntp.hpp"
#include "loopback.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "test_support.hpp"

namespace download_nzbget_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
namespace fs = std::filesystem;

constexpr const char* kBinary = "/usr/bin/nzbget";

const std::string kNzb = R"nzb(<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">
<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">
 <file poster="poster@example.invalid" date="1700000000" subject="&quot;book.epub&quot; yEnc (1/2)">
  <groups><group>alt.binaries.e-book</group></groups>
  <segments>
   <segment bytes="60000" number="1">part1-missing@example.invalid</segment>
   <segment bytes="40000" number="2">part2-missing@example.invalid</segment>
  </segments>
 </file>
</nzb>
)nzb";

/// nzbget -s (server mode, in the foreground) with a config of its own: control on 127.0.0.1
/// with user "nzbget" / "secret", one news server (the empty one), no retries, the category
/// "shelfjobs".
struct NzbEnv {
  TempDir dir;
  EmptyNewsServer news;
  int port = closed_port();
  std::unique_ptr<Daemon> daemon;

  NzbEnv() {
    const fs::path main = dir.path() / "main";
    fs::create_directories(main);
    const fs::path conf = dir.path() / "nzbget.conf";
    write_file(conf,
               "MainDir=" + main.string() +
                   "\nDestDir=${MainDir}/dst\nInterDir=${MainDir}/inter\nNzbDir=${MainDir}/nzb\n"
                   "QueueDir=${MainDir}/queue\nTempDir=${MainDir}/tmp\nScriptDir=${MainDir}/scripts\n"
                   "LockFile=${MainDir}/nzbget.lock\nLogFile=${MainDir}/nzbget.log\n"
                   "WebDir=/usr/share/nzbget/webui\nConfigTemplate=/usr/share/nzbget/webui/nzbget.conf\n"
                   "Server1.Active=yes\nServer1.Host=127.0.0.1\nServer1.Port=" +
                   std::to_string(news.port()) +
                   "\nServer1.Connections=2\nControlIP=127.0.0.1\nControlPort=" + std::to_string(port) +
                   "\nControlUsername=nzbget\nControlPassword=secret\nUpdateCheck=none\n"
                   "Category1.Name=shelfjobs\nArticleRetries=0\nArticleInterval=1\nUrlRetries=0\n"
                   "DiskSpace=0\nOutputMode=log\nHealthCheck=delete\n");
    daemon = std::make_unique<Daemon>(std::vector<std::string>{kBinary, "-s", "-c", conf.string()}, port,
                                      (dir.path() / "nzbget.out").string());
  }
  HttpDownloadClientOptions options(const std::string& password = "secret") const {
    HttpDownloadClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port);
    o.username = "nzbget";
    o.password = password;
    o.timeout = seconds(10);
    return o;
  }
};

TEST_CASE("NZBGet: an .nzb whose articles no server has ends as a failed download", "[download][nzbget]") {
  if (!daemon_installed(kBinary, "nzbget")) return;
  NzbEnv env;
  REQUIRE(env.daemon->ready());
  auto client = make_nzbget(env.options());
  CHECK(client->protocol() == DownloadProtocol::usenet);
  REQUIRE(client->test());

  auto id = client->add(
      {DownloadRequest::Kind::nzb_file, kNzb, "Ursula K. Le Guin - The Dispossessed", "shelfjobs"});
  INFO(env.daemon->log());
  REQUIRE(id);
  CHECK(std::stoll(*id) > 0);

  auto failed = wait_for_item(*client, "shelfjobs", *id,
                              [](const DownloadItem& i) { return i.status == DownloadStatus::failed; });
  REQUIRE(failed);
  INFO(failed->message);
  CHECK(failed->status == DownloadStatus::failed);
  CHECK(failed->title == "Ursula K. Le Guin - The Dispossessed");
  CHECK(failed->total_bytes == 100000);
  CHECK(failed->message.rfind("FAILURE", 0) == 0);
  CHECK(env.news.requests() > 0);

  auto other = client->items("other");
  REQUIRE(other);
  CHECK(other->empty());

  REQUIRE(client->remove(*id, true));
  auto after = client->items("shelfjobs");
  REQUIRE(after);
  CHECK(after->empty());
  auto gone = client->remove(*id, true);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == errc::not_found);
}

TEST_CASE("NZBGet: bad input, bad credentials and a missing daemon", "[download][nzbget]") {
  if (!daemon_installed(kBinary, "nzbget")) return;
  NzbEnv env;
  REQUIRE(env.daemon->ready());
  auto client = make_nzbget(env.options());

  auto torrent = client->add({DownloadRequest::Kind::torrent_file, "d4:infodee", "T", "shelfjobs"});
  REQUIRE_FALSE(torrent);
  CHECK(torrent.error().code == errc::invalid_argument);
  auto junk = client->add({DownloadRequest::Kind::nzb_file, "not an nzb", "Junk", "shelfjobs"});
  REQUIRE_FALSE(junk);
  CHECK(junk.error().code == errc::invalid_argument);
  // NZBGet itself takes an .nzb with no files, then fails it while reading it.
  auto empty = client->add({DownloadRequest::Kind::nzb_file, "<nzb>not really</nzb>", "Empty", "shelfjobs"});
  REQUIRE(empty);
  auto failed = wait_for_item(*client, "shelfjobs", *empty,
                              [](const DownloadItem& i) { return i.status == DownloadStatus::failed; });
  REQUIRE(failed);
  CHECK(failed->status == DownloadStatus::failed);
  CHECK(failed->message == "FAILURE/SCAN");

  auto wrong = make_nzbget(env.options("wrong"));
  auto t = wrong->test();
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unauthorized);

  env.daemon->stop();
  auto down = client->items("shelfjobs");
  REQUIRE_FALSE(down);
  CHECK(down.error().code == errc::unavailable);
  CHECK(down.error().message.find("NZBGet") != std::string::npos);
}

}  // namespace download_nzbget_test
