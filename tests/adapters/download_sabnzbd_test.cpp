// SPDX-License-Identifier: MIT
// The SABnzbd client against a fixture that speaks SABnzbd's API on loopback (SABnzbd is not in
// Debian): add by file and by URL with a category, the queue and the history by category and
// their statuses, removal, the API key errors, a server that is down or not there.

#include <catch2/catch.hpp>

#include "loopback.hpp"
#include "sabnzbd_fixture.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "test_support.hpp"

namespace download_sabnzbd_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;

const std::string kNzb = "<?xml version=\"1.0\"?><nzb xmlns=\"http://www.newzbin.com/DTD/2003/nzb\"></nzb>";

SabnzbdOptions options(const SabnzbdFixture& sab, const std::string& key = "k3y") {
  SabnzbdOptions o;
  o.http.base_url = sab.url();
  o.http.timeout = seconds(5);
  o.api_key = key;
  return o;
}

const DownloadItem* find(const std::vector<DownloadItem>& items, const std::string& id) {
  for (const auto& i : items)
    if (i.id == id) return &i;
  return nullptr;
}

TEST_CASE("SABnzbd: add, queue, history, removal", "[download][sabnzbd]") {
  SabnzbdFixture sab("k3y");
  auto client = make_sabnzbd(options(sab));
  CHECK(client->protocol() == DownloadProtocol::usenet);
  REQUIRE(client->test());

  auto file_id =
      client->add({DownloadRequest::Kind::nzb_file, kNzb, "Iain M. Banks - Excession", "shelfjobs"});
  REQUIRE(file_id);
  auto url_id = client->add(
      {DownloadRequest::Kind::nzb_url, "http://indexer.invalid/get/1.nzb", "Other Book", "shelfjobs"});
  REQUIRE(url_id);
  CHECK(*file_id != *url_id);
  auto elsewhere = client->add({DownloadRequest::Kind::nzb_file, kNzb, "Not Ours", "tv"});
  REQUIRE(elsewhere);
  REQUIRE(sab.queue().size() == 3);
  CHECK(sab.queue()[0].name == "Iain M. Banks - Excession");
  CHECK(sab.queue()[0].category == "shelfjobs");
  CHECK(sab.queue()[0].nzb == kNzb);
  CHECK(sab.queue()[1].nzb == "http://indexer.invalid/get/1.nzb");

  sab.set_status(*url_id, "Downloading");
  auto items = client->items("shelfjobs");
  REQUIRE(items);
  REQUIRE(items->size() == 2);
  const DownloadItem* queued = find(*items, *file_id);
  REQUIRE(queued);
  CHECK(queued->status == DownloadStatus::queued);
  CHECK(queued->title == "Iain M. Banks - Excession");
  const DownloadItem* downloading = find(*items, *url_id);
  REQUIRE(downloading);
  CHECK(downloading->status == DownloadStatus::downloading);
  CHECK(downloading->total_bytes == 1 << 20);
  CHECK(downloading->bytes_left == 1 << 19);
  CHECK(downloading->eta == seconds(312));

  sab.finish(*file_id, "Completed", "/downloads/complete/shelfjobs/Excession");
  sab.finish(*url_id, "Failed", "", "Aborted, cannot be completed");
  items = client->items("shelfjobs");
  REQUIRE(items);
  REQUIRE(items->size() == 2);
  const DownloadItem* done = find(*items, *file_id);
  REQUIRE(done);
  CHECK(done->status == DownloadStatus::completed);
  CHECK(done->output_path == "/downloads/complete/shelfjobs/Excession");
  const DownloadItem* failed = find(*items, *url_id);
  REQUIRE(failed);
  CHECK(failed->status == DownloadStatus::failed);
  CHECK(failed->message == "Aborted, cannot be completed");
  CHECK(client->items("")->size() == 3);

  REQUIRE(client->remove(*file_id, false));
  REQUIRE(client->remove(*elsewhere, true));
  CHECK(sab.history().size() == 1);
  CHECK(sab.queue().empty());
  CHECK(client->remove(*file_id, true).error().code == errc::not_found);
}

TEST_CASE("SABnzbd: bad input, API key errors, a server down or not there", "[download][sabnzbd]") {
  SabnzbdFixture sab("k3y");
  auto client = make_sabnzbd(options(sab));
  CHECK(client->add({DownloadRequest::Kind::magnet, "magnet:?xt=urn:btih:x", "M", ""}).error().code ==
        errc::invalid_argument);
  CHECK(client->add({DownloadRequest::Kind::nzb_file, "no nzb here", "N", ""}).error().code ==
        errc::invalid_argument);
  CHECK(client->add({DownloadRequest::Kind::nzb_url, "ftp://x/y.nzb", "N", ""}).error().code ==
        errc::invalid_argument);

  auto wrong = make_sabnzbd(options(sab, "wrong"));
  auto t = wrong->test();
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unauthorized);
  CHECK(t.error().message.find("API Key Incorrect") != std::string::npos);
  auto none = make_sabnzbd(options(sab, ""));
  CHECK(none->items("x").error().code == errc::unauthorized);

  sab.down(true);
  auto down = client->items("shelfjobs");
  REQUIRE_FALSE(down);
  CHECK(down.error().code == errc::unavailable);
  CHECK(down.error().message.find("503") != std::string::npos);
  sab.down(false);
  REQUIRE(client->test());

  SabnzbdOptions gone;
  gone.http.base_url = "http://127.0.0.1:" + std::to_string(closed_port());
  gone.api_key = "k3y";
  auto refused = make_sabnzbd(gone)->test();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::unavailable);
}

}  // namespace download_sabnzbd_test
