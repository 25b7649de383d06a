/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scenario files: a GLib key file that sets up each pen and scripts its timeline. */

#pragma once

#include "sim-daemon.h"

G_BEGIN_DECLS

typedef struct _SimScenario SimScenario;

/* Reads FILE; every fault names the group and key. Pen configs of the
 * scenario override the command line's, pen by pen. */
SimScenario *sim_scenario_load(const char *file, GError **error);
void sim_scenario_free(SimScenario *scenario);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimScenario, sim_scenario_free)

/* Number of pens the scenario declares ([pen N] groups); 0 if none. */
guint sim_scenario_get_n_pens(SimScenario *scenario);
/* Applies [pen N] (1-based) settings onto cfg. */
gboolean sim_scenario_apply_config(SimScenario *scenario, guint index, SimPenConfig *cfg, GError **error);
/* Schedules the timeline of every pen ([pen N] "at" steps). */
void sim_scenario_start(SimScenario *scenario, SimDaemon *daemon);

G_END_DECLS
