// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella header: everything a host needs to embed the shelfjobs engine.

#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/job.hpp"
#include "shelfjobs/engine/notifier.hpp"
#include "shelfjobs/engine/rate_limiter.hpp"
#include "shelfjobs/engine/schedule.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"
#include "shelfjobs/version.hpp"
