/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One pen's runtime in the hub: its sessions, checks, replay and open alerts, and the order of what is said.
 */

#pragma once

#include <gio/gio.h>

#include "ng-check.h"
#include "ng-config.h"
#include "ng-publisher.h"
#include "ng-session-store.h"
#include "ng-snapshot.h"
#include "ng-store.h"

G_BEGIN_DECLS

/*
 * The hub keeps one runtime per pen serial: it outlives the pen's BlueZ
 * objects (bluetoothd restarts make new ones) and holds what must survive
 * them: the sequence tracker, the rule engine's check, the open alerts. It
 * decides the order of what the pen's data causes: rules before "ended",
 * the pen's state after the event, gaps filled with Report Stored Records
 * before a session that ended while away is closed.
 *
 * It talks to the pen only through NgRuntimeLink (the Control Point), so
 * that a test can drive it without BlueZ.
 */
typedef struct _NgRuntime NgRuntime;

typedef struct {
	void (*request_async)(gpointer link, const NpControlRequest *request, GAsyncReadyCallback callback,
			      gpointer user_data);
	gboolean (*request_finish)(GAsyncResult *result, NpControlResponse *response, GError **error);
} NgRuntimeLinkOps;

typedef struct {
	const NgConfig *config;
	NgStore *store; /* NULL: nothing persisted */
	NgPublisher *publisher;
	const NgTopics *topics;
	NgChecks *checks; /* NULL: no validation */
	/* The pen's state changed (pens/<id>/state, bridge/devices, D-Bus): the hub republishes. */
	void (*changed)(NgRuntime *rt, gpointer user_data);
	gpointer user_data;
} NgRuntimeEnv;

/* Never fails: a store that cannot give the pen's saved state is logged (and reported by the
 * store), and the pen is served without it. */
NgRuntime *ng_runtime_new(const NgRuntimeEnv *env, const char *serial);
void ng_runtime_free(NgRuntime *rt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgRuntime, ng_runtime_free)

const char *ng_runtime_get_serial(NgRuntime *rt);
const NgPenTopics *ng_runtime_get_topics(NgRuntime *rt);
/* What serves the runtime now (the hub's NgPen), or NULL: the runtime never looks at it. */
void ng_runtime_set_user_data(NgRuntime *rt, gpointer user_data);
gpointer ng_runtime_get_user_data(NgRuntime *rt);

/* A connection identified the pen (every connection, before its first record). */
void ng_runtime_identified(NgRuntime *rt, const NpPenFeatures *features);
/* The pen streams: @link takes Control Point requests until ng_runtime_link_down (). */
void ng_runtime_link_up(NgRuntime *rt, const NgRuntimeLinkOps *ops, gpointer link, gboolean have_status,
			const NpPenStatus *status);
/* The link is gone. */
void ng_runtime_link_down(NgRuntime *rt);
/* Pen Status read or notified. */
void ng_runtime_status(NgRuntime *rt, const NpPenStatus *status);
/* One notification's records, in the order sent (the hot path). */
void ng_runtime_records(NgRuntime *rt, const NpTelemetryRecord *records, guint n_records);
void ng_runtime_event(NgRuntime *rt, const NpSessionEvent *event);
/* A malformed notification: counted. */
void ng_runtime_malformed(NgRuntime *rt);
/* An alert of the pen's rule engine (from NgChecks): published, and kept while open. */
void ng_runtime_alert(NgRuntime *rt, const NgAlert *alert);
/* The pen was removed: its running session ends (reason "removed"), its retained topics are cleared. */
void ng_runtime_removed(NgRuntime *rt);

/* The runtime's part of the pen's snapshot: session, area, plan, limits, open alerts. */
void ng_runtime_fill_snapshot(NgRuntime *rt, NgPenSnapshot *snap);
/* pens/<id>/state from @snap (unchanged state is not sent again). */
void ng_runtime_publish_state(NgRuntime *rt, const NgPenSnapshot *snap);

G_END_DECLS
