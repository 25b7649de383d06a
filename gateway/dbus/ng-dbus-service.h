/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's D-Bus service org.needlegate.Gateway1: the hub, its pens, pairing; shared by the MQTT
 * requests. */

#pragma once

#include <gio/gio.h>

#include "ng-hub.h"

G_BEGIN_DECLS

#define NG_API_BUS_NAME "org.needlegate.Gateway1"

typedef struct _NgApi NgApi;

/* The name could not be had or was taken away (another needlegated runs). */
typedef void (*NgApiNameLostFunc)(NgApi *api, gpointer user_data);

/* Exports the objects of @hub and asks for the name org.needlegate.Gateway1 on @bus. */
NgApi *ng_api_new(NgHub *hub, GDBusConnection *bus, NgApiNameLostFunc name_lost, gpointer user_data,
		  GError **error);
void ng_api_free(NgApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgApi, ng_api_free)

G_END_DECLS
