/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pairing pens through BlueZ: the time-limited pairing window, passkey entry, removal of a bond. */

/*
 * The bond is the gateway's authorisation (BRIEF.md), so pairing is deliberate and short:
 *
 * - Discovery runs only while a pairing window is open (at most 10 minutes), and is asked for
 *   again every few seconds so that a bluetoothd restart does not end it silently. Closing the
 *   window (or its end) stops it. BlueZ ends a client's discovery when the client leaves the
 *   bus, so a crashed daemon does not leave it on either.
 * - One pairing at a time. A pen shows a new passkey each time pairing begins, so a pairing
 *   is two steps: Device1.Pair starts it, BlueZ asks our agent for the passkey (the pen now
 *   shows it), the technician types it, we answer. ng_pairing_pair_async () with no pairing
 *   started does both at once for pens with a fixed passkey.
 * - Every way it can end but success (wrong passkey, pen out of range, nobody typing, cancel,
 *   window closed) ends in Device1.Pair's error reply, and then the device is removed from
 *   BlueZ: no half-paired state is left behind, the next attempt starts clean.
 */

#include "config.h"

#include "ng-pairing.h"

#include <string.h>

#include "ng-agent.h"
#include "np.h"

#define BLUEZ_NAME	    "org.bluez"
#define ADAPTER_IFACE	    "org.bluez.Adapter1"
#define DEVICE_IFACE	    "org.bluez.Device1"
#define CALL_TIMEOUT_MS	    10000
#define PAIR_TIMEOUT_MS	    ((NG_PAIRING_PASSKEY_TIMEOUT_S + 60) * 1000)
#define DISCOVERY_REFRESH_S 5
/* A pen BlueZ does not know yet (the window just opened, or a failed attempt removed it) is
 * looked for this long: it reappears with its next advertisement. */
#define DEVICE_WAIT_US	(5 * G_USEC_PER_SEC)
#define DEVICE_RETRY_MS 250

typedef struct {
	NgPairing *pairing;
	char address[18];
	char *device;
	NgPairingState state;
	GTask *start_task;
	GTask *pair_task;
	gboolean have_passkey;
	guint32 passkey;
	GDBusMethodInvocation *request; /* the agent's RequestPasskey, held until the passkey comes */
	guint passkey_timeout_id;
	gboolean pair_sent;
	GError *abort_reason; /* why we stopped it ourselves: wins over BlueZ's error */
	GCancellable *cancellable;
	gint64 started_us;
	guint retry_id;
} Attempt;

struct _NgPairing {
	GDBusConnection *bus;
	NgBluez *bluez;
	NgAgent *agent;
	GCancellable *cancellable;
	NgPairingChangedFunc changed_func;
	gpointer changed_data;
	gint64 window_end_ms;
	guint window_id;
	guint refresh_id;
	Attempt *attempt;
};

const char *
ng_pairing_state_to_string(NgPairingState state)
{
	switch (state) {
	case NG_PAIRING_IDLE:
		return "idle";
	case NG_PAIRING_CONNECTING:
		return "connecting";
	case NG_PAIRING_WAITING:
		return "waiting-for-passkey";
	case NG_PAIRING_CHECKING:
		return "pairing";
	}
	return "idle";
}

static void
notify_changed(NgPairing *pairing)
{
	if (pairing->changed_func != NULL)
		pairing->changed_func(pairing, pairing->changed_data);
}

static char *
adapter_path(NgPairing *pairing)
{
	const char *name = ng_bluez_get_adapter_name(pairing->bluez);

	return name != NULL ? g_strconcat("/org/bluez/", name, NULL) : NULL;
}

static gboolean
require_adapter(NgPairing *pairing, char **path, GError **error)
{
	*path = adapter_path(pairing);
	if (*path != NULL)
		return TRUE;
	g_set_error_literal(error, NG_ERROR, NG_ERROR_BLUETOOTH_UNAVAILABLE,
			    "no Bluetooth adapter: check that bluetoothd runs and the adapter is powered "
			    "(systemctl status bluetooth)");
	return FALSE;
}

gboolean
ng_pairing_normalize_address(const char *address, char out[18], const char *what, GError **error)
{
	gboolean ok = address != NULL && strlen(address) == 17;

	for (guint i = 0; ok && i < 17; i++) {
		if (i % 3 == 2)
			ok = address[i] == ':';
		else
			ok = g_ascii_isxdigit(address[i]);
		out[i] = g_ascii_toupper(address[i]);
	}
	if (!ok) {
		g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS,
			    "%s: '%s' is not a Bluetooth address; write it as AA:BB:CC:DD:EE:FF", what,
			    address != NULL ? address : "");
		return FALSE;
	}
	out[17] = '\0';
	return TRUE;
}

static char *
device_path_for(const char *adapter, const char *address)
{
	g_autofree char *addr = g_strdup(address);

	g_strdelimit(addr, ":", '_');
	return g_strdup_printf("%s/dev_%s", adapter, addr);
}

/* ---- discovery --------------------------------------------------------------------------------- */

static void
discovery_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autofree char *remote = NULL;
	const char *what = user_data;

	if (reply != NULL || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	/* InProgress: our discovery is running already (the refresh). */
	remote = g_dbus_error_get_remote_error(error);
	if (g_strcmp0(remote, "org.bluez.Error.InProgress") == 0)
		return;
	g_message("pairing window: %s failed: %s", what, error->message);
}

static void
adapter_call(NgPairing *pairing, const char *method, GVariant *params, const char *what)
{
	g_autofree char *adapter = adapter_path(pairing);

	if (adapter == NULL) {
		if (params != NULL)
			g_variant_unref(g_variant_ref_sink(params));
		return;
	}
	g_dbus_connection_call(pairing->bus, BLUEZ_NAME, adapter, ADAPTER_IFACE, method, params, NULL,
			       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, pairing->cancellable,
			       discovery_cb, (gpointer)what);
}

/* Filters of all clients are merged by BlueZ: ours keeps the radio on LE and the pens' service;
 * what is listed is checked again (ng_pairing_list_discovered_async). */
static void
start_discovery(NgPairing *pairing)
{
	GVariantBuilder filter;
	const char *uuids[] = {NP_UUID_SESSION_SERVICE, NULL};

	g_variant_builder_init(&filter, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&filter, "{sv}", "Transport", g_variant_new_string("le"));
	g_variant_builder_add(&filter, "{sv}", "UUIDs", g_variant_new_strv(uuids, -1));
	adapter_call(pairing, "SetDiscoveryFilter", g_variant_new("(a{sv})", &filter), "SetDiscoveryFilter");
	adapter_call(pairing, "StartDiscovery", NULL, "StartDiscovery");
}

static gboolean
refresh_cb(gpointer user_data)
{
	start_discovery(user_data);
	return G_SOURCE_CONTINUE;
}

/* ---- one attempt ---------------------------------------------------------------------------------- */

static void
clear_request(Attempt *a, const char *reject_why)
{
	g_autoptr(GDBusMethodInvocation) request = g_steal_pointer(&a->request);

	g_clear_handle_id(&a->passkey_timeout_id, g_source_remove);
	if (request != NULL && reject_why != NULL)
		ng_agent_return_rejected(request, reject_why);
}

static void
set_state(Attempt *a, NgPairingState state)
{
	a->state = state;
	notify_changed(a->pairing);
}

static void
remove_device_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autofree char *device = user_data;

	if (reply == NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_debug("pairing: removing %s after a failed attempt: %s", device, error->message);
}

static void
return_task(GTask **task, const GError *error, gpointer value, GDestroyNotify destroy)
{
	g_autoptr(GTask) t = g_steal_pointer(task);

	if (t == NULL) {
		if (destroy != NULL)
			destroy(value);
		return;
	}
	if (error != NULL) {
		g_task_return_error(t, g_error_copy(error));
		if (destroy != NULL)
			destroy(value);
	} else {
		g_task_return_pointer(t, value, destroy);
	}
}

static void
attempt_free(Attempt *a)
{
	clear_request(a, "pairing ended");
	g_clear_handle_id(&a->retry_id, g_source_remove);
	g_clear_object(&a->cancellable);
	g_clear_error(&a->abort_reason);
	g_free(a->device);
	g_free(a);
}

/* The end of an attempt, whichever way: answers both steps and leaves nothing behind. */
static void
attempt_finish(Attempt *a, const GError *error)
{
	NgPairing *pairing = a->pairing;
	gboolean remove =
	    error != NULL && a->pair_sent && !g_error_matches(error, NG_ERROR, NG_ERROR_ALREADY_PAIRED);

	pairing->attempt = NULL;
	clear_request(a, "pairing ended");
	if (remove) {
		g_autofree char *adapter = adapter_path(pairing);
		if (adapter != NULL)
			g_dbus_connection_call(pairing->bus, BLUEZ_NAME, adapter, ADAPTER_IFACE,
					       "RemoveDevice", g_variant_new("(o)", a->device), NULL,
					       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL,
					       remove_device_cb, g_strdup(a->device));
	}
	if (error != NULL)
		g_message("pairing %s failed: %s", a->address, error->message);
	else
		g_message("pen %s paired", a->address);
	return_task(&a->start_task, error, GINT_TO_POINTER(TRUE), NULL);
	return_task(&a->pair_task, error, g_strdup(a->device), g_free);
	attempt_free(a);
	/* A window serves one pairing: discovery going on beside the new bond's first connection
	 * makes it fail (and bluetoothd 5.66 crash, seen in tests/realbluez). */
	if (error == NULL)
		ng_pairing_close_window(pairing);
	notify_changed(pairing);
}

/* We stop it ourselves: the reason is kept for the error reply. */
static void
attempt_abort(Attempt *a, NgError code, const char *message)
{
	if (a->abort_reason == NULL)
		a->abort_reason = g_error_new_literal(NG_ERROR, code, message);
	if (!a->pair_sent) {
		g_autoptr(GError) error = g_error_copy(a->abort_reason);
		g_cancellable_cancel(a->cancellable);
		attempt_finish(a, error);
		return;
	}
	clear_request(a, message);
	g_dbus_connection_call(a->pairing->bus, BLUEZ_NAME, a->device, DEVICE_IFACE, "CancelPairing", NULL,
			       NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, NULL, NULL);
}

static gboolean
passkey_timeout_cb(gpointer user_data)
{
	Attempt *a = user_data;

	a->passkey_timeout_id = 0;
	attempt_abort(a, NG_ERROR_TIMEOUT,
		      "nobody gave the passkey within 60 s: start again and type the passkey the pen shows");
	return G_SOURCE_REMOVE;
}

/* BlueZ's reasons, in words a technician can act on. */
static GError *
pair_error(Attempt *a, const GError *error)
{
	g_autofree char *remote = g_dbus_error_get_remote_error(error);
	g_autoptr(GError) plain = g_error_copy(error);
	const char *name = "";

	/* BlueZ's words without "GDBus.Error:org.bluez.Error.…: " in front. */
	g_dbus_error_strip_remote_error(plain);
	error = plain;

	if (remote != NULL && g_str_has_prefix(remote, "org.bluez.Error."))
		name = remote + strlen("org.bluez.Error.");
	if (a->abort_reason != NULL)
		return g_error_copy(a->abort_reason);
	if (g_str_equal(name, "AuthenticationFailed"))
		return g_error_new(
		    NG_ERROR, NG_ERROR_WRONG_PASSKEY,
		    "pen %s refused the passkey: start again and type the 6 digits the pen shows",
		    a->address);
	if (g_str_equal(name, "AuthenticationCanceled") || g_str_equal(name, "AuthenticationRejected"))
		return g_error_new(NG_ERROR, NG_ERROR_CANCELED, "pairing %s was cancelled: start again",
				   a->address);
	if (g_str_equal(name, "AuthenticationTimeout") ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
		return g_error_new(
		    NG_ERROR, NG_ERROR_TIMEOUT,
		    "pen %s stopped answering while pairing: bring it next to the hub and try again",
		    a->address);
	if (g_str_equal(name, "ConnectionAttemptFailed") || g_str_equal(name, "Failed") ||
	    g_str_equal(name, "DoesNotExist") ||
	    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT))
		return g_error_new(
		    NG_ERROR, NG_ERROR_NOT_IN_RANGE,
		    "pen %s did not answer (%s): switch it on, bring it next to the hub, try again",
		    a->address, error->message);
	if (g_str_equal(name, "AlreadyExists"))
		return g_error_new(NG_ERROR, NG_ERROR_ALREADY_PAIRED, "pen %s is paired already", a->address);
	if (g_str_equal(name, "InProgress"))
		return g_error_new(NG_ERROR, NG_ERROR_IN_PROGRESS,
				   "BlueZ is pairing %s already (another tool?): wait and try again",
				   a->address);
	return g_error_new(NG_ERROR, NG_ERROR_FAILED, "pairing %s failed: %s", a->address, error->message);
}

static void
pair_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autoptr(GError) mapped = NULL;
	Attempt *a = user_data;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* the daemon stops; the attempt is gone */
	if (reply == NULL)
		mapped = pair_error(a, error);
	attempt_finish(a, mapped);
}

static gboolean
device_offers_session_service(GVariant *props)
{
	g_autofree const char **uuids = NULL;

	if (!g_variant_lookup(props, "UUIDs", "^a&s", &uuids))
		return FALSE;
	for (guint i = 0; uuids[i] != NULL; i++) {
		if (g_ascii_strcasecmp(uuids[i], NP_UUID_SESSION_SERVICE) == 0)
			return TRUE;
	}
	return FALSE;
}

static GError *
check_device(Attempt *a, GVariant *props)
{
	gboolean paired = FALSE;

	if (g_variant_lookup(props, "Paired", "b", &paired) && paired)
		return g_error_new(NG_ERROR, NG_ERROR_ALREADY_PAIRED,
				   "pen %s is paired already: see it with needlectl list", a->address);
	if (!device_offers_session_service(props))
		return g_error_new(NG_ERROR, NG_ERROR_NOT_A_PEN,
				   "%s does not offer the Needling Session Service: it is not a NeedlePen",
				   a->address);
	return NULL;
}

static gboolean ask_device_cb(gpointer user_data);
static void ask_device(Attempt *a);

static void
device_props_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autoptr(GVariant) props = NULL;
	g_autoptr(GError) refusal = NULL;
	Attempt *a = user_data;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (reply == NULL && g_get_monotonic_time() - a->started_us < DEVICE_WAIT_US) {
		a->retry_id = g_timeout_add(DEVICE_RETRY_MS, ask_device_cb, a);
		return;
	}
	if (reply == NULL) {
		refusal =
		    g_error_new(NG_ERROR, NG_ERROR_NOT_IN_RANGE,
				"pen %s was not seen in this pairing window: switch it on, bring it next "
				"to the hub and run needlectl scan",
				a->address);
		attempt_finish(a, refusal);
		return;
	}
	g_variant_get(reply, "(@a{sv})", &props);
	refusal = check_device(a, props);
	if (refusal != NULL) {
		attempt_finish(a, refusal);
		return;
	}
	a->pair_sent = TRUE;
	set_state(a, NG_PAIRING_CONNECTING);
	g_dbus_connection_call(a->pairing->bus, BLUEZ_NAME, a->device, DEVICE_IFACE, "Pair", NULL, NULL,
			       G_DBUS_CALL_FLAGS_NO_AUTO_START, PAIR_TIMEOUT_MS, a->cancellable,
			       pair_reply_cb, a);
}

static gboolean
ask_device_cb(gpointer user_data)
{
	Attempt *a = user_data;

	a->retry_id = 0;
	ask_device(a);
	return G_SOURCE_REMOVE;
}

static void
ask_device(Attempt *a)
{
	g_dbus_connection_call(a->pairing->bus, BLUEZ_NAME, a->device, "org.freedesktop.DBus.Properties",
			       "GetAll", g_variant_new("(s)", DEVICE_IFACE), G_VARIANT_TYPE("(a{sv})"),
			       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, a->cancellable,
			       device_props_cb, a);
}

static gboolean
check_can_start(NgPairing *pairing, const char *address, char out[18], char **adapter, GError **error)
{
	if (!ng_pairing_window_is_open(pairing)) {
		g_set_error_literal(error, NG_ERROR, NG_ERROR_PAIRING_WINDOW_CLOSED,
				    "no pairing window is open: run needlectl scan first");
		return FALSE;
	}
	if (!ng_pairing_normalize_address(address, out, "address", error))
		return FALSE;
	if (pairing->attempt != NULL && g_strcmp0(pairing->attempt->address, out) != 0) {
		g_set_error(error, NG_ERROR, NG_ERROR_IN_PROGRESS,
			    "pen %s is being paired: wait for it, or cancel it (needlectl pair --cancel)",
			    pairing->attempt->address);
		return FALSE;
	}
	return require_adapter(pairing, adapter, error);
}

static Attempt *
attempt_begin(NgPairing *pairing, const char *address, const char *adapter)
{
	Attempt *a = g_new0(Attempt, 1);

	a->pairing = pairing;
	g_strlcpy(a->address, address, sizeof(a->address));
	a->device = device_path_for(adapter, address);
	a->cancellable = g_cancellable_new();
	a->state = NG_PAIRING_CONNECTING;
	a->started_us = g_get_monotonic_time();
	pairing->attempt = a;
	g_message("pairing %s", address);
	ask_device(a);
	notify_changed(pairing);
	return a;
}

void
ng_pairing_start_async(NgPairing *pairing, const char *address, GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autofree char *adapter = NULL;
	char addr[18];
	Attempt *a;

	g_task_set_source_tag(task, ng_pairing_start_async);
	if (!check_can_start(pairing, address, addr, &adapter, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (pairing->attempt != NULL) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_IN_PROGRESS,
					"pen %s is being paired already: give its passkey, or cancel", addr);
		return;
	}
	a = attempt_begin(pairing, addr, adapter);
	a->start_task = g_steal_pointer(&task);
}

gboolean
ng_pairing_start_finish(NgPairing *pairing, GAsyncResult *result, GError **error)
{
	g_autoptr(GError) local = NULL;
	gpointer ok = g_task_propagate_pointer(G_TASK(result), &local);

	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return ok != NULL;
}

static void
give_passkey(Attempt *a, guint32 passkey)
{
	g_autoptr(GDBusMethodInvocation) request = g_steal_pointer(&a->request);

	a->have_passkey = TRUE;
	a->passkey = passkey;
	if (request == NULL)
		return; /* answered when the pen asks */
	g_clear_handle_id(&a->passkey_timeout_id, g_source_remove);
	ng_agent_return_passkey(request, passkey);
	set_state(a, NG_PAIRING_CHECKING);
}

void
ng_pairing_pair_async(NgPairing *pairing, const char *address, guint32 passkey, GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autofree char *adapter = NULL;
	char addr[18];
	Attempt *a;

	g_task_set_source_tag(task, ng_pairing_pair_async);
	if (passkey > 999999) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_INVALID_ARGS,
					"passkey: %u has more than 6 digits; type the 6 digits the pen shows",
					passkey);
		return;
	}
	if (!check_can_start(pairing, address, addr, &adapter, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	a = pairing->attempt != NULL ? pairing->attempt : attempt_begin(pairing, addr, adapter);
	if (a->pair_task != NULL || a->have_passkey) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_IN_PROGRESS,
					"the passkey for %s was given already: wait for the result", addr);
		return;
	}
	a->pair_task = g_steal_pointer(&task);
	give_passkey(a, passkey);
}

char *
ng_pairing_pair_finish(NgPairing *pairing, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
ng_pairing_cancel(NgPairing *pairing, const char *address, GError **error)
{
	Attempt *a = pairing->attempt;

	if (a == NULL ||
	    (address != NULL && address[0] != '\0' && g_ascii_strcasecmp(address, a->address) != 0)) {
		g_set_error(error, NG_ERROR, NG_ERROR_NOT_FOUND, "no pairing of %s runs",
			    address != NULL && address[0] != '\0' ? address : "any pen");
		return FALSE;
	}
	attempt_abort(a, NG_ERROR_CANCELED, "the pairing was cancelled");
	return TRUE;
}

/* ---- the agent's side ----------------------------------------------------------------------------- */

static void
agent_passkey_cb(const char *device, GDBusMethodInvocation *invocation, gpointer user_data)
{
	NgPairing *pairing = user_data;
	Attempt *a = pairing->attempt;

	if (a == NULL || g_strcmp0(device, a->device) != 0) {
		ng_agent_return_rejected(invocation, "needlegate did not start pairing this device");
		return;
	}
	clear_request(a, "a newer request came");
	if (a->have_passkey) {
		ng_agent_return_passkey(invocation, a->passkey);
		set_state(a, NG_PAIRING_CHECKING);
		return;
	}
	a->request = g_object_ref(invocation);
	a->passkey_timeout_id = g_timeout_add_seconds(NG_PAIRING_PASSKEY_TIMEOUT_S, passkey_timeout_cb, a);
	set_state(a, NG_PAIRING_WAITING);
	g_message("pen %s shows its passkey: waiting for the technician to type it", a->address);
	return_task(&a->start_task, NULL, GINT_TO_POINTER(TRUE), NULL);
}

static void
agent_cancel_cb(gpointer user_data)
{
	NgPairing *pairing = user_data;

	if (pairing->attempt != NULL)
		clear_request(pairing->attempt, NULL);
}

/* ---- the window ------------------------------------------------------------------------------------ */

static gboolean
window_end_cb(gpointer user_data)
{
	NgPairing *pairing = user_data;

	pairing->window_id = 0;
	g_message("pairing window closed (time is up)");
	ng_pairing_close_window(pairing);
	return G_SOURCE_REMOVE;
}

gboolean
ng_pairing_open_window(NgPairing *pairing, guint seconds, GError **error)
{
	g_autofree char *adapter = NULL;

	if (seconds > NG_PAIRING_WINDOW_MAX_S) {
		g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS,
			    "seconds: %u is longer than the %u s a pairing window may stay open", seconds,
			    NG_PAIRING_WINDOW_MAX_S);
		return FALSE;
	}
	if (!require_adapter(pairing, &adapter, error))
		return FALSE;
	if (seconds == 0)
		seconds = NG_PAIRING_WINDOW_DEFAULT_S;
	g_clear_handle_id(&pairing->window_id, g_source_remove);
	pairing->window_id = g_timeout_add_seconds(seconds, window_end_cb, pairing);
	pairing->window_end_ms = g_get_real_time() / 1000 + (gint64)seconds * 1000;
	if (pairing->refresh_id == 0)
		pairing->refresh_id = g_timeout_add_seconds(DISCOVERY_REFRESH_S, refresh_cb, pairing);
	start_discovery(pairing);
	g_message("pairing window open for %u s", seconds);
	notify_changed(pairing);
	return TRUE;
}

void
ng_pairing_close_window(NgPairing *pairing)
{
	gboolean was_open = pairing->window_end_ms != 0;

	g_clear_handle_id(&pairing->window_id, g_source_remove);
	g_clear_handle_id(&pairing->refresh_id, g_source_remove);
	pairing->window_end_ms = 0;
	if (pairing->attempt != NULL)
		attempt_abort(pairing->attempt, NG_ERROR_CANCELED,
			      "the pairing window closed: run needlectl scan and pair again");
	if (!was_open)
		return;
	adapter_call(pairing, "StopDiscovery", NULL, "StopDiscovery");
	notify_changed(pairing);
}

gboolean
ng_pairing_window_is_open(NgPairing *pairing)
{
	return pairing->window_end_ms != 0;
}

gint64
ng_pairing_get_window_end_ms(NgPairing *pairing)
{
	return pairing->window_end_ms;
}

NgPairingState
ng_pairing_get_state(NgPairing *pairing)
{
	return pairing->attempt != NULL ? pairing->attempt->state : NG_PAIRING_IDLE;
}

const char *
ng_pairing_get_address(NgPairing *pairing)
{
	return pairing->attempt != NULL ? pairing->attempt->address : NULL;
}

/* ---- listing and removing -------------------------------------------------------------------------- */

static void
add_discovered(GVariantBuilder *out, GVariant *props)
{
	GVariantDict dict;
	const char *address = NULL;
	const char *name = "";
	gint16 rssi;
	gboolean connected = FALSE;

	if (!g_variant_lookup(props, "Address", "&s", &address))
		return;
	g_variant_lookup(props, "Name", "&s", &name);
	g_variant_lookup(props, "Connected", "b", &connected);
	g_variant_dict_init(&dict, NULL);
	g_variant_dict_insert(&dict, "address", "s", address);
	g_variant_dict_insert(&dict, "name", "s", name);
	if (g_variant_lookup(props, "RSSI", "n", &rssi))
		g_variant_dict_insert(&dict, "rssi", "n", rssi);
	g_variant_dict_insert(&dict, "paired", "b", FALSE);
	g_variant_dict_insert(&dict, "connected", "b", connected);
	g_variant_builder_add_value(out, g_variant_dict_end(&dict));
}

static void
managed_objects_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autoptr(GVariantIter) objects = NULL;
	const char *adapter = g_task_get_task_data(task);
	GVariantBuilder out;
	const char *path;
	GVariant *ifaces;

	if (reply == NULL) {
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_BLUETOOTH_UNAVAILABLE,
					"cannot ask BlueZ for devices (%s): check that bluetoothd runs",
					error->message);
		return;
	}
	g_variant_builder_init(&out, G_VARIANT_TYPE("aa{sv}"));
	g_variant_get(reply, "(a{oa{sa{sv}}})", &objects);
	while (g_variant_iter_loop(objects, "{&o@a{sa{sv}}}", &path, &ifaces)) {
		g_autoptr(GVariant) props =
		    g_variant_lookup_value(ifaces, DEVICE_IFACE, G_VARIANT_TYPE_VARDICT);
		const char *dev_adapter = NULL;
		gboolean paired = FALSE;

		if (props == NULL || !g_variant_lookup(props, "Adapter", "&o", &dev_adapter) ||
		    g_strcmp0(dev_adapter, adapter) != 0)
			continue;
		g_variant_lookup(props, "Paired", "b", &paired);
		if (!paired && device_offers_session_service(props))
			add_discovered(&out, props);
	}
	g_task_return_pointer(task, g_variant_ref_sink(g_variant_builder_end(&out)),
			      (GDestroyNotify)g_variant_unref);
}

void
ng_pairing_list_discovered_async(NgPairing *pairing, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
	g_autoptr(GError) error = NULL;
	char *adapter = NULL;

	if (!ng_pairing_window_is_open(pairing)) {
		g_task_return_new_error(
		    task, NG_ERROR, NG_ERROR_PAIRING_WINDOW_CLOSED,
		    "unbonded pens are listed only while a pairing window is open: run needlectl scan");
		return;
	}
	if (!require_adapter(pairing, &adapter, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_set_task_data(task, adapter, g_free);
	g_dbus_connection_call(pairing->bus, BLUEZ_NAME, "/", "org.freedesktop.DBus.ObjectManager",
			       "GetManagedObjects", NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
			       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, managed_objects_cb,
			       g_steal_pointer(&task));
}

GVariant *
ng_pairing_list_discovered_finish(NgPairing *pairing, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

static void
remove_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autofree char *remote = NULL;

	if (reply != NULL) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	remote = g_dbus_error_get_remote_error(error);
	g_dbus_error_strip_remote_error(error);
	if (g_strcmp0(remote, "org.bluez.Error.DoesNotExist") == 0)
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_NOT_FOUND,
					"BlueZ does not know this pen any more: see needlectl list");
	else
		g_task_return_new_error(task, NG_ERROR, NG_ERROR_FAILED, "BlueZ could not remove the pen: %s",
					error->message);
}

void
ng_pairing_remove_device_async(NgPairing *pairing, const char *device_path, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autofree char *adapter = NULL;

	if (!require_adapter(pairing, &adapter, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_dbus_connection_call(pairing->bus, BLUEZ_NAME, adapter, ADAPTER_IFACE, "RemoveDevice",
			       g_variant_new("(o)", device_path), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
			       CALL_TIMEOUT_MS, NULL, remove_cb, g_steal_pointer(&task));
}

gboolean
ng_pairing_remove_device_finish(NgPairing *pairing, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- life ------------------------------------------------------------------------------------------ */

NgPairing *
ng_pairing_new(GDBusConnection *bus, NgBluez *bluez, GError **error)
{
	g_autoptr(NgPairing) pairing = g_new0(NgPairing, 1);

	pairing->bus = g_object_ref(bus);
	pairing->bluez = bluez;
	pairing->cancellable = g_cancellable_new();
	pairing->agent = ng_agent_new(bus, agent_passkey_cb, agent_cancel_cb, pairing, error);
	if (pairing->agent == NULL)
		return NULL;
	return g_steal_pointer(&pairing);
}

void
ng_pairing_free(NgPairing *pairing)
{
	if (pairing == NULL)
		return;
	pairing->changed_func = NULL;
	if (pairing->attempt != NULL) {
		g_autoptr(GError) error = g_error_new_literal(NG_ERROR, NG_ERROR_CANCELED,
							      "needlegated is stopping: pair again later");
		Attempt *a = pairing->attempt;
		g_cancellable_cancel(a->cancellable);
		if (a->pair_sent)
			g_dbus_connection_call(pairing->bus, BLUEZ_NAME, a->device, DEVICE_IFACE,
					       "CancelPairing", NULL, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
					       -1, NULL, NULL, NULL);
		a->pair_sent = FALSE; /* no RemoveDevice from a dying daemon: BlueZ drops the attempt */
		attempt_finish(a, error);
	}
	if (pairing->window_end_ms != 0)
		adapter_call(pairing, "StopDiscovery", NULL, "StopDiscovery");
	g_clear_handle_id(&pairing->window_id, g_source_remove);
	g_clear_handle_id(&pairing->refresh_id, g_source_remove);
	g_cancellable_cancel(pairing->cancellable);
	g_clear_object(&pairing->cancellable);
	g_clear_pointer(&pairing->agent, ng_agent_free);
	g_clear_object(&pairing->bus);
	g_free(pairing);
}

void
ng_pairing_set_changed_func(NgPairing *pairing, NgPairingChangedFunc func, gpointer user_data)
{
	pairing->changed_func = func;
	pairing->changed_data = user_data;
}
