// SPDX-License-Identifier: MIT
// The Transmission client against the real transmission-daemon (Debian's 3.00), started on a free
// loopback port with a temporary config folder and RPC credentials: the 409 session-id
// handshake, add into the category's folder, a torrent of files already there completing after
// the hash check, listing by category, removal, bad credentials, a daemon that is not there.

#include <catch2/catch.hpp>

#include <httplib.h>

#include "http_task_queue.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "daemon.hpp"
#include "download_support.hpp"
#include "loopback.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "test_support.hpp"

namespace download_transmission_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
namespace fs = std::filesystem;

constexpr const char* kBinary = "/usr/bin/transmission-daemon";

/// transmission-daemon in the foreground on a free loopback port, RPC only from 127.0.0.1 with
/// user "shelf" / "jobs", and no DHT, LPD, uTP or port mapping: nothing leaves the machine.
struct TrEnv {
  TempDir dir;
  fs::path downloads = dir.path() / "downloads";
  int port = closed_port();
  std::unique_ptr<Daemon> daemon;

  TrEnv() {
    fs::create_directories(downloads);
    fs::create_directories(dir.path() / "config");
    daemon = std::make_unique<Daemon>(std::vector<std::string>{kBinary,
                                                               "--foreground",
                                                               "--config-dir",
                                                               (dir.path() / "config").string(),
                                                               "--port",
                                                               std::to_string(port),
                                                               "--rpc-bind-address",
                                                               "127.0.0.1",
                                                               "--allowed",
                                                               "127.0.0.1",
                                                               "--auth",
                                                               "--username",
                                                               "shelf",
                                                               "--password",
                                                               "jobs",
                                                               "--download-dir",
                                                               downloads.string(),
                                                               "--no-incomplete-dir",
                                                               "--peerport",
                                                               std::to_string(closed_port()),
                                                               "--no-dht",
                                                               "--no-lpd",
                                                               "--no-portmap",
                                                               "--bind-address-ipv4",
                                                               "127.0.0.1",
                                                               "--log-error"},
                                      port, (dir.path() / "transmission.log").string());
  }
  TransmissionOptions options(const std::string& password = "jobs") const {
    TransmissionOptions o;
    o.http.base_url = "http://127.0.0.1:" + std::to_string(port);
    o.http.username = "shelf";
    o.http.password = password;
    o.http.timeout = seconds(10);
    return o;
  }
};

TEST_CASE(
    "Transmission: a torrent of files already downloaded completes in its category's folder, and is removed",
    "[download][transmission]") {
  if (!daemon_installed(kBinary, "transmission-daemon")) return;
  TrEnv env;
  REQUIRE(env.daemon->ready());
  auto client = make_transmission(env.options());
  CHECK(client->protocol() == DownloadProtocol::torrent);
  // The first call gets 409 and a session id, and is sent again with it.
  REQUIRE(client->test());

  const fs::path content = env.downloads / "shelfjobs" / "Becky Chambers - Psalm";
  write_file(content / "A Psalm for the Wild-Built.epub", random_bytes(50000, 3));
  write_file(content / "extra" / "notes.txt", random_bytes(100, 4));
  const std::string torrent = make_torrent(content);
  const std::string hash = torrent_info_hash(torrent).value();

  auto id =
      client->add({DownloadRequest::Kind::torrent_file, torrent, "Becky Chambers - Psalm", "shelfjobs"});
  INFO(env.daemon->log());
  REQUIRE(id);
  CHECK(*id == hash);

  auto done = wait_for_item(*client, "shelfjobs", hash,
                            [](const DownloadItem& i) { return i.status == DownloadStatus::completed; });
  REQUIRE(done);
  CHECK(done->status == DownloadStatus::completed);
  CHECK(done->title == "Becky Chambers - Psalm");
  CHECK(done->total_bytes == 50100);
  CHECK(done->bytes_left == 0);
  CHECK(fs::path(done->output_path) == content);

  auto other = client->items("other");
  REQUIRE(other);
  CHECK(other->empty());
  auto all = client->items("");
  REQUIRE(all);
  CHECK(all->size() == 1);

  // The same torrent again: torrent-duplicate, the same id.
  auto again =
      client->add({DownloadRequest::Kind::torrent_file, torrent, "Becky Chambers - Psalm", "shelfjobs"});
  REQUIRE(again);
  CHECK(*again == hash);

  // A magnet nobody serves stays on its way (no DHT, no trackers).
  const std::string magnet_hash = "a9993e364706816aba3e25717850c26c9cd0d89d";
  auto m = client->add({DownloadRequest::Kind::magnet, "magnet:?xt=urn:btih:" + magnet_hash + "&dn=Nothing",
                        "Nothing", "shelfjobs"});
  REQUIRE(m);
  CHECK(*m == magnet_hash);
  auto pending = wait_for_item(
      *client, "shelfjobs", magnet_hash, [](const DownloadItem&) { return true; }, seconds(5));
  REQUIRE(pending);
  CHECK(pending->status != DownloadStatus::completed);

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
  CHECK_FALSE(fs::exists(content / "A Psalm for the Wild-Built.epub"));
}

TEST_CASE("Transmission: bad input, bad credentials and a missing daemon", "[download][transmission]") {
  if (!daemon_installed(kBinary, "transmission-daemon")) return;
  TrEnv env;
  REQUIRE(env.daemon->ready());
  auto client = make_transmission(env.options());

  auto junk = client->add({DownloadRequest::Kind::torrent_file, "junk", "Junk", "shelfjobs"});
  REQUIRE_FALSE(junk);
  CHECK(junk.error().code == errc::invalid_argument);
  auto empty_info =
      client->add({DownloadRequest::Kind::torrent_file, "d4:infod4:name1:aee", "Empty", "shelfjobs"});
  REQUIRE_FALSE(empty_info);
  CHECK(empty_info.error().code == errc::invalid_argument);
  auto bad_magnet = client->add({DownloadRequest::Kind::magnet, "magnet:?dn=x", "M", ""});
  REQUIRE_FALSE(bad_magnet);
  CHECK(bad_magnet.error().code == errc::invalid_argument);

  auto wrong = make_transmission(env.options("wrong"));
  auto t = wrong->test();
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unauthorized);

  env.daemon->stop();
  auto down = client->items("shelfjobs");
  REQUIRE_FALSE(down);
  CHECK(down.error().code == errc::unavailable);
  CHECK(down.error().message.find("Transmission") != std::string::npos);
}

/// A Transmission RPC stand-in whose session id changes after every `rotate_every` answers (or
/// at every request when 0, so no id is ever good): each call then meets a 409 first.
class RotatingRpc {
 public:
  explicit RotatingRpc(int rotate_every) : rotate_every_(rotate_every) {
    server_.Post("/transmission/rpc", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++requests_;
      if (rotate_every_ == 0 || req.get_header_value("X-Transmission-Session-Id") != id_) {
        if (rotate_every_ == 0) id_ = "id-" + std::to_string(requests_);
        res.status = 409;
        res.set_header("X-Transmission-Session-Id", id_);
        return;
      }
      if (++answered_ % rotate_every_ == 0) id_ = "id-" + std::to_string(requests_);
      res.set_content(R"({"result":"success","arguments":{"torrents":[]}})", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~RotatingRpc() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  http_pool::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  int rotate_every_;
  std::string id_ = "first";
  int requests_ = 0;
  int answered_ = 0;
};

TEST_CASE("Transmission: a session id that rotates is picked up again, and one that never holds is an error",
          "[download][transmission]") {
  RotatingRpc rpc(1);  // a new id after each answer
  TransmissionOptions o;
  o.http.base_url = rpc.url();
  auto client = make_transmission(o);
  for (int i = 0; i < 3; ++i) {
    auto items = client->items("");
    REQUIRE(items);
    CHECK(items->empty());
  }
  CHECK(rpc.requests() == 6);  // each call: a 409, then the request again with the new id

  RotatingRpc never(0);
  o.http.base_url = never.url();
  auto stuck = make_transmission(o)->items("");
  REQUIRE_FALSE(stuck);
  CHECK(stuck.error().code == errc::upstream_error);
  CHECK(stuck.error().message.find("409") != std::string::npos);
  CHECK(never.requests() == 3);
}

}  // namespace download_transmission_test
