// SPDX-License-Identifier: MIT
// Readarr's backup routes: the list, deleting one, restoring a listed one or an uploaded zip.
// A backup is made by the Backup command (POST /api/v1/command {"name": "Backup"}), as in
// Readarr.
//
// A restore answers once the restored data are open and the engine runs again, so unlike
// Readarr's it says {"restartRequired": false}. A refused backup (not a zip, a bad checksum, a
// damaged database, a newer schema ...) is 422 with the reason; nothing has changed then.
#include <fstream>
#include <random>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {

json restore_json(const RestoreReport& r) {
  json restored = json::array();
  for (const auto& p : r.restored) restored.push_back(p.filename().string());
  return {{"restartRequired", false}, {"backup", r.backup}, {"restored", restored}, {"skipped", r.skipped}};
}

}  // namespace

void ApiServer::backup_routes() {
  auto& s = *server_;

  s.Get("/api/v1/system/backup", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& b : app_.backup().list()) out.push_back(b);
    reply(res, 200, out);
  });

  s.Delete(R"(/api/v1/system/backup/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = route_id(req, "backup");
    if (!id) return error(res, id.error());
    if (auto st = app_.backup().remove(*id); !st) return error(res, st.error());
    reply(res, 200, json::object());
  });

  s.Post(R"(/api/v1/system/backup/restore/(\d+))",
         [this](const httplib::Request& req, httplib::Response& res) {
           auto id = route_id(req, "backup");
           if (!id) return error(res, id.error());
           auto backup = app_.backup().find(*id);
           if (!backup) return error(res, 404, "no backup " + std::to_string(*id));
           release_request_lock();  // the restore takes the services' mutex whole
           auto report = app_.restore(backup->path);
           if (!report) return error(res, report.error());
           reply(res, 200, restore_json(*report));
         });

  // Multipart, the file in any field (Readarr's UI sends "restore"); a .zip only.
  s.Post("/api/v1/system/backup/restore/upload", [this](const httplib::Request& req, httplib::Response& res) {
    if (!req.is_multipart_form_data() || req.files.empty())
      return error(res, 400, "a backup file must be uploaded as multipart/form-data");
    const auto& file = req.files.begin()->second;
    if (!file.filename.ends_with(".zip"))
      return error(res, 415, "invalid extension, must be .zip: " + file.filename);
    const auto folder = app_.config().data_folder / "tmp";
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    // The client's file name (its last part only) names the restore in the job history.
    std::string name = file.filename.substr(file.filename.find_last_of("/\\") + 1);
    if (name.empty() || name.front() == '.') name = "upload.zip";
    const auto upload_dir = folder / ("upload-" + std::to_string(std::random_device{}()) + ".tmp");
    std::filesystem::create_directories(upload_dir, ec);
    const auto path = upload_dir / name;
    {
      std::ofstream out(path, std::ios::binary);
      out.write(file.content.data(), static_cast<std::streamsize>(file.content.size()));
      if (!out) {
        std::filesystem::remove_all(upload_dir, ec);
        return error(res, 503, "cannot store the upload in " + folder.string());
      }
    }
    release_request_lock();
    auto report = app_.restore(path);
    std::filesystem::remove_all(upload_dir, ec);
    if (!report) return error(res, report.error());
    reply(res, 200, restore_json(*report));
  });
}

}  // namespace shelfd
