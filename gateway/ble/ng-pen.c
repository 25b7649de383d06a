/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One bonded pen's BLE connection: connect, read, subscribe, the Control Point, and its records. */

#include "config.h"

#include "ng-pen.h"

#include <errno.h>
#include <poll.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ng-control-point.h"

#define BLUEZ_NAME     "org.bluez"
#define DEVICE_IFACE   "org.bluez.Device1"
#define GATT_CHR_IFACE "org.bluez.GattCharacteristic1"

#define CALL_TIMEOUT_MS 10000
#define CP_TIMEOUT_S	5 /* the profile: a gateway waits 5 s for a Control Point answer */
/* A hole may be a session event whose indication (D-Bus) is a little behind the telemetry
 * socket: give it this long before asking the pen for its stored records. */
#define REPLAY_DELAY_MS 300
#define REPLAY_RETRY_MS 2000
/* Reads per wake-up of the telemetry socket: a busy socket cannot starve the rest. */
#define TELEMETRY_READS_PER_WAKEUP 32
/* A connection that lasted this long resets the reconnect delay. */
#define STABLE_CONNECTION_US (30 * G_USEC_PER_SEC)

typedef enum {
	CHR_SERIAL,
	CHR_MODEL,
	CHR_FIRMWARE,
	CHR_MANUFACTURER,
	CHR_FEATURES,
	CHR_BATTERY,
	CHR_PEN_STATUS,
	CHR_CONTROL_POINT,
	CHR_SESSION_EVENT,
	CHR_TELEMETRY,
	CHR_COUNT,
} PenChr;

static const struct {
	const char *uuid;
	const char *name;
} chr_info[CHR_COUNT] = {
    [CHR_SERIAL] = {NP_UUID_SERIAL_NUMBER, "Serial Number"},
    [CHR_MODEL] = {NP_UUID_MODEL_NUMBER, "Model Number"},
    [CHR_FIRMWARE] = {NP_UUID_FIRMWARE_REVISION, "Firmware Revision"},
    [CHR_MANUFACTURER] = {NP_UUID_MANUFACTURER_NAME, "Manufacturer Name"},
    [CHR_FEATURES] = {NP_UUID_PEN_FEATURES, "Pen Features"},
    [CHR_BATTERY] = {NP_UUID_BATTERY_LEVEL, "Battery Level"},
    [CHR_PEN_STATUS] = {NP_UUID_PEN_STATUS, "Pen Status"},
    [CHR_CONTROL_POINT] = {NP_UUID_CONTROL_POINT, "Control Point"},
    [CHR_SESSION_EVENT] = {NP_UUID_SESSION_EVENT, "Session Event"},
    [CHR_TELEMETRY] = {NP_UUID_TELEMETRY, "Telemetry"},
};

static const char *const malformed_names[NG_MALFORMED_KIND_COUNT] = {
    [NG_MALFORMED_TELEMETRY] = "Telemetry",	    [NG_MALFORMED_SESSION_EVENT] = "Session Event",
    [NG_MALFORMED_CONTROL_POINT] = "Control Point", [NG_MALFORMED_PEN_STATUS] = "Pen Status",
    [NG_MALFORMED_BATTERY] = "Battery Level",
};

struct _NgPen {
	NgPenEnv *env;
	GDBusObjectManager *manager;
	GDBusProxy *device;
	char *path;
	char *address;
	char *name;
	NgPenStateFunc state_func;
	gpointer state_data;
	gpointer user_data;

	NgPenState state;
	gint64 waiting_since;
	gint64 connected_since;
	guint attempts; /* failed connections in a row: the reconnect delay */
	guint backoff_id;
	guint timeout_id;
	GCancellable *cancellable; /* this connection's calls */
	char *chr_paths[CHR_COUNT];
	guint step;

	char *serial;
	char *model;
	char *firmware;
	char *manufacturer;
	NpPenFeatures features;
	gboolean have_features;
	NpPenStatus status;
	gboolean have_status;
	int battery;
	gboolean clock_set;

	gboolean acquired;
	int telemetry_fd;
	guint telemetry_source;
	guint16 mtu;

	NgControlPoint *cp;

	guint malformed_logged; /* one bit per NgMalformedKind */
	NgPenCounters counters;
};

static void setup_next(NgPen *pen);
static void schedule_reconnect(NgPen *pen);
static void drain_telemetry(NgPen *pen);

/* The listener's callbacks, each only if set. */
#define NOTIFY(pen, cb, ...)                                                                                 \
	G_STMT_START                                                                                         \
	{                                                                                                    \
		if ((pen)->env->listener != NULL && (pen)->env->listener->cb != NULL)                        \
			(pen)->env->listener->cb((pen), __VA_ARGS__);                                        \
	}                                                                                                    \
	G_STMT_END

const char *
ng_pen_state_to_string(NgPenState state)
{
	switch (state) {
	case NG_PEN_STATE_IDLE:
		return "idle";
	case NG_PEN_STATE_WAITING:
		return "waiting";
	case NG_PEN_STATE_CONNECTING:
		return "connecting";
	case NG_PEN_STATE_RESOLVING:
		return "resolving";
	case NG_PEN_STATE_SETUP:
		return "setup";
	case NG_PEN_STATE_READY:
		return "ready";
	case NG_PEN_STATE_REFUSED:
		return "refused";
	default:
		return "unknown";
	}
}

/* How the pen is named in logs: its serial once known, its address before. */
static const char *
pen_label(NgPen *pen)
{
	return pen->serial != NULL ? pen->serial : pen->address;
}

static gint64
now_ms(void)
{
	return g_get_real_time() / 1000;
}

static void
set_state(NgPen *pen, NgPenState state)
{
	NgPenState old = pen->state;

	if (old == state)
		return;
	pen->state = state;
	if (state == NG_PEN_STATE_WAITING)
		pen->waiting_since = g_get_monotonic_time();
	g_debug("pen %s: %s -> %s", pen_label(pen), ng_pen_state_to_string(old),
		ng_pen_state_to_string(state));
	if (pen->state_func != NULL)
		pen->state_func(pen, old, pen->state_data);
	if (old == NG_PEN_STATE_READY || state == NG_PEN_STATE_READY)
		NOTIFY(pen, state_changed, old, pen->env->listener_data);
}

/* "InProgress" for org.bluez.Error.InProgress, or NULL for other errors. */
static char *
bluez_error_name(const GError *error)
{
	g_autofree char *remote = g_dbus_error_get_remote_error(error);

	if (remote == NULL || !g_str_has_prefix(remote, "org.bluez.Error."))
		return NULL;
	return g_strdup(remote + strlen("org.bluez.Error."));
}

static gboolean
is_cancelled(const GError *error)
{
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static gboolean
device_bool(NgPen *pen, const char *property)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(pen->device, property);

	return v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean(v);
}

/* ---- tearing down ------------------------------------------------------------------------------ */

static void
close_telemetry(NgPen *pen)
{
	if (pen->telemetry_source != 0) {
		g_source_remove(pen->telemetry_source);
		pen->telemetry_source = 0;
	}
	if (pen->telemetry_fd >= 0) {
		close(pen->telemetry_fd);
		pen->telemetry_fd = -1;
	}
	pen->acquired = FALSE;
}

static void
clear_source(guint *id)
{
	if (*id != 0) {
		g_source_remove(*id);
		*id = 0;
	}
}

/* Forgets everything about the current connection; callbacks of its calls see CANCELLED. */
static void
drop_connection(NgPen *pen)
{
	g_cancellable_cancel(pen->cancellable);
	g_clear_object(&pen->cancellable);
	pen->cancellable = g_cancellable_new();
	close_telemetry(pen);
	clear_source(&pen->timeout_id);
	ng_control_point_reset(pen->cp);
	for (guint i = 0; i < CHR_COUNT; i++)
		g_clear_pointer(&pen->chr_paths[i], g_free);
	pen->step = 0;
	pen->clock_set = FALSE;
}

static void
request_disconnect(NgPen *pen)
{
	/* Also cancels a pending LE connection in bluetoothd: a stale connect must not linger. */
	g_dbus_connection_call(pen->env->bus, BLUEZ_NAME, pen->path, DEVICE_IFACE, "Disconnect", NULL, NULL,
			       G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL, NULL);
}

/* Something went wrong with this connection: drop it, tell BlueZ, try again later. */
static void link_lost(NgPen *pen);

static void
fail_connection(NgPen *pen, const char *why)
{
	gboolean was_ready = pen->state == NG_PEN_STATE_READY;

	g_message("pen %s: %s; disconnecting, will retry", pen_label(pen), why);
	pen->counters.connect_failures++;
	drop_connection(pen);
	request_disconnect(pen);
	if (was_ready)
		link_lost(pen);
	schedule_reconnect(pen);
}

/* ---- reconnecting ---------------------------------------------------------------------------- */

static gboolean
backoff_cb(gpointer user_data)
{
	NgPen *pen = user_data;

	pen->backoff_id = 0;
	set_state(pen, NG_PEN_STATE_WAITING);
	return G_SOURCE_REMOVE;
}

/* Jittered exponential backoff: min, 2 min, 4 min ... max, each +-25 %, so that pens that
 * dropped together (a bluetoothd restart) do not all come back in the same instant. */
static guint
reconnect_delay_ms(NgPen *pen)
{
	const NgConfig *config = pen->env->config;
	gdouble delay = config->reconnect_min_s;

	for (guint i = 0; i < pen->attempts && delay < config->reconnect_max_s; i++)
		delay *= 2;
	delay = MIN(delay, (gdouble)config->reconnect_max_s);
	return (guint)(delay * 1000.0 * g_random_double_range(0.75, 1.25));
}

static void
schedule_reconnect(NgPen *pen)
{
	guint delay = reconnect_delay_ms(pen);

	clear_source(&pen->backoff_id);
	pen->attempts++;
	set_state(pen, NG_PEN_STATE_IDLE);
	g_debug("pen %s: reconnecting in %u ms", pen_label(pen), delay);
	pen->backoff_id = g_timeout_add(delay, backoff_cb, pen);
}

/* ---- malformed input ---------------------------------------------------------------------------- */

static void
note_malformed(NgPen *pen, NgMalformedKind kind, NpStatus status, size_t offset)
{
	pen->counters.malformed[kind]++;
	NOTIFY(pen, malformed, pen->env->listener_data);
	if (pen->malformed_logged & (1u << kind))
		return;
	pen->malformed_logged |= 1u << kind;
	g_warning(
	    "pen %s: malformed %s notification: %s at byte %zu (%s); further ones are counted, not logged",
	    pen_label(pen), malformed_names[kind], np_status_to_string(status), offset,
	    np_status_describe(status));
}

/* ---- the Control Point (ng-control-point.c): the GATT write and the answers ------------------- */

typedef struct {
	NgPen *pen;
	guint id;
} CpWrite;

static void
cp_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autofree CpWrite *write = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	if (reply != NULL || is_cancelled(error))
		return;
	ng_control_point_write_failed(write->pen->cp, write->id, error->message);
}

static void
cp_write(NgControlPoint *cp, guint id, const guint8 *data, gsize len, gpointer user_data)
{
	NgPen *pen = user_data;
	CpWrite *write = g_new0(CpWrite, 1);
	GVariantBuilder opts;

	write->pen = pen;
	write->id = id;
	g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&opts, "{sv}", "type", g_variant_new_string("request"));
	g_dbus_connection_call(
	    pen->env->bus, BLUEZ_NAME, pen->chr_paths[CHR_CONTROL_POINT], GATT_CHR_IFACE, "WriteValue",
	    g_variant_new("(@aya{sv})", g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, len, 1), &opts),
	    NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, pen->cancellable, cp_write_cb, write);
}

/* The records come over the socket, the answers over D-Bus: what the socket holds goes first. */
static void
cp_before_answer(gpointer user_data)
{
	drain_telemetry(user_data);
}

void
ng_pen_request_async(NgPen *pen, const NpControlRequest *request, GAsyncReadyCallback callback,
		     gpointer user_data)
{
	if (pen->state != NG_PEN_STATE_READY &&
	    !(pen->state == NG_PEN_STATE_SETUP && request->op == NP_OP_SET_TIME)) {
		g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
					"pen %s is not connected: wait until it is (needlectl status)",
					pen_label(pen));
		return;
	}
	ng_control_point_submit_async(pen->cp, request, callback, user_data);
}

gboolean
ng_pen_request_finish(GAsyncResult *result, NpControlResponse *response, GError **error)
{
	return ng_control_point_submit_finish(result, response, error);
}

static void
handle_cp_indication(NgPen *pen, const guint8 *data, gsize len)
{
	NpStatus st;
	size_t offset;

	if (!ng_control_point_indication(pen->cp, data, len, &st, &offset))
		note_malformed(pen, NG_MALFORMED_CONTROL_POINT, st, offset);
}

/* ---- telemetry: the hot path -------------------------------------------------------------------- */

/* Records decoded per listener call: a notification of MTU 517 holds at most about 50. */
#define RECORDS_PER_CALL 64

/* One notification: decode, hand the records to the listener. */
static void
handle_telemetry(NgPen *pen, const guint8 *data, gsize len)
{
	NpTelemetryReader reader;
	NpTelemetryRecord recs[RECORDS_PER_CALL];
	guint n = 0;
	gboolean replayed = FALSE;
	NpStatus st;

	pen->counters.notifications++;
	np_telemetry_reader_init(&reader, data, len, pen->features.max_depth_centi_mm);
	while ((st = np_telemetry_reader_next(&reader, &recs[n])) == NP_OK) {
		const NpTelemetryRecord *rec = &recs[n];

		replayed |= (rec->flags & NP_TELEMETRY_FLAG_REPLAYED) != 0;
		if (++n == RECORDS_PER_CALL) {
			NOTIFY(pen, records, recs, n, pen->env->listener_data);
			n = 0;
		}
	}
	if (n > 0)
		NOTIFY(pen, records, recs, n, pen->env->listener_data);
	if (st != NP_ERR_END)
		note_malformed(pen, NG_MALFORMED_TELEMETRY, st, reader.fault_offset);
	/* A long replay is progress, not a silent pen: give its answer more time. */
	if (replayed && ng_control_point_get_current_op(pen->cp) == NP_OP_REPORT_STORED_RECORDS)
		ng_control_point_extend(pen->cp);
}

/* recv () gave 0 bytes: the socket's end, or an empty notification (legal in ATT, a datagram of
 * its own on the SOCK_SEQPACKET socket). Only the end comes with a hang-up. */
static gboolean
telemetry_socket_hung_up(NgPen *pen)
{
	struct pollfd pfd = {.fd = pen->telemetry_fd, .events = POLLIN | POLLRDHUP};

	return poll(&pfd, 1, 0) < 0 || (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0;
}

/* Notifications taken with one recvmmsg (): at the rates pens send, the socket rarely holds more. */
#define TELEMETRY_RECV_BATCH	   8
#define TELEMETRY_MAX_NOTIFICATION 1024 /* an ATT notification is at most 514 bytes (MTU 517) */

/* Reads what the socket holds, up to max_reads notifications, with one recvmmsg () per
 * TELEMETRY_RECV_BATCH of them: a short batch means the socket is empty, so a wake-up costs one
 * read, not a second one that finds nothing. FALSE when the socket closed. */
static gboolean
read_telemetry_socket(NgPen *pen, guint max_reads)
{
	guint8 bufs[TELEMETRY_RECV_BATCH][TELEMETRY_MAX_NOTIFICATION];
	struct iovec iov[TELEMETRY_RECV_BATCH];
	struct mmsghdr msgs[TELEMETRY_RECV_BATCH];

	for (guint done = 0; done < max_reads;) {
		guint want = MIN(TELEMETRY_RECV_BATCH, max_reads - done);
		int n;

		memset(msgs, 0, sizeof(msgs[0]) * want);
		for (guint i = 0; i < want; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof(bufs[i])};
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(pen->telemetry_fd, msgs, want, MSG_DONTWAIT, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		for (int i = 0; i < n; i++) {
			if (msgs[i].msg_len > 0) {
				handle_telemetry(pen, bufs[i], msgs[i].msg_len);
				continue;
			}
			if (telemetry_socket_hung_up(pen))
				return FALSE;
			pen->counters.notifications++;
			note_malformed(pen, NG_MALFORMED_TELEMETRY, NP_ERR_EMPTY, 0);
		}
		done += (guint)n;
		if ((guint)n < want)
			return TRUE;
	}
	return TRUE;
}

static gboolean
connection_lost_cb(gpointer user_data)
{
	NgPen *pen = user_data;

	pen->timeout_id = 0;
	fail_connection(pen, "the Telemetry socket closed while the pen stayed connected");
	return G_SOURCE_REMOVE;
}

static gboolean
telemetry_fd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	NgPen *pen = user_data;

	if (read_telemetry_socket(pen, TELEMETRY_READS_PER_WAKEUP) && !(condition & (G_IO_HUP | G_IO_ERR)))
		return G_SOURCE_CONTINUE;
	/* The socket closes on disconnect, and Device1.Connected follows: wait a moment for it
	 * before deciding the connection is broken. */
	g_debug("pen %s: Telemetry socket closed", pen_label(pen));
	pen->telemetry_source = 0;
	close(pen->telemetry_fd);
	pen->telemetry_fd = -1;
	pen->acquired = FALSE;
	if (pen->timeout_id == 0)
		pen->timeout_id = g_timeout_add_seconds(2, connection_lost_cb, pen);
	return G_SOURCE_REMOVE;
}

static void
drain_telemetry(NgPen *pen)
{
	if (pen->telemetry_fd >= 0)
		read_telemetry_socket(pen, G_MAXUINT);
}

/* ---- other notifications ------------------------------------------------------------------------ */

/* The pen's status follows its events between two Pen Status reads. */
static void
update_from_event(NgPen *pen, const NpSessionEvent *ev)
{
	switch (ev->type) {
	case NP_EVENT_SESSION_STARTED:
		pen->status.state = NP_PEN_STATE_SESSION_ACTIVE;
		pen->status.session_id = ev->session_id;
		pen->status.cartridge_id = ev->u.started.cartridge.cartridge_id;
		pen->status.needle_count = ev->u.started.cartridge.needle_count;
		g_info("pen %s: session %u started", pen_label(pen), ev->session_id);
		break;
	case NP_EVENT_SESSION_ENDED:
		pen->status.state = NP_PEN_STATE_IDLE;
		pen->status.session_id = 0;
		g_info("pen %s: session %u ended (%s)", pen_label(pen), ev->session_id,
		       np_end_reason_to_string(ev->u.ended.reason));
		break;
	case NP_EVENT_CARTRIDGE_INSERTED:
		pen->status.cartridge_id = ev->u.cartridge_inserted.cartridge_id;
		pen->status.needle_count = ev->u.cartridge_inserted.needle_count;
		break;
	case NP_EVENT_CARTRIDGE_REMOVED:
		pen->status.cartridge_id = 0;
		pen->status.needle_count = 0;
		break;
	case NP_EVENT_ERROR_RAISED:
		pen->status.error_code = ev->u.error.code;
		g_message("pen %s: device error %s (0x%04x)", pen_label(pen),
			  np_pen_error_to_string(ev->u.error.code), ev->u.error.code);
		break;
	case NP_EVENT_ERROR_CLEARED:
		pen->status.error_code = 0;
		break;
	case NP_EVENT_LIMITS_APPLIED:
	default:
		break;
	}
}

static void
handle_session_event(NgPen *pen, const guint8 *data, gsize len)
{
	NpSessionEvent ev;
	size_t offset = 0;
	NpStatus st = np_session_event_decode(data, len, &ev, &offset);

	if (st != NP_OK) {
		note_malformed(pen, NG_MALFORMED_SESSION_EVENT, st, offset);
		return;
	}
	/* The records the pen sent before this event may still wait on the socket (D-Bus can outrun
	 * it): a session's summary must count its last records. */
	drain_telemetry(pen);
	update_from_event(pen, &ev);
	NOTIFY(pen, event, &ev, pen->env->listener_data);
}

static void
handle_pen_status(NgPen *pen, const guint8 *data, gsize len, gboolean publish)
{
	size_t offset = 0;
	NpPenStatus status;
	NpStatus st = np_pen_status_decode(data, len, &status, &offset);

	if (st != NP_OK) {
		note_malformed(pen, NG_MALFORMED_PEN_STATUS, st, offset);
		return;
	}
	pen->status = status;
	pen->have_status = TRUE;
	if (publish)
		NOTIFY(pen, status_changed, pen->env->listener_data);
}

static void
handle_battery(NgPen *pen, const guint8 *data, gsize len, gboolean publish)
{
	size_t offset = 0;
	guint8 percent = 0;
	NpStatus st = np_battery_level_decode(data, len, &percent, &offset);

	if (st != NP_OK) {
		note_malformed(pen, NG_MALFORMED_BATTERY, st, offset);
		return;
	}
	if (pen->battery == percent)
		return;
	pen->battery = percent;
	if (publish)
		NOTIFY(pen, status_changed, pen->env->listener_data);
}

void
ng_pen_characteristic_changed(NgPen *pen, const char *path, GVariant *changed)
{
	g_autoptr(GVariant) value = NULL;
	const guint8 *data;
	gsize len = 0;

	if (pen->state != NG_PEN_STATE_READY && pen->state != NG_PEN_STATE_SETUP)
		return;
	value = g_variant_lookup_value(changed, "Value", G_VARIANT_TYPE_BYTESTRING);
	if (value == NULL)
		return;
	data = g_variant_get_fixed_array(value, &len, 1);
	if (g_strcmp0(path, pen->chr_paths[CHR_TELEMETRY]) == 0 && !pen->acquired && pen->have_features)
		handle_telemetry(pen, data, len);
	else if (g_strcmp0(path, pen->chr_paths[CHR_CONTROL_POINT]) == 0)
		handle_cp_indication(pen, data, len);
	else if (g_strcmp0(path, pen->chr_paths[CHR_SESSION_EVENT]) == 0 && pen->have_features)
		handle_session_event(pen, data, len);
	else if (g_strcmp0(path, pen->chr_paths[CHR_PEN_STATUS]) == 0)
		handle_pen_status(pen, data, len, pen->state == NG_PEN_STATE_READY);
	else if (g_strcmp0(path, pen->chr_paths[CHR_BATTERY]) == 0)
		handle_battery(pen, data, len, pen->state == NG_PEN_STATE_READY);
}

/* ---- setup: read, check, subscribe, set the clock ---------------------------------------------- */

/* A serial number becomes an MQTT topic level: it must be one. */
static gboolean
serial_is_valid(const char *serial)
{
	if (*serial == '\0' || strlen(serial) > 64 || !g_utf8_validate(serial, -1, NULL))
		return FALSE;
	for (const char *p = serial; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == '/' || *p == '+' || *p == '#' || *p == 0x7f)
			return FALSE;
	}
	return TRUE;
}

static char *
bytes_to_string(const guint8 *data, gsize len)
{
	g_autofree char *s = g_strndup((const char *)data, len);

	return g_strstrip(g_steal_pointer(&s));
}

static gboolean
got_serial(NgPen *pen, const guint8 *data, gsize len, GError **error)
{
	g_autofree char *serial = bytes_to_string(data, len);

	if (!serial_is_valid(serial)) {
		g_set_error(
		    error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		    "Serial Number is not usable as a pen id (empty, over 64 bytes, not UTF-8, or holding "
		    "'/', '+', '#' or control characters)");
		return FALSE;
	}
	if (pen->serial == NULL || !g_str_equal(pen->serial, serial)) {
		g_free(pen->serial);
		pen->serial = g_steal_pointer(&serial);
		ng_control_point_set_label(pen->cp, pen->serial);
	}
	return TRUE;
}

static gboolean
got_string(char **field, const guint8 *data, gsize len)
{
	g_free(*field);
	*field = bytes_to_string(data, len);
	if (!g_utf8_validate(*field, -1, NULL))
		g_clear_pointer(field, g_free);
	return TRUE;
}

static gboolean
got_features(NgPen *pen, const guint8 *data, gsize len, GError **error)
{
	size_t offset = 0;
	NpStatus st = np_pen_features_decode(data, len, &pen->features, &offset);

	if (st == NP_ERR_UNSUPPORTED_VERSION) {
		g_set_error(
		    error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
		    "the pen speaks NeedlePen protocol version %u; this gateway knows version %u only",
		    pen->features.protocol_version, NP_PROTOCOL_VERSION);
		return FALSE;
	}
	if (st != NP_OK) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Pen Features: %s at byte %zu",
			    np_status_describe(st), offset);
		return FALSE;
	}
	pen->have_features = TRUE;
	/* The serial and the features are known: the owner binds the pen to its runtime. */
	if (pen->env->listener != NULL && pen->env->listener->identified != NULL)
		return pen->env->listener->identified(pen, pen->env->listener_data, error);
	return TRUE;
}

static gboolean
handle_read(NgPen *pen, PenChr chr, const guint8 *data, gsize len, GError **error)
{
	switch (chr) {
	case CHR_SERIAL:
		return got_serial(pen, data, len, error);
	case CHR_MODEL:
		return got_string(&pen->model, data, len);
	case CHR_FIRMWARE:
		return got_string(&pen->firmware, data, len);
	case CHR_MANUFACTURER:
		return got_string(&pen->manufacturer, data, len);
	case CHR_FEATURES:
		return got_features(pen, data, len, error);
	case CHR_BATTERY:
		handle_battery(pen, data, len, FALSE);
		return TRUE;
	case CHR_PEN_STATUS:
		handle_pen_status(pen, data, len, FALSE);
		return TRUE;
	default:
		return TRUE;
	}
}

typedef enum {
	STEP_READ,
	STEP_START_NOTIFY,
	STEP_TELEMETRY,
	STEP_SET_TIME,
} StepKind;

typedef struct {
	StepKind kind;
	PenChr chr;
	gboolean required;
} SetupStep;

/* The order matters: the serial number names the session, Pen Features are checked before
 * anything is subscribed, the Control Point answers before Set Time is written. */
static const SetupStep setup_steps[] = {
    {STEP_READ, CHR_SERIAL, TRUE},
    {STEP_READ, CHR_MODEL, FALSE},
    {STEP_READ, CHR_FIRMWARE, FALSE},
    {STEP_READ, CHR_MANUFACTURER, FALSE},
    {STEP_READ, CHR_FEATURES, TRUE},
    {STEP_READ, CHR_BATTERY, FALSE},
    {STEP_READ, CHR_PEN_STATUS, FALSE},
    {STEP_START_NOTIFY, CHR_CONTROL_POINT, TRUE},
    {STEP_START_NOTIFY, CHR_SESSION_EVENT, TRUE},
    {STEP_START_NOTIFY, CHR_PEN_STATUS, FALSE},
    {STEP_START_NOTIFY, CHR_BATTERY, FALSE},
    {STEP_TELEMETRY, CHR_TELEMETRY, TRUE},
    {STEP_SET_TIME, CHR_CONTROL_POINT, TRUE},
};

static void
refuse_pen(NgPen *pen, const char *why)
{
	g_warning("pen %s (%s): refused: %s", pen_label(pen), pen->address, why);
	NOTIFY(pen, refused, why, pen->env->listener_data);
	drop_connection(pen);
	request_disconnect(pen);
	set_state(pen, NG_PEN_STATE_REFUSED);
	/* A firmware update may bring a known version: look again now and then. */
	clear_source(&pen->backoff_id);
	pen->backoff_id = g_timeout_add_seconds(3600, backoff_cb, pen);
}

static void
step_failed(NgPen *pen, const GError *error)
{
	const SetupStep *step = &setup_steps[pen->step];
	g_autofree char *name = bluez_error_name(error);
	g_autofree char *why = NULL;

	if (!step->required) {
		g_debug("pen %s: %s: %s (optional, going on)", pen_label(pen), chr_info[step->chr].name,
			error->message);
		pen->step++;
		setup_next(pen);
		return;
	}
	/* Our own checks of what the pen said (protocol version, serial number, Pen Features):
	 * reconnecting would not change the answer. */
	if (error->domain == G_IO_ERROR &&
	    (error->code == G_IO_ERROR_NOT_SUPPORTED || error->code == G_IO_ERROR_INVALID_DATA)) {
		refuse_pen(pen, error->message);
		return;
	}
	why = g_strdup_printf(
	    "%s: %s%s", chr_info[step->chr].name, error->message,
	    name != NULL && (g_str_equal(name, "NotPermitted") || g_str_equal(name, "NotAuthorized"))
		? " (is the bond still valid? pair the pen again)"
		: "");
	fail_connection(pen, why);
}

static void
read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	NgPen *pen = user_data;
	g_autoptr(GVariant) value = NULL;
	const guint8 *data;
	gsize len = 0;

	if (is_cancelled(error))
		return;
	if (reply == NULL) {
		step_failed(pen, error);
		return;
	}
	value = g_variant_get_child_value(reply, 0);
	data = g_variant_get_fixed_array(value, &len, 1);
	if (!handle_read(pen, setup_steps[pen->step].chr, data, len, &error)) {
		step_failed(pen, error);
		return;
	}
	pen->step++;
	setup_next(pen);
}

static void
call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	NgPen *pen = user_data;
	g_autofree char *name = NULL;

	if (is_cancelled(error))
		return;
	name = reply == NULL ? bluez_error_name(error) : NULL;
	/* bluetoothd keeps a client's notification sessions across reconnections and answers
	 * InProgress while it registers them again with the pen: the subscription stands. */
	if (reply == NULL && g_strcmp0(name, "InProgress") != 0) {
		step_failed(pen, error);
		return;
	}
	pen->step++;
	setup_next(pen);
}

static void
chr_call(NgPen *pen, PenChr chr, const char *method, GVariant *params, const GVariantType *reply_type,
	 GAsyncReadyCallback cb)
{
	g_dbus_connection_call(pen->env->bus, BLUEZ_NAME, pen->chr_paths[chr], GATT_CHR_IFACE, method, params,
			       reply_type, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, pen->cancellable, cb,
			       pen);
}

static void
start_notify_telemetry(NgPen *pen)
{
	chr_call(pen, CHR_TELEMETRY, "StartNotify", NULL, NULL, call_cb);
}

static void
acquire_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(GVariant) reply =
	    g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(source), &fds, res, &error);
	NgPen *pen = user_data;
	gint32 handle = 0;
	guint16 mtu = 0;

	if (is_cancelled(error))
		return;
	if (reply != NULL) {
		g_variant_get(reply, "(hq)", &handle, &mtu);
		pen->telemetry_fd = fds != NULL ? g_unix_fd_list_get(fds, handle, &error) : -1;
		if (pen->telemetry_fd < 0 && error == NULL)
			g_set_error_literal(&error, G_IO_ERROR, G_IO_ERROR_FAILED,
					    "no file descriptor in the reply");
	}
	if (pen->telemetry_fd < 0) {
		if (pen->env->config->telemetry_notify == NG_TELEMETRY_NOTIFY_ACQUIRE) {
			step_failed(pen, error);
			return;
		}
		g_info("pen %s: AcquireNotify failed (%s); using StartNotify", pen_label(pen),
		       error->message);
		start_notify_telemetry(pen);
		return;
	}
	pen->acquired = TRUE;
	pen->mtu = mtu;
	{
		/* Can recurse: GLib then does not remove and re-add the fd around each dispatch, which
		 * wakes the main loop once more per notification. The callback runs no nested loop. */
		GSource *watch = g_unix_fd_source_new(pen->telemetry_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);

		g_source_set_callback(watch, G_SOURCE_FUNC(telemetry_fd_cb), pen, NULL);
		g_source_set_can_recurse(watch, TRUE);
		pen->telemetry_source = g_source_attach(watch, NULL);
		g_source_unref(watch);
	}
	pen->step++;
	setup_next(pen);
}

static void
subscribe_telemetry(NgPen *pen)
{
	if (pen->env->config->telemetry_notify == NG_TELEMETRY_NOTIFY_START) {
		start_notify_telemetry(pen);
		return;
	}
	g_dbus_connection_call_with_unix_fd_list(
	    pen->env->bus, BLUEZ_NAME, pen->chr_paths[CHR_TELEMETRY], GATT_CHR_IFACE, "AcquireNotify",
	    g_variant_new_parsed("(@a{sv} {},)"), G_VARIANT_TYPE("(hq)"), G_DBUS_CALL_FLAGS_NONE,
	    CALL_TIMEOUT_MS, NULL, pen->cancellable, acquire_cb, pen);
}

static void
become_ready(NgPen *pen)
{
	pen->counters.connects++;
	pen->connected_since = g_get_monotonic_time();
	g_message("pen %s connected (%s, firmware %s, %s)", pen->serial, pen->address,
		  pen->firmware != NULL ? pen->firmware : "unknown",
		  pen->acquired ? "AcquireNotify" : "StartNotify");
	set_state(pen, NG_PEN_STATE_READY);
}

static void
set_time_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	NgPen *pen = user_data;
	g_autoptr(GError) error = NULL;
	NpControlResponse resp = {0};
	gboolean ok = ng_control_point_submit_finish(res, &resp, &error);

	/* The link dropped (the request failed with it): the driver has moved on. */
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED))
		return;
	pen->clock_set = ok && resp.result == NP_RESULT_SUCCESS;
	if (!pen->clock_set)
		g_message("pen %s: Set Time %s: the gateway stamps its events with its own clock",
			  pen_label(pen), ok ? np_result_code_to_string(resp.result) : error->message);
	pen->step++;
	setup_next(pen);
}

static void
set_time(NgPen *pen)
{
	NpControlRequest req = {.op = NP_OP_SET_TIME, .u.time_ms = (uint64_t)now_ms()};

	ng_control_point_set_ready(pen->cp, TRUE);
	ng_control_point_submit_async(pen->cp, &req, set_time_cb, pen);
}

static void
setup_next(NgPen *pen)
{
	const SetupStep *step;

	while (pen->step < G_N_ELEMENTS(setup_steps) && pen->chr_paths[setup_steps[pen->step].chr] == NULL) {
		step = &setup_steps[pen->step];
		if (step->required) {
			g_autofree char *why =
			    g_strdup_printf("the pen has no %s characteristic", chr_info[step->chr].name);
			fail_connection(pen, why);
			return;
		}
		pen->step++;
	}
	if (pen->step >= G_N_ELEMENTS(setup_steps)) {
		become_ready(pen);
		return;
	}
	step = &setup_steps[pen->step];
	switch (step->kind) {
	case STEP_READ:
		chr_call(pen, step->chr, "ReadValue", g_variant_new_parsed("(@a{sv} {},)"),
			 G_VARIANT_TYPE("(ay)"), read_cb);
		break;
	case STEP_START_NOTIFY:
		chr_call(pen, step->chr, "StartNotify", NULL, NULL, call_cb);
		break;
	case STEP_TELEMETRY:
		subscribe_telemetry(pen);
		break;
	case STEP_SET_TIME:
		set_time(pen);
		break;
	default:
		g_assert_not_reached();
	}
}

/* Finds the pen's characteristics among the objects under its device path. */
static void
find_characteristics(NgPen *pen)
{
	g_autolist(GDBusObject) objects = g_dbus_object_manager_get_objects(pen->manager);
	g_autofree char *prefix = g_strconcat(pen->path, "/", NULL);

	for (GList *l = objects; l != NULL; l = l->next) {
		const char *path = g_dbus_object_get_object_path(l->data);
		g_autoptr(GDBusInterface) iface = NULL;
		g_autoptr(GVariant) uuid = NULL;

		if (!g_str_has_prefix(path, prefix))
			continue;
		iface = g_dbus_object_get_interface(l->data, GATT_CHR_IFACE);
		if (iface == NULL)
			continue;
		uuid = g_dbus_proxy_get_cached_property(G_DBUS_PROXY(iface), "UUID");
		if (uuid == NULL || !g_variant_is_of_type(uuid, G_VARIANT_TYPE_STRING))
			continue;
		for (guint i = 0; i < CHR_COUNT; i++) {
			if (pen->chr_paths[i] == NULL &&
			    g_ascii_strcasecmp(g_variant_get_string(uuid, NULL), chr_info[i].uuid) == 0)
				pen->chr_paths[i] = g_strdup(path);
		}
	}
}

static void
start_setup(NgPen *pen)
{
	clear_source(&pen->timeout_id);
	set_state(pen, NG_PEN_STATE_SETUP);
	find_characteristics(pen);
	pen->step = 0;
	setup_next(pen);
}

/* ---- connecting ------------------------------------------------------------------------------------ */

static gboolean
resolve_timeout_cb(gpointer user_data)
{
	NgPen *pen = user_data;

	pen->timeout_id = 0;
	fail_connection(pen, "services not resolved in time");
	return G_SOURCE_REMOVE;
}

/* Connected (by us or by someone else): wait for the GATT database. */
static void
await_services(NgPen *pen)
{
	clear_source(&pen->backoff_id);
	clear_source(&pen->timeout_id);
	if (device_bool(pen, "ServicesResolved")) {
		start_setup(pen);
		return;
	}
	set_state(pen, NG_PEN_STATE_RESOLVING);
	pen->timeout_id = g_timeout_add_seconds(pen->env->config->connect_timeout_s, resolve_timeout_cb, pen);
}

static void
connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	NgPen *pen = user_data;
	g_autofree char *name = NULL;
	g_autofree char *why = NULL;

	if (is_cancelled(error))
		return;
	name = reply == NULL ? bluez_error_name(error) : NULL;
	/* InProgress: bluetoothd is connecting this device already (for another client, or a
	 * connect of ours it still runs): wait for Connected like after our own connect. */
	if (reply != NULL || g_strcmp0(name, "AlreadyConnected") == 0 || g_strcmp0(name, "InProgress") == 0) {
		await_services(pen);
		return;
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		why = g_strdup_printf("no connection within %u s", pen->env->config->connect_timeout_s);
	else
		why = g_strdup_printf("connect failed: %s", error->message);
	/* The first failure is worth a message; a pen out of range fails every retry. */
	if (pen->attempts == 0)
		g_message("pen %s: %s; will retry", pen_label(pen), why);
	else
		g_info("pen %s: %s", pen_label(pen), why);
	pen->counters.connect_failures++;
	drop_connection(pen);
	request_disconnect(pen);
	schedule_reconnect(pen);
}

void
ng_pen_connect(NgPen *pen)
{
	g_return_if_fail(pen->state == NG_PEN_STATE_WAITING);

	if (device_bool(pen, "Connected")) {
		await_services(pen);
		return;
	}
	set_state(pen, NG_PEN_STATE_CONNECTING);
	g_info("pen %s: connecting", pen_label(pen));
	g_dbus_connection_call(pen->env->bus, BLUEZ_NAME, pen->path, DEVICE_IFACE, "Connect", NULL, NULL,
			       G_DBUS_CALL_FLAGS_NONE, (int)pen->env->config->connect_timeout_s * 1000,
			       pen->cancellable, connect_cb, pen);
}

/* A streaming link is gone: the listener hears it from set_state (). */
static void
link_lost(NgPen *pen)
{
	pen->counters.disconnects++;
	if (g_get_monotonic_time() - pen->connected_since > STABLE_CONNECTION_US)
		pen->attempts = 0;
}

static void
on_disconnected(NgPen *pen)
{
	gboolean was_ready = pen->state == NG_PEN_STATE_READY;

	if (was_ready)
		g_message("pen %s disconnected", pen_label(pen));
	drop_connection(pen);
	if (was_ready)
		link_lost(pen);
	schedule_reconnect(pen);
}

void
ng_pen_device_changed(NgPen *pen, GVariant *changed)
{
	gboolean value = FALSE;

	if (g_variant_lookup(changed, "Connected", "b", &value)) {
		if (!value && pen->state >= NG_PEN_STATE_RESOLVING && pen->state <= NG_PEN_STATE_READY)
			on_disconnected(pen);
		else if (value && (pen->state == NG_PEN_STATE_IDLE || pen->state == NG_PEN_STATE_WAITING))
			await_services(pen);
	}
	if (g_variant_lookup(changed, "ServicesResolved", "b", &value) && value &&
	    pen->state == NG_PEN_STATE_RESOLVING)
		start_setup(pen);
}

/* ---- life ------------------------------------------------------------------------------------------ */

static char *
device_string(GDBusProxy *device, const char *property)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(device, property);

	if (v == NULL || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
		return NULL;
	return g_variant_dup_string(v, NULL);
}

static gboolean
start_cb(gpointer user_data)
{
	NgPen *pen = user_data;

	pen->backoff_id = 0;
	if (device_bool(pen, "Connected"))
		await_services(pen);
	else
		set_state(pen, NG_PEN_STATE_WAITING);
	return G_SOURCE_REMOVE;
}

NgPen *
ng_pen_new(NgPenEnv *env, GDBusObjectManager *manager, GDBusProxy *device, NgPenStateFunc state_func,
	   gpointer state_data)
{
	NgPen *pen = g_new0(NgPen, 1);

	pen->env = env;
	pen->manager = g_object_ref(manager);
	pen->device = g_object_ref(device);
	pen->path = g_strdup(g_dbus_proxy_get_object_path(device));
	pen->address = device_string(device, "Address");
	if (pen->address == NULL)
		pen->address = g_strdup(pen->path);
	pen->name = device_string(device, "Alias");
	pen->state_func = state_func;
	pen->state_data = state_data;
	pen->state = NG_PEN_STATE_IDLE;
	pen->cancellable = g_cancellable_new();
	pen->telemetry_fd = -1;
	pen->battery = -1;
	pen->cp = ng_control_point_new(pen->address, cp_write, cp_before_answer, pen);
	/* From the main loop, not from inside the object manager's signal emission. */
	pen->backoff_id = g_idle_add(start_cb, pen);
	return pen;
}

void
ng_pen_detach(NgPen *pen)
{
	gboolean was_ready = pen->state == NG_PEN_STATE_READY;
	gboolean linked = pen->state >= NG_PEN_STATE_CONNECTING && pen->state <= NG_PEN_STATE_READY;

	drop_connection(pen);
	clear_source(&pen->backoff_id);
	/* A pen no longer served (its bond removed) must not keep a link open: other hubs may
	 * serve it. When bluetoothd itself is gone the call fails quietly. */
	if (linked)
		request_disconnect(pen);
	if (was_ready) {
		g_message("pen %s disconnected (its device is gone)", pen_label(pen));
		link_lost(pen);
	}
	pen->state_func = NULL;
	set_state(pen, NG_PEN_STATE_IDLE);
}

void
ng_pen_free(NgPen *pen)
{
	if (pen == NULL)
		return;
	pen->state_func = NULL;
	drop_connection(pen);
	g_clear_object(&pen->cancellable);
	clear_source(&pen->backoff_id);
	g_clear_pointer(&pen->cp, ng_control_point_free);
	g_object_unref(pen->device);
	g_object_unref(pen->manager);
	g_free(pen->path);
	g_free(pen->address);
	g_free(pen->name);
	g_free(pen->serial);
	g_free(pen->model);
	g_free(pen->firmware);
	g_free(pen->manufacturer);
	g_free(pen);
}

/* ---- accessors ------------------------------------------------------------------------------------- */

NgPenState
ng_pen_get_state(NgPen *pen)
{
	return pen->state;
}

gint64
ng_pen_get_waiting_since(NgPen *pen)
{
	return pen->waiting_since;
}

const char *
ng_pen_get_object_path(NgPen *pen)
{
	return pen->path;
}

const char *
ng_pen_get_address(NgPen *pen)
{
	return pen->address;
}

const char *
ng_pen_get_serial(NgPen *pen)
{
	return pen->serial;
}

const char *
ng_pen_get_name(NgPen *pen)
{
	return pen->name;
}

const char *
ng_pen_get_model(NgPen *pen)
{
	return pen->model;
}

const char *
ng_pen_get_firmware(NgPen *pen)
{
	return pen->firmware;
}

gboolean
ng_pen_is_connected(NgPen *pen)
{
	return pen->state == NG_PEN_STATE_READY;
}

int
ng_pen_get_battery(NgPen *pen)
{
	return pen->battery;
}

int
ng_pen_get_rssi(NgPen *pen)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(pen->device, "RSSI");

	return v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_INT16) ? g_variant_get_int16(v) : 0;
}

gboolean
ng_pen_get_features(NgPen *pen, NpPenFeatures *features)
{
	*features = pen->features;
	return pen->have_features;
}

gboolean
ng_pen_get_status(NgPen *pen, NpPenStatus *status)
{
	*status = pen->status;
	return pen->have_status;
}

void
ng_pen_set_user_data(NgPen *pen, gpointer data)
{
	pen->user_data = data;
}

gpointer
ng_pen_get_user_data(NgPen *pen)
{
	return pen->user_data;
}

gboolean
ng_pen_uses_acquire_notify(NgPen *pen)
{
	return pen->acquired;
}

void
ng_pen_get_counters(NgPen *pen, NgPenCounters *counters)
{
	*counters = pen->counters;
}
