// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella header for the services (link shelfjobs::services or shelfjobs::shelfjobs): the
/// catalog, the adapters (metadata source, webhook notifier), the service contract and its host,
/// the library and refresh services and the standard task table, with the engine.

#include "shelfjobs/adapters/backup_archive.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/adapters/calibre_library.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "shelfjobs/adapters/file_transfer.hpp"
#include "shelfjobs/adapters/library_walk.hpp"
#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/adapters/newznab.hpp"
#include "shelfjobs/adapters/release_title.hpp"
#include "shelfjobs/adapters/webhook_notifier.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/acquisition.hpp"
#include "shelfjobs/services/backup.hpp"
#include "shelfjobs/services/book_import.hpp"
#include "shelfjobs/services/book_monitoring.hpp"
#include "shelfjobs/services/catalog_events.hpp"
#include "shelfjobs/services/housekeeping.hpp"
#include "shelfjobs/services/library.hpp"
#include "shelfjobs/services/library_scan.hpp"
#include "shelfjobs/services/naming.hpp"
#include "shelfjobs/services/providers.hpp"
#include "shelfjobs/services/refresh.hpp"
#include "shelfjobs/services/release_decision.hpp"
#include "shelfjobs/services/service.hpp"
#include "shelfjobs/services/tasks.hpp"
#include "shelfjobs/shelfjobs.hpp"
