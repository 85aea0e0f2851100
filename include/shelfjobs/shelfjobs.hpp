// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella header: everything a host needs to embed the shelfjobs engine.

#include "shelfjobs/clock.hpp"
#include "shelfjobs/command.hpp"
#include "shelfjobs/context.hpp"
#include "shelfjobs/engine.hpp"
#include "shelfjobs/error.hpp"
#include "shelfjobs/events.hpp"
#include "shelfjobs/health.hpp"
#include "shelfjobs/job.hpp"
#include "shelfjobs/notifier.hpp"
#include "shelfjobs/rate_limiter.hpp"
#include "shelfjobs/schedule.hpp"
#include "shelfjobs/tasks.hpp"
#include "shelfjobs/version.hpp"
