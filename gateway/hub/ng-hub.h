/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine: owns every pen's runtime, decides the order of what happens, offers each operation once. */

#pragma once

#include <gio/gio.h>

#include "ng-audit.h"
#include "ng-config.h"
#include "ng-errors.h"
#include "ng-mqtt.h"
#include "ng-outbox.h"
#include "ng-snapshot.h"
#include "ng-store.h"
#include "ng-topics.h"

G_BEGIN_DECLS

/*
 * Modelled on fwupd's FuEngine: the BlueZ side (ble/) reports through the
 * pen listener the hub implements, the hub keeps each pen's runtime (session
 * tracker, checks, plan, counters, open alerts), decides what is published
 * and in which order (the publisher, mqtt/), and offers every operation once
 * to both front-ends (the D-Bus service, the MQTT requests), with the errors
 * of ng-errors.h. Front-ends follow changes through ng_hub_add_listener ().
 *
 * Pens are named by a serial number or a Bluetooth address (any case)
 * wherever an operation takes a @name.
 */
typedef struct _NgHub NgHub;

/* Where the D-Bus service exports the hub and its pens (a pen's path is in pair responses too). */
#define NG_HUB_OBJECT_PATH "/org/needlegate/Gateway1"
/* The Pen1 object path of the pen with Bluetooth address @address. */
char *ng_hub_pen_object_path(const char *address);

/* What the hub is built on; everything outlives the hub. */
typedef struct {
	const NgConfig *config;
	GDBusConnection *bus; /* the system bus: BlueZ, and the D-Bus service's */
	NgStore *store;	      /* NULL: nothing persisted (tests) */
	NgOutbox *outbox;     /* NULL: nothing published (tests) */
} NgHubEnv;

/* Follows BlueZ on env->bus; nothing happens before the main loop runs. */
NgHub *ng_hub_new(const NgHubEnv *env, GError **error);
/* Says offline for every pen it connected (pens/<id>/state) and stops. */
void ng_hub_free(NgHub *hub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgHub, ng_hub_free)

/* The topics of this hub (the will's, the requests'). */
const NgTopics *ng_hub_get_topics(NgHub *hub);
/* The MQTT client's news: bridge/info and the D-Bus property follow. */
void ng_hub_set_mqtt_connected(NgHub *hub, gboolean connected);
/* The MQTT client, for what reads from the broker (ng_hub_forget_hub_async ()); NULL: none. */
void ng_hub_set_mqtt(NgHub *hub, NgMqtt *mqtt);
/* Publishes bridge/state online, bridge/info, bridge/devices (at start and on every reconnect). */
void ng_hub_publish_all(NgHub *hub);
/* bridge/info now (the periodic timer). */
void ng_hub_publish_info(NgHub *hub);
/* A clean stop: every connected pen's state says offline, bridge/state offline. */
void ng_hub_publish_offline(NgHub *hub);

/* ---- what the hub knows --------------------------------------------------------------------- */

void ng_hub_get_snapshot(NgHub *hub, NgHubSnapshot *snap);
/* The served pens' addresses (a pen is known by its address before its serial). */
GPtrArray *ng_hub_dup_pen_addresses(NgHub *hub);
/* FALSE: no pen of that name is served. */
gboolean ng_hub_get_pen_snapshot(NgHub *hub, const char *name, NgPenSnapshot *snap);
/* Gateway-wide counters, as on bridge/info: name -> value. */
typedef struct {
	guint64 records;
	guint64 replayed;
	guint64 duplicates;
	guint64 malformed;
	guint64 lost;
	guint64 events;
	guint64 publish_errors;
} NgHubCounters;
void ng_hub_get_counters(NgHub *hub, NgHubCounters *counters);

/* Changes, for the front-ends; every callback may be NULL; several listeners may watch. */
typedef struct {
	/* A pen is served now (@address), or changed (its state, plan, battery, ...). */
	void (*pen_changed)(NgHub *hub, const char *address, gpointer user_data);
	/* A pen is no longer served. */
	void (*pen_removed)(NgHub *hub, const char *address, gpointer user_data);
	/* The hub's own state (adapter, bluetoothd, broker, pairing window, counts). */
	void (*hub_changed)(NgHub *hub, gpointer user_data);
} NgHubListener;
guint ng_hub_add_listener(NgHub *hub, const NgHubListener *listener, gpointer user_data);
void ng_hub_remove_listener(NgHub *hub, guint id);

/* ---- operations: the same for D-Bus, MQTT and needlectl ---------------------------------------- */

/* Opens (@seconds 1 to NG_PAIRING_WINDOW_MAX_S, 0: the default) or extends the pairing window. */
gboolean ng_hub_open_pairing_window(NgHub *hub, guint seconds, const NgActor *who, GError **error);
void ng_hub_close_pairing_window(NgHub *hub, const NgActor *who);
/* Unbonded pens in range while the window is open: aa{sv} (ng_pairing_list_discovered_async ()). */
void ng_hub_list_discovered_async(NgHub *hub, GAsyncReadyCallback callback, gpointer user_data);
GVariant *ng_hub_list_discovered_finish(NgHub *hub, GAsyncResult *result, GError **error);
/* Starts pairing @address: completes when the pen shows its passkey. */
void ng_hub_start_pairing_async(NgHub *hub, const char *address, const NgActor *who,
				GAsyncReadyCallback callback, gpointer user_data);
gboolean ng_hub_start_pairing_finish(NgHub *hub, GAsyncResult *result, GError **error);
/* Gives the passkey; completes when bonded, with the normalized address ("AA:BB:…"). */
void ng_hub_pair_async(NgHub *hub, const char *address, guint32 passkey, const NgActor *who,
		       GAsyncReadyCallback callback, gpointer user_data);
char *ng_hub_pair_finish(NgHub *hub, GAsyncResult *result, GError **error);
gboolean ng_hub_cancel_pairing(NgHub *hub, const char *address, const NgActor *who, GError **error);
/*
 * Unbonds the pen: its running session ends (reason "removed", its alerts
 * cleared), its retained topics are cleared, its plan is forgotten (its
 * journal stays). Completes with the pen's serial (NULL if never read).
 */
void ng_hub_remove_async(NgHub *hub, const char *name, const NgActor *who, GAsyncReadyCallback callback,
			 gpointer user_data);
gboolean ng_hub_remove_finish(NgHub *hub, GAsyncResult *result, char **serial, GError **error);

/* Clears what the broker retains under <base_topic>/<@hub_id>/ (a hub id no gateway uses any more,
 * e.g. the host name the package started with before hub_id was set): publishes an empty retained
 * message on each such topic. Refuses this hub's own id, and a hub whose bridge/state is online.
 * The result: how many retained messages were cleared. */
void ng_hub_forget_hub_async(NgHub *hub, const char *hub_id, const NgActor *who, GAsyncReadyCallback callback,
			     gpointer user_data);
gboolean ng_hub_forget_hub_finish(NgHub *hub, GAsyncResult *result, guint *cleared, GError **error);
/* Identify (NP_OP_IDENTIFY) or Stop Session (NP_OP_STOP_SESSION) on a connected pen. */
void ng_hub_pen_request_async(NgHub *hub, const char *name, guint8 op, const NgActor *who,
			      GAsyncReadyCallback callback, gpointer user_data);
gboolean ng_hub_pen_request_finish(NgHub *hub, GAsyncResult *result, GError **error);
/*
 * Plans, for a pen served by this hub whose serial number is known (it
 * connected once): NotFound for a pen this hub does not serve, NotConnected
 * before its serial is known, InvalidPlan (the message names the field; the
 * previous plan stays), NoPlan when clearing or reading a pen with none.
 * @serial_out (may be NULL) gets the pen's serial, @plan_id_out the plan id.
 */
gboolean ng_hub_assign_plan(NgHub *hub, const char *name, const char *plan_json, const NgActor *who,
			    char **serial_out, char **plan_id_out, GError **error);
gboolean ng_hub_clear_plan(NgHub *hub, const char *name, const NgActor *who, char **serial_out,
			   char **plan_id_out, GError **error);
/* The plan assigned for the next session, as JSON. */
char *ng_hub_get_plan_json(NgHub *hub, const char *name, GError **error);
/* The journal's finished sessions as a JSON array (@name NULL or "": every pen). */
char *ng_hub_list_sessions_json(NgHub *hub, const char *name, gint64 since_ms, GError **error);

/* The database was damaged at start and replaced: bridge/event "store_replaced" says where the
 * old one went. */
void ng_hub_report_store_replaced(NgHub *hub, const char *moved_to);

G_END_DECLS
