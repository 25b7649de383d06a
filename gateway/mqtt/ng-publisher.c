/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the gateway says on MQTT: topics and payloads of bridge/… and pens/<pen_id>/…, into the outbox. */

#include "config.h"

#include "ng-publisher.h"

#include "ng-bluez.h"
#include "ng-runtime.h"
#include "ng-json.h"
#include "ng-payload.h"

struct _NgBridge {
	const NgConfig *config;
	NgOutbox *outbox;
	NgBluez *bluez;
	char *prefix;
	char *topic_state;
	char *topic_info;
	char *topic_devices;
	char *topic_event;
	GString *buf;	/* reused for every payload: no allocation per record once it has grown */
	GString *batch; /* telemetry_batch > 1: "[{…},{…}" of one notification so far */
	const char *batch_topic;
	guint batch_n;
	gint64 started_ms;
	gint64 started_mono;
	NgBridgeCounters counters;
};

static const char offline_payload[] = "{\"state\":\"offline\"}";

NgBridge *
ng_bridge_new(const NgConfig *config, NgOutbox *outbox)
{
	NgBridge *bridge = g_new0(NgBridge, 1);

	bridge->config = config;
	bridge->outbox = outbox;
	bridge->prefix = ng_config_dup_topic_prefix(config);
	bridge->topic_state = g_strdup_printf("%s/bridge/state", bridge->prefix);
	bridge->topic_info = g_strdup_printf("%s/bridge/info", bridge->prefix);
	bridge->topic_devices = g_strdup_printf("%s/bridge/devices", bridge->prefix);
	bridge->topic_event = g_strdup_printf("%s/bridge/event", bridge->prefix);
	bridge->buf = g_string_sized_new(512);
	bridge->batch = g_string_sized_new(4096);
	bridge->started_ms = g_get_real_time() / 1000;
	bridge->started_mono = g_get_monotonic_time();
	return bridge;
}

void
ng_bridge_free(NgBridge *bridge)
{
	if (bridge == NULL)
		return;
	g_free(bridge->prefix);
	g_free(bridge->topic_state);
	g_free(bridge->topic_info);
	g_free(bridge->topic_devices);
	g_free(bridge->topic_event);
	g_string_free(bridge->buf, TRUE);
	g_string_free(bridge->batch, TRUE);
	g_free(bridge);
}

const char *
ng_bridge_get_prefix(NgBridge *bridge)
{
	return bridge->prefix;
}

char *
ng_bridge_dup_state_topic(NgBridge *bridge)
{
	return g_strdup(bridge->topic_state);
}

const char *
ng_bridge_offline_payload(void)
{
	return offline_payload;
}

void
ng_bridge_set_bluez(NgBridge *bridge, NgBluez *bluez)
{
	bridge->bluez = bluez;
}

NgBridgeCounters *
ng_bridge_get_counters(NgBridge *bridge)
{
	return &bridge->counters;
}

void
ng_pen_topics_init(NgPenTopics *topics, NgBridge *bridge, const char *serial)
{
	topics->telemetry = g_strdup_printf("%s/pens/%s/telemetry", bridge->prefix, serial);
	topics->session = g_strdup_printf("%s/pens/%s/session", bridge->prefix, serial);
	topics->state = g_strdup_printf("%s/pens/%s/state", bridge->prefix, serial);
	topics->alert = g_strdup_printf("%s/pens/%s/alert", bridge->prefix, serial);
	topics->event = g_strdup_printf("%s/pens/%s/event", bridge->prefix, serial);
}

void
ng_pen_topics_clear(NgPenTopics *topics)
{
	g_clear_pointer(&topics->telemetry, g_free);
	g_clear_pointer(&topics->session, g_free);
	g_clear_pointer(&topics->state, g_free);
	g_clear_pointer(&topics->alert, g_free);
	g_clear_pointer(&topics->event, g_free);
	g_clear_pointer(&topics->last_state, g_free);
}

/* Hands bridge->buf to the outbox. A failure here is the disk's (SQLite): log the first and
 * then every 1000th, never once per record. */
static void
push(NgBridge *bridge, NgOutboxKind kind, const char *topic, int qos, gboolean retain)
{
	g_autoptr(GError) error = NULL;

	if (bridge->outbox == NULL || topic == NULL)
		return;
	if (G_LIKELY(ng_outbox_push(bridge->outbox, kind, topic, bridge->buf->str, bridge->buf->len, qos,
				    retain, &error)))
		return;
	if (bridge->counters.publish_errors++ % 1000 == 0)
		g_warning("cannot queue a message for %s: %s (%" G_GUINT64_FORMAT " failures so far)", topic,
			  error->message, bridge->counters.publish_errors);
}

/* ---- small JSON writers (values from outside go through ng_json_append_string) ------------ */

static void
append_key(GString *out, const char *key)
{
	if (out->len > 0 && out->str[out->len - 1] != '{' && out->str[out->len - 1] != '[')
		g_string_append_c(out, ',');
	g_string_append_c(out, '"');
	g_string_append(out, key);
	g_string_append(out, "\":");
}

static void
append_str(GString *out, const char *key, const char *value)
{
	append_key(out, key);
	ng_json_append_string(out, value);
}

static void
append_int(GString *out, const char *key, gint64 value)
{
	append_key(out, key);
	g_string_append_printf(out, "%" G_GINT64_FORMAT, value);
}

static void
append_bool(GString *out, const char *key, gboolean value)
{
	append_key(out, key);
	g_string_append(out, value ? "true" : "false");
}

static void
append_time(GString *out, const char *key, gint64 t_ms)
{
	append_key(out, key);
	ng_json_append_time(out, t_ms);
}

static void
append_null(GString *out, const char *key)
{
	append_key(out, key);
	g_string_append(out, "null");
}

/* ---- bridge/… -------------------------------------------------------------------------------------- */

void
ng_bridge_publish_online(NgBridge *bridge, gboolean online)
{
	g_string_assign(bridge->buf, online ? "{\"state\":\"online\"}" : offline_payload);
	push(bridge, NG_OUTBOX_KIND_STATE, bridge->topic_state, 1, TRUE);
}

static void
append_outbox(NgBridge *bridge, GString *out)
{
	NgOutboxCounters oc = {0};

	if (bridge->outbox == NULL)
		return;
	ng_outbox_get_counters(bridge->outbox, &oc);
	append_key(out, "outbox");
	g_string_append_c(out, '{');
	append_int(out, "queued", (gint64)oc.queued);
	append_int(out, "max_messages", (gint64)ng_outbox_get_max_messages(bridge->outbox));
	append_int(out, "dropped_telemetry", (gint64)oc.dropped_telemetry);
	append_int(out, "pushed", (gint64)oc.pushed);
	append_int(out, "published", (gint64)oc.published);
	append_int(out, "acked", (gint64)oc.acked);
	g_string_append_c(out, '}');
}

static void
append_counters(NgBridge *bridge, GString *out)
{
	NgBridgeCounters *c = &bridge->counters;

	append_key(out, "counters");
	g_string_append_c(out, '{');
	append_int(out, "records", (gint64)c->records);
	append_int(out, "replayed", (gint64)c->replayed);
	append_int(out, "duplicates", (gint64)c->duplicates);
	append_int(out, "malformed", (gint64)c->malformed);
	append_int(out, "lost", (gint64)c->lost);
	append_int(out, "session_events", (gint64)c->events);
	append_int(out, "publish_errors", (gint64)c->publish_errors);
	append_outbox(bridge, out);
	g_string_append_c(out, '}');
}

void
ng_bridge_publish_info(NgBridge *bridge)
{
	GString *out = bridge->buf;
	const char *adapter = bridge->bluez != NULL ? ng_bluez_get_adapter_name(bridge->bluez) : NULL;

	g_string_assign(out, "{");
	append_str(out, "version", PACKAGE_VERSION);
	append_str(out, "hub_id", bridge->config->hub_id);
	append_str(out, "adapter", adapter);
	append_str(out, "adapter_address",
		   bridge->bluez != NULL ? ng_bluez_get_adapter_address(bridge->bluez) : NULL);
	append_bool(out, "bluetoothd", bridge->bluez != NULL && ng_bluez_is_running(bridge->bluez));
	append_time(out, "started", bridge->started_ms);
	append_int(out, "uptime_s", (g_get_monotonic_time() - bridge->started_mono) / G_USEC_PER_SEC);
	append_int(out, "pens_served",
		   bridge->bluez != NULL ? g_hash_table_size(ng_bluez_get_pens(bridge->bluez)) : 0);
	append_int(out, "pens_connected",
		   bridge->bluez != NULL ? ng_bluez_count_connected(bridge->bluez) : 0);
	append_str(out, "telemetry_notify", ng_telemetry_notify_to_string(bridge->config->telemetry_notify));
	append_counters(bridge, out);
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_STATE, bridge->topic_info, 1, TRUE);
}

/* The fields of pens/<id>/state and of each pen in bridge/devices, without the braces. */
static void
append_pen_state(GString *out, NgPen *pen)
{
	NpPenStatus st;
	gboolean have_status = ng_pen_get_status(pen, &st);
	NgSession *session = ng_pen_get_session(pen);
	gboolean connected = ng_pen_is_connected(pen);

	append_str(out, "pen", ng_pen_get_serial(pen));
	append_str(out, "address", ng_pen_get_address(pen));
	append_str(out, "name", ng_pen_get_name(pen));
	append_str(out, "model", ng_pen_get_model(pen));
	append_str(out, "firmware", ng_pen_get_firmware(pen));
	append_bool(out, "connected", connected);
	append_str(out, "link", ng_pen_state_to_string(ng_pen_get_state(pen)));
	if (ng_pen_get_battery(pen) >= 0)
		append_int(out, "battery", ng_pen_get_battery(pen));
	else
		append_null(out, "battery");
	if (connected && ng_pen_get_rssi(pen) != 0)
		append_int(out, "rssi", ng_pen_get_rssi(pen));
	else
		append_null(out, "rssi");
	append_str(out, "pen_state", have_status ? np_pen_state_to_string(st.state) : NULL);
	if (st.cartridge_id != 0) {
		append_key(out, "cartridge");
		g_string_append_printf(out, "{\"id\":%u,\"needles\":%u}", st.cartridge_id, st.needle_count);
	} else {
		append_null(out, "cartridge");
	}
	if (session != NULL && ng_session_is_active(session))
		append_int(out, "session", ng_session_get_current_id(session));
	else
		append_null(out, "session");
	append_str(out, "area", np_area_to_string(ng_pen_get_area(pen)));
	if (st.error_code != 0) {
		append_key(out, "error");
		g_string_append_printf(out, "{\"code\":%u,\"name\":\"%s\"}", st.error_code,
				       np_pen_error_to_string(st.error_code));
	} else {
		append_null(out, "error");
	}
	if (ng_pen_get_check(pen) != NULL) {
		ng_check_append_state(ng_pen_get_check(pen), out);
	} else {
		append_null(out, "plan");
		append_null(out, "limits");
	}
	append_bool(out, "clock_set", (st.flags & NP_STATUS_FLAG_CLOCK_SET) != 0);
	append_str(out, "telemetry_path",
		   connected ? (ng_pen_uses_acquire_notify(pen) ? "acquire_notify" : "start_notify") : NULL);
}

void
ng_bridge_publish_pen_state(NgBridge *bridge, NgPen *pen, NgPenTopics *topics)
{
	GString *out = bridge->buf;

	if (topics->state == NULL)
		return;
	g_string_assign(out, "{");
	append_pen_state(out, pen);
	/* A Pen Status notification and a session event often say the same thing. */
	if (g_strcmp0(topics->last_state, out->str) == 0)
		return;
	g_free(topics->last_state);
	topics->last_state = g_strdup(out->str);
	append_time(out, "t", g_get_real_time() / 1000);
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_STATE, topics->state, 1, TRUE);
}

void
ng_bridge_publish_devices(NgBridge *bridge)
{
	GString *out = bridge->buf;
	GHashTableIter iter;
	NgPen *pen;

	if (bridge->bluez == NULL)
		return;
	g_string_assign(out, "{\"pens\":[");
	g_hash_table_iter_init(&iter, ng_bluez_get_pens(bridge->bluez));
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		if (ng_pen_get_serial(pen) == NULL)
			continue; /* never read: nothing to name it by */
		if (out->str[out->len - 1] != '[')
			g_string_append_c(out, ',');
		g_string_append_c(out, '{');
		append_pen_state(out, pen);
		g_string_append_c(out, '}');
	}
	g_string_append(out, "]");
	append_time(out, "t", g_get_real_time() / 1000);
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_STATE, bridge->topic_devices, 1, TRUE);
}

void
ng_bridge_publish_bridge_event(NgBridge *bridge, NgPen *pen, const char *event, const char *detail)
{
	GString *out = bridge->buf;

	g_string_assign(out, "{");
	append_str(out, "event", event);
	append_str(out, "pen", ng_pen_get_serial(pen));
	append_str(out, "address", ng_pen_get_address(pen));
	append_time(out, "t", g_get_real_time() / 1000);
	if (detail != NULL)
		append_str(out, "detail", detail);
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_EVENT, bridge->topic_event, 1, FALSE);
}

/* ---- pens/<id>/… ---------------------------------------------------------------------------------- */

/* Hands the batch to the outbox as one message, a JSON array. */
void
ng_bridge_flush_telemetry(NgBridge *bridge)
{
	GString *tmp;

	if (bridge->batch_n == 0)
		return;
	g_string_append_c(bridge->batch, ']');
	/* push () sends bridge->buf: swap the buffers rather than copy. */
	tmp = bridge->buf;
	bridge->buf = bridge->batch;
	bridge->batch = tmp;
	push(bridge, NG_OUTBOX_KIND_TELEMETRY, bridge->batch_topic, bridge->config->telemetry_qos, FALSE);
	g_string_truncate(bridge->batch, 0);
	bridge->batch_n = 0;
	bridge->batch_topic = NULL;
}

void
ng_bridge_publish_telemetry(NgBridge *bridge, const NgPenTopics *topics, const char *serial,
			    const NpTelemetryRecord *rec, gint64 t_ms)
{
	bridge->counters.records++;
	if (rec->flags & NP_TELEMETRY_FLAG_REPLAYED)
		bridge->counters.replayed++;
	if (G_LIKELY(bridge->config->telemetry_batch <= 1)) {
		g_string_truncate(bridge->buf, 0);
		ng_payload_telemetry(bridge->buf, serial, rec, t_ms);
		push(bridge, NG_OUTBOX_KIND_TELEMETRY, topics->telemetry, bridge->config->telemetry_qos,
		     FALSE);
		return;
	}
	if (bridge->batch_n > 0 && bridge->batch_topic != topics->telemetry)
		ng_bridge_flush_telemetry(bridge);
	g_string_append_c(bridge->batch, bridge->batch_n == 0 ? '[' : ',');
	ng_payload_telemetry(bridge->batch, serial, rec, t_ms);
	bridge->batch_topic = topics->telemetry;
	if (++bridge->batch_n >= bridge->config->telemetry_batch)
		ng_bridge_flush_telemetry(bridge);
}

static void
append_cartridge(GString *out, const NpCartridge *c)
{
	append_key(out, "cartridge");
	g_string_append_printf(out, "{\"id\":%u,\"needles\":%u,\"use_count\":%u}", c->cartridge_id,
			       c->needle_count, c->use_count);
}

/* "plan_id", and on an ended message the summary's fields (or the bare duration and reason). */
static void
append_plan_and_summary(GString *out, const char *plan_id, const char *ended_fields, gboolean ended,
			gint64 duration_ms, const char *reason)
{
	append_str(out, "plan_id", plan_id);
	if (!ended)
		return;
	if (ended_fields != NULL) {
		g_string_append_c(out, ',');
		g_string_append(out, ended_fields);
		return;
	}
	append_key(out, "duration_s");
	if (duration_ms >= 0)
		ng_json_append_fixed(out, (guint64)duration_ms, 3);
	else
		g_string_append(out, "null");
	append_str(out, "reason", reason);
}

/* pens/<id>/session: the contract's started/ended message; the end carries the summary. */
static void
publish_session(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics, const NpSessionEvent *ev,
		gint64 t_ms, const char *plan_id, const char *ended_fields)
{
	GString *out = bridge->buf;
	gboolean started = ev->type == NP_EVENT_SESSION_STARTED;

	g_string_assign(out, "{");
	append_str(out, "pen", ng_pen_get_serial(pen));
	append_int(out, "session", ev->session_id);
	append_str(out, "event", started ? "started" : "ended");
	append_int(out, "seq", ev->seq);
	append_time(out, "t", t_ms);
	append_key(out, "pen_clock");
	if (ev->pen_clock_ms != 0)
		ng_json_append_time(out, (gint64)ev->pen_clock_ms);
	else
		g_string_append(out, "null");
	if (started) {
		append_cartridge(out, &ev->u.started.cartridge);
		append_str(out, "area", np_area_to_string(ev->u.started.area));
	} else {
		append_str(out, "area", np_area_to_string(ng_pen_get_area(pen)));
	}
	append_plan_and_summary(out, plan_id, ended_fields, !started, ev->u.ended.duration_ms,
				np_end_reason_to_string(ev->u.ended.reason));
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_EVENT, topics->session, 1, TRUE);
}

void
ng_bridge_publish_lost_session_end(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics,
				   guint16 session_id, gint64 start_ms, gint64 t_ms, const char *plan_id,
				   const char *ended_fields)
{
	GString *out = bridge->buf;

	g_string_assign(out, "{");
	append_str(out, "pen", ng_pen_get_serial(pen));
	append_int(out, "session", session_id);
	append_str(out, "event", "ended");
	append_null(out, "seq");
	append_time(out, "t", t_ms);
	append_null(out, "pen_clock");
	append_str(out, "area", np_area_to_string(ng_pen_get_area(pen)));
	append_bool(out, "end_event_lost", TRUE);
	/* At most this long: it ended at some moment while the link was down. */
	append_plan_and_summary(out, plan_id, ended_fields, TRUE,
				start_ms >= 0 && t_ms >= start_ms ? t_ms - start_ms : -1, "unknown");
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_EVENT, topics->session, 1, TRUE);
}

void
ng_bridge_publish_session_event(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics,
				const NpSessionEvent *ev, gint64 t_ms, const char *plan_id,
				const char *ended_fields)
{
	bridge->counters.events++;
	if (ev->type == NP_EVENT_SESSION_STARTED || ev->type == NP_EVENT_SESSION_ENDED)
		publish_session(bridge, pen, topics, ev, t_ms, plan_id, ended_fields);
	g_string_truncate(bridge->buf, 0);
	ng_payload_session_event(bridge->buf, ng_pen_get_serial(pen), ev, t_ms);
	push(bridge, NG_OUTBOX_KIND_EVENT, topics->event, 1, FALSE);
}

void
ng_bridge_publish_gap_alert(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics, guint16 session_id,
			    guint32 first, guint32 last, gint64 t_ms)
{
	GString *out = bridge->buf;
	guint64 n = (guint64)last - first + 1;
	g_autofree char *message =
	    g_strdup_printf("%" G_GUINT64_FORMAT
			    " telemetry record%s (sequence %u to %u) could not be recovered from the pen.",
			    n, n == 1 ? "" : "s", first, last);

	g_string_assign(out, "{");
	append_str(out, "pen", ng_pen_get_serial(pen));
	append_int(out, "session", session_id);
	append_int(out, "seq", first);
	append_time(out, "t", t_ms);
	append_str(out, "severity", "warning");
	append_str(out, "rule", "telemetry_gap");
	append_str(out, "area", np_area_to_string(ng_pen_get_area(pen)));
	append_int(out, "measured", (gint64)n);
	append_int(out, "limit", 0);
	append_str(out, "message", message);
	append_int(out, "first_seq", first);
	append_int(out, "last_seq", last);
	g_string_append_c(out, '}');
	push(bridge, NG_OUTBOX_KIND_EVENT, topics->alert, 1, FALSE);
}

void
ng_bridge_publish_alert(NgBridge *bridge, const char *topic, const char *payload, gsize len)
{
	g_string_truncate(bridge->buf, 0);
	g_string_append_len(bridge->buf, payload, (gssize)len);
	push(bridge, NG_OUTBOX_KIND_EVENT, topic, 1, FALSE);
}
