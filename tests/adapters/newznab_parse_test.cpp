// SPDX-License-Identifier: MIT
// The Newznab/Torznab parsers on literal bodies (caps, feeds, <error> bodies, dates) and the RSS
// paging rule, without I/O.

#include <catch2/catch.hpp>

#include <limits>

#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "shelfjobs/adapters/newznab.hpp"

namespace newznab_parse_test {

using namespace shelfjobs;
using namespace std::chrono;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TimePoint utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return time_point_cast<TimePoint::duration>(sys_days(year(y) / month(m) / day(d)) + hours(hh) +
                                              minutes(mm) + seconds(ss));
}

const TimePoint kNow = utc(2025, 3, 5, 12);

// Shaped like Readarr's newznab_caps.xml test file (an nZEDb indexer's caps).
const char* kCaps = R"(<?xml version="1.0" encoding="UTF-8"?>
<caps>
  <server version="0.8.0" title="Indexer" strapline="A great usenet indexer" email="info@example.com" url="https://indexer.example/" image="https://indexer.example/logo.png"/>
  <limits max="60" default="25"/>
  <registration available="yes" open="no"/>
  <searching>
    <search available="yes" supportedParams="q"/>
    <tv-search available="yes" supportedParams="q,rid,tvdbid,season,ep"/>
    <movie-search available="no" supportedParams="q,imdbid"/>
    <audio-search available="yes" supportedParams="q"/>
    <book-search available="yes" supportedParams="q,Author,title"/>
  </searching>
  <categories>
    <category id="3000" name="Audio"><subcat id="3030" name="Audiobook"/></category>
    <category id="7000" name="Books">
      <subcat id="7010" name="Mags"/><subcat id="7020" name="EBook"/><subcat id="7030" name="Comics"/>
    </category>
  </categories>
</caps>)";

TEST_CASE("parse_caps reads limits, search modes and categories", "[newznab]") {
  auto caps = parse_caps(kCaps, "t", kNow);
  REQUIRE(caps.has_value());
  CHECK(caps->limit_max == 60);
  CHECK(caps->limit_default == 25);
  CHECK(caps->page_size() == 60);
  CHECK(caps->search_available);
  CHECK(caps->search_params == std::vector<std::string>{"q"});
  CHECK(caps->book_search_available);
  CHECK(caps->book_search_params == std::vector<std::string>{"q", "author", "title"});
  CHECK(caps->can_search_author_title());
  REQUIRE(caps->categories.size() == 2);
  CHECK(caps->categories[1].id == 7000);
  REQUIRE(caps->categories[1].subcategories.size() == 3);
  CHECK(caps->categories[1].subcategories[1].id == 7020);
  CHECK(caps->categories[1].subcategories[1].name == "EBook");
}

TEST_CASE("parse_caps: defaults and the page size rule", "[newznab]") {
  struct Row {
    const char* body;
    int page_size;
    bool book;
    bool author_title;
  };
  const Row rows[] = {
      // No limits, no book-search: 100 a page, book search unsupported.
      {"<caps><searching><search available=\"yes\"/></searching></caps>", 100, false, false},
      // min(100, max(default, max)).
      {"<caps><limits max=\"500\" default=\"75\"/></caps>", 100, false, false},
      {"<caps><limits max=\"50\" default=\"20\"/></caps>", 50, false, false},
      // Junk limits fall back to 100.
      {"<caps><limits max=\"lots\" default=\"-3\"/></caps>", 100, false, false},
      // book-search said "no".
      {"<caps><searching><book-search available=\"no\" "
       "supportedParams=\"q,author,title\"/></searching></caps>",
       100, false, false},
      // book-search with the query only (no author/title params).
      {"<caps><searching><book-search available=\"yes\"/></searching></caps>", 100, true, false},
  };
  for (const auto& row : rows) {
    INFO(row.body);
    auto caps = parse_caps(row.body);
    REQUIRE(caps.has_value());
    CHECK(caps->page_size() == row.page_size);
    CHECK(caps->book_search_available == row.book);
    CHECK(caps->can_search_author_title() == row.author_title);
  }
}

// A Newznab feed as nZEDb/newznab serve it (Readarr's newznab_nzb_su.xml shape).
const char* kNewznabFeed = R"(<?xml version="1.0" encoding="utf-8" ?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:newznab="http://www.newznab.com/DTD/2010/feeds/attributes/">
<channel>
  <atom:link href="https://indexer.example/api" rel="self" type="application/rss+xml" />
  <title>indexer.example</title>
  <newznab:response offset="0" total="1234" />
  <item>
    <title>Ada Example - The Glass Orchard (2021) [EPUB]</title>
    <guid isPermaLink="true">https://indexer.example/details/a1b2</guid>
    <link>https://indexer.example/getnzb/a1b2.nzb&amp;i=1&amp;r=K</link>
    <comments>https://indexer.example/details/a1b2#comments</comments>
    <pubDate>Tue, 04 Mar 2025 18:22:10 +0000</pubDate>
    <category>Books &gt; EBook</category>
    <enclosure url="https://indexer.example/getnzb/a1b2.nzb&amp;i=1&amp;r=K" length="2000000" type="application/x-nzb" />
    <newznab:attr name="category" value="7000" />
    <newznab:attr name="category" value="7020" />
    <newznab:attr name="size" value="1843200" />
    <newznab:attr name="guid" value="a1b2" />
    <newznab:attr name="grabs" value="27" />
    <newznab:attr name="usenetdate" value="Mon, 03 Mar 2025 10:00:00 -0500" />
    <newznab:attr name="author" value="Ada Example" />
    <newznab:attr name="booktitle" value="The Glass Orchard" />
  </item>
  <item>
    <title>Ada Example - Second Light (Unabridged) [M4B]</title>
    <guid>https://indexer.example/details/c3d4</guid>
    <pubDate>Tue, 04 Mar 2025 17:00:00 GMT</pubDate>
    <enclosure url="https://indexer.example/getnzb/c3d4.nzb" length="350000000" type="application/x-nzb" />
    <newznab:attr name="category" value="3030" />
  </item>
</channel>
</rss>)";

TEST_CASE("parse_releases reads a Newznab feed", "[newznab]") {
  auto page = parse_releases(kNewznabFeed, IndexerKind::newznab, "nzb", kNow);
  REQUIRE(page.has_value());
  CHECK(page->items == 2);
  CHECK(page->skipped.empty());
  CHECK(page->total == 1234);
  CHECK(page->offset == 0);
  REQUIRE(page->releases.size() == 2);
  const Release& r = page->releases[0];
  CHECK(r.title == "Ada Example - The Glass Orchard (2021) [EPUB]");
  CHECK(r.guid == "https://indexer.example/details/a1b2");
  CHECK(r.download_url == "https://indexer.example/getnzb/a1b2.nzb&i=1&r=K");
  CHECK(r.info_url == "https://indexer.example/details/a1b2#comments");
  CHECK(r.enclosure_type == "application/x-nzb");
  CHECK(r.size == 1843200);  // the size attr wins over the enclosure's length
  CHECK(r.categories == std::vector<int>{7000, 7020});
  CHECK(r.grabs == 27);
  CHECK(r.author == "Ada Example");
  CHECK(r.book_title == "The Glass Orchard");
  CHECK_FALSE(r.seeders.has_value());
  // usenetdate wins over pubDate, and its -0500 is honoured.
  REQUIRE(r.publish_date.has_value());
  CHECK(*r.publish_date == utc(2025, 3, 3, 15, 0, 0));

  const Release& r2 = page->releases[1];
  CHECK(r2.size == 350000000);  // no size attr: the enclosure's length
  CHECK(r2.publish_date == utc(2025, 3, 4, 17, 0, 0));
  CHECK(r2.categories == std::vector<int>{3030});
}

// A Torznab feed whose attribute prefix is not "torznab": only the namespace URI counts.
const char* kTorznabFeed = R"(<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:tz="http://torznab.com/schemas/2015/feed">
<channel>
<item>
  <title>Ada Example - The Glass Orchard (2021) EPUB</title>
  <guid>http://127.0.0.1:9696/1/details/7f3a</guid>
  <pubDate>Tue, 04 Mar 2025 18:22:10 +0000</pubDate>
  <enclosure url="http://127.0.0.1:9696/1/download?id=7f3a&amp;apikey=K" length="1843200" type="application/x-bittorrent"/>
  <tz:attr name="category" value="7000"/><tz:attr name="category" value="7020"/>
  <tz:attr name="Size" value="1843200"/>
  <tz:attr name="author" value="Ada Example"/><tz:attr name="booktitle" value="The Glass Orchard"/>
  <tz:attr name="SEEDERS" value="14"/><tz:attr name="peers" value="17"/>
  <tz:attr name="infohash" value="3c1d0e5b9a8f7e6d5c4b3a29181706f5e4d3c2b1"/>
  <tz:attr name="magneturl" value="magnet:?xt=urn:btih:3c1d0e5b9a8f7e6d5c4b3a29181706f5e4d3c2b1"/>
  <tz:attr name="downloadvolumefactor" value="0"/><tz:attr name="uploadvolumefactor" value="2"/>
  <tz:attr name="tag" value="freeleech"/>
  <other:attr xmlns:other="http://example.com/not-torznab" name="seeders" value="9999"/>
</item>
<item>
  <title>Leecher Count - Only (2020) [PDF]</title>
  <guid>g2</guid>
  <pubDate>Tue, 04 Mar 2025 18:00:00 +0000</pubDate>
  <enclosure url="http://127.0.0.1:9696/1/download?id=g2" type="application/x-bittorrent"/>
  <torznab:attr xmlns:torznab="http://torznab.com/schemas/2015/feed" name="seeders" value="3"/>
  <torznab:attr xmlns:torznab="http://torznab.com/schemas/2015/feed" name="leechers" value="4"/>
</item>
</channel>
</rss>)";

TEST_CASE("parse_releases reads Torznab attributes by namespace URI, any prefix, names in any case",
          "[newznab]") {
  auto page = parse_releases(kTorznabFeed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 2);
  const Release& r = page->releases[0];
  CHECK(r.size == 1843200);
  CHECK(r.seeders == 14);  // not 9999: that attr is in another namespace
  CHECK(r.peers == 17);
  CHECK(r.infohash == "3c1d0e5b9a8f7e6d5c4b3a29181706f5e4d3c2b1");
  CHECK(contains(r.magnet_url.str(), "magnet:?xt=urn:btih:"));
  CHECK(r.download_volume_factor == 0.0);
  CHECK(r.upload_volume_factor == 2.0);
  CHECK(r.tags == std::vector<std::string>{"freeleech"});
  CHECK(r.publish_date == utc(2025, 3, 4, 18, 22, 10));
  // Peers from seeders + leechers when the feed has no peers attr; a prefix declared on the
  // element itself counts too.
  CHECK(page->releases[1].seeders == 3);
  CHECK(page->releases[1].peers == 7);
  CHECK(page->warnings.empty());
}

// Counts near INT_MAX are a feed's nonsense: peers is their sum held to int's range, never an
// overflow (UBSan caught the plain sum).
TEST_CASE("parse_releases holds peers from huge seeder and leecher counts to int's range", "[newznab]") {
  const char* feed = R"(<rss xmlns:tz="http://torznab.com/schemas/2015/feed"><channel>
<item><title>A Author - First [EPUB]</title><guid>g1</guid><link>http://x/1</link>
  <tz:attr name="seeders" value="2147483647"/><tz:attr name="leechers" value="2147483647"/></item>
<item><title>A Author - Second [EPUB]</title><guid>g2</guid><link>http://x/2</link>
  <tz:attr name="seeders" value="-2147483648"/><tz:attr name="leechers" value="-2147483648"/></item>
</channel></rss>)";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 2);
  CHECK(page->releases[0].seeders == 2147483647);
  CHECK(page->releases[0].peers == 2147483647);
  CHECK(page->releases[1].peers == std::numeric_limits<int>::min());
}

// A prefix's namespace is kept from item to item, but an item or an element that declares
// namespaces itself may bind the prefix to another URI: its attributes are not the feed's.
TEST_CASE("parse_releases follows a prefix rebound on an item or an element", "[newznab]") {
  const char* feed = R"(<rss xmlns:tz="http://torznab.com/schemas/2015/feed"><channel>
<item><title>A Author - First [EPUB]</title><guid>g1</guid><link>http://x/1</link>
  <tz:attr name="seeders" value="1"/></item>
<item xmlns:tz="http://example.com/other"><title>A Author - Second [EPUB]</title><guid>g2</guid><link>http://x/2</link>
  <tz:attr name="seeders" value="9999"/></item>
<item><title>A Author - Third [EPUB]</title><guid>g3</guid><link>http://x/3</link>
  <tz:attr xmlns:tz="http://example.com/other" name="seeders" value="8888"/>
  <tz:attr name="peers" value="5"/></item>
</channel></rss>)";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 3);
  CHECK(page->releases[0].seeders == 1);
  CHECK_FALSE(page->releases[1].seeders.has_value());
  CHECK_FALSE(page->releases[2].seeders.has_value());
  CHECK(page->releases[2].peers == 5);
}

// An item's children are told apart by their whole name: a prefixed element is never the RSS
// element of its local name, a name that only begins or ends like one is not it, and an attr
// element is one whose local name (after the first ':') is "attr", whatever its prefix's length.
TEST_CASE("parse_releases reads an item's children by their whole name", "[newznab]") {
  const char* feed = R"(<rss xmlns:tz="http://torznab.com/schemas/2015/feed" xmlns:x="http://example.com/x"
  xmlns:torznabfeed="http://torznab.com/schemas/2015/feed"><channel>
<item><x:title>Wrong - Title [PDF]</x:title><titles>Wrong Too</titles><title>A Author - Right [EPUB]</title>
  <x:guid>wrong</x:guid><guid>g1</guid><guidance>wrong</guidance><x:link>http://wrong/</x:link><link>http://x/1</link>
  <linked>http://wrong/2</linked><pubdate>Mon, 01 Jan 2024 00:00:00 +0000</pubdate>
  <x:category>3030</x:category><category>7020</category>
  <x:attrs name="grabs" value="1"/><tz:b:attr name="grabs" value="2"/><tzattr name="grabs" value="3"/>
  <tz:attr name="seeders" value="4"/><torznabfeed:attr name="peers" value="6"/><x:attr name="grabs" value="5"/></item>
</channel></rss>)";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 1);
  const Release& r = page->releases[0];
  CHECK(r.title == "A Author - Right [EPUB]");
  CHECK(r.guid == "g1");
  CHECK(r.link == "http://x/1");
  CHECK(r.download_url == "http://x/1");
  CHECK_FALSE(r.publish_date.has_value());  // pubDate is matched with its case
  CHECK(r.categories == std::vector<int>{7020});
  CHECK(r.seeders == 4);
  CHECK(r.peers == 6);
  CHECK_FALSE(r.grabs.has_value());
}

TEST_CASE("parse_releases reads an element's first text, as text or CDATA, before or after a child",
          "[newznab]") {
  // The feed's tree keeps an element's opening text in the element (pugixml's embedded text):
  // what is read must be what a text node of its own gave.
  const char* feed = R"(<rss><channel>
<item>stray text<title>A Author - Plain [EPUB]</title><link>http://x/1</link></item>
<item><title><![CDATA[A Author - In Cdata (EPUB)]]></title><link>http://x/2</link></item>
<item><title>A Author - Text First <b>bold</b> more</title><link>http://x/3</link></item>
<item><title><b>bold</b>A Author - After A Child</title><link>http://x/4</link></item>
<item><title><![CDATA[A Author - Cdata First]]>then text</title><guid><![CDATA[g5]]></guid>
  <link>http://x/5</link></item>
</channel></rss>)";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 5);
  CHECK(page->releases[0].title == "A Author - Plain [EPUB]");
  CHECK(page->releases[1].title == "A Author - In Cdata (EPUB)");
  CHECK(page->releases[2].title == "A Author - Text First");
  CHECK(page->releases[3].title == "A Author - After A Child");
  CHECK(page->releases[4].title == "A Author - Cdata First");
  CHECK(page->releases[4].guid == "g5");
}

TEST_CASE("parse_releases leaves out unusable items and names them, keeping the rest", "[newznab]") {
  const std::string feed =
      std::string(R"(<rss xmlns:newznab="http://www.newznab.com/DTD/2010/feeds/attributes/"><channel>
<item><title>Good - One (2020) [EPUB]</title><guid>g1</guid><enclosure url="http://x/1" type="application/x-nzb"/></item>
<item><title>Huge - Size (2020) [EPUB]</title><guid>g2</guid><enclosure url="http://x/2"/>
  <newznab:attr name="size" value="99999999999999999999"/></item>
<item><title>No Link - Here</title><guid>g3</guid></item>
<item><guid>g4</guid><enclosure url="http://x/4"/></item>
<item><title>Negative - Size</title><enclosure url="http://x/5"/><newznab:attr name="size" value="-5"/></item>
<item><title>Bad - Grabs</title><enclosure url="http://x/6"/><newznab:attr name="grabs" value="many"/></item>
</channel></rss>)");
  auto page = parse_releases(feed, IndexerKind::newznab, "nzb", kNow);
  REQUIRE(page.has_value());
  CHECK(page->items == 6);
  REQUIRE(page->releases.size() == 2);
  CHECK(page->releases[0].title == "Good - One (2020) [EPUB]");
  CHECK(page->releases[1].title == "Bad - Grabs");
  CHECK_FALSE(page->releases[1].grabs.has_value());
  CHECK(page->releases[1].guid == "http://x/6");  // no guid: the download URL stands in
  REQUIRE(page->skipped.size() == 4);
  CHECK(contains(page->skipped[0], "item 2 (Huge - Size (2020) [EPUB])"));
  CHECK(contains(page->skipped[0], "size '99999999999999999999'"));
  CHECK(contains(page->skipped[1], "item 3"));
  CHECK(contains(page->skipped[1], "no download URL"));
  CHECK(contains(page->skipped[2], "no title"));
  CHECK(contains(page->skipped[3], "size '-5'"));
  REQUIRE(page->warnings.size() == 1);
  CHECK(contains(page->warnings[0], "grabs 'many'"));
}

TEST_CASE("parse_releases repairs text that is not UTF-8 and reads Latin-1 declared as such", "[newznab]") {
  // Declared UTF-8, carrying a Latin-1 e-acute: repaired to U+FFFD, noted.
  const std::string bad =
      "<rss><channel><item><title>Caf\xE9 Author - Cr\xE8me</title>"
      "<enclosure url=\"http://x/1\"/></item></channel></rss>";
  auto page = parse_releases(bad, IndexerKind::newznab, "nzb", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 1);
  CHECK(page->releases[0].title == "Caf\xEF\xBF\xBD Author - Cr\xEF\xBF\xBDme");
  REQUIRE(page->warnings.size() == 1);
  CHECK(contains(page->warnings[0], "not UTF-8"));
  // Declared ISO-8859-1: converted, nothing to repair.
  const std::string latin1 =
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><item><title>Caf\xE9 "
      "Author - Cr\xE8me</title><enclosure url=\"http://x/1\"/></item></channel></rss>";
  auto page2 = parse_releases(latin1, IndexerKind::newznab, "nzb", kNow);
  REQUIRE(page2.has_value());
  REQUIRE(page2->releases.size() == 1);
  CHECK(page2->releases[0].title == "Caf\xC3\xA9 Author - Cr\xC3\xA8me");
  CHECK(page2->warnings.empty());
}

// A field's text is measured eight bytes at a time in the page's copy of the body, and checked
// for bytes that are not ASCII in the same pass: every length across those steps, with such a
// byte at every place, valid UTF-8 or not, reads as it always did.
TEST_CASE("parse_releases reads text of every length, with a byte that is not ASCII anywhere", "[newznab]") {
  const std::string letters = "bcdefghijklmnopqrstuvwxyz";
  std::string feed = "<rss><channel>";
  std::vector<std::string> expected;
  std::size_t repaired = 0;
  for (std::size_t n = 1; n <= 19; ++n) {
    for (std::size_t at = 0; at <= n; ++at) {  // at == n: all ASCII
      for (int valid = 0; valid < 2; ++valid) {
        if (at == n && valid == 0) continue;
        std::string text = letters.substr(0, n), want = text;
        if (at < n) {
          text.replace(at, 1, valid ? "\xC3\xA9" : "\xE9");
          want.replace(at, 1, valid ? "\xC3\xA9" : "\xEF\xBF\xBD");
          repaired += valid ? 0 : 1;
        }
        feed += "<item><title>A - " + text + "</title><guid>" + text + "</guid><link>http://x/" + text +
                "</link></item>";
        expected.push_back(want);
      }
    }
  }
  feed += "</channel></rss>";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("item " << i + 1);
    CHECK(page->releases[i].title == "A - " + expected[i]);
    CHECK(page->releases[i].guid == expected[i]);
    CHECK(page->releases[i].download_url == "http://x/" + expected[i]);
  }
  CHECK(page->warnings.size() == repaired);  // one per item with a byte that is not UTF-8
}

// Numbers: a plain run of digits is read as it is measured, anything else by the general
// reader, with the same results as before (signs, spaces, leading zeros, past the digits an int
// always holds, out of range, empty), in the page's copy and in a converted encoding's buffer.
TEST_CASE("parse_releases reads numbers in every form a feed writes them", "[newznab]") {
  const char* feed = R"(<rss xmlns:tz="http://torznab.com/schemas/2015/feed"><channel>
<item><title>A - One</title><link>http://x/1</link>
  <tz:attr name="seeders" value="+5"/><tz:attr name="peers" value=" 7 "/><tz:attr name="grabs" value="0012"/>
  <tz:attr name="size" value="123456789012345678"/><tz:attr name="category" value="2147483647"/></item>
<item><title>A - Two</title><link>http://x/2</link>
  <tz:attr name="seeders" value="2147483648"/><tz:attr name="grabs" value="999999999"/>
  <tz:attr name="size" value="1234567890123456789"/></item>
<item><title>A - Three</title><link>http://x/3</link><category>+7020</category><category>70x</category>
  <tz:attr name="seeders" value=""/><tz:attr name="peers" value="-3"/><tz:attr name="grabs"/>
  <enclosure url="http://x/3e" length="  42 "/></item>
<item><title>A - Four</title><link>http://x/4</link><tz:attr name="size" value=""/></item>
<item><title>A - Five</title><link>http://x/5</link><guid></guid><tz:attr name="infohash" value=""/>
  <tz:attr name="downloadvolumefactor" value="0.5"/><tz:attr name="uploadvolumefactor" value=" 1 "/></item>
</channel></rss>)";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == 4);
  const Release& one = page->releases[0];
  CHECK(one.seeders == 5);
  CHECK(one.peers == 7);
  CHECK(one.grabs == 12);
  CHECK(one.size == 123456789012345678);
  CHECK(one.categories == std::vector<int>{2147483647});
  const Release& two = page->releases[1];
  CHECK_FALSE(two.seeders.has_value());
  CHECK(two.grabs == 999999999);
  CHECK(two.size == 1234567890123456789);
  const Release& three = page->releases[2];
  CHECK_FALSE(three.seeders.has_value());
  CHECK(three.peers == -3);
  CHECK_FALSE(three.grabs.has_value());
  CHECK(three.size == 42);
  CHECK(three.categories == std::vector<int>{7020});
  CHECK(three.download_url == "http://x/3e");
  const Release& five = page->releases[3];
  CHECK(five.guid == "http://x/5");  // empty: the download URL stands in
  CHECK(five.infohash.empty());
  CHECK(five.download_volume_factor == 0.5);
  CHECK(five.upload_volume_factor == 1.0);
  REQUIRE(page->skipped.size() == 1);
  CHECK(contains(page->skipped[0], "item 4 (A - Four): size '' is not a number of bytes in range"));
  REQUIRE(page->warnings.size() == 3);
  CHECK(contains(page->warnings[0], "item 2 (A - Two): seeders '2147483648' is not a number in range"));
  CHECK(contains(page->warnings[1], "item 3 (A - Three): seeders '' is not a number in range"));
  CHECK(contains(page->warnings[2], "item 3 (A - Three): grabs '' is not a number in range"));

  // Converted from Latin-1: the strings are in pugixml's buffer, not the page's copy.
  const std::string latin1 =
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss xmlns:tz=\"http://torznab.com/schemas/2015/feed\">"
      "<channel><item><title>Caf\xE9 - Cr\xE8me Br\xFBl\xE9\x65 Of Some Length</title><link>http://x/1</link>"
      "<tz:attr name=\"seeders\" value=\"12\"/><tz:attr name=\"peers\" value=\" +13\"/>"
      "<tz:attr name=\"size\" value=\"4096\"/><category>7020</category></item></channel></rss>";
  auto converted = parse_releases(latin1, IndexerKind::torznab, "tz", kNow);
  REQUIRE(converted.has_value());
  REQUIRE(converted->releases.size() == 1);
  const Release& c = converted->releases[0];
  CHECK(c.title == "Caf\xC3\xA9 - Cr\xC3\xA8me Br\xC3\xBBl\xC3\xA9\x65 Of Some Length");
  CHECK(c.seeders == 12);
  CHECK(c.peers == 13);
  CHECK(c.size == 4096);
  CHECK(c.categories == std::vector<int>{7020});
  CHECK(converted->warnings.empty());
}

// Numbers of plain digits are read as they are measured, up to the digits their type always
// holds, and by the general reader past that: every length across that bound, and a byte that is
// not a digit at every place, read as from_chars reads them (a value out of range, or any other
// byte, is none).
TEST_CASE("parse_releases reads numbers of every length, with a stray byte anywhere", "[newznab]") {
  const std::string all = "98765432109876543210";
  struct Case {
    std::string text;
    std::optional<std::int64_t> as_int64;
    std::optional<int> as_int;
  };
  std::vector<Case> cases;
  for (std::size_t n = 1; n <= all.size(); ++n) {
    for (std::size_t stray = 0; stray <= n; ++stray) {  // stray == n: digits only
      std::string text = all.substr(0, n);
      if (stray < n) text[stray] = stray % 2 ? '/' : ':';  // the bytes either side of the digits
      Case c{text, std::nullopt, std::nullopt};
      std::int64_t v64 = 0;
      int v = 0;
      const char* end = text.data() + text.size();
      if (auto r = std::from_chars(text.data(), end, v64); r.ec == std::errc() && r.ptr == end)
        c.as_int64 = v64;
      if (auto r = std::from_chars(text.data(), end, v); r.ec == std::errc() && r.ptr == end) c.as_int = v;
      cases.push_back(c);
    }
  }
  std::string feed = R"(<rss xmlns:tz="http://torznab.com/schemas/2015/feed"><channel>)";
  for (const Case& c : cases)
    feed += "<item><title>A - " + c.text +
            "</title><link>http://x/</link><tz:attr name=\"seeders\" value=\"" + c.text +
            "\"/><tz:attr name=\"uploadvolumefactor\" value=\"" + c.text +
            "\"/><enclosure url=\"http://x/e\" length=\"" + c.text + "\"/></item>";
  feed += "</channel></rss>";
  auto page = parse_releases(feed, IndexerKind::torznab, "tz", kNow);
  REQUIRE(page.has_value());
  REQUIRE(page->releases.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Release& r = page->releases[i];
    INFO(c.text);
    CHECK(r.seeders == c.as_int);
    CHECK(r.size == c.as_int64.value_or(0));
    if (c.as_int64 && c.as_int64 < 1'000'000'000'000'000)
      CHECK(r.upload_volume_factor == static_cast<double>(*c.as_int64));
  }
}

TEST_CASE("a release's text views its page, and outlives the page with the release", "[newznab]") {
  Release kept, moved;
  std::string body = kNewznabFeed;
  {
    auto page = parse_releases(body, IndexerKind::newznab, "nzb", kNow);
    REQUIRE(page.has_value());
    REQUIRE(page->releases.size() >= 2);
    REQUIRE(page->text != nullptr);
    const Release& r = page->releases[0];
    // Views of the page's text (escapes resolved), shared with the page: nothing copied.
    CHECK_FALSE(r.title.owned());
    CHECK_FALSE(r.download_url.owned());
    CHECK(r.page_text == page->text);
    kept = page->releases[0];  // a copy carries the page's text along
    moved = std::move(page->releases[1]);
  }
  // The page and the body it was read from are gone; the releases still read their text.
  body.assign(body.size(), 'x');
  CHECK(kept.title == "Ada Example - The Glass Orchard (2021) [EPUB]");
  CHECK(kept.download_url == "https://indexer.example/getnzb/a1b2.nzb&i=1&r=K");
  CHECK(kept.author == "Ada Example");
  CHECK_FALSE(moved.title.empty());
  CHECK(moved.page_text == kept.page_text);

  // Text assigned to a field is the field's own, and a copy of it copies the bytes.
  Release own;
  own.title = std::string("Ann Leckie - Ancillary Justice");
  CHECK(own.title.owned());
  CHECK(own.page_text == nullptr);
  const ReleaseText copy = own.title;
  CHECK(copy.owned());
  CHECK(copy.data() != own.title.data());
  own.title = "other";
  CHECK(copy == "Ann Leckie - Ancillary Justice");
  CHECK(own.title.str() == "other");
  CHECK("guid-" + own.title == "guid-other");

  // Converted from Latin-1 (pugixml's own buffer): the releases keep that text alive too.
  Release latin;
  {
    auto page = parse_releases(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><item><title>Caf\xE9 "
        "Author - Cr\xE8me</title><enclosure url=\"http://x/1\"/></item></channel></rss>",
        IndexerKind::newznab, "nzb", kNow);
    REQUIRE(page.has_value());
    REQUIRE(page->releases.size() == 1);
    latin = page->releases[0];
  }
  CHECK(latin.title == "Caf\xC3\xA9 Author - Cr\xC3\xA8me");
  CHECK(latin.download_url == "http://x/1");
}

TEST_CASE("parse_releases warns when the enclosure type does not fit the kind", "[newznab]") {
  auto page = parse_releases(kTorznabFeed, IndexerKind::newznab, "nzb", kNow);
  REQUIRE(page.has_value());
  REQUIRE_FALSE(page->warnings.empty());
  CHECK(contains(page->warnings[0], "expected application/x-nzb"));
  CHECK(page->releases.size() == 2);  // a warning, not a rejection
}

TEST_CASE("error bodies and broken documents become error values", "[newznab]") {
  struct Row {
    std::string body;
    errc code;
    std::string message_part;
    bool retry;  // retry_after set to now + 1 h
  };
  const std::vector<Row> rows = {
      {R"x(<?xml version="1.0" encoding="UTF-8"?><error code="100" description="Incorrect user credentials"/>)x",
       errc::invalid_argument, "API key was refused (error 100: Incorrect user credentials)", false},
      {R"x(<error code="101" description="Account suspended"/>)x", errc::invalid_argument, "error 101",
       false},
      {R"x(<error code="102" description="Insufficient privileges/not authorized"/>)x",
       errc::invalid_argument, "API key", false},
      {R"x(<error code="500" description="Request limit reached"/>)x", errc::rate_limited,
       "request limit reached", true},
      {R"x(<error code="900" description="request LIMIT reached (100/day)"/>)x", errc::rate_limited,
       "100/day", true},
      {R"x(<error code="429" description="User configurable Indexer Query Limit of 10 in last 1 hour(s) reached."/>)x",
       errc::rate_limited, "Query Limit", true},
      {R"x(<error code="200" description="Missing parameter (apikey)"/>)x", errc::upstream_error,
       "error 200: Missing parameter (apikey)", false},
      {R"x(<error code="203" description="Function not available"/>)x", errc::upstream_error, "error 203",
       false},
      {"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Cloudflare</body></html>",
       errc::upstream_error, "HTML page", false},
      {"  <html><body>login</body></html>", errc::upstream_error, "blocked", false},
      {"", errc::upstream_error, "empty response body", false},
      {"<rss><channel><item><title>cut", errc::upstream_error, "malformed XML at byte", false},
      {"<rss><channel><item></channel></rss>", errc::upstream_error, "malformed XML", false},
      {"this is not xml", errc::upstream_error, "malformed XML", false},
      {"<feed xmlns=\"http://www.w3.org/2005/Atom\"/>", errc::upstream_error,
       "expected a <rss> document, got <feed>", false},
      {"<rss version=\"2.0\"/>", errc::upstream_error, "no <channel>", false},
  };
  for (const auto& row : rows) {
    INFO(row.body);
    auto page = parse_releases(row.body, IndexerKind::newznab, "nzb", kNow);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == row.code);
    CHECK(contains(page.error().message, "indexer nzb: "));
    CHECK(contains(page.error().message, row.message_part));
    CHECK(page.error().retry_after.has_value() == row.retry);
    if (row.retry) CHECK(*page.error().retry_after == kNow + hours(1));
  }
  // The same rules apply to caps.
  auto caps = parse_caps(R"x(<error code="100" description="Incorrect user credentials"/>)x", "nzb", kNow);
  REQUIRE_FALSE(caps.has_value());
  CHECK(caps.error().code == errc::invalid_argument);
  auto wrong = parse_caps(kNewznabFeed, "nzb", kNow);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(contains(wrong.error().message, "expected a <caps> document, got <rss>"));
}

TEST_CASE("indexer_error_kind maps errors to the engine's kinds", "[newznab]") {
  CHECK(indexer_error_kind(Error{errc::rate_limited, ""}) == ErrorKind::rate_limited);
  CHECK(indexer_error_kind(Error{errc::unavailable, ""}) == ErrorKind::network);
  CHECK(indexer_error_kind(Error{errc::invalid_argument, ""}) == ErrorKind::permanent);
  CHECK(indexer_error_kind(Error{errc::upstream_error, ""}) == ErrorKind::permanent);
  CHECK(indexer_error_kind(Error{errc::cancelled, ""}) == ErrorKind::cancelled);
}

TEST_CASE("parse_rfc822_date reads the dates feeds send", "[newznab]") {
  struct Row {
    const char* text;
    std::optional<TimePoint> when;
  };
  const Row rows[] = {
      {"Tue, 04 Mar 2025 18:22:10 +0000", utc(2025, 3, 4, 18, 22, 10)},
      {"Tue, 04 Mar 2025 18:22:10 GMT", utc(2025, 3, 4, 18, 22, 10)},
      {"04 Mar 2025 18:22:10 +0130", utc(2025, 3, 4, 16, 52, 10)},
      {"Mon, 3 Mar 2025 10:00:00 -0500", utc(2025, 3, 3, 15, 0, 0)},
      {"Mon, 03 Mar 2025 10:00 EST", utc(2025, 3, 3, 15, 0, 0)},
      {"Sat, 01 Jan 00 00:00:00 +0000", utc(2000, 1, 1)},
      {"Wed, 31 Dec 97 23:59:59 UT", utc(1997, 12, 31, 23, 59, 59)},
      {"  Thu, 29 Feb 2024 12:00:00 Z  ", utc(2024, 2, 29, 12)},
      {"Thu, 30 Feb 2024 12:00:00 +0000", std::nullopt},
      {"Thu, 29 Foo 2024 12:00:00 +0000", std::nullopt},
      {"Thu, 29 Feb 2024 25:00:00 +0000", std::nullopt},
      {"Thu, 29 Feb 2024 12:00:00 +XYZW", std::nullopt},
      {"2024-02-29T12:00:00Z", std::nullopt},
      {"", std::nullopt},
      // The form read by position: every month, any case, and a byte that is not a digit
      // anywhere in a number (the general reader then reads or refuses it as before).
      {"Fri, 31 jan 2025 01:02:03 +0000", utc(2025, 1, 31, 1, 2, 3)},
      {"Fri, 28 FEB 2025 01:02:03 +0000", utc(2025, 2, 28, 1, 2, 3)},
      {"Fri, 30 May 2025 01:02:03 -0000", utc(2025, 5, 30, 1, 2, 3)},
      {"Fri, 31 Oct 2025 01:02:03 +0000", utc(2025, 10, 31, 1, 2, 3)},
      {"Fri, 05 Dec 2025 01:02:03 +0000", utc(2025, 12, 5, 1, 2, 3)},
      {"Tue, 0x Mar 2025 18:22:10 +0000", std::nullopt},
      {"Tue, 04 Mar 2/25 18:22:10 +0000", std::nullopt},
      {"Tue, 04 Mar 2025 1:22:10 +00000", std::nullopt},
      {"Tue, 04 Mar 2025 18:22:1\xC3 +0000", std::nullopt},
      {"Tue, 04 Mar 2025 18:22:10 +00:0", std::nullopt},
      {"Tue, 04 Max 2025 18:22:10 +0000", std::nullopt},
      // What follows the zone is a comment: the date still reads.
      {"Tue, 04 Mar 2025 18:22:10 +0000 (UTC) and more words", utc(2025, 3, 4, 18, 22, 10)},
      // Years a TimePoint cannot hold are no date (they overflowed the conversion before).
      {"Fri, 01 Jan 9999 00:00:00 +0000", std::nullopt},
      {"01 Jan 99999 00:00:00 +0000", std::nullopt},
      {"01 Jan 1200 00:00:00 +0000", std::nullopt},
      {"Thu, 31 Dec 2199 23:59:59 +0000", utc(2199, 12, 31, 23, 59, 59)},
      {"Mon, 01 Jan 1900 00:00:00 +0000", utc(1900, 1, 1)},
  };
  for (const auto& row : rows) {
    INFO(row.text);
    CHECK(parse_rfc822_date(row.text) == row.when);
  }
}

// ---- paging -------------------------------------------------------------------------------------

Release rel(const std::string& guid, TimePoint when) {
  Release r;
  r.title = "Author - " + guid;
  r.guid = guid;
  r.download_url = "http://x/" + guid;
  r.publish_date = when;
  return r;
}

// `count` releases, newest first, one minute apart, starting `start` minutes before `top`.
std::vector<Release> page_of(int start, int count, TimePoint top) {
  std::vector<Release> out;
  for (int i = start; i < start + count; ++i) out.push_back(rel("g" + std::to_string(i), top - minutes(i)));
  return out;
}

const TimePoint kTop = utc(2025, 3, 5, 12);

TEST_CASE("RssPager: a first sync reads one page and marks the newest release", "[newznab][paging]") {
  RssPager pager(std::nullopt, {10, 30, 1000});
  CHECK(pager.next_offset() == 0);
  CHECK(pager.limit() == 10);
  CHECK_FALSE(pager.add_page(page_of(0, 10, kTop), 10));
  CHECK(pager.stop_reason() == PagingStop::first_sync);
  CHECK(pager.releases().size() == 10);
  CHECK_FALSE(pager.gap_possible());
  auto mark = pager.next_mark();
  REQUIRE(mark.has_value());
  CHECK(mark->guid == "g0");
  CHECK(mark->publish_date == kTop);
}

TEST_CASE("RssPager stops at the mark by guid, keeping only newer releases", "[newznab][paging]") {
  // The mark is g25; its date is left far in the past so only the guid can stop the paging.
  RssPager pager(HighWaterMark{"g25", "", utc(2000, 1, 1)}, {10, 30, 1000});
  CHECK(pager.add_page(page_of(0, 10, kTop), 10));
  CHECK(pager.next_offset() == 10);
  CHECK(pager.add_page(page_of(10, 10, kTop), 10));
  CHECK_FALSE(pager.add_page(page_of(20, 10, kTop), 10));
  CHECK(pager.stop_reason() == PagingStop::reached_mark);
  CHECK(pager.pages() == 3);
  CHECK(pager.releases().size() == 25);
  CHECK(pager.releases().back().guid == "g24");
  CHECK_FALSE(pager.gap_possible());
  CHECK(pager.next_mark()->guid == "g0");
}

TEST_CASE("RssPager stops at anything older than the mark's date, or at its download URL",
          "[newznab][paging]") {
  // The mark's release itself was removed from the feed: an older one ends the paging.
  RssPager by_date(HighWaterMark{"gone", "", kTop - minutes(14) + seconds(30)}, {10, 30, 1000});
  CHECK(by_date.add_page(page_of(0, 10, kTop), 10));
  CHECK_FALSE(by_date.add_page(page_of(10, 10, kTop), 10));
  CHECK(by_date.stop_reason() == PagingStop::reached_mark);
  CHECK(by_date.releases().size() == 14);  // g0..g13 are newer than the mark
  // Same second as the mark but another release: kept.
  RssPager same_second(HighWaterMark{"gX", "", kTop - minutes(3)}, {10, 30, 1000});
  same_second.add_page(page_of(0, 10, kTop), 10);
  CHECK(same_second.releases().size() == 4);
  RssPager by_url(HighWaterMark{"", "http://x/g5", utc(2000, 1, 1)}, {10, 30, 1000});
  CHECK_FALSE(by_url.add_page(page_of(0, 10, kTop), 10));
  CHECK(by_url.releases().size() == 5);
}

TEST_CASE("RssPager stops at a page that is not full", "[newznab][paging]") {
  RssPager pager(HighWaterMark{"never", "", utc(2000, 1, 1)}, {10, 30, 1000});
  CHECK(pager.add_page(page_of(0, 10, kTop), 10));
  CHECK_FALSE(pager.add_page(page_of(10, 4, kTop), 4));
  CHECK(pager.stop_reason() == PagingStop::not_full);
  CHECK_FALSE(pager.gap_possible());  // the feed ended: nothing was missed
  // A page whose items were all left out by the parser is still a full page.
  RssPager full(HighWaterMark{"never", "", utc(2000, 1, 1)}, {10, 30, 1000});
  CHECK(full.add_page({}, 10));
}

TEST_CASE("RssPager reports a possible gap at 1,000 releases, and stops at the page limit",
          "[newznab][paging]") {
  RssPager pager(HighWaterMark{"never", "", utc(2000, 1, 1)}, {100, 30, 1000});
  for (int p = 0; p < 9; ++p) REQUIRE(pager.add_page(page_of(p * 100, 100, kTop), 100));
  CHECK_FALSE(pager.add_page(page_of(900, 100, kTop), 100));
  CHECK(pager.stop_reason() == PagingStop::gap);
  CHECK(pager.pages() == 10);
  CHECK(pager.releases().size() == 1000);
  CHECK(pager.gap_possible());
  CHECK(pager.next_mark()->guid == "g0");

  // Small pages: 30 pages of 25 reach the page limit before 1,000 releases.
  RssPager limited(HighWaterMark{"never", "", utc(2000, 1, 1)}, {25, 30, 1000});
  int pages = 0;
  while (limited.add_page(page_of(pages * 25, 25, kTop), 25)) ++pages;
  CHECK(limited.pages() == 30);
  CHECK(limited.stop_reason() == PagingStop::page_limit);
  CHECK(limited.gap_possible());
  CHECK(limited.releases().size() == 750);
  CHECK_FALSE(limited.add_page(page_of(750, 25, kTop), 25));  // done: further pages are ignored
  CHECK(limited.releases().size() == 750);
}

TEST_CASE("RssPager keeps the old mark when nothing newer came", "[newznab][paging]") {
  const HighWaterMark mark{"g0", "http://x/g0", kTop};
  RssPager pager(mark, {10, 30, 1000});
  CHECK_FALSE(pager.add_page(page_of(0, 10, kTop), 10));
  CHECK(pager.releases().empty());
  REQUIRE(pager.next_mark().has_value());
  CHECK(pager.next_mark()->guid == "g0");
  CHECK(to_string(PagingStop::reached_mark) == "reached_mark");
}

TEST_CASE("ReleaseCategories holds four numbers inline and more on the heap, as a value", "[newznab]") {
  ReleaseCategories c;
  CHECK(c.empty());
  for (int i = 1; i <= 4; ++i) c.push_back(i * 1000);
  CHECK(c == std::vector<int>{1000, 2000, 3000, 4000});
  c.push_back(5000);
  c.push_back(6000);
  CHECK(c == std::vector<int>{1000, 2000, 3000, 4000, 5000, 6000});
  ReleaseCategories copy = c;
  CHECK(copy == c);
  ReleaseCategories moved = std::move(copy);
  CHECK(moved == std::vector<int>{1000, 2000, 3000, 4000, 5000, 6000});
  moved.truncate(2);
  CHECK(moved == std::vector<int>{1000, 2000});
  ReleaseCategories small = {3030};
  ReleaseCategories small_moved = std::move(small);
  CHECK(small_moved == std::vector<int>{3030});
  small_moved = std::vector<int>{7020, 3030, 8010, 1, 2};
  CHECK(small_moved.size() == 5);
  CHECK(small_moved.vector() == std::vector<int>{7020, 3030, 8010, 1, 2});
}

}  // namespace newznab_parse_test
