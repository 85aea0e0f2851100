// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Download clients: where a grabbed release goes (a torrent client, a usenet client, or a
/// blackhole folder) and where its progress is read back.
///
/// One interface, `DownloadClient`, and a factory per client: torrent and usenet blackhole
/// (folders), qBittorrent (Web API v2), Transmission (RPC), NZBGet (JSON-RPC) and SABnzbd.
///
/// Contract, for every client:
///  - Thread-safety: every member may be called from any thread, also at the same time; a
///    client serialises what must be (a login, a session id, the blackhole's watch state).
///  - Ownership: a client owns its HTTP connections and its state (a login cookie, a session
///    id, what the blackhole saw in its watch folder); the caller owns the client (unique_ptr).
///    The items a client lists belong to the download program: removing one is `remove`.
///  - Errors are values (`Result`), never exceptions, and name the client and what failed:
///      errc::unavailable      the client cannot be reached or failed on its side (connection
///                             refused, timeout, HTTP 5xx), or a folder cannot be written or
///                             read. Worth trying again later (Readarr's client backoff).
///      errc::unauthorized     the client refused the credentials (wrong password, a banned
///                             address). Permanent until the settings change.
///      errc::invalid_argument the request itself is wrong: an empty or malformed .torrent,
///                             .nzb or magnet, a magnet where the blackhole saves none, an
///                             empty title. Trying again with the same input cannot succeed.
///      errc::not_found        `remove` of an id the client does not know.
///      errc::upstream_error   the client answered something unusable (bad JSON, an RPC
///                             error we do not understand).
///      errc::cancelled        the stop token fired.
///  - Ids: `add` returns the client's id for the new item, which `items` reports and `remove`
///    takes: the info hash (lower-case hex) for torrent clients; NZBGet's NZBID; SABnzbd's
///    nzo_id; the file name written for a blackhole (the blackhole's watch-folder items have ids
///    of their own: see make_torrent_blackhole).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

enum class DownloadProtocol { torrent, usenet };

/// "torrent" or "usenet".
const char* to_string(DownloadProtocol p) noexcept;

/// Where an item stands, on the scale every client is mapped onto.
enum class DownloadStatus {
  queued,       ///< waiting for its turn (or for a check)
  downloading,  ///< transferring (or, for a blackhole, still changing)
  paused,       ///< stopped by someone before it completed
  completed,    ///< all its data is there: ready to import
  failed,       ///< the client gave up on it (a usenet download that could not be fetched)
  warning,      ///< it needs attention (a torrent with an error or missing files)
};

/// "queued", "downloading", ...
const char* to_string(DownloadStatus s) noexcept;

/// What an indexer release gives a client.
struct DownloadRequest {
  enum class Kind {
    torrent_file,  ///< `data` holds a .torrent's bytes
    magnet,        ///< `data` holds a magnet URI
    nzb_file,      ///< `data` holds an .nzb's bytes
    nzb_url,       ///< `data` holds an .nzb's http(s) URL (SABnzbd fetches it; the others refuse it)
  };
  Kind kind = Kind::torrent_file;
  std::string data;
  std::string title;     ///< the release title (names the blackhole's file)
  std::string category;  ///< the client's category (label) for shelfjobs' items; may be empty
};

/// One item of a client.
struct DownloadItem {
  std::string id;  ///< the client's id (see the file comment)
  std::string title;
  DownloadStatus status = DownloadStatus::queued;
  std::int64_t total_bytes = 0;
  std::int64_t bytes_left = 0;
  std::optional<std::chrono::seconds> eta;  ///< when the client estimates one
  std::filesystem::path output_path;        ///< where its data is (or will be), when known
  std::string message;                      ///< the client's message (an error, a state name)
};

class DownloadClient {
 public:
  virtual ~DownloadClient() = default;

  /// The client's name for messages ("qBittorrent", "Torrent Blackhole", ...).
  virtual std::string name() const = 0;
  virtual DownloadProtocol protocol() const = 0;

  /// Whether the client is reachable and accepts the credentials (a blackhole: whether its
  /// folders exist and can be written).
  virtual Status test(std::stop_token token = {}) = 0;

  /// Hands a release to the client. Returns the client's id for the new item.
  virtual Result<std::string> add(const DownloadRequest& request, std::stop_token token = {}) = 0;

  /// The items in `category` (a blackhole has none and lists its whole watch folder).
  virtual Result<std::vector<DownloadItem>> items(const std::string& category,
                                                  std::stop_token token = {}) = 0;

  /// Removes an item from the client, with its data when `delete_data`.
  virtual Status remove(const std::string& id, bool delete_data, std::stop_token token = {}) = 0;
};

/// A blackhole: `add` writes the release into `drop_folder` (atomically: a hidden temporary
/// file renamed into place, so a watcher never reads half a file), and something else (a
/// download program watching that folder) puts what it downloads into `watch_folder`.
struct BlackholeOptions {
  std::filesystem::path drop_folder;   ///< where .torrent, .magnet or .nzb files are written
  std::filesystem::path watch_folder;  ///< where finished downloads appear
  /// Torrent blackhole: write a magnet URI to `{title}{magnet_extension}`; false refuses
  /// magnets (errc::invalid_argument), as Readarr does unless "Save Magnet Files" is set.
  bool save_magnet_files = false;
  std::string magnet_extension = ".magnet";
  /// An item of the watch folder is completed once nothing in it (names, sizes, mtimes) has
  /// changed for this long; until then it is downloading. An item seen for the first time
  /// counts as unchanged since its newest file's mtime (a download finished before the first
  /// look is complete at once).
  std::chrono::seconds grace{30};
  std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
};

/// The torrent blackhole: writes `{title}.torrent` (or a magnet file), where the title is made
/// safe for file names. The watch folder's items are each subfolder and each loose file (hidden
/// names excepted); an item's id is its name, plus "_" and its birth time in ticks where the
/// file system records one, so a new download under an old name is a new item. `remove`
/// deletes the item's files (a blackhole item is nothing but its files: `delete_data = false`
/// is errc::invalid_argument).
std::unique_ptr<DownloadClient> make_torrent_blackhole(BlackholeOptions options);

/// The usenet blackhole: writes `{title}.nzb`; its watch folder as the torrent blackhole's.
std::unique_ptr<DownloadClient> make_usenet_blackhole(BlackholeOptions options);

/// Settings shared by the clients that speak HTTP.
struct HttpDownloadClientOptions {
  std::string base_url;  ///< e.g. "http://127.0.0.1:8080" (no trailing slash needed)
  std::string username;
  std::string password;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
};

/// qBittorrent through its Web API v2 (4.1 and later). Logs in with a form POST and keeps the
/// session cookie whatever its name (SID, QBT_SID_<port>); an answer of 403 to any call means
/// the session ended: it logs in again and retries that call once. `add` sends the category
/// (qBittorrent creates a missing one) and returns the info hash, computed from the .torrent's
/// info dictionary or read from the magnet's btih. Statuses: downloading, stalledDL, metaDL,
/// forcedDL, checkingDL, moving, allocating -> downloading; queuedDL -> queued; pausedDL /
/// stoppedDL -> paused; uploading, stalledUP, queuedUP, forcedUP, checkingUP, pausedUP /
/// stoppedUP -> completed; error, missingFiles -> warning. output_path is `content_path`.
std::unique_ptr<DownloadClient> make_qbittorrent(HttpDownloadClientOptions options);

/// Transmission through its RPC (`{base_url}/transmission/rpc`, the legacy protocol that 2.x to
/// 4.x speak). Answers the 409 handshake: keeps the X-Transmission-Session-Id it hands out and
/// sends the request again, each time the id rotates. HTTP Basic auth when a username is set
/// (401: errc::unauthorized). `add` puts the torrent in `{download dir}/{category}` (the
/// session's download dir unless `download_dir` is set) and lists by that folder, as Readarr
/// does (Transmission 3.00 takes no labels on torrent-add). Statuses: 0 stopped -> paused, or
/// completed when nothing is left; 1, 2 check -> queued; 3 queued -> queued; 4 -> downloading;
/// 5, 6 seeding -> completed; an error string -> warning; a magnet still fetching its metadata
/// (no size yet) is downloading, or paused when stopped, never completed.
struct TransmissionOptions {
  HttpDownloadClientOptions http;
  std::filesystem::path download_dir;  ///< empty: the daemon's own (session-get)
};
std::unique_ptr<DownloadClient> make_transmission(TransmissionOptions options);

/// NZBGet through its JSON-RPC (`{base_url}/jsonrpc`, HTTP Basic auth; NZBGet 18 and later).
/// `add` appends the .nzb with the category and returns the NZBID. `items` lists the queue
/// (listgroups: QUEUED -> queued, PAUSED -> paused, anything else -> downloading, post-processing
/// included) and the history (SUCCESS/* -> completed, WARNING/* -> warning, FAILURE/* and
/// DELETED/* -> failed; output_path the FinalDir, else the DestDir); `message` is NZBGet's
/// status. `remove` deletes from the queue or the history (GroupFinalDelete / HistoryFinalDelete
/// with the data).
std::unique_ptr<DownloadClient> make_nzbget(HttpDownloadClientOptions options);

/// SABnzbd through its API (`{base_url}/api?mode=...&apikey=...&output=json`). `add` posts the
/// .nzb (mode=addfile, multipart field `name`) or its URL (mode=addurl) with the category and
/// returns the nzo_id. `items` lists the queue (Paused -> paused; Queued, Grabbing, Fetching,
/// Propagating -> queued; the rest -> downloading, with the timeleft as eta) and the history
/// (Completed -> completed; Failed, Deleted -> failed with the fail_message; post-processing ->
/// downloading; output_path the `storage`). An "API Key Incorrect" or "API Key Required" error is
/// errc::unauthorized. `remove` deletes from the queue or the history (del_files).
struct SabnzbdOptions {
  HttpDownloadClientOptions http;  ///< username and password unused
  std::string api_key;
};
std::unique_ptr<DownloadClient> make_sabnzbd(SabnzbdOptions options);

/// The BitTorrent info hash (SHA-1 of the bencoded `info` dictionary, lower-case hex) of a
/// .torrent's bytes, or errc::invalid_argument when they are not a bencoded dictionary with an
/// `info` dictionary.
Result<std::string> torrent_info_hash(std::string_view torrent);

/// The info hash of a magnet URI (`xt=urn:btih:`, hex or base32), lower-case hex, or
/// errc::invalid_argument.
Result<std::string> magnet_info_hash(std::string_view magnet);

}  // namespace shelfjobs
