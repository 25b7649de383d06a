/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's D-Bus service org.needlegate.Gateway1: the hub, its pens, pairing; shared by the MQTT
 * requests. */

/*
 * The interfaces are documented in dbus/org.needlegate.Gateway1.xml and Pen1.xml; the
 * skeletons come from gdbus-codegen (dbus/meson.build).
 *
 * Pen1 objects mirror ng-bluez's registry of served pens. The registry has no observers, so
 * the API compares itself with it once a second (and right after anything it does itself):
 * cheap for ten pens, and the pen driver stays free of API code. The skeletons emit
 * PropertiesChanged only for values that changed.
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
#include "ng-pen.h"
#include "ng-session.h"

#define SYNC_INTERVAL_MS  1000
#define LAST_SEEN_STEP_MS 60000
#define GROUP_NAME	  "needlegate"

typedef struct {
	NgApi *api;
	char *address;
	NgDbusObjectSkeleton *object;
	NgDbusPen1 *iface;
	gint64 last_seen_ms;
	gboolean was_connected;
} PenObject;

struct _NgApi {
	NgApiEnv env;
	NgDbusGateway1 *gateway;
	GDBusObjectManagerServer *manager;
	GHashTable *pens; /* address -> PenObject */
	guint owner_id;
	guint sync_id;
	guint assign_watch;
	GCancellable *cancellable;
	NgApiNameLostFunc name_lost;
	gpointer name_lost_data;
};

static void sync_pens(NgApi *api);

/* ---- names and errors --------------------------------------------------------------------------- */

char *
ng_api_pen_object_path(const char *address)
{
	g_autofree char *addr = g_ascii_strup(address, -1);

	g_strdelimit(addr, ":", '_');
	return g_strdup_printf("%s/pens/%s", NG_API_OBJECT_PATH, addr);
}

NgPen *
ng_api_find_pen(NgApi *api, const char *name)
{
	GHashTableIter iter;
	NgPen *pen;

	if (name == NULL || *name == '\0')
		return NULL;
	g_hash_table_iter_init(&iter, ng_bluez_get_pens(api->env.bluez));
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		if (g_strcmp0(ng_pen_get_serial(pen), name) == 0 ||
		    g_ascii_strcasecmp(ng_pen_get_address(pen), name) == 0)
			return pen;
	}
	return NULL;
}

static GError *
not_found(const char *name)
{
	return g_error_new(
	    NG_ERROR, NG_ERROR_NOT_FOUND,
	    "no pen '%s' is paired with this hub: see needlectl list (a serial number or an address)", name);
}

NgAudit *
ng_api_get_audit(NgApi *api)
{
	return api->env.audit;
}

NgAssign *
ng_api_get_assign(NgApi *api)
{
	return api->env.assign;
}

/* ---- properties ----------------------------------------------------------------------------------- */

static GVariant *
counters_variant(NgApi *api)
{
	NgBridgeCounters *c = ng_bridge_get_counters(api->env.bridge);
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
	g_variant_builder_add(&b, "{st}", "records", c->records);
	g_variant_builder_add(&b, "{st}", "replayed", c->replayed);
	g_variant_builder_add(&b, "{st}", "duplicates", c->duplicates);
	g_variant_builder_add(&b, "{st}", "malformed", c->malformed);
	g_variant_builder_add(&b, "{st}", "lost", c->lost);
	g_variant_builder_add(&b, "{st}", "events", c->events);
	g_variant_builder_add(&b, "{st}", "publish_errors", c->publish_errors);
	return g_variant_builder_end(&b);
}

static void
sync_gateway(NgApi *api)
{
	NgDbusGateway1 *gw = api->gateway;
	NgPairing *pairing = api->env.pairing;
	const char *adapter = ng_bluez_get_adapter_name(api->env.bluez);
	const char *adapter_address = ng_bluez_get_adapter_address(api->env.bluez);
	const char *pairing_address = ng_pairing_get_address(pairing);

	ng_dbus_gateway1_set_adapter(gw, adapter != NULL ? adapter : "");
	ng_dbus_gateway1_set_adapter_address(gw, adapter_address != NULL ? adapter_address : "");
	ng_dbus_gateway1_set_bluetooth_running(gw, ng_bluez_is_running(api->env.bluez));
	ng_dbus_gateway1_set_mqtt_connected(gw, api->env.mqtt != NULL && ng_mqtt_is_connected(api->env.mqtt));
	ng_dbus_gateway1_set_pens_served(gw, g_hash_table_size(ng_bluez_get_pens(api->env.bluez)));
	ng_dbus_gateway1_set_pens_connected(gw, ng_bluez_count_connected(api->env.bluez));
	ng_dbus_gateway1_set_counters(gw, counters_variant(api));
	ng_dbus_gateway1_set_pairing_window_open(gw, ng_pairing_window_is_open(pairing));
	ng_dbus_gateway1_set_pairing_window_ends_at(gw, ng_pairing_get_window_end_ms(pairing));
	ng_dbus_gateway1_set_pairing_state(gw, ng_pairing_state_to_string(ng_pairing_get_state(pairing)));
	ng_dbus_gateway1_set_pairing_address(gw, pairing_address != NULL ? pairing_address : "");
}

static const char *
plan_id_of(NgApi *api, const char *serial)
{
	NgPlan *plan = NULL;

	if (api->env.assign != NULL && serial != NULL)
		plan = ng_assign_get(api->env.assign, serial);
	return plan != NULL ? plan->plan_id : "";
}

static void
sync_pen_status(NgDbusPen1 *iface, NgPen *pen)
{
	NpPenStatus st = {0};
	gboolean have = ng_pen_get_status(pen, &st);
	NgSession *session = ng_pen_get_session(pen);

	ng_dbus_pen1_set_pen_state(iface, have ? np_pen_state_to_string(st.state) : "unknown");
	ng_dbus_pen1_set_error(iface, have ? np_pen_error_to_string(st.error_code) : "none");
	ng_dbus_pen1_set_cartridge(iface, st.cartridge_id);
	ng_dbus_pen1_set_cartridge_needles(iface, st.needle_count);
	if (session != NULL) {
		ng_dbus_pen1_set_session(iface, ng_session_get_current_id(session));
		ng_dbus_pen1_set_session_active(iface, ng_session_is_active(session));
	} else {
		ng_dbus_pen1_set_session(iface, st.session_id);
		ng_dbus_pen1_set_session_active(iface, have && st.state == NP_PEN_STATE_SESSION_ACTIVE);
	}
	ng_dbus_pen1_set_area(iface, np_area_to_string(ng_pen_get_area(pen)));
}

static void
sync_pen(PenObject *po, NgPen *pen)
{
	NgDbusPen1 *iface = po->iface;
	const char *serial = ng_pen_get_serial(pen);
	gboolean connected = ng_pen_is_connected(pen);
	gint64 now_ms = g_get_real_time() / 1000;

	/* While connected, a minute's precision is enough: no PropertiesChanged every second. */
	if ((connected && now_ms - po->last_seen_ms >= LAST_SEEN_STEP_MS) || connected != po->was_connected)
		po->last_seen_ms = now_ms;
	po->was_connected = connected;
	ng_dbus_pen1_set_serial(iface, serial != NULL ? serial : "");
	ng_dbus_pen1_set_address(iface, ng_pen_get_address(pen));
	ng_dbus_pen1_set_name(iface, ng_pen_get_name(pen) != NULL ? ng_pen_get_name(pen) : "");
	ng_dbus_pen1_set_model(iface, ng_pen_get_model(pen) != NULL ? ng_pen_get_model(pen) : "");
	ng_dbus_pen1_set_firmware(iface, ng_pen_get_firmware(pen) != NULL ? ng_pen_get_firmware(pen) : "");
	ng_dbus_pen1_set_link_state(iface, ng_pen_state_to_string(ng_pen_get_state(pen)));
	ng_dbus_pen1_set_connected(iface, connected);
	ng_dbus_pen1_set_battery(iface, ng_pen_get_battery(pen));
	ng_dbus_pen1_set_plan(iface, plan_id_of(po->api, serial));
	ng_dbus_pen1_set_last_seen(iface, po->last_seen_ms);
	ng_dbus_pen1_set_rssi(iface, (gint16)ng_pen_get_rssi(pen));
	sync_pen_status(iface, pen);
}

static gboolean
sync_cb(gpointer user_data)
{
	NgApi *api = user_data;

	sync_gateway(api);
	sync_pens(api);
	return G_SOURCE_CONTINUE;
}

void
ng_api_sync(NgApi *api)
{
	sync_cb(api);
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
	    api->env.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	    "GetConnectionUnixUser", g_variant_new("(s)", g_dbus_method_invocation_get_sender(inv)),
	    G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, api->cancellable, caller_uid_cb, call);
}

/* ---- shared operations ---------------------------------------------------------------------------- */

typedef struct {
	NgApi *api;
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
op_task(NgApi *api, const char *target, const NgActor *who, gpointer tag, GAsyncReadyCallback callback,
	gpointer user_data)
{
	GTask *task = g_task_new(NULL, NULL, callback, user_data);
	Op *op = g_new0(Op, 1);

	op->api = api;
	op->target = g_strdup(target);
	op->who = *who;
	g_task_set_source_tag(task, tag);
	g_task_set_task_data(task, op, (GDestroyNotify)op_free);
	return task;
}

gboolean
ng_api_open_pairing_window(NgApi *api, guint seconds, const NgActor *who, GError **error)
{
	g_autofree char *detail = NULL;

	if (!ng_pairing_open_window(api->env.pairing, seconds, error))
		return FALSE;
	detail = g_strdup_printf("%u s", seconds != 0 ? seconds : NG_PAIRING_WINDOW_DEFAULT_S);
	ng_audit_record(api->env.audit, who, "pairing_window_opened", NULL, NULL, detail);
	sync_gateway(api);
	return TRUE;
}

void
ng_api_close_pairing_window(NgApi *api, const NgActor *who)
{
	if (ng_pairing_window_is_open(api->env.pairing))
		ng_audit_record(api->env.audit, who, "pairing_window_closed", NULL, NULL, NULL);
	ng_pairing_close_window(api->env.pairing);
	sync_gateway(api);
}

static void
pairing_started_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!ng_pairing_start_finish(op->api->env.pairing, res, &error)) {
		ng_audit_record(op->api->env.audit, &op->who, "pairing_failed", NULL, op->target,
				error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
ng_api_start_pairing_async(NgApi *api, const char *address, const NgActor *who, GAsyncReadyCallback callback,
			   gpointer user_data)
{
	GTask *task = op_task(api, address, who, ng_api_start_pairing_async, callback, user_data);

	ng_pairing_start_async(api->env.pairing, address, pairing_started_cb, task);
}

gboolean
ng_api_start_pairing_finish(NgApi *api, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}

static void
paired_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree char *device = ng_pairing_pair_finish(op->api->env.pairing, res, &error);
	char address[18];

	if (device == NULL) {
		ng_audit_record(op->api->env.audit, &op->who, "pairing_failed", NULL, op->target,
				error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	ng_audit_record(op->api->env.audit, &op->who, "paired", NULL, op->target, NULL);
	if (!ng_pairing_normalize_address(op->target, address, "address", NULL))
		g_strlcpy(address, op->target, sizeof(address));
	sync_pens(op->api);
	g_task_return_pointer(task, ng_api_pen_object_path(address), g_free);
}

void
ng_api_pair_async(NgApi *api, const char *address, guint32 passkey, const NgActor *who,
		  GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = op_task(api, address, who, ng_api_pair_async, callback, user_data);

	ng_pairing_pair_async(api->env.pairing, address, passkey, paired_cb, task);
}

char *
ng_api_pair_finish(NgApi *api, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
removed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) store_error = NULL;

	if (!ng_pairing_remove_device_finish(op->api->env.pairing, res, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* The plan was for this pen's next patient; the journal keeps the finished sessions. */
	if (op->serial != NULL && op->api->env.assign != NULL &&
	    !ng_assign_clear(op->api->env.assign, op->serial, NULL, &store_error))
		g_warning("pen %s removed, but its plan stays: %s", op->serial, store_error->message);
	ng_audit_record(op->api->env.audit, &op->who, "removed", op->serial, op->target, NULL);
	sync_pens(op->api);
	g_task_return_boolean(task, TRUE);
}

void
ng_api_remove_async(NgApi *api, const char *name, const NgActor *who, GAsyncReadyCallback callback,
		    gpointer user_data)
{
	g_autoptr(GTask) task = op_task(api, name, who, ng_api_remove_async, callback, user_data);
	Op *op = g_task_get_task_data(task);
	NgPen *pen = ng_api_find_pen(api, name);
	g_autofree char *device = NULL;
	char address[18];

	if (pen != NULL) {
		device = g_strdup(ng_pen_get_object_path(pen));
		op->serial = g_strdup(ng_pen_get_serial(pen));
		g_free(op->target);
		op->target = g_strdup(ng_pen_get_address(pen));
	} else if (ng_pairing_normalize_address(name, address, "pen", NULL) &&
		   ng_bluez_get_adapter_name(api->env.bluez) != NULL) {
		/* Bonded but not served (no session service): still the technician's to remove. */
		g_autofree char *addr = g_strdup(address);
		g_strdelimit(addr, ":", '_');
		device =
		    g_strdup_printf("/org/bluez/%s/dev_%s", ng_bluez_get_adapter_name(api->env.bluez), addr);
	} else {
		g_task_return_error(task, not_found(name != NULL ? name : ""));
		return;
	}
	ng_pairing_remove_device_async(api->env.pairing, device, removed_cb, g_steal_pointer(&task));
}

gboolean
ng_api_remove_finish(NgApi *api, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
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
		ng_audit_record(op->api->env.audit, &op->who, "session_stopped", op->serial, NULL, NULL);
	g_task_return_boolean(task, TRUE);
}

void
ng_api_pen_request_async(NgApi *api, const char *name, guint8 op_code, const NgActor *who,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = op_task(api, name, who, ng_api_pen_request_async, callback, user_data);
	Op *op = g_task_get_task_data(task);
	NgPen *pen = ng_api_find_pen(api, name);
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
ng_api_pen_request_finish(NgApi *api, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
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

	return_result(call->inv, ng_api_open_pairing_window(call->api, call->u, &call->who, &error), &error);
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
	ng_api_close_pairing_window(call->api, &call->who);
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
	g_autoptr(GVariant) pens = ng_pairing_list_discovered_finish(NULL, res, &error);

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

	ng_pairing_list_discovered_async(api->env.pairing, listed_cb, g_object_ref(inv));
	return TRUE;
}

static void
started_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;

	return_result(inv, ng_api_start_pairing_finish(NULL, res, &error), &error);
}

static void
do_start_pairing(Call *call)
{
	ng_api_start_pairing_async(call->api, call->s, &call->who, started_cb, g_object_ref(call->inv));
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
	g_autofree char *path = ng_api_pair_finish(NULL, res, &error);

	if (path == NULL) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(o)", path));
}

static void
do_pair(Call *call)
{
	ng_api_pair_async(call->api, call->s, call->u, &call->who, pair_done_cb, g_object_ref(call->inv));
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

	return_result(call->inv, ng_pairing_cancel(call->api->env.pairing, call->s, &error), &error);
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

	return_result(inv, ng_api_remove_finish(NULL, res, &error), &error);
}

static void
do_remove(Call *call)
{
	ng_api_remove_async(call->api, call->s, &call->who, remove_done_cb, g_object_ref(call->inv));
}

static gboolean
handle_remove(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *pen, gpointer user_data)
{
	with_caller(user_data, inv, do_remove, pen, 0);
	return TRUE;
}

static gboolean
handle_list_sessions(NgDbusGateway1 *gw, GDBusMethodInvocation *inv, const char *name, gint64 since,
		     gpointer user_data)
{
	NgApi *api = user_data;
	NgPen *pen = ng_api_find_pen(api, name);
	const char *serial = pen != NULL && ng_pen_get_serial(pen) != NULL ? ng_pen_get_serial(pen) : name;
	g_autoptr(GPtrArray) entries = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) out = g_string_new("[");

	if (api->env.journal == NULL) {
		g_dbus_method_invocation_return_error_literal(inv, NG_ERROR, NG_ERROR_NOT_SUPPORTED,
							      "this hub keeps no session journal");
		return TRUE;
	}
	entries =
	    ng_journal_query(api->env.journal, *serial != '\0' ? serial : NULL, MAX(since, 0), 0, &error);
	if (entries == NULL) {
		g_dbus_method_invocation_return_error(inv, NG_ERROR, NG_ERROR_FAILED,
						      "reading the journal: %s", error->message);
		return TRUE;
	}
	for (guint i = 0; i < entries->len; i++) {
		if (i > 0)
			g_string_append_c(out, ',');
		ng_journal_entry_to_json(out, g_ptr_array_index(entries, i));
	}
	g_string_append_c(out, ']');
	g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", out->str));
	return TRUE;
}

/* ---- org.needlegate.Pen1 ----------------------------------------------------------------------------------
 */

static void
pen_request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) inv = user_data;
	g_autoptr(GError) error = NULL;

	return_result(inv, ng_api_pen_request_finish(NULL, res, &error), &error);
}

static void
do_pen_request(Call *call)
{
	ng_api_pen_request_async(call->api, call->s, (guint8)call->u, &call->who, pen_request_done_cb,
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

/* The pen's serial for a plan call, or an error: plans are kept by serial number. */
static const char *
plan_serial(Call *call, GError **error)
{
	NgPen *pen = ng_api_find_pen(call->api, call->s);

	if (call->api->env.assign == NULL) {
		g_set_error_literal(error, NG_ERROR, NG_ERROR_NOT_SUPPORTED, "this hub does not take plans");
		return NULL;
	}
	if (pen == NULL) {
		g_propagate_error(error, not_found(call->s));
		return NULL;
	}
	if (ng_pen_get_serial(pen) == NULL) {
		g_set_error(
		    error, NG_ERROR, NG_ERROR_NOT_CONNECTED,
		    "pen %s has not connected yet, so its serial number is unknown: switch it on near the "
		    "hub, wait until needlectl status shows it connected, then assign the plan",
		    call->s);
		return NULL;
	}
	return ng_pen_get_serial(pen);
}

static void
do_assign_plan(Call *call)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *who = ng_actor_to_string(&call->who);
	g_autofree char *by = g_strconcat("dbus:", who, NULL);
	const char *serial = plan_serial(call, &error);
	const char *plan_json = g_object_get_data(G_OBJECT(call->inv), "ng-plan");

	if (serial == NULL) {
		g_dbus_method_invocation_return_gerror(call->inv, error);
		return;
	}
	if (!ng_assign_set(call->api->env.assign, serial, plan_json, by, &error)) {
		NgError code = error->domain == NG_PLAN_ERROR ? NG_ERROR_INVALID_PLAN : NG_ERROR_FAILED;
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
			code = NG_ERROR_INVALID_ARGS;
		g_dbus_method_invocation_return_error(call->inv, NG_ERROR, code,
						      "plan refused, the previous one "
						      "stays: %s",
						      error->message);
		return;
	}
	ng_audit_record(call->api->env.audit, &call->who, "plan_assigned", serial, NULL,
			plan_id_of(call->api, serial));
	sync_pens(call->api);
	g_dbus_method_invocation_return_value(call->inv, NULL);
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
	const char *serial = plan_serial(call, &error);
	gboolean had = FALSE;

	if (serial == NULL) {
		g_dbus_method_invocation_return_gerror(call->inv, error);
		return;
	}
	if (!ng_assign_clear(call->api->env.assign, serial, &had, &error)) {
		g_dbus_method_invocation_return_error(call->inv, NG_ERROR, NG_ERROR_FAILED, "%s",
						      error->message);
		return;
	}
	if (!had) {
		g_dbus_method_invocation_return_error(call->inv, NG_ERROR, NG_ERROR_NO_PLAN,
						      "pen %s has no plan", serial);
		return;
	}
	ng_audit_record(call->api->env.audit, &call->who, "plan_cleared", serial, NULL, NULL);
	sync_pens(call->api);
	g_dbus_method_invocation_return_value(call->inv, NULL);
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
	Call call = {.api = po->api, .s = po->address};
	g_autoptr(GError) error = NULL;
	const char *serial = plan_serial(&call, &error);
	NgPlan *plan = serial != NULL ? ng_assign_get(po->api->env.assign, serial) : NULL;
	g_autofree char *json = NULL;

	if (serial == NULL) {
		g_dbus_method_invocation_return_gerror(inv, error);
		return TRUE;
	}
	if (plan == NULL) {
		g_dbus_method_invocation_return_error(
		    inv, NG_ERROR, NG_ERROR_NO_PLAN,
		    "pen %s has no plan: assign one with needlectl plan assign", serial);
		return TRUE;
	}
	json = ng_plan_to_json(plan);
	g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", json));
	return TRUE;
}

/* ---- pen objects ----------------------------------------------------------------------------------------
 */

static void
pen_object_free(PenObject *po)
{
	g_autofree char *path = ng_api_pen_object_path(po->address);

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
	g_autofree char *path = ng_api_pen_object_path(address);

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

static void
sync_pens(NgApi *api)
{
	GHashTable *served = ng_bluez_get_pens(api->env.bluez);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	GHashTableIter iter;
	NgPen *pen;
	PenObject *po;

	g_hash_table_iter_init(&iter, served);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		const char *address = ng_pen_get_address(pen);

		if (address == NULL)
			continue;
		po = g_hash_table_lookup(api->pens, address);
		if (po == NULL) {
			po = pen_object_new(api, address);
			g_hash_table_insert(api->pens, po->address, po);
			sync_pen(po, pen);
			g_dbus_object_manager_server_export(api->manager, G_DBUS_OBJECT_SKELETON(po->object));
		} else {
			sync_pen(po, pen);
		}
		g_hash_table_add(seen, po->address);
	}
	g_hash_table_iter_init(&iter, api->pens);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&po)) {
		if (!g_hash_table_contains(seen, po->address))
			g_hash_table_iter_remove(&iter);
	}
}

/* ---- life ---------------------------------------------------------------------------------------------- */

static void
pairing_changed_cb(NgPairing *pairing, gpointer user_data)
{
	sync_gateway(user_data);
}

static void
assign_changed_cb(NgAssign *assign, const char *serial, gpointer user_data)
{
	sync_pens(user_data);
}

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
	g_signal_connect(gw, "handle-list-sessions", G_CALLBACK(handle_list_sessions), api);
}

NgApi *
ng_api_new(const NgApiEnv *env, NgApiNameLostFunc name_lost, gpointer user_data, GError **error)
{
	g_autoptr(NgApi) api = g_new0(NgApi, 1);

	(void)ng_error_quark(); /* registers the org.needlegate.Error.* names before any reply */
	api->env = *env;
	api->name_lost = name_lost;
	api->name_lost_data = user_data;
	api->cancellable = g_cancellable_new();
	api->pens = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)pen_object_free);
	api->gateway = ng_dbus_gateway1_skeleton_new();
	ng_dbus_gateway1_set_version(api->gateway, PACKAGE_VERSION);
	ng_dbus_gateway1_set_hub_id(api->gateway, env->config->hub_id);
	connect_gateway_handlers(api);
	sync_gateway(api);
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(api->gateway), env->bus,
					      NG_API_OBJECT_PATH, error)) {
		g_prefix_error(error, "D-Bus API: ");
		return NULL;
	}
	api->manager = g_dbus_object_manager_server_new(NG_API_OBJECT_PATH);
	g_dbus_object_manager_server_set_connection(api->manager, env->bus);
	sync_pens(api);
	ng_pairing_set_changed_func(env->pairing, pairing_changed_cb, api);
	if (env->assign != NULL)
		api->assign_watch = ng_assign_add_watch(env->assign, assign_changed_cb, api);
	api->sync_id = g_timeout_add(SYNC_INTERVAL_MS, sync_cb, api);
	api->owner_id = g_bus_own_name_on_connection(env->bus, NG_API_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
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
	g_clear_handle_id(&api->sync_id, g_source_remove);
	if (api->assign_watch != 0)
		ng_assign_remove_watch(api->env.assign, api->assign_watch);
	/* The pairing may be gone already (main.c frees it first, so that pairings still running
	 * are answered through this API): it is not touched here. */
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
