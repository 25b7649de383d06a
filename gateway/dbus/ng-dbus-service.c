/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's D-Bus service org.needlegate.Gateway1: the hub, its pens, pairing; shared by the MQTT
 * requests. */

/*
 * The interfaces are documented in dbus/org.needlegate.Gateway1.xml and Pen1.xml; the
 * skeletons come from gdbus-codegen (dbus/meson.build).
 *
 * A thin front-end of the hub (hub/ng-hub.h): every method is one hub operation, every
 * property comes from the hub's snapshots, and both follow the hub's change notifications (no
 * polling). The skeletons emit PropertiesChanged only for values that changed.
 *
 * Authorisation is the bus policy's job (deploy/dbus/org.needlegate.Gateway1.conf): only root
 * and the group needlegate may call the methods that change anything. The daemon checks the
 * caller's uid again, so that a policy file edited by mistake does not open pairing to every
 * user, and records the uid in the audit trail.
 */

#include "config.h"

#include "ng-dbus-service.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "ng-dbus-generated.h"
#include "ng-errors.h"
#include "ng-link-quality.h"
#include "ng-pairing.h"

#define GROUP_NAME "needlegate"

typedef struct {
	NgApi *api;
	char *address;
	NgDbusObjectSkeleton *object;
	NgDbusPen1 *iface;
} PenObject;

struct _NgApi {
	NgHub *hub;
	GDBusConnection *bus;
	NgDbusGateway1 *gateway;
	GDBusObjectManagerServer *manager;
	GHashTable *pens; /* address -> PenObject */
	guint owner_id;
	guint hub_listener;
	GCancellable *cancellable;
	NgApiNameLostFunc name_lost;
	gpointer name_lost_data;
};

static void sync_pen_object(NgApi *api, const char *address);

/* ---- names and errors --------------------------------------------------------------------------- */

/* ---- properties: from the hub's snapshots ----------------------------------------------------------- */

static GVariant *
counters_variant(NgApi *api)
{
	NgHubCounters c;
	GVariantBuilder b;

	ng_hub_get_counters(api->hub, &c);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
	g_variant_builder_add(&b, "{st}", "records", c.records);
	g_variant_builder_add(&b, "{st}", "replayed", c.replayed);
	g_variant_builder_add(&b, "{st}", "duplicates", c.duplicates);
	g_variant_builder_add(&b, "{st}", "malformed", c.malformed);
	g_variant_builder_add(&b, "{st}", "lost", c.lost);
	g_variant_builder_add(&b, "{st}", "events", c.events);
	g_variant_builder_add(&b, "{st}", "publish_errors", c.publish_errors);
	return g_variant_builder_end(&b);
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static void
sync_gateway(NgApi *api)
{
	NgDbusGateway1 *gw = api->gateway;
	NgHubSnapshot snap;

	ng_hub_get_snapshot(api->hub, &snap);
	ng_dbus_gateway1_set_adapter(gw, or_empty(snap.adapter));
	ng_dbus_gateway1_set_adapter_address(gw, or_empty(snap.adapter_address));
	ng_dbus_gateway1_set_bluetooth_running(gw, snap.bluetoothd);
	ng_dbus_gateway1_set_mqtt_connected(gw, snap.mqtt_connected);
	ng_dbus_gateway1_set_store_problem(gw, snap.store_problem != NULL ? snap.store_problem : "");
	ng_dbus_gateway1_set_pens_served(gw, snap.pens_served);
	ng_dbus_gateway1_set_pens_connected(gw, snap.pens_connected);
	ng_dbus_gateway1_set_counters(gw, counters_variant(api));
	ng_dbus_gateway1_set_pairing_window_open(gw, snap.pairing_window_open);
	ng_dbus_gateway1_set_pairing_window_ends_at(gw, snap.pairing_window_ends_ms);
	ng_dbus_gateway1_set_pairing_state(gw, snap.pairing_state);
	ng_dbus_gateway1_set_pairing_address(gw, or_empty(snap.pairing_address));
}

static void
sync_pen(PenObject *po, const NgPenSnapshot *snap)
{
	NgDbusPen1 *iface = po->iface;
	const NpPenStatus *st = &snap->status;

	ng_dbus_pen1_set_serial(iface, or_empty(snap->serial));
	ng_dbus_pen1_set_address(iface, snap->address);
	ng_dbus_pen1_set_name(iface, or_empty(snap->name));
	ng_dbus_pen1_set_model(iface, or_empty(snap->model));
	ng_dbus_pen1_set_firmware(iface, or_empty(snap->firmware));
	ng_dbus_pen1_set_link_state(iface, snap->link);
	ng_dbus_pen1_set_connected(iface, snap->connected);
	ng_dbus_pen1_set_battery(iface, snap->battery);
	ng_dbus_pen1_set_plan(iface, or_empty(snap->plan_assigned));
	ng_dbus_pen1_set_last_seen(iface, snap->last_seen_ms);
	ng_dbus_pen1_set_rssi(iface, (gint16)snap->rssi);
	ng_dbus_pen1_set_link_rssi(iface,
				   snap->connected && snap->rssi_dbm_known ? (gint16)snap->rssi_dbm : 0);
	ng_dbus_pen1_set_link_quality(
	    iface, snap->connected && snap->rssi_dbm_known ? ng_link_quality_from_dbm(snap->rssi_dbm) : -1);
	ng_dbus_pen1_set_pen_state(iface, snap->have_status ? np_pen_state_to_string(st->state) : "unknown");
	ng_dbus_pen1_set_error(iface, snap->have_status ? np_pen_error_to_string(st->error_code) : "none");
	ng_dbus_pen1_set_cartridge(iface, st->cartridge_id);
	ng_dbus_pen1_set_cartridge_needles(iface, st->needle_count);
	ng_dbus_pen1_set_session(iface, snap->session_id);
	ng_dbus_pen1_set_session_active(iface, snap->session_active);
	ng_dbus_pen1_set_area(iface, np_area_to_string(snap->area));
}

/* ---- who calls ---------------------------------------------------------------------------------------- */

/* root, the daemon's own user, or a member of the group needlegate (as the bus policy says). */
static gboolean
uid_may_change(guint32 uid)
{
	struct group *gr;
	struct passwd *pw;
	gid_t groups[256];
	int n = G_N_ELEMENTS(groups);

	if (uid == 0 || uid == geteuid())
		return TRUE;
	gr = getgrnam(GROUP_NAME);
	pw = getpwuid(uid);
	if (gr == NULL || pw == NULL)
		return FALSE;
	if (pw->pw_gid == gr->gr_gid)
		return TRUE;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return FALSE;
	for (int i = 0; i < n; i++) {
		if (groups[i] == gr->gr_gid)
			return TRUE;
	}
	return FALSE;
}

typedef struct _Call Call;
typedef void (*CallFunc)(Call *call);

/* A changing method, waiting for its caller's uid. */
struct _Call {
	NgApi *api;
	GDBusMethodInvocation *inv;
	CallFunc func;
	char *s; /* the string argument, or the pen object's address */
	guint u;
	NgActor who;
};

static void
call_free(Call *call)
{
	g_clear_object(&call->inv);
	g_free(call->s);
	g_free(call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Call, call_free)

static void
caller_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(Call) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	guint32 uid = 0;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		/* The API is gone (the daemon stops): call->api must not be touched. */
		g_dbus_method_invocation_return_error_literal(
		    call->inv, NG_ERROR, NG_ERROR_FAILED,
		    "needlegated is stopping: try again when it is back");
		return;
	}
	if (reply == NULL) {
		g_dbus_method_invocation_return_error(call->inv, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
						      "cannot tell who is calling: %s", error->message);
		return;
	}
	g_variant_get(reply, "(u)", &uid);
	if (!uid_may_change(uid)) {
		g_message("refused %s from uid %u: not root nor in the group %s",
			  g_dbus_method_invocation_get_method_name(call->inv), uid, GROUP_NAME);
		g_dbus_method_invocation_return_error(call->inv, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
						      "only root and members of the group " GROUP_NAME
						      " may change the gateway: ask the admin "
						      "to add you (adduser NAME " GROUP_NAME ")");
		return;
	}
	call->who = (NgActor){"dbus", uid};
	call->func(call);
}

static void
with_caller(NgApi *api, GDBusMethodInvocation *inv, CallFunc func, const char *s, guint u)
{
	Call *call = g_new0(Call, 1);

	call->api = api;
	call->inv = g_object_ref(inv);
	call->func = func;
	call->s = g_strdup(s);
	call->u = u;
	g_dbus_connection_call(
	    api->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	    "GetConnectionUnixUser", g_variant_new("(s)", g_dbus_method_invocation_get_sender(inv)),
	    G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, api->cancellable, caller_uid_cb, call);
}

/* ---- org.needlegate.Gateway1 -------------------------------------------------------------------------- */

static void
return_result(GDBusMethodInvocation *inv, gboolean ok, GError **error)
{
	if (ok)
		g_dbus_method_invocation_return_value(inv, NULL);
	else
		g_dbus_method_invocation_return_gerror(inv, *error);
}

static void
do_open_window(Call *call)
{
	g_autoptr(GError) error = NULL;

	return_result(call->inv, ng_hub_open_pairing_window(call->api->hub, call->u, &call->who, &error),
		      &error);
}

static gboolean
handle_open_pairing_window(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, guint seconds, gpointer user_data)
{
	with_caller(user_data, inv, do_open_window, NULL, seconds);
	return TRUE;
}

static void
do_close_window(Call *call)
{
	ng_hub_close_pairing_window(call->api->hub, &call->who);
	g_dbus_method_invocation_return_value(call->inv, NULL);
}

static gboolean
handle_close_pairing_window(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, gpointer user_data)
{
	with_caller(user_data, inv, do_close_window, NULL, 0);
	return TRUE;
}

static void
listed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) pens = ng_hub_list_discovered_finish(NULL, res, &error);

	if (pens == NULL) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(@aa{sv})", pens));
}

static gboolean
handle_list_discovered(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, gpointer user_data)
{
	NgApi *api = user_data;

	ng_hub_list_discovered_async(api->hub, listed_cb, g_object_ref(inv));
	return TRUE;
}

static void
started_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;

	return_result(inv, ng_hub_start_pairing_finish(NULL, res, &error), &error);
}

static void
do_start_pairing(Call *call)
{
	ng_hub_start_pairing_async(call->api->hub, call->s, &call->who, started_cb, g_object_ref(call->inv));
}

static gboolean
handle_start_pairing(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *address, gpointer user_data)
{
	with_caller(user_data, inv, do_start_pairing, address, 0);
	return TRUE;
}

static void
pair_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *address = ng_hub_pair_finish(NULL, res, &error);
	g_autofree char *path = NULL;

	if (address == NULL) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return;
	}
	path = ng_hub_pen_object_path(address);
	g_dbus_method_invocation_return_value(inv, g_variant_new("(o)", path));
}

static void
do_pair(Call *call)
{
	ng_hub_pair_async(call->api->hub, call->s, call->u, &call->who, pair_done_cb,
			  g_object_ref(call->inv));
}

static gboolean
handle_pair(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *address, guint passkey,
	    gpointer user_data)
{
	with_caller(user_data, inv, do_pair, address, passkey);
	return TRUE;
}

static void
do_cancel_pairing(Call *call)
{
	g_autoptr(GError) error = NULL;

	return_result(call->inv, ng_hub_cancel_pairing(call->api->hub, call->s, &call->who, &error), &error);
}

static gboolean
handle_cancel_pairing(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *address, gpointer user_data)
{
	with_caller(user_data, inv, do_cancel_pairing, address, 0);
	return TRUE;
}

static void
remove_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;

	return_result(inv, ng_hub_remove_finish(NULL, res, NULL, &error), &error);
}

static void
do_remove(Call *call)
{
	ng_hub_remove_async(call->api->hub, call->s, &call->who, remove_done_cb, g_object_ref(call->inv));
}

static gboolean
handle_remove(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *pen, gpointer user_data)
{
	with_caller(user_data, inv, do_remove, pen, 0);
	return TRUE;
}

static void
forget_hub_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;
	guint cleared = 0;

	if (!ng_hub_forget_hub_finish(NULL, res, &cleared, &error)) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(u)", cleared));
}

static void
do_forget_hub(Call *call)
{
	ng_hub_forget_hub_async(call->api->hub, call->s, &call->who, forget_hub_done_cb,
				g_object_ref(call->inv));
}

static gboolean
handle_forget_hub(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *hub_id, gpointer user_data)
{
	with_caller(user_data, inv, do_forget_hub, hub_id, 0);
	return TRUE;
}

static gboolean
handle_list_sessions(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *name, gint64 since,
		     gpointer user_data)
{
	NgApi *api = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = ng_hub_list_sessions_json(api->hub, name, since, &error);

	if (json == NULL) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return TRUE;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", json));
	return TRUE;
}

/* ---- org.needlegate.Pen1 ----------------------------------------------------------------------------------
 */

static void
pen_request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;

	return_result(inv, ng_hub_pen_request_finish(NULL, res, &error), &error);
}

static void
do_pen_request(Call *call)
{
	ng_hub_pen_request_async(call->api->hub, call->s, (guint8)call->u, &call->who, pen_request_done_cb,
				 g_object_ref(call->inv));
}

static gboolean
handle_identify(NgDbusPen1 *iface, GDBusMethodInvocation *inv, gpointer user_data)
{
	PenObject *po = user_data;

	with_caller(po->api, inv, do_pen_request, po->address, NP_OP_IDENTIFY);
	return TRUE;
}

static gboolean
handle_stop_session(NgDbusPen1 *iface, GDBusMethodInvocation *inv, gpointer user_data)
{
	PenObject *po = user_data;

	with_caller(po->api, inv, do_pen_request, po->address, NP_OP_STOP_SESSION);
	return TRUE;
}

static void
do_assign_plan(Call *call)
{
	g_autoptr(GError) error = NULL;
	const char *plan_json = g_object_get_data(G_OBJECT(call->inv), "ng-plan");

	return_result(call->inv,
		      ng_hub_assign_plan(call->api->hub, call->s, plan_json, &call->who, NULL, NULL, &error),
		      &error);
}

static gboolean
handle_assign_plan(NgDbusPen1 *iface, GDBusMethodInvocation *inv, const char *plan, gpointer user_data)
{
	PenObject *po = user_data;

	/* Kept with the invocation while the caller's uid is looked up. */
	g_object_set_data_full(G_OBJECT(inv), "ng-plan", g_strdup(plan), g_free);
	with_caller(po->api, inv, do_assign_plan, po->address, 0);
	return TRUE;
}

static void
do_clear_plan(Call *call)
{
	g_autoptr(GError) error = NULL;

	return_result(call->inv, ng_hub_clear_plan(call->api->hub, call->s, &call->who, NULL, NULL, &error),
		      &error);
}

static gboolean
handle_clear_plan(NgDbusPen1 *iface, GDBusMethodInvocation *inv, gpointer user_data)
{
	PenObject *po = user_data;

	with_caller(po->api, inv, do_clear_plan, po->address, 0);
	return TRUE;
}

static gboolean
handle_get_plan(NgDbusPen1 *iface, GDBusMethodInvocation *inv, gpointer user_data)
{
	PenObject *po = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *json = ng_hub_get_plan_json(po->api->hub, po->address, &error);

	if (json == NULL) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return TRUE;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", json));
	return TRUE;
}

/* ---- pen objects ----------------------------------------------------------------------------------------
 */

static void
pen_object_free(PenObject *po)
{
	g_autofree char *path = ng_hub_pen_object_path(po->address);

	g_dbus_object_manager_server_unexport(po->api->manager, path);
	g_signal_handlers_disconnect_by_data(po->iface, po);
	g_object_unref(po->iface);
	g_object_unref(po->object);
	g_free(po->address);
	g_free(po);
}

static PenObject *
pen_object_new(NgApi *api, const char *address)
{
	PenObject *po = g_new0(PenObject, 1);
	g_autofree char *path = ng_hub_pen_object_path(address);

	po->api = api;
	po->address = g_strdup(address);
	po->object = ng_dbus_object_skeleton_new(path);
	po->iface = ng_dbus_pen1_skeleton_new();
	g_signal_connect(po->iface, "handle-identify", G_CALLBACK(handle_identify), po);
	g_signal_connect(po->iface, "handle-stop-session", G_CALLBACK(handle_stop_session), po);
	g_signal_connect(po->iface, "handle-assign-plan", G_CALLBACK(handle_assign_plan), po);
	g_signal_connect(po->iface, "handle-clear-plan", G_CALLBACK(handle_clear_plan), po);
	g_signal_connect(po->iface, "handle-get-plan", G_CALLBACK(handle_get_plan), po);
	ng_dbus_object_skeleton_set_pen1(po->object, po->iface);
	return po;
}

/* Exports, updates or unexports the Pen1 object of @address, as the hub says. */
static void
sync_pen_object(NgApi *api, const char *address)
{
	PenObject *po = g_hash_table_lookup(api->pens, address);
	NgPenSnapshot snap;

	if (!ng_hub_get_pen_snapshot(api->hub, address, &snap)) {
		if (po != NULL)
			g_hash_table_remove(api->pens, address);
		return;
	}
	if (po != NULL) {
		sync_pen(po, &snap);
		return;
	}
	po = pen_object_new(api, address);
	g_hash_table_insert(api->pens, po->address, po);
	sync_pen(po, &snap);
	g_dbus_object_manager_server_export(api->manager, G_DBUS_OBJECT_SKELETON(po->object));
}

static void
sync_all_pens(NgApi *api)
{
	g_autoptr(GPtrArray) addresses = ng_hub_dup_pen_addresses(api->hub);

	for (guint i = 0; i < addresses->len; i++)
		sync_pen_object(api, g_ptr_array_index(addresses, i));
}

/* ---- life ---------------------------------------------------------------------------------------------- */

static void
hub_pen_changed_cb(NgHub *hub, const char *address, gpointer user_data)
{
	sync_pen_object(user_data, address);
}

static void
hub_pen_removed_cb(NgHub *hub, const char *address, gpointer user_data)
{
	NgApi *api = user_data;

	g_hash_table_remove(api->pens, address);
}

static void
hub_changed_cb(NgHub *hub, gpointer user_data)
{
	sync_gateway(user_data);
}

static const NgHubListener hub_listener = {
    .pen_changed = hub_pen_changed_cb,
    .pen_removed = hub_pen_removed_cb,
    .hub_changed = hub_changed_cb,
};

static void
name_acquired_cb(GDBusConnection *bus, const char *name, gpointer user_data)
{
	g_message("serving the D-Bus API as %s", name);
}

static void
name_lost_cb(GDBusConnection *bus, const char *name, gpointer user_data)
{
	NgApi *api = user_data;

	g_warning("cannot own the D-Bus name %s (another needlegated runs, or the D-Bus policy "
		  "org.needlegate.Gateway1.conf is not installed)",
		  name);
	if (api->name_lost != NULL)
		api->name_lost(api, api->name_lost_data);
}

static void
connect_gateway_handlers(NgApi *api)
{
	NgDbusGateway1 *gw = api->gateway;

	g_signal_connect(gw, "handle-open-pairing-window", G_CALLBACK(handle_open_pairing_window), api);
	g_signal_connect(gw, "handle-close-pairing-window", G_CALLBACK(handle_close_pairing_window), api);
	g_signal_connect(gw, "handle-list-discovered", G_CALLBACK(handle_list_discovered), api);
	g_signal_connect(gw, "handle-start-pairing", G_CALLBACK(handle_start_pairing), api);
	g_signal_connect(gw, "handle-pair", G_CALLBACK(handle_pair), api);
	g_signal_connect(gw, "handle-cancel-pairing", G_CALLBACK(handle_cancel_pairing), api);
	g_signal_connect(gw, "handle-remove", G_CALLBACK(handle_remove), api);
	g_signal_connect(gw, "handle-forget-hub", G_CALLBACK(handle_forget_hub), api);
	g_signal_connect(gw, "handle-list-sessions", G_CALLBACK(handle_list_sessions), api);
}

NgApi *
ng_api_new(NgHub *hub, GDBusConnection *bus, NgApiNameLostFunc name_lost, gpointer user_data, GError **error)
{
	g_autoptr(NgApi) api = g_new0(NgApi, 1);
	NgHubSnapshot snap;

	api->hub = hub;
	api->bus = bus;
	api->name_lost = name_lost;
	api->name_lost_data = user_data;
	api->cancellable = g_cancellable_new();
	api->pens = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)pen_object_free);
	api->gateway = ng_dbus_gateway1_skeleton_new();
	ng_hub_get_snapshot(hub, &snap);
	ng_dbus_gateway1_set_version(api->gateway, PACKAGE_VERSION);
	ng_dbus_gateway1_set_hub_id(api->gateway, snap.hub_id);
	connect_gateway_handlers(api);
	sync_gateway(api);
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(api->gateway), bus,
					      NG_HUB_OBJECT_PATH, error)) {
		g_prefix_error(error, "D-Bus API: ");
		return NULL;
	}
	api->manager = g_dbus_object_manager_server_new(NG_HUB_OBJECT_PATH);
	g_dbus_object_manager_server_set_connection(api->manager, bus);
	sync_all_pens(api);
	api->hub_listener = ng_hub_add_listener(hub, &hub_listener, api);
	api->owner_id = g_bus_own_name_on_connection(bus, NG_API_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
						     name_acquired_cb, name_lost_cb, api, NULL);
	return g_steal_pointer(&api);
}

void
ng_api_free(NgApi *api)
{
	if (api == NULL)
		return;
	if (api->owner_id != 0)
		g_bus_unown_name(api->owner_id);
	if (api->hub_listener != 0)
		ng_hub_remove_listener(api->hub, api->hub_listener);
	g_cancellable_cancel(api->cancellable);
	g_clear_object(&api->cancellable);
	g_clear_pointer(&api->pens, g_hash_table_destroy);
	if (api->gateway != NULL) {
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(api->gateway));
		g_signal_handlers_disconnect_by_data(api->gateway, api);
		g_clear_object(&api->gateway);
	}
	g_clear_object(&api->manager);
	g_free(api);
}
