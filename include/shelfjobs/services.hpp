// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella header for the services (link shelfjobs::services or shelfjobs::shelfjobs): the
/// catalog, the metadata source and the refresh service, with the engine.

#include "shelfjobs/catalog.hpp"
#include "shelfjobs/metadata.hpp"
#include "shelfjobs/refresh.hpp"
#include "shelfjobs/shelfjobs.hpp"
