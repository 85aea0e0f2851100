// SPDX-License-Identifier: MIT
// Audiobooks with TagLib, as Readarr's AudioTag reads them: the album is the book, the album
// artist its author (else the track artists), plus track and disc numbers, year, publisher and
// the duration.
//
// FileRef picks the parser by extension (.m4b, .m4a, .m4p are MP4; .mp3 MPEG; .flac, .ogg,
// .oga, .wv, .ape, .wav, .wma ...), and PropertyMap gives one vocabulary over ID3v2 frames, MP4
// atoms, Vorbis comments and APE items ("ALBUMARTIST", "DISCNUMBER", "LABEL"), so this file
// needs no per-format code.
//
// TagLib does not promise thread safety, and some of its lookup tables are filled lazily on
// first use without a lock (upstream fixed such races later: taglib/taglib#1331, #1400). All
// TagLib calls here therefore run under one process-wide mutex; reading tags is dominated by
// I/O, so little is lost.

#include <mutex>
#include <string>

#include <taglib/audioproperties.h>
#include <taglib/fileref.h>
#include <taglib/tag.h>
#include <taglib/tfile.h>
#include <taglib/tpropertymap.h>
#include <taglib/tstring.h>

#include "adapters/files/file_util.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {
namespace audio_reader {

std::mutex& taglib_mutex() {
  static std::mutex mu;
  return mu;
}

std::string utf8(const TagLib::String& s) { return files::clean_text(s.to8Bit(true)); }

std::string first(const TagLib::PropertyMap& props, const char* key) {
  const auto it = props.find(key);
  if (it == props.end() || it->second.isEmpty()) return {};
  return utf8(it->second.front());
}

// "3" and "3/12" (number of total) both give 3; nothing positive gives nothing.
std::optional<int> number(const std::string& s) {
  int v = 0;
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && v < 100000) v = v * 10 + (s[i++] - '0');
  if (i == 0 || v <= 0) return std::nullopt;
  return v;
}

Result<BookMetadata> read(const std::filesystem::path& path) {
  auto checked = files::check_file(path);
  if (!checked) return checked.error();
  const auto by_name = book_format_of(path);
  if (!by_name || kind_of(*by_name) != BookKind::audio)
    return Error{errc::invalid_argument, path.string() + ": not an audio file name"};

  BookMetadata m;
  m.format = *by_name;
  std::lock_guard lock(taglib_mutex());
  TagLib::FileRef ref(path.c_str(), true, TagLib::AudioProperties::Fast);
  if (ref.isNull() || !ref.file() || !ref.file()->isValid())
    return files::bad_file(path, std::string("not a readable ") + std::string(to_string(*by_name)) + " file");
  const TagLib::PropertyMap props = ref.file()->properties();
  if (const TagLib::Tag* tag = ref.tag()) {
    m.title = utf8(tag->album());
    if (m.title.empty()) m.title = utf8(tag->title());
    if (tag->track() > 0) m.track = static_cast<int>(tag->track());
    if (tag->year() > 0) m.release_year = static_cast<int>(tag->year());
  }
  // Album artists are the book's authors; without them, the track artists (Readarr's rule).
  auto add_all = [&](const char* key) {
    const auto it = props.find(key);
    if (it == props.end()) return false;
    for (const auto& v : it->second) files::add_contributor(m, v.to8Bit(true), "aut");
    return !m.contributors.empty();
  };
  if (!add_all("ALBUMARTIST")) add_all("ARTIST");
  m.disc = number(first(props, "DISCNUMBER"));
  m.publisher = first(props, "LABEL");
  if (m.publisher.empty()) m.publisher = first(props, "PUBLISHER");
  m.language = first(props, "LANGUAGE");
  if (const std::string date = first(props, "DATE"); !date.empty()) files::set_date(m, date);
  if (const TagLib::AudioProperties* audio = ref.audioProperties()) {
    if (audio->lengthInMilliseconds() > 0) m.duration_seconds = (audio->lengthInMilliseconds() + 500) / 1000;
  }
  return m;
}

}  // namespace audio_reader
}  // namespace

Result<BookMetadata> read_audio(const std::filesystem::path& path) {
  try {
    return audio_reader::read(path);
  } catch (const std::exception& e) {  // bad_alloc, filesystem_error: TagLib itself does not throw
    return files::bad_file(path, e.what());
  }
}

}  // namespace shelfjobs
