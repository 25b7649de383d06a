/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's D-Bus service org.needlegate.Gateway1: the hub, its pens, pairing; shared by the MQTT
 * requests. */

#pragma once

#include <gio/gio.h>

#include "ng-assign.h"
#include "ng-audit.h"
#include "ng-bluez.h"
#include "ng-publisher.h"
#include "ng-config.h"
#include "ng-journal.h"
#include "ng-mqtt.h"
#include "ng-pairing.h"

G_BEGIN_DECLS

#define NG_API_BUS_NAME	   "org.needlegate.Gateway1"
#define NG_API_OBJECT_PATH "/org/needlegate/Gateway1"

/* What the API serves; all owned by the daemon and outliving the API. */
typedef struct {
	const NgConfig *config;
	GDBusConnection *bus;
	NgBluez *bluez;
	NgBridge *bridge;
	NgMqtt *mqtt; /* may be NULL */
	NgPairing *pairing;
	NgAudit *audit;
	NgAssign *assign;   /* may be NULL: plans are refused with NotSupported */
	NgJournal *journal; /* may be NULL: ListSessions is refused with NotSupported */
} NgApiEnv;

typedef struct _NgApi NgApi;

/* The name could not be had or was taken away (another needlegated runs). */
typedef void (*NgApiNameLostFunc)(NgApi *api, gpointer user_data);

/* Exports the objects and asks for the name org.needlegate.Gateway1 on env->bus. */
NgApi *ng_api_new(const NgApiEnv *env, NgApiNameLostFunc name_lost, gpointer user_data, GError **error);
void ng_api_free(NgApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgApi, ng_api_free)

/* Brings properties and pen objects up to date now (they follow within a second anyway). */
void ng_api_sync(NgApi *api);

/* ---- operations shared by D-Bus and the MQTT requests (ng-requests.c) -------------------------- */

/* The served pen named by @name (a serial number or a Bluetooth address, any case), or NULL. */
NgPen *ng_api_find_pen(NgApi *api, const char *name);

/* Opens (@seconds > 0, or 0 for the default) the pairing window; audited. */
gboolean ng_api_open_pairing_window(NgApi *api, guint seconds, const NgActor *who, GError **error);
void ng_api_close_pairing_window(NgApi *api, const NgActor *who);

/* ng_pairing_start_async / ng_pairing_pair_async, with the audit of the outcome. */
void ng_api_start_pairing_async(NgApi *api, const char *address, const NgActor *who,
				GAsyncReadyCallback callback, gpointer user_data);
gboolean ng_api_start_pairing_finish(NgApi *api, GAsyncResult *result, GError **error);
void ng_api_pair_async(NgApi *api, const char *address, guint32 passkey, const NgActor *who,
		       GAsyncReadyCallback callback, gpointer user_data);
/* Returns the pen's Pen1 object path. */
char *ng_api_pair_finish(NgApi *api, GAsyncResult *result, GError **error);

/* Unbonds the pen named by @name, forgets its plan and object (its journal stays); audited. */
void ng_api_remove_async(NgApi *api, const char *name, const NgActor *who, GAsyncReadyCallback callback,
			 gpointer user_data);
gboolean ng_api_remove_finish(NgApi *api, GAsyncResult *result, GError **error);

/* Identify (@op NP_OP_IDENTIFY) or Stop Session (NP_OP_STOP_SESSION) on the pen named by @name. */
void ng_api_pen_request_async(NgApi *api, const char *name, guint8 op, const NgActor *who,
			      GAsyncReadyCallback callback, gpointer user_data);
gboolean ng_api_pen_request_finish(NgApi *api, GAsyncResult *result, GError **error);

/* Records an audit event (for the plan requests handled elsewhere). */
NgAudit *ng_api_get_audit(NgApi *api);
NgAssign *ng_api_get_assign(NgApi *api);

/* The Pen1 object path for a Bluetooth address. */
char *ng_api_pen_object_path(const char *address);

G_END_DECLS
