// SPDX-License-Identifier: MIT
// PDF with qpdf: the trailer's /Info dictionary, as Readarr reads it (PdfSharp in
// InformationOnly mode); XMP metadata is ignored, as there.
//
// qpdf reads the cross-reference table and then only the objects asked for, so opening a
// large PDF costs its xref, not its pages. It reports problems by throwing (QPDFExc with an
// error code, and std:: exceptions from deeper down); every call into it is inside one try.
// Its warnings go to standard error by default: they are suppressed, a damaged but recoverable
// file is simply read.
//
// PDF text strings are PDFDocEncoding or UTF-16BE with a byte order mark (UTF-8 with one in
// PDF 2.0); getUTF8Value decodes each of them, and an encrypted file's strings are decrypted
// first.

#include <string>
#include <vector>

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjectHandle.hh>

#include "adapters/files/file_util.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {
namespace pdf_reader {

std::string info_string(QPDFObjectHandle info, const char* key) {
  if (!info.hasKey(key)) return {};
  QPDFObjectHandle v = info.getKey(key);
  if (!v.isString()) return {};
  return files::clean_text(v.getUTF8Value());
}

// "Jane Doe; John Roe" and "Jane Doe & John Roe": PDF has one Author string for everyone.
std::vector<std::string> split_authors(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    std::string t(files::trim_view(cur));
    if (!t.empty()) out.push_back(std::move(t));
    cur.clear();
  };
  for (const char c : s) {
    if (c == ';' || c == '&') {
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

// Keywords sometimes carry the ISBN ("fiction, ISBN 978-0-306-40615-7"): each token separated
// by commas or semicolons is a candidate, after any "ISBN" label.
std::vector<std::string> isbn_candidates(const std::string& keywords) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : keywords + ",") {
    if (c == ',' || c == ';') {
      std::string t(files::trim_view(cur));
      if (!t.empty()) out.push_back(std::move(t));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

Result<BookMetadata> read(const std::filesystem::path& path) {
  auto checked = files::check_file(path);
  if (!checked) return checked.error();
  QPDF pdf;
  pdf.setSuppressWarnings(true);
  try {
    // The empty password opens unencrypted files and files encrypted for permissions only
    // (an owner password and an empty user password), which is most "encrypted" ebooks.
    pdf.processFile(path.c_str(), "");
  } catch (const QPDFExc& e) {
    switch (e.getErrorCode()) {
      case qpdf_e_password: return files::bad_file(path, "encrypted PDF (a password is needed)");
      case qpdf_e_system: return files::file_error(errc::unavailable, path, e.getMessageDetail());
      default: return files::bad_file(path, "not a readable PDF: " + files::valid_utf8(e.getMessageDetail()));
    }
  }
  BookMetadata m;
  m.format = BookFormat::pdf;
  QPDFObjectHandle trailer = pdf.getTrailer();
  if (!trailer.isDictionary() || !trailer.hasKey("/Info")) return m;
  QPDFObjectHandle info = trailer.getKey("/Info");
  if (!info.isDictionary()) return m;
  m.title = info_string(info, "/Title");
  for (const auto& a : split_authors(info_string(info, "/Author"))) files::add_contributor(m, a, "aut");
  if (std::string subject = info_string(info, "/Subject"); !subject.empty())
    m.description = std::move(subject);
  files::choose_isbn(m, isbn_candidates(info_string(info, "/Keywords")));
  return m;
}

}  // namespace pdf_reader
}  // namespace

Result<BookMetadata> read_pdf(const std::filesystem::path& path) {
  try {
    return pdf_reader::read(path);
  } catch (const QPDFExc& e) {  // a damaged object met while reading /Info
    return files::bad_file(path, "damaged PDF: " + files::valid_utf8(e.getMessageDetail()));
  } catch (const std::exception& e) {
    return files::bad_file(path, "damaged PDF: " + files::valid_utf8(e.what()));
  }
}

}  // namespace shelfjobs
