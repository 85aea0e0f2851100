// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella header for the services (link shelfjobs::services or shelfjobs::shelfjobs): the
/// catalog, the adapters (metadata source, webhook notifier), the refresh service and the standard
/// task table, with the engine.

#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/adapters/webhook_notifier.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/refresh.hpp"
#include "shelfjobs/services/tasks.hpp"
#include "shelfjobs/shelfjobs.hpp"
