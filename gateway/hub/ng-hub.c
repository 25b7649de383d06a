/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine: owns every pen's runtime, decides the order of what happens, offers each operation once. */

#include "config.h"

#include "ng-hub.h"

#include <string.h>

#include "ng-assign.h"
#include "ng-bluez.h"
#include "ng-check.h"
#include "ng-hci.h"
#include "ng-link-quality.h"
#include "ng-pairing.h"
#include "ng-pen.h"
#include "ng-publisher.h"
#include "ng-runtime.h"

/* bridge/devices follows every change within this long, at most once per interval. */
#define DEVICES_DELAY_MS  250
#define LAST_SEEN_STEP_MS 60000

typedef struct {
	guint id;
	NgHubListener listener;
	gpointer user_data;
} Listener;

struct _NgHub {
	NgHubEnv env;
	NgTopics *topics;
	NgPublisher *publisher;
	NgAssign *assign;
	NgChecks *checks;
	NgAudit *audit;
	NgPenEnv pen_env;
	NgBluez *bluez;
	NgPairing *pairing;
	GHashTable *runtimes;  /* serial -> NgRuntime: outlive the pens' BlueZ objects */
	GHashTable *last_seen; /* address -> gint64 ms */
	guint store_hook_id;
	gboolean store_ok;		/* the database could be written at the last commit */
	gboolean store_damage_reported; /* bridge/event store_damaged sent (damage found while running) */
	GArray *listeners;		/* Listener */
	guint next_listener_id;
	guint devices_id;
	gboolean info_pending; /* bridge/info goes with the next bridge/devices */
	gboolean mqtt_connected;
	NgMqtt *mqtt; /* NULL: no broker to read from */
	gint64 started_ms;
	gint64 started_mono;
	NgHciRssi *hci;		   /* NULL: link quality off ([bluetooth] link_quality_interval 0) */
	GHashTable *link_quality;  /* address -> NgLinkQuality, of the pens connected now */
	guint link_quality_id;	   /* the reading timer */
	guint link_quality_logged; /* the NgHciError kinds already logged (1 << code) */
};

/* ---- notifications -------------------------------------------------------------------------------- */

/* bridge/devices now; @offline: as a clean stop leaves it, every pen shown disconnected. */
static void
publish_devices(NgHub *hub, gboolean offline)
{
	g_autoptr(GPtrArray) addresses = ng_hub_dup_pen_addresses(hub);
	g_autofree NgPenSnapshot *snaps = g_new0(NgPenSnapshot, MAX(addresses->len, 1));
	guint n = 0;

	for (guint i = 0; i < addresses->len; i++) {
		if (!ng_hub_get_pen_snapshot(hub, g_ptr_array_index(addresses, i), &snaps[n]))
			continue;
		if (offline) {
			snaps[n].connected = FALSE;
			snaps[n].link = "offline";
			snaps[n].telemetry_path = NULL;
		}
		n++;
	}
	ng_publisher_devices(hub->publisher, snaps, n);
}

/* What changed within the last DEVICES_DELAY_MS, said once: bridge/info first if the counts of
 * pens served or connected may have changed (a dashboard must not wait for the info timer). */
static gboolean
devices_cb(gpointer user_data)
{
	NgHub *hub = user_data;

	hub->devices_id = 0;
	if (hub->info_pending) {
		hub->info_pending = FALSE;
		ng_hub_publish_info(hub);
	}
	publish_devices(hub, FALSE);
	return G_SOURCE_REMOVE;
}

static void
schedule_devices(NgHub *hub)
{
	if (hub->devices_id == 0)
		hub->devices_id = g_timeout_add(DEVICES_DELAY_MS, devices_cb, hub);
}

static void
notify_hub_changed(NgHub *hub)
{
	for (guint i = 0; i < hub->listeners->len; i++) {
		Listener *l = &g_array_index(hub->listeners, Listener, i);
		if (l->listener.hub_changed != NULL)
			l->listener.hub_changed(hub, l->user_data);
	}
}

static void
notify_pen(NgHub *hub, const char *address, gboolean removed)
{
	for (guint i = 0; i < hub->listeners->len; i++) {
		Listener *l = &g_array_index(hub->listeners, Listener, i);
		if (removed && l->listener.pen_removed != NULL)
			l->listener.pen_removed(hub, address, l->user_data);
		else if (!removed && l->listener.pen_changed != NULL)
			l->listener.pen_changed(hub, address, l->user_data);
	}
}

static void
fill_pen_snapshot(NgHub *hub, NgPen *pen, NgPenSnapshot *snap)
{
	NgRuntime *rt = ng_pen_get_user_data(pen);
	gint64 *seen = g_hash_table_lookup(hub->last_seen, ng_pen_get_address(pen));

	memset(snap, 0, sizeof(*snap));
	snap->serial = ng_pen_get_serial(pen);
	snap->address = ng_pen_get_address(pen);
	snap->name = ng_pen_get_name(pen);
	snap->model = ng_pen_get_model(pen);
	snap->firmware = ng_pen_get_firmware(pen);
	snap->link = ng_pen_state_to_string(ng_pen_get_state(pen));
	snap->connected = ng_pen_is_connected(pen);
	snap->battery = ng_pen_get_battery(pen);
	snap->rssi = ng_pen_get_rssi(pen);
	if (hub->link_quality != NULL) {
		NgLinkQuality *lq = g_hash_table_lookup(hub->link_quality, snap->address);
		snap->rssi_dbm_known = lq != NULL && ng_link_quality_get(lq, &snap->rssi_dbm);
	}
	snap->have_status = ng_pen_get_status(pen, &snap->status);
	snap->telemetry_path =
	    snap->connected ? (ng_pen_uses_acquire_notify(pen) ? "acquire_notify" : "start_notify") : NULL;
	snap->last_seen_ms = seen != NULL ? *seen : 0;
	if (rt != NULL)
		ng_runtime_fill_snapshot(rt, snap);
}

/* Something about @pen changed: its state topic, bridge/devices, the front-ends. */
static void
pen_changed(NgHub *hub, NgPen *pen)
{
	NgRuntime *rt = ng_pen_get_user_data(pen);
	NgPenSnapshot snap;

	if (rt != NULL) {
		fill_pen_snapshot(hub, pen, &snap);
		ng_runtime_publish_state(rt, &snap);
	}
	schedule_devices(hub);
	notify_pen(hub, ng_pen_get_address(pen), FALSE);
}

static void
runtime_changed_cb(NgRuntime *rt, gpointer user_data)
{
	NgHub *hub = user_data;
	NgPen *pen = ng_runtime_get_user_data(rt);

	if (pen != NULL)
		pen_changed(hub, pen);
}

static void
alert_cb(const char *serial, const NgAlert *alert, gpointer user_data)
{
	NgHub *hub = user_data;
	NgRuntime *rt = g_hash_table_lookup(hub->runtimes, serial);

	if (rt != NULL)
		ng_runtime_alert(rt, alert);
}

static void
assign_changed_cb(NgAssign *assign, const char *serial, gpointer user_data)
{
	NgHub *hub = user_data;
	NgRuntime *rt = g_hash_table_lookup(hub->runtimes, serial);

	if (rt != NULL)
		runtime_changed_cb(rt, hub);
}

/* ---- the pen listener: what the pens' links report ---------------------------------------------- */

static void
link_request_async(gpointer link, const NpControlRequest *request, GAsyncReadyCallback callback,
		   gpointer user_data)
{
	ng_pen_request_async(link, request, callback, user_data);
}

static const NgRuntimeLinkOps link_ops = {
    .request_async = link_request_async,
    .request_finish = ng_pen_request_finish,
};

static gboolean
pen_identified(NgPen *pen, gpointer user_data, GError **error)
{
	NgHub *hub = user_data;
	const char *serial = ng_pen_get_serial(pen);
	NgRuntime *rt = g_hash_table_lookup(hub->runtimes, serial);
	NpPenFeatures features;

	if (rt == NULL) {
		NgRuntimeEnv env = {
		    .config = hub->env.config,
		    .store = hub->env.store,
		    .publisher = hub->publisher,
		    .topics = hub->topics,
		    .checks = hub->checks,
		    .changed = runtime_changed_cb,
		    .user_data = hub,
		};
		rt = ng_runtime_new(&env, serial);
		g_hash_table_insert(hub->runtimes, g_strdup(serial), rt);
	}
	ng_pen_set_user_data(pen, rt);
	ng_runtime_set_user_data(rt, pen);
	ng_pen_get_features(pen, &features);
	ng_runtime_identified(rt, &features);
	return TRUE;
}

static void
touch_last_seen(NgHub *hub, NgPen *pen)
{
	gint64 *seen = g_new(gint64, 1);

	*seen = g_get_real_time() / 1000;
	g_hash_table_insert(hub->last_seen, g_strdup(ng_pen_get_address(pen)), seen);
}

static void
pen_state_changed(NgPen *pen, int old_state, gpointer user_data)
{
	NgHub *hub = user_data;
	NgRuntime *rt = ng_pen_get_user_data(pen);
	NpPenStatus status;
	gboolean have_status = ng_pen_get_status(pen, &status);

	touch_last_seen(hub, pen);
	if (hub->link_quality != NULL)
		g_hash_table_remove(hub->link_quality, ng_pen_get_address(pen)); /* a new link, or none */
	if (ng_pen_is_connected(pen)) {
		hub->info_pending = TRUE; /* pens_connected */
		if (rt != NULL)
			ng_runtime_link_up(rt, &link_ops, pen, have_status, &status);
		ng_publisher_bridge_event(hub->publisher, "connected", ng_pen_get_serial(pen),
					  ng_pen_get_address(pen), NULL);
	} else if (old_state == NG_PEN_STATE_READY) {
		hub->info_pending = TRUE;
		if (rt != NULL)
			ng_runtime_link_down(rt);
		ng_publisher_bridge_event(hub->publisher, "disconnected", ng_pen_get_serial(pen),
					  ng_pen_get_address(pen), NULL);
	}
	pen_changed(hub, pen);
	notify_hub_changed(hub);
}

static void
pen_records(NgPen *pen, const NpTelemetryRecord *records, guint n_records, gpointer user_data)
{
	NgRuntime *rt = ng_pen_get_user_data(pen);

	if (G_LIKELY(rt != NULL))
		ng_runtime_records(rt, records, n_records);
}

static void
pen_event(NgPen *pen, const NpSessionEvent *event, gpointer user_data)
{
	NgRuntime *rt = ng_pen_get_user_data(pen);

	if (rt != NULL)
		ng_runtime_event(rt, event);
}

static void
pen_status_changed(NgPen *pen, gpointer user_data)
{
	NgRuntime *rt = ng_pen_get_user_data(pen);
	NpPenStatus status;

	if (rt != NULL && ng_pen_get_status(pen, &status))
		ng_runtime_status(rt, &status);
	pen_changed(user_data, pen);
}

static void
pen_malformed(NgPen *pen, gpointer user_data)
{
	NgHub *hub = user_data;

	ng_publisher_get_counters(hub->publisher)->malformed++;
}

static void
pen_refused(NgPen *pen, const char *why, gpointer user_data)
{
	NgHub *hub = user_data;

	ng_publisher_bridge_event(hub->publisher, "refused", ng_pen_get_serial(pen), ng_pen_get_address(pen),
				  why);
}

static const NgPenListener pen_listener = {
    .identified = pen_identified,
    .state_changed = pen_state_changed,
    .records = pen_records,
    .event = pen_event,
    .status_changed = pen_status_changed,
    .malformed = pen_malformed,
    .refused = pen_refused,
};

/* ---- BlueZ: pens coming and going ---------------------------------------------------------------- */

static void
bluez_pen_added(NgBluez *bluez, NgPen *pen, gboolean paired_now, gpointer user_data)
{
	NgHub *hub = user_data;

	/* A bond made while we run (needlectl pair, bluetoothctl): the technician's news. */
	if (paired_now)
		ng_publisher_bridge_event(hub->publisher, "paired", NULL, ng_pen_get_address(pen), NULL);
	hub->info_pending = TRUE; /* pens_served */
	schedule_devices(hub);
	notify_pen(hub, ng_pen_get_address(pen), FALSE);
	notify_hub_changed(hub);
}

static void
bluez_pen_removed(NgBluez *bluez, NgPen *pen, const char *why, gpointer user_data)
{
	NgHub *hub = user_data;

	if (ng_pen_get_serial(pen) != NULL)
		ng_publisher_bridge_event(hub->publisher, "removed", ng_pen_get_serial(pen),
					  ng_pen_get_address(pen), why);
	if (ng_pen_get_user_data(pen) != NULL)
		ng_runtime_set_user_data(ng_pen_get_user_data(pen), NULL);
	ng_pen_set_user_data(pen, NULL);
	if (hub->link_quality != NULL)
		g_hash_table_remove(hub->link_quality, ng_pen_get_address(pen));
	hub->info_pending = TRUE;
	schedule_devices(hub);
	notify_pen(hub, ng_pen_get_address(pen), TRUE);
	notify_hub_changed(hub);
}

static void
bluez_changed(NgBluez *bluez, gpointer user_data)
{
	NgHub *hub = user_data;

	ng_hub_publish_info(hub);
	schedule_devices(hub);
	notify_hub_changed(hub);
}

static const NgBluezListener bluez_listener = {
    .pen_added = bluez_pen_added,
    .pen_removed = bluez_pen_removed,
    .changed = bluez_changed,
};

static void
pairing_changed_cb(NgPairing *pairing, gpointer user_data)
{
	notify_hub_changed(user_data);
}

static NgPen *find_pen(NgHub *hub, const char *name);

/* ---- link quality: the RSSI of the connected pens' LE connections --------------------------------- */

/* Each kind of failure is logged once (a hub without HCI access would otherwise say it every
 * interval for every pen); the rest at debug. */
static void
link_quality_failed(NgHub *hub, const char *address, const GError *error)
{
	guint kind = error->domain == NG_HCI_ERROR ? (guint)error->code : NG_HCI_ERROR_FAILED;

	if ((hub->link_quality_logged & (1u << kind)) == 0) {
		hub->link_quality_logged |= 1u << kind;
		g_message("link quality unknown: %s; rssi_dbm and linkquality stay null while this lasts "
			  "(said once)",
			  error->message);
	} else {
		g_debug("link quality of %s unknown: %s", address, error->message);
	}
}

static void
link_quality_reading(NgHub *hub, NgPen *pen, gboolean known, int dbm)
{
	const char *address = ng_pen_get_address(pen);
	NgLinkQuality *lq = g_hash_table_lookup(hub->link_quality, address);
	NgLinkQualityNews news;

	if (lq == NULL) {
		lq = g_new(NgLinkQuality, 1);
		ng_link_quality_init(lq, hub->env.config->weak_link_dbm, hub->env.config->weak_link_seconds);
		g_hash_table_insert(hub->link_quality, g_strdup(address), lq);
	}
	if (known)
		g_debug("pen %s: RSSI %d dBm", address, dbm);
	news = ng_link_quality_reading(lq, known, dbm, g_get_monotonic_time() / 1000);
	if (news & NG_LINK_QUALITY_NEWS_WEAK) {
		g_autofree char *detail = g_strdup_printf(
		    "RSSI %d dBm: below %d dBm for %u s or more; bring the hub and the pen closer, or "
		    "remove what stands between them",
		    dbm, hub->env.config->weak_link_dbm, hub->env.config->weak_link_seconds);
		g_message("pen %s: weak link: %s",
			  ng_pen_get_serial(pen) != NULL ? ng_pen_get_serial(pen) : address, detail);
		ng_publisher_weak_link(hub->publisher, ng_pen_get_serial(pen), address, dbm, detail);
	}
	if (news & NG_LINK_QUALITY_NEWS_CHANGED)
		pen_changed(hub, pen);
}

/* An answer of the adapter (ble/ng-hci.c), from the main loop. */
static void
hci_rssi_cb(const char *address, int rssi_dbm, const GError *error, gpointer user_data)
{
	NgHub *hub = user_data;
	NgPen *pen = find_pen(hub, address);

	if (pen == NULL || !ng_pen_is_connected(pen))
		return; /* gone or disconnected since it was asked */
	if (error != NULL)
		link_quality_failed(hub, address, error);
	link_quality_reading(hub, pen, error == NULL, rssi_dbm);
}

/* Every link_quality_interval: one Read RSSI per connected pen, answered later. */
static gboolean
link_quality_tick(gpointer user_data)
{
	NgHub *hub = user_data;
	g_autoptr(GPtrArray) addresses = ng_hub_dup_pen_addresses(hub);
	const char *adapter = ng_bluez_get_adapter_name(hub->bluez);
	const char *adapter_address = ng_bluez_get_adapter_address(hub->bluez);

	for (guint i = 0; i < addresses->len; i++) {
		const char *address = g_ptr_array_index(addresses, i);
		NgPen *pen = find_pen(hub, address);
		g_autoptr(GError) error = NULL;

		if (pen == NULL || !ng_pen_is_connected(pen))
			continue;
		if (ng_hci_rssi_request(hub->hci, adapter, adapter_address, address, &error))
			continue;
		link_quality_failed(hub, address, error);
		link_quality_reading(hub, pen, FALSE, 0);
	}
	return G_SOURCE_CONTINUE;
}

static void
start_link_quality(NgHub *hub)
{
	guint interval = hub->env.config->link_quality_interval_s;

	if (interval == 0) {
		g_info("link quality: off ([bluetooth] link_quality_interval=0)");
		return;
	}
	hub->link_quality = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	hub->hci = ng_hci_rssi_new(hci_rssi_cb, hub);
	hub->link_quality_id = g_timeout_add_seconds(interval, link_quality_tick, hub);
}

/* ---- life --------------------------------------------------------------------------------------- */

/* The database could or could not be written (a full disk), or was found damaged while running:
 * D-Bus and bridge/info say so; the damage is a bridge/event too, once. */
static void
store_committed_cb(NgStore *store, gboolean committed, gpointer user_data)
{
	NgHub *hub = user_data;
	const char *problem = ng_store_get_problem(store);
	gboolean damaged = committed && problem != NULL;

	if (damaged && !hub->store_damage_reported) {
		hub->store_damage_reported = TRUE;
		ng_publisher_bridge_event(hub->publisher, "store_damaged", NULL, NULL, problem);
	} else if (committed == hub->store_ok) {
		return;
	}
	hub->store_ok = committed;
	hub->info_pending = TRUE;
	schedule_devices(hub);
	notify_hub_changed(hub);
}

NgHub *
ng_hub_new(const NgHubEnv *env, GError **error)
{
	g_autoptr(NgHub) hub = g_new0(NgHub, 1);

	(void)ng_error_quark(); /* registers the org.needlegate.Error.* names before any reply */
	hub->env = *env;
	hub->started_ms = g_get_real_time() / 1000;
	hub->started_mono = g_get_monotonic_time();
	hub->listeners = g_array_new(FALSE, FALSE, sizeof(Listener));
	hub->runtimes =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)ng_runtime_free);
	hub->last_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	hub->topics = ng_topics_new(env->config);
	hub->publisher = ng_publisher_new(env->config, hub->topics, env->outbox);
	hub->audit = ng_audit_new(env->outbox, hub->topics->prefix);
	hub->assign = ng_assign_new(env->store, error);
	if (hub->assign == NULL)
		return NULL;
	hub->store_ok = TRUE;
	if (env->store != NULL)
		hub->store_hook_id = ng_store_add_hooks(env->store, NULL, store_committed_cb, hub);
	ng_assign_add_watch(hub->assign, assign_changed_cb, hub);
	hub->checks = ng_checks_new(env->store, hub->assign, alert_cb, hub, error);
	if (hub->checks == NULL)
		return NULL;
	if (env->bus == NULL)
		return g_steal_pointer(&hub);
	hub->pen_env = (NgPenEnv){env->config, env->bus, &pen_listener, hub};
	hub->bluez = ng_bluez_new(&hub->pen_env, &bluez_listener, hub, error);
	if (hub->bluez == NULL)
		return NULL;
	hub->pairing = ng_pairing_new(env->bus, hub->bluez, error);
	if (hub->pairing == NULL)
		return NULL;
	ng_pairing_set_changed_func(hub->pairing, pairing_changed_cb, hub);
	start_link_quality(hub);
	return g_steal_pointer(&hub);
}

void
ng_hub_free(NgHub *hub)
{
	if (hub == NULL)
		return;
	g_clear_handle_id(&hub->devices_id, g_source_remove);
	g_clear_handle_id(&hub->link_quality_id, g_source_remove);
	g_clear_pointer(&hub->hci, ng_hci_rssi_free);
	if (hub->store_hook_id != 0)
		ng_store_remove_hooks(hub->env.store, hub->store_hook_id);
	/* Pairing first: an attempt still running is answered while BlueZ is followed. */
	g_clear_pointer(&hub->pairing, ng_pairing_free);
	g_clear_pointer(&hub->bluez, ng_bluez_free);
	g_clear_pointer(&hub->runtimes, g_hash_table_destroy);
	g_clear_pointer(&hub->checks, ng_checks_free);
	g_clear_pointer(&hub->assign, ng_assign_free);
	g_clear_pointer(&hub->audit, ng_audit_free);
	g_clear_pointer(&hub->publisher, ng_publisher_free);
	g_clear_pointer(&hub->topics, ng_topics_free);
	g_clear_pointer(&hub->last_seen, g_hash_table_destroy);
	g_clear_pointer(&hub->link_quality, g_hash_table_destroy);
	g_array_unref(hub->listeners);
	g_free(hub);
}

const NgTopics *
ng_hub_get_topics(NgHub *hub)
{
	return hub->topics;
}

void
ng_hub_set_mqtt_connected(NgHub *hub, gboolean connected)
{
	hub->mqtt_connected = connected;
	if (connected)
		ng_hub_publish_info(hub);
	notify_hub_changed(hub);
}

void
ng_hub_publish_info(NgHub *hub)
{
	NgHubSnapshot snap;

	ng_hub_get_snapshot(hub, &snap);
	ng_publisher_info(hub->publisher, &snap);
}

void
ng_hub_publish_all(NgHub *hub)
{
	ng_publisher_online(hub->publisher, TRUE);
	g_clear_handle_id(&hub->devices_id, g_source_remove);
	hub->info_pending = TRUE;
	devices_cb(hub);
}

void
ng_hub_report_store_replaced(NgHub *hub, const char *moved_to)
{
	g_autofree char *detail = g_strdup_printf(
	    "the database was damaged: moved aside to %s and replaced by a new one; the messages "
	    "waiting in it and the pens' saved sequence numbers are only in that file",
	    moved_to);

	ng_publisher_bridge_event(hub->publisher, "store_replaced", NULL, NULL, detail);
}

void
ng_hub_publish_offline(NgHub *hub)
{
	GHashTableIter iter;
	NgPen *pen;
	NgHubSnapshot snap;

	/* The will covers a crash; a clean stop says offline itself, for the hub and each pen, and
	 * what stays retained agrees: bridge/devices and bridge/info count no pen connected. */
	g_clear_handle_id(&hub->devices_id, g_source_remove);
	hub->info_pending = FALSE;
	if (hub->bluez != NULL) {
		g_hash_table_iter_init(&iter, ng_bluez_get_pens(hub->bluez));
		while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
			NgRuntime *rt = ng_pen_get_user_data(pen);
			NgPenSnapshot pen_snap;

			if (rt == NULL)
				continue;
			fill_pen_snapshot(hub, pen, &pen_snap);
			pen_snap.connected = FALSE;
			pen_snap.link = "offline";
			pen_snap.telemetry_path = NULL;
			ng_runtime_publish_state(rt, &pen_snap);
		}
	}
	publish_devices(hub, TRUE);
	ng_hub_get_snapshot(hub, &snap);
	snap.pens_connected = 0;
	ng_publisher_info(hub->publisher, &snap);
	ng_publisher_online(hub->publisher, FALSE);
}

/* ---- what the hub knows ---------------------------------------------------------------------------- */

void
ng_hub_get_counters(NgHub *hub, NgHubCounters *c)
{
	NgPublisherCounters *pc = ng_publisher_get_counters(hub->publisher);

	*c = (NgHubCounters){pc->records, pc->replayed, pc->duplicates,	   pc->malformed,
			     pc->lost,	  pc->events,	pc->publish_errors};
}

void
ng_hub_get_snapshot(NgHub *hub, NgHubSnapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->hub_id = hub->env.config->hub_id;
	snap->started_ms = hub->started_ms;
	snap->uptime_s = (g_get_monotonic_time() - hub->started_mono) / G_USEC_PER_SEC;
	snap->mqtt_connected = hub->mqtt_connected;
	snap->pairing_state = "idle";
	snap->store_problem = hub->env.store != NULL ? ng_store_get_problem(hub->env.store) : NULL;
	if (hub->bluez != NULL) {
		snap->adapter = ng_bluez_get_adapter_name(hub->bluez);
		snap->adapter_address = ng_bluez_get_adapter_address(hub->bluez);
		snap->bluetoothd = ng_bluez_is_running(hub->bluez);
		snap->pens_served = g_hash_table_size(ng_bluez_get_pens(hub->bluez));
		snap->pens_connected = ng_bluez_count_connected(hub->bluez);
	}
	if (hub->pairing != NULL) {
		snap->pairing_window_open = ng_pairing_window_is_open(hub->pairing);
		snap->pairing_window_ends_ms = ng_pairing_get_window_end_ms(hub->pairing);
		snap->pairing_state = ng_pairing_state_to_string(ng_pairing_get_state(hub->pairing));
		snap->pairing_address = ng_pairing_get_address(hub->pairing);
	}
}

GPtrArray *
ng_hub_dup_pen_addresses(NgHub *hub)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	NgPen *pen;

	if (hub->bluez == NULL)
		return out;
	g_hash_table_iter_init(&iter, ng_bluez_get_pens(hub->bluez));
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen))
		g_ptr_array_add(out, g_strdup(ng_pen_get_address(pen)));
	return out;
}

/* The served pen named by @name (a serial number or a Bluetooth address, any case), or NULL. */
static NgPen *
find_pen(NgHub *hub, const char *name)
{
	GHashTableIter iter;
	NgPen *pen;

	if (name == NULL || *name == '\0' || hub->bluez == NULL)
		return NULL;
	g_hash_table_iter_init(&iter, ng_bluez_get_pens(hub->bluez));
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		if (g_strcmp0(ng_pen_get_serial(pen), name) == 0 ||
		    g_ascii_strcasecmp(ng_pen_get_address(pen), name) == 0)
			return pen;
	}
	return NULL;
}

gboolean
ng_hub_get_pen_snapshot(NgHub *hub, const char *name, NgPenSnapshot *snap)
{
	NgPen *pen = find_pen(hub, name);

	if (pen == NULL)
		return FALSE;
	fill_pen_snapshot(hub, pen, snap);
	return TRUE;
}

guint
ng_hub_add_listener(NgHub *hub, const NgHubListener *listener, gpointer user_data)
{
	Listener l = {++hub->next_listener_id, *listener, user_data};

	g_array_append_val(hub->listeners, l);
	return l.id;
}

void
ng_hub_remove_listener(NgHub *hub, guint id)
{
	for (guint i = 0; i < hub->listeners->len; i++) {
		if (g_array_index(hub->listeners, Listener, i).id == id) {
			g_array_remove_index(hub->listeners, i);
			return;
		}
	}
}
/* ---- operations: one place for D-Bus, MQTT and needlectl ------------------------------------------- */

static GError *
not_found(const char *name)
{
	return g_error_new(
	    NG_ERROR, NG_ERROR_NOT_FOUND,
	    "no pen '%s' is paired with this hub: see needlectl list (a serial number or an address)", name);
}

static gboolean
has_bluetooth(NgHub *hub, GError **error)
{
	if (hub->pairing != NULL)
		return TRUE;
	g_set_error_literal(error, NG_ERROR, NG_ERROR_BLUETOOTH_UNAVAILABLE,
			    "this hub follows no Bluetooth adapter");
	return FALSE;
}

typedef struct {
	NgHub *hub;
	char *target; /* address or pen name */
	char *serial;
	NgActor who;
	guint8 op_code; /* pen requests */
} Op;

static void
op_free(Op *op)
{
	g_free(op->target);
	g_free(op->serial);
	g_free(op);
}

static GTask *
op_task(NgHub *hub, const char *target, const NgActor *who, gpointer tag, GAsyncReadyCallback callback,
	gpointer user_data)
{
	GTask *task = g_task_new(NULL, NULL, callback, user_data);
	Op *op = g_new0(Op, 1);

	op->hub = hub;
	op->target = g_strdup(target);
	op->who = *who;
	g_task_set_source_tag(task, tag);
	g_task_set_task_data(task, op, (GDestroyNotify)op_free);
	return task;
}

gboolean
ng_hub_open_pairing_window(NgHub *hub, guint seconds, const NgActor *who, GError **error)
{
	g_autofree char *detail = NULL;

	if (!ng_pairing_open_window(hub->pairing, seconds, error))
		return FALSE;
	detail = g_strdup_printf("%u s", seconds != 0 ? seconds : NG_PAIRING_WINDOW_DEFAULT_S);
	ng_audit_record(hub->audit, who, "pairing_window_opened", NULL, NULL, detail);
	notify_hub_changed(hub);
	return TRUE;
}

void
ng_hub_close_pairing_window(NgHub *hub, const NgActor *who)
{
	if (ng_pairing_window_is_open(hub->pairing))
		ng_audit_record(hub->audit, who, "pairing_window_closed", NULL, NULL, NULL);
	ng_pairing_close_window(hub->pairing);
	notify_hub_changed(hub);
}

static void
pairing_started_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!ng_pairing_start_finish(op->hub->pairing, res, &error)) {
		ng_audit_record(op->hub->audit, &op->who, "pairing_failed", NULL, op->target, error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
ng_hub_start_pairing_async(NgHub *hub, const char *address, const NgActor *who, GAsyncReadyCallback callback,
			   gpointer user_data)
{
	GTask *task = op_task(hub, address, who, ng_hub_start_pairing_async, callback, user_data);

	ng_pairing_start_async(hub->pairing, address, pairing_started_cb, task);
}

gboolean
ng_hub_start_pairing_finish(NgHub *hub, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}

static void
paired_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree char *device = ng_pairing_pair_finish(op->hub->pairing, res, &error);
	char address[18];

	if (device == NULL) {
		ng_audit_record(op->hub->audit, &op->who, "pairing_failed", NULL, op->target, error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	ng_audit_record(op->hub->audit, &op->who, "paired", NULL, op->target, NULL);
	if (!ng_pairing_normalize_address(op->target, address, "address", NULL))
		g_strlcpy(address, op->target, sizeof(address));
	g_task_return_pointer(task, g_strdup(address), g_free);
}

void
ng_hub_pair_async(NgHub *hub, const char *address, guint32 passkey, const NgActor *who,
		  GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = op_task(hub, address, who, ng_hub_pair_async, callback, user_data);

	ng_pairing_pair_async(hub->pairing, address, passkey, paired_cb, task);
}

char *
ng_hub_pair_finish(NgHub *hub, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

/*
 * A removed pen's runtime: its session ends, its retained topics are cleared, and it is detached
 * from the pen first. bluetoothd answers RemoveDevice of a connected pen before it reports the
 * link down and the device gone (device_remove_connection () replies, then emits Connected, then
 * removes the device): whatever the pen's object reports until then, and the plan being cleared,
 * must not publish the pen's state again, which would leave it retained.
 */
static void
forget_runtime(NgHub *hub, const char *serial)
{
	NgRuntime *rt = g_hash_table_lookup(hub->runtimes, serial);
	NgPen *pen = rt != NULL ? ng_runtime_get_user_data(rt) : NULL;

	if (rt == NULL)
		return;
	if (pen != NULL)
		ng_pen_set_user_data(pen, NULL);
	ng_runtime_set_user_data(rt, NULL);
	ng_runtime_removed(rt);
	schedule_devices(hub);
}

static void
removed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) store_error = NULL;

	if (!ng_pairing_remove_device_finish(op->hub->pairing, res, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* Its session ends here (reason "removed"), its retained topics go. */
	if (op->serial != NULL)
		forget_runtime(op->hub, op->serial);
	/* The plan was for this pen's next patient; the journal keeps the finished sessions. */
	if (op->serial != NULL && !ng_assign_clear(op->hub->assign, op->serial, NULL, &store_error))
		g_warning("pen %s removed, but its plan stays: %s", op->serial, store_error->message);
	ng_audit_record(op->hub->audit, &op->who, "removed", op->serial, op->target, NULL);
	g_task_return_pointer(task, g_strdup(op->serial), g_free);
}

void
ng_hub_remove_async(NgHub *hub, const char *name, const NgActor *who, GAsyncReadyCallback callback,
		    gpointer user_data)
{
	g_autoptr(GTask) task = op_task(hub, name, who, ng_hub_remove_async, callback, user_data);
	Op *op = g_task_get_task_data(task);
	NgPen *pen = find_pen(hub, name);
	g_autofree char *device = NULL;
	g_autoptr(GError) error = NULL;
	char address[18];

	if (!has_bluetooth(hub, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (pen != NULL) {
		device = g_strdup(ng_pen_get_object_path(pen));
		op->serial = g_strdup(ng_pen_get_serial(pen));
		g_free(op->target);
		op->target = g_strdup(ng_pen_get_address(pen));
	} else if (ng_pairing_normalize_address(name, address, "pen", NULL) && hub->bluez != NULL &&
		   ng_bluez_get_adapter_name(hub->bluez) != NULL) {
		/* Bonded but not served (no session service): still the technician's to remove. */
		g_autofree char *addr = g_strdup(address);
		g_strdelimit(addr, ":", '_');
		device = g_strdup_printf("/org/bluez/%s/dev_%s", ng_bluez_get_adapter_name(hub->bluez), addr);
	} else {
		g_task_return_error(task, not_found(name != NULL ? name : ""));
		return;
	}
	ng_pairing_remove_device_async(hub->pairing, device, removed_cb, g_steal_pointer(&task));
}

gboolean
ng_hub_remove_finish(NgHub *hub, GAsyncResult *result, char **serial, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *s = g_task_propagate_pointer(G_TASK(result), &local);

	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	if (serial != NULL)
		*serial = g_steal_pointer(&s);
	return TRUE;
}

void
ng_hub_set_mqtt(NgHub *hub, NgMqtt *mqtt)
{
	hub->mqtt = mqtt;
}

/* How long retained messages may take to arrive after the broker acknowledged the subscription. */
#define FORGET_HUB_WAIT_MS 1000

static void
forget_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	/* on an error the hub may be gone already (the daemon stops): touch nothing of it */
	g_autoptr(GHashTable) found = ng_mqtt_read_retained_finish(NULL, res, &error);
	NgHub *hub = op->hub;
	g_autofree char *state_topic = NULL;
	g_autofree char *detail = NULL;
	GBytes *state;
	GHashTableIter iter;
	const char *topic;

	if (found == NULL) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_FAILED, "%s", error->message);
		return;
	}
	state_topic = g_strdup_printf("%s/%s/bridge/state", hub->env.config->base_topic, op->target);
	state = g_hash_table_lookup(found, state_topic);
	if (state != NULL && strstr(g_bytes_get_data(state, NULL), "\"online\"") != NULL) {
		g_task_return_new_error(
		    task, NG_ERROR, NG_ERROR_IN_PROGRESS,
		    "hub '%s' is online (its bridge/state says so): stop its gateway first, or "
		    "it publishes everything again",
		    op->target);
		return;
	}
	g_hash_table_iter_init(&iter, found);
	while (g_hash_table_iter_next(&iter, (gpointer *)&topic, NULL))
		ng_publisher_clear_retained(hub->publisher, topic);
	detail =
	    g_strdup_printf("hub '%s': %u retained messages cleared", op->target, g_hash_table_size(found));
	g_message("%s", detail);
	ng_audit_record(hub->audit, &op->who, "hub_forgotten", NULL, NULL, detail);
	g_task_return_int(task, g_hash_table_size(found));
}

void
ng_hub_forget_hub_async(NgHub *hub, const char *hub_id, const NgActor *who, GAsyncReadyCallback callback,
			gpointer user_data)
{
	g_autoptr(GTask) task = op_task(hub, hub_id, who, ng_hub_forget_hub_async, callback, user_data);
	g_autofree char *prefix = NULL;

	if (!ng_config_hub_id_is_valid(hub_id)) {
		g_task_return_new_error(
		    task, NG_ERROR, NG_ERROR_INVALID_ARGS,
		    "hub_id: '%s' is not a hub id (1 to 64 lower-case letters, digits, '-' or '_')",
		    hub_id != NULL ? hub_id : "");
		return;
	}
	if (g_str_equal(hub_id, hub->env.config->hub_id)) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_INVALID_ARGS,
					"hub_id: '%s' is this hub's own id: its topics are in use", hub_id);
		return;
	}
	if (hub->mqtt == NULL) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_NOT_SUPPORTED, "this hub has no broker");
		return;
	}
	prefix = g_strdup_printf("%s/%s/", hub->env.config->base_topic, hub_id);
	ng_mqtt_read_retained_async(hub->mqtt, prefix, FORGET_HUB_WAIT_MS, forget_read_cb,
				    g_steal_pointer(&task));
}

gboolean
ng_hub_forget_hub_finish(NgHub *hub, GAsyncResult *result, guint *cleared, GError **error)
{
	gssize n = g_task_propagate_int(G_TASK(result), error);

	if (n < 0)
		return FALSE;
	if (cleared != NULL)
		*cleared = (guint)n;
	return TRUE;
}

static GError *
pen_request_error(Op *op, guint8 op_code, const GError *error, const NpControlResponse *resp)
{
	if (error == NULL)
		return g_error_new(NG_ERROR, NG_ERROR_FAILED, "pen %s refused %s (%s)", op->target,
				   np_op_code_to_string(op_code), np_result_code_to_string(resp->result));
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED))
		return g_error_new(NG_ERROR, NG_ERROR_NOT_CONNECTED,
				   "pen %s is not connected: switch it on near the hub and wait until "
				   "needlectl status shows it connected",
				   op->target);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		return g_error_new(NG_ERROR, NG_ERROR_TIMEOUT, "pen %s did not answer: try again",
				   op->target);
	return g_error_new(NG_ERROR, NG_ERROR_FAILED, "pen %s: %s", op->target, error->message);
}

static void
pen_request_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	NpControlResponse resp = {0};

	if (!ng_pen_request_finish(res, &resp, &error) || resp.result != NP_RESULT_SUCCESS) {
		g_task_return_error(task, pen_request_error(op, op->op_code, error, &resp));
		return;
	}
	if (op->op_code == NP_OP_STOP_SESSION)
		ng_audit_record(op->hub->audit, &op->who, "session_stopped", op->serial, NULL, NULL);
	g_task_return_boolean(task, TRUE);
}

void
ng_hub_pen_request_async(NgHub *hub, const char *name, guint8 op_code, const NgActor *who,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = op_task(hub, name, who, ng_hub_pen_request_async, callback, user_data);
	Op *op = g_task_get_task_data(task);
	NgPen *pen = find_pen(hub, name);
	NpControlRequest req = {.op = op_code};

	if (pen == NULL) {
		g_task_return_error(task, not_found(name != NULL ? name : ""));
		return;
	}
	op->serial = g_strdup(ng_pen_get_serial(pen));
	if (op->serial != NULL) {
		g_free(op->target);
		op->target = g_strdup(op->serial);
	}
	op->op_code = op_code;
	ng_pen_request_async(pen, &req, pen_request_cb, g_steal_pointer(&task));
}

gboolean
ng_hub_pen_request_finish(NgHub *hub, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- plans ---------------------------------------------------------------------------------------- */

/* The serial of the served pen @name: plans are kept by serial number. */
static const char *
plan_serial(NgHub *hub, const char *name, GError **error)
{
	NgPen *pen = find_pen(hub, name);

	if (pen == NULL) {
		g_propagate_error(error, not_found(name != NULL ? name : ""));
		return NULL;
	}
	if (ng_pen_get_serial(pen) == NULL) {
		g_set_error(
		    error, NG_ERROR, NG_ERROR_NOT_CONNECTED,
		    "pen %s has not connected yet, so its serial number is unknown: switch it on near the "
		    "hub, wait until needlectl status shows it connected, then assign the plan",
		    name);
		return NULL;
	}
	return ng_pen_get_serial(pen);
}

gboolean
ng_hub_assign_plan(NgHub *hub, const char *name, const char *plan_json, const NgActor *who, char **serial_out,
		   char **plan_id_out, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *actor = ng_actor_to_string(who);
	g_autofree char *by =
	    g_strcmp0(who->via, "mqtt") == 0 ? g_strdup("mqtt") : g_strconcat("dbus:", actor, NULL);
	const char *serial = plan_serial(hub, name, error);
	NgPlan *plan;

	if (serial == NULL)
		return FALSE;
	if (!ng_assign_set(hub->assign, serial, plan_json, by, &local)) {
		NgError code = local->domain == NG_PLAN_ERROR ? NG_ERROR_INVALID_PLAN : NG_ERROR_FAILED;
		if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
			code = NG_ERROR_INVALID_ARGS;
		g_set_error(error, NG_ERROR, code, "%s (the plan was refused; the previous one stays)",
			    local->message);
		return FALSE;
	}
	plan = ng_assign_get(hub->assign, serial);
	ng_audit_record(hub->audit, who, "plan_assigned", serial, NULL, plan != NULL ? plan->plan_id : NULL);
	if (serial_out != NULL)
		*serial_out = g_strdup(serial);
	if (plan_id_out != NULL)
		*plan_id_out = g_strdup(plan != NULL ? plan->plan_id : NULL);
	return TRUE;
}

gboolean
ng_hub_clear_plan(NgHub *hub, const char *name, const NgActor *who, char **serial_out, char **plan_id_out,
		  GError **error)
{
	const char *serial = plan_serial(hub, name, error);
	g_autofree char *plan_id = NULL;
	g_autoptr(GError) local = NULL;
	NgPlan *plan;

	if (serial == NULL)
		return FALSE;
	plan = ng_assign_get(hub->assign, serial);
	if (plan == NULL) {
		g_set_error(error, NG_ERROR, NG_ERROR_NO_PLAN, "pen %s has no plan", serial);
		return FALSE;
	}
	plan_id = g_strdup(plan->plan_id);
	if (!ng_assign_clear(hub->assign, serial, NULL, &local)) {
		g_set_error(error, NG_ERROR, NG_ERROR_FAILED, "%s", local->message);
		return FALSE;
	}
	ng_audit_record(hub->audit, who, "plan_cleared", serial, NULL, plan_id);
	if (serial_out != NULL)
		*serial_out = g_strdup(serial);
	if (plan_id_out != NULL)
		*plan_id_out = g_steal_pointer(&plan_id);
	return TRUE;
}

char *
ng_hub_get_plan_json(NgHub *hub, const char *name, GError **error)
{
	const char *serial = plan_serial(hub, name, error);
	NgPlan *plan = serial != NULL ? ng_assign_get(hub->assign, serial) : NULL;

	if (serial == NULL)
		return NULL;
	if (plan == NULL) {
		g_set_error(error, NG_ERROR, NG_ERROR_NO_PLAN,
			    "pen %s has no plan: assign one with needlectl plan assign", serial);
		return NULL;
	}
	return ng_plan_to_json(plan);
}

char *
ng_hub_list_sessions_json(NgHub *hub, const char *name, gint64 since_ms, GError **error)
{
	NgPen *pen = find_pen(hub, name);
	const char *serial = pen != NULL && ng_pen_get_serial(pen) != NULL ? ng_pen_get_serial(pen) : name;
	g_autoptr(GPtrArray) entries = NULL;
	g_autoptr(GError) local = NULL;
	GString *out;

	if (hub->checks->journal == NULL) {
		g_set_error_literal(error, NG_ERROR, NG_ERROR_NOT_SUPPORTED,
				    "this hub keeps no session journal");
		return NULL;
	}
	entries = ng_journal_query(hub->checks->journal, serial != NULL && *serial != '\0' ? serial : NULL,
				   MAX(since_ms, 0), 0, &local);
	if (entries == NULL) {
		g_set_error(error, NG_ERROR, NG_ERROR_FAILED, "reading the journal: %s", local->message);
		return NULL;
	}
	out = g_string_new("[");
	for (guint i = 0; i < entries->len; i++) {
		if (i > 0)
			g_string_append_c(out, ',');
		ng_journal_entry_to_json(out, g_ptr_array_index(entries, i));
	}
	g_string_append_c(out, ']');
	return g_string_free(out, FALSE);
}

/* ---- pairing: listing and cancelling ---------------------------------------------------------------- */

static void
listed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	GError *error = NULL;
	GVariant *pens = ng_pairing_list_discovered_finish(NULL, res, &error);

	if (pens == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, pens, (GDestroyNotify)g_variant_unref);
}

void
ng_hub_list_discovered_async(NgHub *hub, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, NULL, callback, user_data);
	GError *error = NULL;

	g_task_set_source_tag(task, ng_hub_list_discovered_async);
	if (!has_bluetooth(hub, &error)) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	ng_pairing_list_discovered_async(hub->pairing, listed_cb, task);
}

GVariant *
ng_hub_list_discovered_finish(NgHub *hub, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
ng_hub_cancel_pairing(NgHub *hub, const char *address, const NgActor *who, GError **error)
{
	if (!has_bluetooth(hub, error))
		return FALSE;
	return ng_pairing_cancel(hub->pairing, address, error);
}

char *
ng_hub_pen_object_path(const char *address)
{
	g_autofree char *addr = g_ascii_strup(address, -1);

	g_strdelimit(addr, ":", '_');
	return g_strdup_printf("%s/pens/%s", NG_HUB_OBJECT_PATH, addr);
}
