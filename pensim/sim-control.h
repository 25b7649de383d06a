/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.needlegate.PenSim1: the control interface tests use to act on simulated pens. */

#pragma once

#include "sim-daemon.h"

G_BEGIN_DECLS

#define SIM_CONTROL_PATH "/org/needlegate/PenSim"

typedef struct _SimControl SimControl;

SimControl *sim_control_new(SimDaemon *daemon, GError **error);
void sim_control_free(SimControl *control);
void sim_control_set_load_finished(SimControl *control, gboolean finished);
/* What PenSimManager1.StartLoad does: FALSE with an error if it cannot start. */
typedef gboolean (*SimStartLoadFunc)(gpointer user_data, GError **error);
void sim_control_set_start_load(SimControl *control, SimStartLoadFunc func, gpointer user_data);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimControl, sim_control_free)

/* Parses "forehead", "0x04" or "4" into an area code; -1 if it is neither. */
int sim_parse_area(const char *text);
/* Parses "stopped", "remote_stop", ... into an end reason; -1 otherwise. */
int sim_parse_end_reason(const char *text);
/* Parses a characteristic name ("telemetry", ...) for SendRaw; -1 otherwise. */
int sim_parse_chr(const char *text);
gboolean sim_malformed_kind_known(const char *kind);
/* Builds the bytes of one malformed notification; NULL for an unknown kind. */
GBytes *sim_malformed_bytes(SimPen *pen, const char *kind, SimChr *chr);

G_END_DECLS
