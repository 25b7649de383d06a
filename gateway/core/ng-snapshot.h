/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the hub knows of a pen and of itself at one moment: feeds MQTT state, D-Bus properties, needlectl. */

#pragma once

#include <glib.h>

#include "ng-rules.h"
#include "np.h"

G_BEGIN_DECLS

/*
 * One struct for every view of a pen: the publisher renders it as
 * pens/<id>/state and as an entry of bridge/devices, the D-Bus service sets
 * the Pen1 properties from it (and needlectl reads those). Strings and the
 * alerts array are borrowed from the hub: valid until control returns to the
 * main loop.
 */
typedef struct {
	const char *serial; /* NULL before the pen's Device Information was read once */
	const char *address;
	const char *name;
	const char *model;
	const char *firmware;
	const char *link; /* the link state: "idle", "connecting", ..., "ready", "refused" */
	gboolean connected;
	int battery; /* percent, -1: unknown */
	int rssi;    /* dBm, 0: unknown (BlueZ's Device1.RSSI: only while discovering) */
	gboolean rssi_dbm_known;
	int rssi_dbm; /* the connection's RSSI from the adapter (HCI Read RSSI), as published
			 (ng-link-quality.h): changes of more than 5 dB only */
	gboolean have_status;
	NpPenStatus status; /* the pen's last Pen Status, kept current by its session events */
	guint8 area;	    /* the area the pen works on now */
	gboolean session_active;
	guint16 session_id;
	const char *plan_id;	   /* the plan the session runs under, or the one assigned for the next */
	const char *plan_assigned; /* assigned for the next session */
	gboolean limits_known;
	NpLimits limits; /* applied by the pen (limits_known) */
	guint64 limits_mismatches;
	const char *telemetry_path; /* "acquire_notify", "start_notify", NULL when not connected */
	const NgAlert *open_alerts; /* the raised, not yet cleared alerts of the running session */
	guint n_open_alerts;
	gint64 last_seen_ms; /* unix ms: last time it was connected (now while it is) */
} NgPenSnapshot;

/* The hub itself: bridge/info and the D-Bus Gateway1 properties. */
typedef struct {
	const char *hub_id;
	const char *adapter; /* "hci0", NULL until found */
	const char *adapter_address;
	gboolean bluetoothd;
	guint pens_served;
	guint pens_connected;
	gboolean mqtt_connected;
	gint64 started_ms;
	gint64 uptime_s;
	gboolean pairing_window_open;
	gint64 pairing_window_ends_ms;
	const char *pairing_state;
	const char *pairing_address; /* NULL when idle */
	const char *store_problem;   /* the database cannot be written: why; NULL when it can */
} NgHubSnapshot;

G_END_DECLS
