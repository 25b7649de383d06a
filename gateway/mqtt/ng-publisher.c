/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the gateway says on MQTT: the payloads of bridge/… and pens/<pen_id>/…, into the outbox. */

#include "config.h"

#include "ng-publisher.h"

#include "ng-json.h"
#include "ng-link-quality.h"
#include "ng-payload.h"

struct _NgPublisher {
	const NgConfig *config;
	const NgTopics *topics;
	NgOutbox *outbox;
	GString *buf; /* reused for every payload: no allocation per record once it has grown */
	GString *batch; /* telemetry_batch notification: {"pen":…,"session":…,"records":[{…},{…} so far */
	const char *batch_topic;
	guint batch_session;
	guint batch_n;
	NgPublisherTapFunc tap;
	gpointer tap_data;
	NgPublisherCounters counters;
};

static const char offline_payload[] = "{\"state\":\"offline\"}";

NgPublisher *
ng_publisher_new(const NgConfig *config, const NgTopics *topics, NgOutbox *outbox)
{
	NgPublisher *pub = g_new0(NgPublisher, 1);

	pub->config = config;
	pub->topics = topics;
	pub->outbox = outbox;
	pub->buf = g_string_sized_new(512);
	pub->batch = g_string_sized_new(4096);
	return pub;
}

void
ng_publisher_free(NgPublisher *pub)
{
	if (pub == NULL)
		return;
	g_string_free(pub->buf, TRUE);
	g_string_free(pub->batch, TRUE);
	g_free(pub);
}

void
ng_publisher_set_tap(NgPublisher *pub, NgPublisherTapFunc func, gpointer user_data)
{
	pub->tap = func;
	pub->tap_data = user_data;
}

NgPublisherCounters *
ng_publisher_get_counters(NgPublisher *pub)
{
	return &pub->counters;
}

const char *
ng_publisher_offline_payload(void)
{
	return offline_payload;
}

/* Hands pub->buf to the outbox. A failure here is the disk's (SQLite): log the first and
 * then every 1000th, never once per record. */
static void
push(NgPublisher *pub, NgOutboxKind kind, const char *topic, int qos, gboolean retain)
{
	g_autoptr(GError) error = NULL;

	if (topic == NULL)
		return;
	if (G_UNLIKELY(pub->tap != NULL))
		pub->tap(topic, pub->buf->str, pub->buf->len, qos, retain, pub->tap_data);
	if (pub->outbox == NULL)
		return;
	if (G_LIKELY(
		ng_outbox_push(pub->outbox, kind, topic, pub->buf->str, pub->buf->len, qos, retain, &error)))
		return;
	if (pub->counters.publish_errors++ % 1000 == 0)
		g_warning("cannot queue a message for %s: %s (%" G_GUINT64_FORMAT " failures so far)", topic,
			  error->message, pub->counters.publish_errors);
}

/* ---- bridge/… -------------------------------------------------------------------------------------- */

void
ng_publisher_online(NgPublisher *pub, gboolean online)
{
	g_string_assign(pub->buf, online ? "{\"state\":\"online\"}" : offline_payload);
	push(pub, NG_OUTBOX_KIND_STATE, pub->topics->state, 1, TRUE);
}

static void
append_outbox(NgPublisher *pub, GString *out)
{
	NgOutboxCounters oc = {0};

	if (pub->outbox == NULL)
		return;
	ng_outbox_get_counters(pub->outbox, &oc);
	ng_json_key(out, "outbox");
	g_string_append_c(out, '{');
	ng_json_member_uint(out, "queued", oc.queued);
	ng_json_member_uint(out, "max_messages", ng_outbox_get_max_messages(pub->outbox));
	ng_json_member_uint(out, "dropped_telemetry", oc.dropped_telemetry);
	ng_json_member_uint(out, "pushed", oc.pushed);
	ng_json_member_uint(out, "published", oc.published);
	ng_json_member_uint(out, "acked", oc.acked);
	g_string_append_c(out, '}');
}

static void
append_counters(NgPublisher *pub, GString *out)
{
	NgPublisherCounters *c = &pub->counters;

	ng_json_key(out, "counters");
	g_string_append_c(out, '{');
	ng_json_member_uint(out, "records", c->records);
	ng_json_member_uint(out, "replayed", c->replayed);
	ng_json_member_uint(out, "duplicates", c->duplicates);
	ng_json_member_uint(out, "malformed", c->malformed);
	ng_json_member_uint(out, "lost", c->lost);
	ng_json_member_uint(out, "session_events", c->events);
	ng_json_member_uint(out, "publish_errors", c->publish_errors);
	append_outbox(pub, out);
	g_string_append_c(out, '}');
}

void
ng_publisher_info(NgPublisher *pub, const NgHubSnapshot *hub)
{
	GString *out = pub->buf;

	g_string_assign(out, "{");
	ng_json_member_string(out, "version", PACKAGE_VERSION);
	ng_json_member_string(out, "hub_id", hub->hub_id);
	ng_json_member_string(out, "adapter", hub->adapter);
	ng_json_member_string(out, "adapter_address", hub->adapter_address);
	ng_json_member_bool(out, "bluetoothd", hub->bluetoothd);
	ng_json_member_time(out, "started", hub->started_ms);
	ng_json_member_int(out, "uptime_s", hub->uptime_s);
	ng_json_member_uint(out, "pens_served", hub->pens_served);
	ng_json_member_uint(out, "pens_connected", hub->pens_connected);
	ng_json_member_string(out, "telemetry_notify",
			      ng_telemetry_notify_to_string(pub->config->telemetry_notify));
	ng_json_member_string(out, "telemetry_batch",
			      ng_telemetry_batch_to_string(pub->config->telemetry_batch));
	ng_json_key(out, "store");
	g_string_append_c(out, '{');
	ng_json_member_bool(out, "ok", hub->store_problem == NULL);
	ng_json_member_string(out, "problem", hub->store_problem);
	g_string_append_c(out, '}');
	append_counters(pub, out);
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_STATE, pub->topics->info, 1, TRUE);
}

/* ---- the pen's state ---------------------------------------------------------------------------- */

static void append_alert_fields(GString *out, const NgAlert *a);

static void
append_limits(GString *out, const NgPenSnapshot *pen)
{
	const NpLimits *l = &pen->limits;

	ng_json_key(out, "limits");
	if (!pen->limits_known ||
	    (l->max_depth_centi_mm == NP_LIMIT_NONE && l->min_speed_deci_hz == NP_LIMIT_NONE &&
	     l->max_speed_deci_hz == NP_LIMIT_NONE)) {
		g_string_append(out, "null");
		return;
	}
	g_string_append(out, "{\"max_depth_mm\":");
	ng_json_append_limit(out, l->max_depth_centi_mm, 2);
	g_string_append(out, ",\"min_speed_hz\":");
	ng_json_append_limit(out, l->min_speed_deci_hz, 1);
	g_string_append(out, ",\"max_speed_hz\":");
	ng_json_append_limit(out, l->max_speed_deci_hz, 1);
	g_string_append_c(out, '}');
}

static void
append_open_alerts(GString *out, const NgPenSnapshot *pen)
{
	ng_json_key(out, "open_alerts");
	g_string_append_c(out, '[');
	for (guint i = 0; i < pen->n_open_alerts; i++) {
		if (i > 0)
			g_string_append_c(out, ',');
		g_string_append_c(out, '{');
		append_alert_fields(out, &pen->open_alerts[i]);
		g_string_append_c(out, '}');
	}
	g_string_append_c(out, ']');
}

/* The fields of pens/<id>/state and of each pen in bridge/devices, without the braces. */
static void
append_pen_state(GString *out, const NgPenSnapshot *pen)
{
	const NpPenStatus *st = &pen->status;

	ng_json_member_string(out, "pen", pen->serial);
	ng_json_member_string(out, "address", pen->address);
	ng_json_member_string(out, "name", pen->name);
	ng_json_member_string(out, "model", pen->model);
	ng_json_member_string(out, "firmware", pen->firmware);
	ng_json_member_bool(out, "connected", pen->connected);
	ng_json_member_string(out, "link", pen->link);
	if (pen->battery >= 0)
		ng_json_member_int(out, "battery", pen->battery);
	else
		ng_json_member_null(out, "battery");
	if (pen->connected && pen->rssi != 0)
		ng_json_member_int(out, "rssi", pen->rssi);
	else
		ng_json_member_null(out, "rssi");
	if (pen->connected && pen->rssi_dbm_known) {
		ng_json_member_int(out, "rssi_dbm", pen->rssi_dbm);
		ng_json_member_uint(out, "linkquality", ng_link_quality_from_dbm(pen->rssi_dbm));
	} else {
		ng_json_member_null(out, "rssi_dbm");
		ng_json_member_null(out, "linkquality");
	}
	ng_json_member_string(out, "pen_state", pen->have_status ? np_pen_state_to_string(st->state) : NULL);
	if (st->cartridge_id != 0) {
		ng_json_key(out, "cartridge");
		g_string_append_printf(out, "{\"id\":%u,\"needles\":%u}", st->cartridge_id, st->needle_count);
	} else {
		ng_json_member_null(out, "cartridge");
	}
	if (pen->session_active)
		ng_json_member_int(out, "session", pen->session_id);
	else
		ng_json_member_null(out, "session");
	ng_json_member_string(out, "area", np_area_to_string(pen->area));
	if (st->error_code != 0) {
		ng_json_key(out, "error");
		g_string_append_printf(out, "{\"code\":%u,\"name\":\"%s\"}", st->error_code,
				       np_pen_error_to_string(st->error_code));
	} else {
		ng_json_member_null(out, "error");
	}
	ng_json_member_string(out, "plan", pen->plan_id);
	ng_json_member_string(out, "plan_assigned", pen->plan_assigned);
	append_limits(out, pen);
	ng_json_member_uint(out, "limits_mismatches", pen->limits_mismatches);
	ng_json_member_bool(out, "clock_set", (st->flags & NP_STATUS_FLAG_CLOCK_SET) != 0);
	ng_json_member_string(out, "telemetry_path", pen->connected ? pen->telemetry_path : NULL);
	append_open_alerts(out, pen);
}

void
ng_publisher_pen_state(NgPublisher *pub, const NgPenTopics *topics, const NgPenSnapshot *pen,
		       char **last_state)
{
	GString *out = pub->buf;

	if (topics->state == NULL)
		return;
	g_string_assign(out, "{");
	append_pen_state(out, pen);
	/* A Pen Status notification and a session event often say the same thing. */
	if (last_state != NULL) {
		if (g_strcmp0(*last_state, out->str) == 0)
			return;
		g_free(*last_state);
		*last_state = g_strdup(out->str);
	}
	ng_json_member_time(out, "t", g_get_real_time() / 1000);
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_STATE, topics->state, 1, TRUE);
}

void
ng_publisher_clear_pen(NgPublisher *pub, const NgPenTopics *topics)
{
	/* An empty retained message deletes the retained one (MQTT 3.1.1 §3.3.1.3). */
	g_string_truncate(pub->buf, 0);
	push(pub, NG_OUTBOX_KIND_STATE, topics->state, 1, TRUE);
	push(pub, NG_OUTBOX_KIND_EVENT, topics->session, 1, TRUE);
}

void
ng_publisher_clear_retained(NgPublisher *pub, const char *topic)
{
	g_string_truncate(pub->buf, 0);
	push(pub, NG_OUTBOX_KIND_EVENT, topic, 1, TRUE);
}

void
ng_publisher_devices(NgPublisher *pub, const NgPenSnapshot *pens, guint n_pens)
{
	GString *out = pub->buf;

	g_string_assign(out, "{\"pens\":[");
	for (guint i = 0; i < n_pens; i++) {
		if (pens[i].serial == NULL)
			continue; /* never read: nothing to name it by */
		if (out->str[out->len - 1] != '[')
			g_string_append_c(out, ',');
		g_string_append_c(out, '{');
		append_pen_state(out, &pens[i]);
		g_string_append_c(out, '}');
	}
	g_string_append(out, "]");
	ng_json_member_time(out, "t", g_get_real_time() / 1000);
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_STATE, pub->topics->devices, 1, TRUE);
}

void
ng_publisher_bridge_event(NgPublisher *pub, const char *event, const char *serial, const char *address,
			  const char *detail)
{
	GString *out = pub->buf;

	g_string_assign(out, "{");
	ng_json_member_string(out, "event", event);
	ng_json_member_string(out, "pen", serial);
	ng_json_member_string(out, "address", address);
	ng_json_member_time(out, "t", g_get_real_time() / 1000);
	if (detail != NULL)
		ng_json_member_string(out, "detail", detail);
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_EVENT, pub->topics->event, 1, FALSE);
}

void
ng_publisher_weak_link(NgPublisher *pub, const char *serial, const char *address, int rssi_dbm,
		       const char *detail)
{
	GString *out = pub->buf;

	g_string_assign(out, "{");
	ng_json_member_string(out, "event", "weak_link");
	ng_json_member_string(out, "pen", serial);
	ng_json_member_string(out, "address", address);
	ng_json_member_time(out, "t", g_get_real_time() / 1000);
	ng_json_member_int(out, "rssi_dbm", rssi_dbm);
	ng_json_member_string(out, "detail", detail);
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_EVENT, pub->topics->event, 1, FALSE);
}

/* ---- pens/<id>/telemetry ------------------------------------------------------------------------- */

/* A batch never grows past this many records (a notification carries at most 12 at MTU 247). */
#define NG_PUBLISHER_BATCH_MAX 64

/* Hands the batch to the outbox as one message. */
void
ng_publisher_flush_telemetry(NgPublisher *pub)
{
	GString *tmp;

	if (pub->batch_n == 0)
		return;
	g_string_append(pub->batch, "]}");
	/* push () sends pub->buf: swap the buffers rather than copy. */
	tmp = pub->buf;
	pub->buf = pub->batch;
	pub->batch = tmp;
	push(pub, NG_OUTBOX_KIND_TELEMETRY, pub->batch_topic, pub->config->telemetry_qos, FALSE);
	g_string_truncate(pub->batch, 0);
	pub->batch_n = 0;
	pub->batch_topic = NULL;
}

void
ng_publisher_telemetry(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
		       const NpTelemetryRecord *rec, gint64 t_ms)
{
	pub->counters.records++;
	if (rec->flags & NP_TELEMETRY_FLAG_REPLAYED)
		pub->counters.replayed++;
	if (G_UNLIKELY(pub->config->telemetry_batch == NG_TELEMETRY_BATCH_RECORD)) {
		g_string_truncate(pub->buf, 0);
		ng_payload_telemetry(pub->buf, serial, rec, t_ms);
		push(pub, NG_OUTBOX_KIND_TELEMETRY, topics->telemetry, pub->config->telemetry_qos, FALSE);
		return;
	}
	/* a batch is one pen's and one session's */
	if (pub->batch_n > 0 &&
	    (pub->batch_topic != topics->telemetry || pub->batch_session != rec->session_id))
		ng_publisher_flush_telemetry(pub);
	if (pub->batch_n == 0) {
		g_string_append_c(pub->batch, '{');
		ng_json_member_string(pub->batch, "pen", serial);
		ng_json_member_uint(pub->batch, "session", rec->session_id);
		ng_json_key(pub->batch, "records");
		g_string_append_c(pub->batch, '[');
		pub->batch_topic = topics->telemetry;
		pub->batch_session = rec->session_id;
	} else {
		g_string_append_c(pub->batch, ',');
	}
	ng_payload_telemetry_record(pub->batch, rec, t_ms);
	if (++pub->batch_n >= NG_PUBLISHER_BATCH_MAX)
		ng_publisher_flush_telemetry(pub);
}

/* ---- pens/<id>/session and pens/<id>/event ----------------------------------------------------- */

static void
open_session_message(GString *out, const char *serial, guint16 session_id, const char *event)
{
	g_string_assign(out, "{");
	ng_json_member_string(out, "pen", serial);
	ng_json_member_int(out, "session", session_id);
	ng_json_member_string(out, "event", event);
}

void
ng_publisher_session_started(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
			     const NpSessionEvent *ev, gint64 t_ms, const char *plan_id)
{
	GString *out = pub->buf;
	const NpCartridge *c = &ev->u.started.cartridge;

	open_session_message(out, serial, ev->session_id, "started");
	ng_json_member_int(out, "seq", ev->seq);
	ng_json_member_time(out, "t", t_ms);
	ng_json_key(out, "pen_clock");
	ng_json_append_pen_clock(out, ev->pen_clock_ms);
	ng_json_key(out, "cartridge");
	g_string_append_printf(out, "{\"id\":%u,\"needles\":%u,\"use_count\":%u}", c->cartridge_id,
			       c->needle_count, c->use_count);
	ng_json_member_string(out, "area", np_area_to_string(ev->u.started.area));
	ng_json_member_string(out, "plan_id", plan_id);
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_EVENT, topics->session, 1, TRUE);
}

void
ng_publisher_session_ended(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
			   const NgSessionEnd *end)
{
	GString *out = pub->buf;

	open_session_message(out, serial, end->session_id, "ended");
	if (end->seq >= 0)
		ng_json_member_int(out, "seq", end->seq);
	else
		ng_json_member_null(out, "seq");
	ng_json_member_time(out, "t", end->t_ms);
	ng_json_key(out, "pen_clock");
	ng_json_append_pen_clock(out, end->pen_clock_ms);
	ng_json_member_string(out, "area", np_area_to_string(end->area));
	if (end->end_event_lost)
		ng_json_member_bool(out, "end_event_lost", TRUE);
	ng_json_member_string(out, "plan_id", end->plan_id);
	if (end->ended_fields != NULL) {
		g_string_append_c(out, ',');
		g_string_append(out, end->ended_fields);
	} else {
		ng_json_key(out, "duration_s");
		if (end->duration_ms >= 0)
			ng_json_append_fixed(out, (guint64)end->duration_ms, 3);
		else
			g_string_append(out, "null");
		ng_json_member_string(out, "reason", end->reason);
	}
	g_string_append_c(out, '}');
	push(pub, NG_OUTBOX_KIND_EVENT, topics->session, 1, TRUE);
}

void
ng_publisher_pen_event(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
		       const NpSessionEvent *ev, gint64 t_ms)
{
	pub->counters.events++;
	g_string_truncate(pub->buf, 0);
	ng_payload_session_event(pub->buf, serial, ev, t_ms);
	push(pub, NG_OUTBOX_KIND_EVENT, topics->event, 1, FALSE);
}

/* ---- pens/<id>/alert ----------------------------------------------------------------------------- */

static void
append_value(GString *out, const NgAlertValue *v)
{
	switch (v->kind) {
	case NG_VALUE_NONE:
		g_string_append(out, "null");
		break;
	case NG_VALUE_FIXED:
		ng_json_append_fixed(out, v->num, v->decimals);
		break;
	case NG_VALUE_STRING:
		ng_json_append_string(out, v->str);
		break;
	}
}

/* An alert's fields, without "pen" and without braces (also the open alerts of a pen's state). */
static void
append_alert_fields(GString *out, const NgAlert *a)
{
	ng_json_member_int(out, "session", a->session_id);
	ng_json_member_uint(out, "seq", a->seq);
	ng_json_member_time(out, "t", a->t_ms);
	ng_json_member_string(out, "severity", ng_severity_to_string(a->severity));
	ng_json_member_string(out, "rule", ng_rule_to_string(a->rule));
	ng_json_member_string(out, "area", np_area_to_string(a->area));
	ng_json_key(out, "measured");
	append_value(out, &a->measured);
	ng_json_key(out, "limit");
	append_value(out, &a->limit);
	ng_json_member_string(out, "unit", a->unit);
	ng_json_member_string(out, "message", a->message);
	ng_json_member_string(out, "state", ng_alert_state_to_string(a->state));
	ng_json_member_uint(out, "id", a->id);
	ng_json_member_bool(out, "replayed", a->replayed);
	if (a->state == NG_ALERT_CLEARED)
		ng_json_member_int(out, "duration_ms", a->duration_ms);
}

void
ng_publisher_append_alert(GString *out, const NgAlert *alert, const char *pen)
{
	g_string_append_c(out, '{');
	if (pen != NULL)
		ng_json_member_string(out, "pen", pen);
	append_alert_fields(out, alert);
	/* A gap names its records: measured is their number, seq the first. */
	if (alert->rule == NG_RULE_TELEMETRY_GAP && alert->measured.kind == NG_VALUE_FIXED &&
	    alert->measured.decimals == 0 && alert->measured.num > 0) {
		ng_json_member_uint(out, "first_seq", alert->seq);
		ng_json_member_uint(out, "last_seq", (guint64)alert->seq + alert->measured.num - 1);
	}
	g_string_append_c(out, '}');
}

char *
ng_publisher_alerts_to_json(const NgAlert *alerts, guint n_alerts)
{
	GString *out = g_string_new("[");

	for (guint i = 0; i < n_alerts; i++) {
		if (i > 0)
			g_string_append_c(out, ',');
		ng_publisher_append_alert(out, &alerts[i], NULL);
	}
	g_string_append_c(out, ']');
	return g_string_free(out, FALSE);
}

void
ng_publisher_alert(NgPublisher *pub, const NgPenTopics *topics, const char *serial, const NgAlert *alert)
{
	g_string_truncate(pub->buf, 0);
	ng_publisher_append_alert(pub->buf, alert, serial);
	push(pub, NG_OUTBOX_KIND_EVENT, topics->alert, 1, FALSE);
}
