// SPDX-License-Identifier: MIT
// Generators of real book files; see book_samples.hpp. The MOBI and MP4 layouts are written out
// field by field, with the offsets their readers (libmobi's read.c, TagLib's mp4properties.cpp)
// look at noted beside them.

#include "book_samples.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <taglib/id3v2tag.h>
#include <taglib/mp4file.h>
#include <taglib/mpegfile.h>
#include <taglib/tpropertymap.h>
#include <zip.h>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFPageObjectHelper.hh>
#include <qpdf/QPDFWriter.hh>
#include <qpdf/QUtil.hh>

namespace book_samples {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("book_files: " + what); }

std::string xml_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<Creator> creators_of(const BookSpec& spec) {
  std::vector<Creator> all;
  for (const auto& a : spec.authors) all.push_back({a, "aut", ""});
  all.insert(all.end(), spec.others.begin(), spec.others.end());
  return all;
}

void be16(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}
void be32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xFF);
  out += static_cast<char>((v >> 16) & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}
void set32(std::string& out, std::size_t at, std::uint32_t v) {
  std::string b;
  be32(b, v);
  out.replace(at, 4, b);
}

std::mutex& taglib_mutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

// ---- EPUB, OPF --------------------------------------------------------------------------------

std::string opf_xml(const BookSpec& spec, OpfStyle style) {
  const bool v3 = style == OpfStyle::epub3;
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += std::string("<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"") + (v3 ? "3.0" : "2.0") +
       "\" unique-identifier=\"uid\">\n";
  x += "  <metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
       "xmlns:opf=\"http://www.idpf.org/2007/opf\">\n";
  x += "    <dc:identifier id=\"uid\"" + std::string(v3 ? "" : " opf:scheme=\"uuid\"") +
       ">urn:uuid:6f1c2d3e-0000-4000-8000-000000000001</dc:identifier>\n";
  if (v3) {
    x += "    <dc:title id=\"t1\">" + xml_escape(spec.title) + "</dc:title>\n";
    x += "    <meta refines=\"#t1\" property=\"title-type\">main</meta>\n";
  } else {
    x += "    <dc:title>" + xml_escape(spec.title) + "</dc:title>\n";
  }
  int n = 0;
  for (const auto& c : creators_of(spec)) {
    const std::string id = "c" + std::to_string(++n);
    if (v3) {
      x += "    <dc:creator id=\"" + id + "\">" + xml_escape(c.name) + "</dc:creator>\n";
      if (!c.role.empty())
        x += "    <meta refines=\"#" + id + "\" property=\"role\" scheme=\"marc:relators\">" + c.role +
             "</meta>\n";
      if (!c.file_as.empty())
        x += "    <meta refines=\"#" + id + "\" property=\"file-as\">" + xml_escape(c.file_as) + "</meta>\n";
    } else {
      x += "    <dc:creator";
      if (!c.role.empty()) x += " opf:role=\"" + c.role + "\"";
      if (!c.file_as.empty()) x += " opf:file-as=\"" + xml_escape(c.file_as) + "\"";
      x += ">" + xml_escape(c.name) + "</dc:creator>\n";
    }
  }
  if (!spec.isbn.empty()) {
    x += v3 ? "    <dc:identifier id=\"isbn\">urn:isbn:" + xml_escape(spec.isbn) + "</dc:identifier>\n"
            : "    <dc:identifier opf:scheme=\"ISBN\">" + xml_escape(spec.isbn) + "</dc:identifier>\n";
  }
  if (!spec.asin.empty()) {
    x += v3 ? "    <dc:identifier>amazon:" + xml_escape(spec.asin) + "</dc:identifier>\n"
            : "    <dc:identifier opf:scheme=\"ASIN\">" + xml_escape(spec.asin) + "</dc:identifier>\n";
  }
  if (!spec.language.empty()) x += "    <dc:language>" + xml_escape(spec.language) + "</dc:language>\n";
  if (!spec.publisher.empty()) x += "    <dc:publisher>" + xml_escape(spec.publisher) + "</dc:publisher>\n";
  if (!spec.description.empty())
    x += "    <dc:description>" + xml_escape(spec.description) + "</dc:description>\n";
  if (!spec.date.empty()) {
    if (!v3) x += "    <dc:date opf:event=\"modification\">2020-12-31</dc:date>\n";
    x += "    <dc:date>" + xml_escape(spec.date) + "</dc:date>\n";
  }
  if (!spec.series.empty()) {
    if (v3) {
      x +=
          "    <meta property=\"belongs-to-collection\" id=\"coll\">" + xml_escape(spec.series) + "</meta>\n";
      x += "    <meta refines=\"#coll\" property=\"collection-type\">series</meta>\n";
      if (!spec.series_index.empty())
        x += "    <meta refines=\"#coll\" property=\"group-position\">" + spec.series_index + "</meta>\n";
    } else {
      x += "    <meta name=\"calibre:series\" content=\"" + xml_escape(spec.series) + "\"/>\n";
      if (!spec.series_index.empty())
        x += "    <meta name=\"calibre:series_index\" content=\"" + spec.series_index + "\"/>\n";
    }
  }
  if (v3) x += "    <meta property=\"dcterms:modified\">2020-12-31T00:00:00Z</meta>\n";
  x += "  </metadata>\n";
  x +=
      "  <manifest><item id=\"text\" href=\"text.xhtml\" media-type=\"application/xhtml+xml\"/></manifest>\n";
  x += "  <spine><itemref idref=\"text\"/></spine>\n";
  x += "</package>\n";
  return x;
}

std::string container_xml(std::string_view opf_path) {
  return "<?xml version=\"1.0\"?>\n"
         "<container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n"
         "  <rootfiles>\n"
         "    <rootfile full-path=\"" +
         xml_escape(opf_path) +
         "\" media-type=\"application/oebps-package+xml\"/>\n"
         "  </rootfiles>\n"
         "</container>\n";
}

void make_parent(const std::filesystem::path& path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  make_parent(path);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail("cannot write " + path.string());
}

void write_zip(const std::filesystem::path& path,
               const std::vector<std::pair<std::string, std::string>>& entries) {
  make_parent(path);
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) fail("zip_open " + path.string() + ": error " + std::to_string(err));
  for (const auto& [name, content] : entries) {
    // zip_source_buffer keeps the pointer until zip_close: the entries outlive it here.
    zip_source_t* src = zip_source_buffer(z, content.data(), content.size(), 0);
    const zip_int64_t idx =
        src ? zip_file_add(z, name.c_str(), src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) : -1;
    if (idx < 0) {
      if (src) zip_source_free(src);
      zip_discard(z);
      fail("zip_file_add " + name);
    }
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0);
  }
  if (zip_close(z) != 0) {
    const std::string msg = zip_strerror(z);
    zip_discard(z);
    fail("zip_close " + path.string() + ": " + msg);
  }
}

namespace {
void epub_with(const std::filesystem::path& path, const std::string& opf) {
  write_zip(path, {{"mimetype", "application/epub+zip"},
                   {"META-INF/container.xml", container_xml()},
                   {"OEBPS/content.opf", opf},
                   {"OEBPS/text.xhtml",
                    "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>Text.</p></body></html>"}});
}
}  // namespace

void make_epub(const std::filesystem::path& path, const BookSpec& spec, OpfStyle style) {
  epub_with(path, opf_xml(spec, style));
}

void make_kepub(const std::filesystem::path& path, const BookSpec& spec) { epub_with(path, opf_xml(spec)); }

std::filesystem::path make_opf_sidecar(const std::filesystem::path& path_or_folder, const BookSpec& spec) {
  const std::filesystem::path p =
      std::filesystem::is_directory(path_or_folder) ? path_or_folder / "metadata.opf" : path_or_folder;
  write_file(p, opf_xml(spec, OpfStyle::epub2));
  return p;
}

// ---- MOBI -------------------------------------------------------------------------------------

namespace {

// Record 0 of a MOBI (or of a hybrid's KF8 part): PalmDOC header, MOBI header, EXTH, full name.
std::string mobi_record0(const BookSpec& spec, const MobiOptions& o, std::uint32_t version,
                         std::uint32_t text_length, std::uint32_t kf8_boundary) {
  const std::uint32_t header_length = version >= 8 ? 264 : 232;
  std::string r;
  // PalmDOC header (16 bytes): no compression, one text record, no encryption.
  be16(r, 1);
  be16(r, 0);
  be32(r, text_length);
  be16(r, 1);
  be16(r, 4096);
  be16(r, 0);
  be16(r, 0);
  // MOBI header from offset 16; zeros except the fields set below.
  r += "MOBI";
  r.resize(16 + header_length, '\0');
  set32(r, 20, header_length);
  set32(r, 24, 2);  // mobi type: book
  set32(r, 28, o.encoding);
  set32(r, 32, 0x5EEDu);
  set32(r, 36, version);
  for (std::size_t off = 40; off < 80; off += 4) set32(r, off, 0xFFFFFFFFu);  // no indexes
  set32(r, 80, 2);                                                            // first non-text record
  set32(r, 92, 9);                                                            // locale: English
  set32(r, 104, version);                                                     // min version
  set32(r, 108, 0xFFFFFFFFu);                                                 // no images
  set32(r, 128, 0x40);                                                        // EXTH present
  set32(r, 164, 0xFFFFFFFFu);
  set32(r, 168, 0xFFFFFFFFu);  // no DRM
  if (version >= 8) {
    set32(r, 192, 0xFFFFFFFFu);  // fdst index
    for (const std::size_t off : {244u, 248u, 252u, 256u, 260u}) set32(r, off, 0xFFFFFFFFu);
  } else {
    r[192] = 0, r[193] = 1, r[194] = 0, r[195] = 1;  // first and last text record
  }
  set32(r, 196, 1);

  // EXTH: records of (tag, 8 + length, data).
  std::vector<std::pair<std::uint32_t, std::string>> exth;
  for (const auto& a : spec.authors) exth.emplace_back(100, a);
  if (!spec.publisher.empty()) exth.emplace_back(101, spec.publisher);
  if (!spec.description.empty()) exth.emplace_back(103, spec.description);
  if (!spec.isbn.empty()) exth.emplace_back(104, spec.isbn);
  if (!spec.date.empty()) exth.emplace_back(106, spec.date);
  if (!spec.asin.empty()) exth.emplace_back(113, spec.asin);
  if (!spec.title.empty()) exth.emplace_back(503, spec.title);
  if (!spec.language.empty()) exth.emplace_back(524, spec.language);
  if (kf8_boundary) {
    std::string v;
    be32(v, kf8_boundary);
    exth.emplace_back(121, v);
  }
  exth.insert(exth.end(), o.extra_exth.begin(), o.extra_exth.end());
  std::string records;
  for (const auto& [tag, data] : exth) {
    be32(records, tag);
    be32(records, static_cast<std::uint32_t>(8 + data.size()));
    records += data;
  }
  const std::size_t pad = (4 - records.size() % 4) % 4;
  r += "EXTH";
  be32(r, static_cast<std::uint32_t>(12 + records.size() + pad));
  be32(r, static_cast<std::uint32_t>(exth.size()));
  r += records;
  r.append(pad, '\0');
  // The full name after the EXTH, then two zero bytes, padded to four.
  set32(r, 84, static_cast<std::uint32_t>(r.size()));
  set32(r, 88, static_cast<std::uint32_t>(spec.title.size()));
  r += spec.title;
  r.append(2 + (4 - (spec.title.size() + 2) % 4) % 4, '\0');
  return r;
}

}  // namespace

std::string mobi_bytes(const BookSpec& spec, const MobiOptions& o) {
  const std::string text = "<html><head></head><body><p>" + xml_escape(spec.title) + "</p></body></html>";
  std::vector<std::string> records;
  const bool kf8_only = o.version >= 8 && !o.hybrid;
  if (o.hybrid) {
    // KF7 part: record 0, text; the BOUNDARY record; KF8 part: record 0, text. EXTH 121 names
    // the KF8 record 0 (libmobi checks that the record before it says BOUNDARY).
    const auto kf8_rec0 = static_cast<std::uint32_t>(3 + (o.padding_record ? 1 : 0));
    records.push_back(mobi_record0(spec, o, 6, static_cast<std::uint32_t>(text.size()), kf8_rec0));
    records.push_back(text);
    if (o.padding_record) records.emplace_back(o.padding_record, '\x55');
    records.emplace_back("BOUNDARY");
    records.push_back(mobi_record0(spec, o, 8, static_cast<std::uint32_t>(text.size()), 0));
    records.push_back(text);
  } else {
    records.push_back(
        mobi_record0(spec, o, kf8_only ? 8 : o.version, static_cast<std::uint32_t>(text.size()), 0));
    records.push_back(text);
    if (o.padding_record) records.emplace_back(o.padding_record, '\x55');
  }

  std::string out;
  // PalmDB header (78 bytes): name, attributes, version, dates, type and creator at 60.
  std::string name = spec.title.substr(0, 31);
  for (auto& c : name)
    if (c == ' ') c = '_';
  out += name;
  out.resize(32, '\0');
  be16(out, 0);
  be16(out, 0);
  for (int i = 0; i < 3; ++i) be32(out, 0x60000000u);
  be32(out, 0);
  be32(out, 0);
  be32(out, 0);
  out += "BOOKMOBI";
  be32(out, static_cast<std::uint32_t>(2 * records.size()));
  be32(out, 0);
  be16(out, static_cast<std::uint32_t>(records.size()));
  // The record list (offset, attributes, 3-byte uid), two bytes of gap, the records.
  std::size_t offset = out.size() + 8 * records.size() + 2;
  for (std::size_t i = 0; i < records.size(); ++i) {
    be32(out, static_cast<std::uint32_t>(offset));
    be32(out, static_cast<std::uint32_t>(2 * i));  // attributes 0, uid 2i
    offset += records[i].size();
  }
  be16(out, 0);
  for (const auto& r : records) out += r;
  return out;
}

void make_mobi(const std::filesystem::path& path, const BookSpec& spec, const MobiOptions& options) {
  write_file(path, mobi_bytes(spec, options));
}

void make_azw3(const std::filesystem::path& path, const BookSpec& spec) {
  MobiOptions o;
  o.version = 8;
  write_file(path, mobi_bytes(spec, o));
}

// ---- PDF --------------------------------------------------------------------------------------

void make_pdf(const std::filesystem::path& path, const BookSpec& spec, const PdfOptions& options) {
  make_parent(path);
  QPDF pdf;
  pdf.emptyPDF();
  QPDFObjectHandle page = pdf.makeIndirectObject(
      QPDFObjectHandle::parse("<< /Type /Page /MediaBox [0 0 200 200] /Resources << >> >>"));
  page.replaceKey("/Contents", pdf.newStream(std::string("BT ET\n")));
  QPDFPageDocumentHelper(pdf).addPage(QPDFPageObjectHelper(page), false);
  auto text = [&](const std::string& utf8) {
    return options.utf16 ? QPDFObjectHandle::newString(QUtil::utf8_to_utf16(utf8))
                         : QPDFObjectHandle::newUnicodeString(utf8);
  };
  QPDFObjectHandle info = pdf.makeIndirectObject(QPDFObjectHandle::newDictionary());
  if (!spec.title.empty()) info.replaceKey("/Title", text(spec.title));
  std::string authors;
  for (const auto& a : spec.authors) authors += (authors.empty() ? "" : "; ") + a;
  if (!authors.empty()) info.replaceKey("/Author", text(authors));
  if (!spec.description.empty()) info.replaceKey("/Subject", text(spec.description));
  if (!spec.isbn.empty()) info.replaceKey("/Keywords", text("fiction, ISBN " + spec.isbn));
  pdf.getTrailer().replaceKey("/Info", info);
  QPDFWriter w(pdf, path.c_str());
  if (!options.owner_password.empty()) {
    w.setR6EncryptionParameters(options.user_password.c_str(), options.owner_password.c_str(), true, true,
                                true, true, true, true, qpdf_r3p_full, true);
  }
  w.write();
}

// ---- audio ------------------------------------------------------------------------------------

namespace {

// MPEG-2 Layer III, 8 kbit/s, 22050 Hz, mono, no CRC, no padding: 72 * 8000 / 22050 = 26 bytes
// and 576 samples a frame. The side information and main data are zeros: silence.
std::string silent_frames(int seconds) {
  const int frames = static_cast<int>(std::ceil(std::max(seconds, 0) * 22050.0 / 576.0));
  std::string frame(26, '\0');
  frame[0] = '\xFF';
  frame[1] = '\xF3';
  frame[2] = '\x10';
  frame[3] = '\xC0';
  std::string out;
  out.reserve(frame.size() * static_cast<std::size_t>(std::max(frames, 1)));
  for (int i = 0; i < std::max(frames, 1); ++i) out += frame;
  return out;
}

TagLib::String tl(const std::string& utf8) { return TagLib::String(utf8, TagLib::String::UTF8); }

TagLib::PropertyMap audio_properties(const BookSpec& spec) {
  TagLib::PropertyMap p;
  if (!spec.title.empty()) p.replace("ALBUM", TagLib::StringList(tl(spec.title)));
  TagLib::StringList authors;
  for (const auto& a : spec.authors) authors.append(tl(a));
  if (!authors.isEmpty()) p.replace("ALBUMARTIST", authors);
  TagLib::StringList artists;
  for (const auto& c : spec.others)
    if (c.role == "nrt") artists.append(tl(c.name));
  p.replace("ARTIST", artists.isEmpty() ? authors : artists);
  if (!spec.title.empty()) p.replace("TITLE", TagLib::StringList(tl(spec.title + " - Part 1")));
  if (spec.track > 0) p.replace("TRACKNUMBER", TagLib::StringList(TagLib::String::number(spec.track)));
  if (spec.disc > 0) p.replace("DISCNUMBER", TagLib::StringList(TagLib::String::number(spec.disc)));
  if (!spec.date.empty()) p.replace("DATE", TagLib::StringList(tl(spec.date)));
  if (!spec.publisher.empty()) p.replace("LABEL", TagLib::StringList(tl(spec.publisher)));
  return p;
}

std::string box(std::string_view type, std::string_view payload) {
  std::string out;
  be32(out, static_cast<std::uint32_t>(8 + payload.size()));
  out += type;
  out += payload;
  return out;
}

std::string zeros(std::size_t n) { return std::string(n, '\0'); }

std::string identity_matrix() {
  std::string m;
  for (const std::uint32_t v : {0x00010000u, 0u, 0u, 0u, 0x00010000u, 0u, 0u, 0u, 0x40000000u}) be32(m, v);
  return m;
}

std::string minimal_mp4(int seconds) {
  const auto ms = static_cast<std::uint32_t>(std::max(seconds, 0) * 1000);
  std::string ftyp = "M4B ";
  be32(ftyp, 0);
  ftyp += "M4B M4A mp42isom";

  std::string mvhd = zeros(4);  // version 0, flags
  be32(mvhd, 0);                // creation
  be32(mvhd, 0);                // modification
  be32(mvhd, 1000);             // time scale
  be32(mvhd, ms);               // duration
  be32(mvhd, 0x00010000);       // rate 1.0
  be16(mvhd, 0x0100);           // volume 1.0
  mvhd += zeros(10) + identity_matrix() + zeros(24);
  be32(mvhd, 2);  // next track id

  std::string tkhd;
  be32(tkhd, 7);  // version 0, flags: enabled, in movie, in preview
  be32(tkhd, 0);
  be32(tkhd, 0);
  be32(tkhd, 1);  // track id
  be32(tkhd, 0);
  be32(tkhd, ms);
  tkhd += zeros(8);
  be16(tkhd, 0);       // layer
  be16(tkhd, 0);       // alternate group
  be16(tkhd, 0x0100);  // volume
  be16(tkhd, 0);
  tkhd += identity_matrix();
  be32(tkhd, 0);
  be32(tkhd, 0);

  // mdhd: TagLib reads the time scale at 20 and the duration at 24 from the box's start.
  std::string mdhd = zeros(4);
  be32(mdhd, 0);
  be32(mdhd, 0);
  be32(mdhd, 1000);
  be32(mdhd, ms);
  be16(mdhd, 0x55C4);  // language "und"
  be16(mdhd, 0);
  // hdlr: TagLib looks for "soun" at 16.
  const std::string hdlr = zeros(8) + "soun" + zeros(12) + "SoundHandler" + zeros(1);
  // stsd with one mp4a entry: "mp4a" at 20, channels at 40, sample size at 42, rate at 46.
  std::string mp4a = zeros(6);
  be16(mp4a, 1);  // data reference index
  mp4a += zeros(8);
  be16(mp4a, 1);   // channels
  be16(mp4a, 16);  // sample size
  be16(mp4a, 0);
  be16(mp4a, 0);
  be32(mp4a, 22050u << 16);
  std::string stsd = zeros(4);
  be32(stsd, 1);
  stsd += box("mp4a", mp4a);
  const std::string empty_table = zeros(8);  // version, flags, count 0
  const std::string stbl = box("stsd", stsd) + box("stts", empty_table) + box("stsc", empty_table) +
                           box("stsz", zeros(12)) + box("stco", empty_table);
  std::string dref = zeros(4);
  be32(dref, 1);
  std::string url_flags;
  be32(url_flags, 1);  // self-contained
  dref += box("url ", url_flags);
  const std::string minf = box("smhd", zeros(8)) + box("dinf", box("dref", dref)) + box("stbl", stbl);
  const std::string mdia = box("mdhd", mdhd) + box("hdlr", hdlr) + box("minf", minf);
  const std::string trak = box("tkhd", tkhd) + box("mdia", mdia);
  return box("ftyp", ftyp) + box("mdat", zeros(16)) + box("moov", box("mvhd", mvhd) + box("trak", trak));
}

}  // namespace

void make_mp3(const std::filesystem::path& path, const BookSpec& spec) {
  write_file(path, silent_frames(spec.duration_seconds));
  std::lock_guard lock(taglib_mutex());
  TagLib::MPEG::File f(path.c_str(), false);
  if (!f.isValid()) fail("TagLib does not take the generated MP3 " + path.string());
  f.ID3v2Tag(true)->setProperties(audio_properties(spec));
  if (!f.save(TagLib::MPEG::File::ID3v2, TagLib::File::StripOthers))
    fail("TagLib cannot save " + path.string());
}

void make_mp3_raw_tag(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, std::string>>& frames) {
  auto syncsafe = [](std::string& out, std::uint32_t v) {
    for (int shift = 21; shift >= 0; shift -= 7) out += static_cast<char>((v >> shift) & 0x7F);
  };
  std::string body;
  for (const auto& [id, data] : frames) {
    body += id;
    syncsafe(body, static_cast<std::uint32_t>(data.size()));
    body += std::string(2, '\0');
    body += data;
  }
  std::string tag = "ID3";
  tag += '\x04';
  tag += '\0';
  tag += '\0';
  syncsafe(tag, static_cast<std::uint32_t>(body.size()));
  write_file(path, tag + body + silent_frames(1));
}

void make_m4b(const std::filesystem::path& path, const BookSpec& spec) {
  write_file(path, minimal_mp4(spec.duration_seconds));
  std::lock_guard lock(taglib_mutex());
  TagLib::MP4::File f(path.c_str(), false);
  if (!f.isValid()) fail("TagLib does not take the generated MP4 " + path.string());
  f.setProperties(audio_properties(spec));
  if (!f.save()) fail("TagLib cannot save " + path.string());
}

// ---- cover ------------------------------------------------------------------------------------

std::string cover_jpeg_bytes() {
  // SOI; DQT (table 0, all ones); SOF0 1x1, one component; DHT DC 0 and AC 0 with a single
  // one-bit code each (DC category 0, AC end of block); SOS; the block: "0" (DC 0) "0" (EOB),
  // padded with ones; EOI.
  std::string j = "\xFF\xD8";
  j += std::string("\xFF\xDB\x00\x43\x00", 5) + std::string(64, '\x01');
  j += std::string("\xFF\xC0\x00\x0B\x08\x00\x01\x00\x01\x01\x01\x11\x00", 13);
  j += std::string("\xFF\xC4\x00\x14\x00\x01", 6) + std::string(15, '\0') + std::string(1, '\0');
  j += std::string("\xFF\xC4\x00\x14\x10\x01", 6) + std::string(15, '\0') + std::string(1, '\0');
  j += std::string("\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00", 10);
  j += "\x3F";
  j += "\xFF\xD9";
  return j;
}

BookSpec spec(std::string title, std::string author, std::string isbn) {
  BookSpec s;
  s.title = std::move(title);
  s.authors = {std::move(author)};
  s.isbn = std::move(isbn);
  return s;
}

std::string calibre_schema() {
  // The part of calibre's schema (src/calibre/db: metadata_sqlite.sql) that readers look at.
  return R"sql(
CREATE TABLE books ( id INTEGER PRIMARY KEY AUTOINCREMENT,
  title TEXT NOT NULL DEFAULT 'Unknown' COLLATE NOCASE,
  sort TEXT COLLATE NOCASE,
  timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  pubdate TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  series_index REAL NOT NULL DEFAULT 1.0,
  author_sort TEXT COLLATE NOCASE,
  isbn TEXT DEFAULT '' COLLATE NOCASE,
  lccn TEXT DEFAULT '' COLLATE NOCASE,
  path TEXT NOT NULL DEFAULT '',
  flags INTEGER NOT NULL DEFAULT 1,
  uuid TEXT,
  has_cover BOOL DEFAULT 0,
  last_modified TIMESTAMP NOT NULL DEFAULT '2000-01-01 00:00:00+00:00');
CREATE TABLE authors ( id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE,
  sort TEXT COLLATE NOCASE, link TEXT NOT NULL DEFAULT '', UNIQUE(name));
CREATE TABLE books_authors_link ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, author INTEGER NOT NULL,
  UNIQUE(book, author));
CREATE INDEX books_authors_link_bidx ON books_authors_link (book);
CREATE TABLE series ( id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, sort TEXT COLLATE NOCASE,
  link TEXT NOT NULL DEFAULT '', UNIQUE (name));
CREATE TABLE books_series_link ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, series INTEGER NOT NULL,
  UNIQUE(book));
CREATE TABLE publishers ( id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, sort TEXT COLLATE NOCASE,
  link TEXT NOT NULL DEFAULT '', UNIQUE(name));
CREATE TABLE books_publishers_link ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, publisher INTEGER NOT NULL,
  UNIQUE(book));
CREATE TABLE languages ( id INTEGER PRIMARY KEY, lang_code TEXT NOT NULL COLLATE NOCASE,
  link TEXT NOT NULL DEFAULT '', UNIQUE(lang_code));
CREATE TABLE books_languages_link ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, lang_code INTEGER NOT NULL,
  item_order INTEGER NOT NULL DEFAULT 0, UNIQUE(book, lang_code));
CREATE TABLE identifiers ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL,
  type TEXT NOT NULL DEFAULT 'isbn' COLLATE NOCASE, val TEXT NOT NULL COLLATE NOCASE, UNIQUE(book, type));
CREATE TABLE data ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, format TEXT NOT NULL COLLATE NOCASE,
  uncompressed_size INTEGER NOT NULL, name TEXT NOT NULL, UNIQUE(book, format));
)sql";
}

}  // namespace book_samples
