// SPDX-License-Identifier: MIT
#pragma once
// Readarr's v1 resources for what shelfd serves: commands (jobs), tasks, health items, root
// folders, editions, series, profiles, lookups and manual imports. Pure mapping, no I/O but the
// catalog reads a lookup or a manual import needs. Authors and books: catalog_resources.hpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/book_import.hpp"
#include "shelfjobs/services/release_decision.hpp"
#include "shelfjobs/services/service.hpp"
#include "shelfjobs/shelfjobs.hpp"

namespace shelfd {

/// Readarr's command resource for a job.
nlohmann::json command_resource(const shelfjobs::JobInfo& job);
/// The same from an engine event's delta (its body is read in place, not copied twice).
nlohmann::json command_resource(const shelfjobs::JobDelta& job);
/// Readarr's task resource (`id` is its position in `tasks()` + 1).
nlohmann::json task_resource(const shelfjobs::TaskInfo& task, int id);
/// Readarr's health items for the open alerts (`GET /api/v1/health`, the "health" event).
/// Readarr's health items: the services' latest health check findings, then the engine's open
/// alerts.
nlohmann::json health_items(const std::vector<shelfjobs::Alert>& alerts,
                            const std::vector<shelfjobs::HealthIssue>& issues = {});

nlohmann::json root_resource(const shelfjobs::RootFolder& root);
/// Readarr's BookFileResource: {id, authorId, bookId, path, size, dateAdded, quality {quality
/// {id, name}, revision}, qualityWeight, qualityCutoffNotMet}, plus what the scan read of the
/// file (title, author, isbn13, asin) and, for a file that matches no book, unmappedReason; a
/// file whose metadata could not be read, readError.
nlohmann::json bookfile_resource(const shelfjobs::BookFile& file);
/// Readarr's EditionResource: {id, bookId, foreignEditionId, title, isbn13, asin, language,
/// format, isEbook, publisher, pageCount, releaseDate, monitored} (the monitored edition is the
/// one a refresh found most popular).
nlohmann::json edition_resource(const shelfjobs::Edition& edition);
/// Readarr's SeriesResource: {id, foreignSeriesId, title, links [{seriesId, bookId, position,
/// seriesPosition, isPrimary}]} with the links given.
nlohmann::json series_resource(const shelfjobs::Series& series,
                               const std::vector<shelfjobs::SeriesLink>& links);
/// An author the metadata source found (Readarr's author lookup): the catalog's author resource
/// when it is in the library; else id 0 with `authorName`, `sortName`, `foreignAuthorId`,
/// `overview`, `status`, `monitored` false, `metadataProfileId` 1 and `statistics.bookCount` (the
/// works the source lists).
nlohmann::json author_lookup_resource(shelfjobs::Catalog& catalog, const shelfjobs::AuthorData& author);
/// A work the metadata source found (Readarr's book lookup): the catalog's book resource when
/// it is in the library, else id 0 with `title`, `foreignBookId`, `releaseDate`, `genres`,
/// `monitored` false; either way `author` {foreignAuthorId, authorName, id when in the library}
/// and `editions` [{foreignEditionId, title, isbn13, asin, language, format, publisher, isEbook,
/// pageCount, releaseDate, monitored}].
nlohmann::json book_lookup_resource(shelfjobs::Catalog& catalog, const shelfjobs::WorkData& work);
/// Readarr's MetadataProfileResource for shelfd's one profile (id 1, "Standard"), whose fields
/// filter nothing: an author refresh keeps every book the source lists.
nlohmann::json metadata_profile_resource();
/// Readarr's QualityProfileResource for one of the acquisition profiles: {id, name,
/// upgradeAllowed (true), cutoff (the cutoff's quality id), items [{quality {id, name}, items [],
/// allowed}]} with the items worst first, as Readarr lists them: the formats of the profile's
/// kind that it does not allow (allowed false), then the allowed ones from worst to best.
nlohmann::json quality_profile_resource(int id, const std::string& name,
                                        const shelfjobs::FormatProfile& profile, bool audio);
/// Readarr's QualityDefinitionResource list: every quality (Unknown, PDF, MOBI, EPUB, AZW3,
/// Unknown Audio, MP3, FLAC, M4B), worst first, {id, quality {id, name}, title, weight, minSize 0,
/// maxSize (MiB; the kind's limit, null when it has none)}.
nlohmann::json quality_definitions(std::int64_t max_ebook_mb, std::int64_t max_audio_mb);
/// Readarr's ManualImportResource for one candidate: {id (its place in the list, from 1), path,
/// name, size, author (AuthorResource or null), book (BookResource or null), foreignEditionId,
/// quality, qualityWeight, releaseGroup, downloadId, additionalFile, replaceExistingFiles,
/// disableReleaseSwitching, rejections [{reason, type}]}, plus the candidate's own fields
/// (matchedBy, authorId, bookId, editionId, destination, ...; see ImportCandidate's to_json).
nlohmann::json manualimport_resource(shelfjobs::Catalog& catalog, const shelfjobs::ImportCandidate& candidate,
                                     int id);

/// A time as Readarr writes it, or null.
nlohmann::json opt_time(const std::optional<shelfjobs::TimePoint>& t);
/// "RssSync" -> "Rss Sync".
std::string spaced(const std::string& name);
/// Readarr's duration format, "hh:mm:ss.fffffff".
std::string readarr_duration(std::chrono::milliseconds d);

}  // namespace shelfd
