/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden payloads of the MQTT publisher: every topic it writes, exact topic, QoS, retain flag and JSON. */

#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-config.h"
#include "ng-publisher.h"
#include "ng-rules.h"
#include "ng-snapshot.h"
#include "ng-topics.h"
#include "np.h"

/* 2026-11-24T10:00:00.000Z: the times of docs/mqtt-api.md's examples are around it. */
#define T0 G_GINT64_CONSTANT(1795514400000)
/* The first and last millisecond ISO 8601 can write with a four-digit year. */
#define TIME_MIN_MS G_GINT64_CONSTANT(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define TIME_MAX_MS G_GINT64_CONSTANT(253402300799999) /* 9999-12-31T23:59:59.999Z */

#define SERIAL "NP5EED0001"
#define PREFIX "clinic/room-7"
#define PEN    PREFIX "/pens/" SERIAL

/* Where the current time stands in an expected payload: replaced by the payload's own "t". */
#define NOW "@NOW@"

typedef struct {
	char *topic;
	char *payload;
	gsize len;
	int qos;
	gboolean retain;
} Msg;

typedef struct {
	NgConfig *config;
	NgTopics *topics;
	NgPublisher *pub;
	NgPenTopics pen;
	GPtrArray *msgs; /* Msg, in the order the publisher handed them over */
	gint64 start_ms; /* wall clock when the test began: "t" of now must not be before */
} Fixture;

static void
msg_free(Msg *msg)
{
	g_free(msg->topic);
	g_free(msg->payload);
	g_free(msg);
}

static void
tap_cb(const char *topic, const char *payload, gsize len, int qos, gboolean retain, gpointer user_data)
{
	Fixture *fx = user_data;
	Msg *msg = g_new0(Msg, 1);

	g_assert_nonnull(topic);
	g_assert_true(payload != NULL || len == 0);
	msg->topic = g_strdup(topic);
	msg->payload = g_strndup(payload != NULL ? payload : "", len);
	msg->len = len;
	msg->qos = qos;
	msg->retain = retain;
	/* A payload is text: no NUL inside what the broker gets. */
	g_assert_cmpuint(strlen(msg->payload), ==, len);
	g_ptr_array_add(fx->msgs, msg);
}

/* user_data: extra key file text over the fixture's base configuration, or NULL. */
static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *data = g_strconcat("[gateway]\nhub_id=room-7\n[mqtt]\nbase_topic=clinic\n",
					    user_data != NULL ? (const char *)user_data : "", NULL);

	fx->start_ms = g_get_real_time() / 1000;
	fx->config = ng_config_new();
	g_assert_true(ng_config_load_data(fx->config, data, &error));
	g_assert_no_error(error);
	g_assert_true(ng_config_finish(fx->config, &error));
	g_assert_no_error(error);
	fx->topics = ng_topics_new(fx->config);
	g_assert_cmpstr(fx->topics->prefix, ==, PREFIX);
	ng_pen_topics_init(&fx->pen, fx->topics, SERIAL);
	fx->pub = ng_publisher_new(fx->config, fx->topics, NULL);
	g_assert_nonnull(fx->pub);
	fx->msgs = g_ptr_array_new_with_free_func((GDestroyNotify)msg_free);
	ng_publisher_set_tap(fx->pub, tap_cb, fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	ng_publisher_free(fx->pub);
	ng_pen_topics_clear(&fx->pen);
	ng_topics_free(fx->topics);
	ng_config_free(fx->config);
	g_ptr_array_unref(fx->msgs);
}

/* ---- checks ------------------------------------------------------------------------------------- */

static JsonNode *
parse_json(const char *what, const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(g_utf8_validate(text, -1, NULL));
	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("%s is not JSON (%s): %s", what, error->message, text);
	return json_node_copy(json_parser_get_root(parser));
}

/* Member by member, in order: names the first difference by its path. */
static void
assert_node_same(const char *path, JsonNode *want, JsonNode *got)
{
	if (JSON_NODE_TYPE(want) != JSON_NODE_TYPE(got))
		g_error("%s: want a %s, got a %s", path, json_node_type_name(want), json_node_type_name(got));
	if (JSON_NODE_HOLDS_OBJECT(want)) {
		JsonObject *w = json_node_get_object(want);
		JsonObject *g = json_node_get_object(got);
		g_autoptr(GList) wm = json_object_get_members(w);
		g_autoptr(GList) gm = json_object_get_members(g);
		GList *a = wm;
		GList *b = gm;

		for (; a != NULL && b != NULL; a = a->next, b = b->next) {
			g_autofree char *sub = g_strdup_printf("%s.%s", path, (const char *)a->data);

			if (!g_str_equal(a->data, b->data))
				g_error("%s: want member \"%s\", got \"%s\"", path, (const char *)a->data,
					(const char *)b->data);
			assert_node_same(sub, json_object_get_member(w, a->data),
					 json_object_get_member(g, b->data));
		}
		if (a != NULL)
			g_error("%s: member \"%s\" missing", path, (const char *)a->data);
		if (b != NULL)
			g_error("%s: member \"%s\" not expected", path, (const char *)b->data);
		return;
	}
	if (JSON_NODE_HOLDS_ARRAY(want)) {
		JsonArray *w = json_node_get_array(want);
		JsonArray *g = json_node_get_array(got);

		if (json_array_get_length(w) != json_array_get_length(g))
			g_error("%s: want %u elements, got %u", path, json_array_get_length(w),
				json_array_get_length(g));
		for (guint i = 0; i < json_array_get_length(w); i++) {
			g_autofree char *sub = g_strdup_printf("%s[%u]", path, i);

			assert_node_same(sub, json_array_get_element(w, i), json_array_get_element(g, i));
		}
		return;
	}
	if (!json_node_equal(want, got)) {
		g_autofree char *ws = json_to_string(want, FALSE);
		g_autofree char *gs = json_to_string(got, FALSE);

		g_error("%s: want %s, got %s", path, ws, gs);
	}
}

/* The exact text: field names, order, number formats and escapes; the parsed comparison first, for
 * a message that names the field. */
static void
assert_payload(const char *got, const char *want)
{
	g_autoptr(JsonNode) w = parse_json("the expected payload", want);
	g_autoptr(JsonNode) g = parse_json("the payload", got);

	assert_node_same("$", w, g);
	g_assert_cmpstr(got, ==, want);
}

/* "2026-11-24T10:00:00.200Z": ISO 8601, UTC, milliseconds. Returns the time in unix ms. */
static gint64
assert_iso_time(const char *text)
{
	g_autoptr(GDateTime) dt = NULL;

	g_assert_nonnull(text);
	if (!g_regex_match_simple("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", text,
				  0, 0))
		g_error("\"%s\" is not an ISO 8601 UTC time with milliseconds", text);
	dt = g_date_time_new_from_iso8601(text, NULL);
	g_assert_nonnull(dt);
	return g_date_time_to_unix(dt) * 1000 + g_date_time_get_microsecond(dt) / 1000;
}

static Msg *
msg_at(Fixture *fx, guint i)
{
	g_assert_cmpuint(i, <, fx->msgs->len);
	return g_ptr_array_index(fx->msgs, i);
}

static void
assert_n_msgs(Fixture *fx, guint n)
{
	if (fx->msgs->len != n) {
		for (guint i = 0; i < fx->msgs->len; i++)
			g_test_message("message %u: %s %s", i, msg_at(fx, i)->topic, msg_at(fx, i)->payload);
	}
	g_assert_cmpuint(fx->msgs->len, ==, n);
}

static void
assert_meta(Msg *msg, const char *topic, int qos, gboolean retain)
{
	g_assert_cmpstr(msg->topic, ==, topic);
	g_assert_cmpint(msg->qos, ==, qos);
	if (retain)
		g_assert_true(msg->retain);
	else
		g_assert_false(msg->retain);
}

/* Message i: topic, QoS, retain and the exact payload. */
static void
assert_msg(Fixture *fx, guint i, const char *topic, int qos, gboolean retain, const char *payload)
{
	Msg *msg = msg_at(fx, i);

	assert_meta(msg, topic, qos, retain);
	assert_payload(msg->payload, payload);
}

/*
 * Message i, whose top-level "t" is the time it was written: that time must be
 * ISO 8601 UTC with milliseconds and lie between the test's start and now;
 * everything else is compared with want, where NOW stands for the time.
 */
static void
assert_msg_now(Fixture *fx, guint i, const char *topic, int qos, gboolean retain, const char *want)
{
	Msg *msg = msg_at(fx, i);
	g_autoptr(JsonNode) root = NULL;
	const char *t;
	gint64 t_ms;
	g_autofree char *quoted = NULL;
	g_auto(GStrv) parts = NULL;
	g_autofree char *expected = NULL;

	assert_meta(msg, topic, qos, retain);
	root = parse_json("the payload", msg->payload);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	g_assert_true(json_object_has_member(json_node_get_object(root), "t"));
	t = json_object_get_string_member(json_node_get_object(root), "t");
	t_ms = assert_iso_time(t);
	g_assert_cmpint(t_ms, >=, fx->start_ms);
	g_assert_cmpint(t_ms, <=, g_get_real_time() / 1000);
	quoted = g_strdup_printf("\"%s\"", t);
	parts = g_strsplit(want, NOW, -1);
	g_assert_cmpuint(g_strv_length(parts), ==, 2); /* NOW stands once in want */
	expected = g_strjoinv(quoted, parts);
	assert_payload(msg->payload, expected);
}

static void
clear_msgs(Fixture *fx)
{
	g_ptr_array_set_size(fx->msgs, 0);
}

/* ---- inputs --------------------------------------------------------------------------------------- */

static void
set_message(NgAlert *a, const char *message)
{
	g_strlcpy(a->message, message, sizeof a->message);
}

/* docs/plans.md's example: too deep on the forehead. */
static NgAlert
depth_alert(void)
{
	NgAlert a = {0};

	a.id = 1;
	a.rule = NG_RULE_DEPTH_ABOVE_MAX;
	a.severity = NG_SEVERITY_CRITICAL;
	a.state = NG_ALERT_RAISED;
	a.area = NP_AREA_FOREHEAD;
	a.measured = (NgAlertValue){NG_VALUE_FIXED, 51, 2, NULL};
	a.limit = (NgAlertValue){NG_VALUE_FIXED, 50, 2, NULL};
	a.unit = "mm";
	a.session_id = 7;
	a.seq = 106;
	a.t_ms = T0 + 200;
	a.duration_ms = -1;
	set_message(&a, "Needle depth 0.51 mm on the forehead is above the plan's maximum of 0.50 mm.");
	return a;
}

#define DEPTH_ALERT_BODY                                                                                     \
	"\"session\":7,\"seq\":106,\"t\":\"2026-11-24T10:00:00.200Z\",\"severity\":\"critical\","            \
	"\"rule\":\"depth_above_max\",\"area\":\"forehead\",\"measured\":0.51,\"limit\":0.50,\"unit\":"      \
	"\"mm\","                                                                                            \
	"\"message\":\"Needle depth 0.51 mm on the forehead is above the plan's maximum of 0.50 mm.\","      \
	"\"state\":\"raised\",\"id\":1,\"replayed\":false"

static NgAlert
cartridge_alert(void)
{
	NgAlert a = {0};

	a.id = 2;
	a.rule = NG_RULE_CARTRIDGE_REUSED;
	a.severity = NG_SEVERITY_CRITICAL;
	a.state = NG_ALERT_RAISED;
	a.area = NP_AREA_FOREHEAD;
	a.measured = (NgAlertValue){NG_VALUE_FIXED, 2, 0, NULL};
	a.limit = (NgAlertValue){NG_VALUE_FIXED, 1, 0, NULL};
	a.unit = "uses";
	a.session_id = 7;
	a.seq = 2;
	a.t_ms = T0 - 1619;
	a.duration_ms = -1;
	set_message(&a, "Cartridge 12648430 is in its use number 2: cartridges are single use.");
	return a;
}

#define CARTRIDGE_ALERT_BODY                                                                                 \
	"\"session\":7,\"seq\":2,\"t\":\"2026-11-24T09:59:58.381Z\",\"severity\":\"critical\","              \
	"\"rule\":\"cartridge_reused\",\"area\":\"forehead\",\"measured\":2,\"limit\":1,\"unit\":\"uses\","  \
	"\"message\":\"Cartridge 12648430 is in its use number 2: cartridges are single use.\","             \
	"\"state\":\"raised\",\"id\":2,\"replayed\":false"

/* A pen in a session: every field set. */
static NgPenSnapshot
busy_pen(const NgAlert *alerts, guint n_alerts)
{
	NgPenSnapshot p = {0};

	p.serial = SERIAL;
	p.address = "AA:BB:CC:DD:EE:01";
	p.name = "NeedlePen 5";
	p.model = "NP-5";
	p.firmware = "1.2.3";
	p.link = "ready";
	p.connected = TRUE;
	p.battery = 87;
	p.rssi = -61;
	p.rssi_dbm_known = TRUE;
	p.rssi_dbm = -61;
	p.have_status = TRUE;
	p.status.state = NP_PEN_STATE_SESSION_ACTIVE;
	p.status.error_code = 0;
	p.status.cartridge_id = 3389001729u;
	p.status.needle_count = 12;
	p.status.session_id = 7;
	p.status.flags = NP_STATUS_FLAG_CLOCK_SET | NP_STATUS_FLAG_LIMITS_ACTIVE;
	p.area = NP_AREA_FOREHEAD;
	p.session_active = TRUE;
	p.session_id = 7;
	p.plan_id = "face-1";
	p.plan_assigned = NULL;
	p.limits_known = TRUE;
	p.limits = (NpLimits){50, 800, 1500};
	p.limits_mismatches = 1;
	p.telemetry_path = "acquire_notify";
	p.open_alerts = alerts;
	p.n_open_alerts = n_alerts;
	p.last_seen_ms = T0;
	return p;
}

#define BUSY_PEN_FIELDS                                                                                      \
	"\"pen\":\"NP5EED0001\",\"address\":\"AA:BB:CC:DD:EE:01\",\"name\":\"NeedlePen "                     \
	"5\",\"model\":\"NP-5\","                                                                            \
	"\"firmware\":\"1.2.3\",\"connected\":true,\"link\":\"ready\",\"battery\":87,\"rssi\":-61,"          \
	"\"rssi_dbm\":-61,\"linkquality\":166,"                                                              \
	"\"pen_state\":\"session_active\",\"cartridge\":{\"id\":3389001729,\"needles\":12},\"session\":7,"   \
	"\"area\":\"forehead\",\"error\":null,\"plan\":\"face-1\",\"plan_assigned\":null,"                   \
	"\"limits\":{\"max_depth_mm\":0.50,\"min_speed_hz\":80.0,\"max_speed_hz\":150.0},"                   \
	"\"limits_mismatches\":1,\"clock_set\":true,\"telemetry_path\":\"acquire_notify\""

/* A pen out of reach: nothing known but its name, a plan assigned for its next session. */
static NgPenSnapshot
idle_pen(void)
{
	NgPenSnapshot p = {0};

	p.serial = "NP5EED0002";
	p.address = "AA:BB:CC:DD:EE:02";
	p.name = NULL;
	p.model = "NP-5";
	p.firmware = "1.2.0";
	p.link = "idle";
	p.connected = FALSE;
	p.battery = -1;
	p.rssi = -70; /* stale: not published while disconnected */
	p.rssi_dbm_known = TRUE;
	p.rssi_dbm = -70; /* the same */
	p.have_status = FALSE;
	p.area = NP_AREA_UNSPECIFIED;
	p.session_active = FALSE;
	p.plan_id = "face-2";
	p.plan_assigned = "face-2";
	p.limits_known = FALSE;
	p.limits_mismatches = 0;
	p.telemetry_path = "acquire_notify"; /* stale: not published while disconnected */
	p.last_seen_ms = T0 - 3600000;
	return p;
}

#define IDLE_PEN_FIELDS                                                                                      \
	"\"pen\":\"NP5EED0002\",\"address\":\"AA:BB:CC:DD:EE:02\",\"name\":null,\"model\":\"NP-5\","         \
	"\"firmware\":\"1.2.0\",\"connected\":false,\"link\":\"idle\",\"battery\":null,\"rssi\":null,"       \
	"\"rssi_dbm\":null,\"linkquality\":null,"                                                            \
	"\"pen_state\":null,\"cartridge\":null,\"session\":null,\"area\":\"unspecified\",\"error\":null,"    \
	"\"plan\":\"face-2\",\"plan_assigned\":\"face-2\",\"limits\":null,\"limits_mismatches\":0,"          \
	"\"clock_set\":false,\"telemetry_path\":null"

static NpSessionEvent
started_event(void)
{
	NpSessionEvent ev = {0};

	ev.type = NP_EVENT_SESSION_STARTED;
	ev.seq = 2;
	ev.session_id = 1;
	ev.pen_clock_ms = 1795516296735u; /* 2026-11-24T10:31:36.735Z */
	ev.u.started.cartridge = (NpCartridge){3389001729u, 12, 1};
	ev.u.started.area = NP_AREA_FOREHEAD;
	return ev;
}

/* 2026-11-24T10:31:36.736Z */
#define STARTED_T_MS G_GINT64_CONSTANT(1795516296736)

/* ---- bridge/… -------------------------------------------------------------------------------------- */

static void
test_bridge_state(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	g_assert_cmpstr(ng_publisher_offline_payload(), ==, "{\"state\":\"offline\"}");
	g_assert_nonnull(ng_publisher_get_counters(fx->pub));

	ng_publisher_online(fx->pub, TRUE);
	ng_publisher_online(fx->pub, FALSE);
	assert_n_msgs(fx, 2);
	assert_msg(fx, 0, PREFIX "/bridge/state", 1, TRUE, "{\"state\":\"online\"}");
	assert_msg(fx, 1, PREFIX "/bridge/state", 1, TRUE, "{\"state\":\"offline\"}");
	g_assert_cmpstr(fx->topics->state, ==, PREFIX "/bridge/state");
}

static void
test_bridge_info(Fixture *fx, gconstpointer user_data)
{
	NgPublisherCounters *c = ng_publisher_get_counters(fx->pub);
	NgHubSnapshot hub = {0};

	(void)user_data;
	hub.hub_id = "room-7";
	hub.adapter = "hci0";
	hub.adapter_address = "00:11:22:33:44:55";
	hub.bluetoothd = TRUE;
	hub.pens_served = 3;
	hub.pens_connected = 2;
	hub.mqtt_connected = TRUE;
	hub.started_ms = T0 - 3600000; /* 09:00:00.000 */
	hub.uptime_s = 3600;
	hub.pairing_state = "idle";
	c->records = 123456;
	c->replayed = 100;
	c->duplicates = 3;
	c->malformed = 2;
	c->lost = 20;
	c->events = 9;
	c->publish_errors = 1;

	ng_publisher_info(fx->pub, &hub);
	assert_n_msgs(fx, 1);
	/* No "outbox" counters: this publisher has no outbox. */
	assert_msg(fx, 0, PREFIX "/bridge/info", 1, TRUE,
		   "{\"version\":\"" PACKAGE_VERSION "\",\"hub_id\":\"room-7\",\"adapter\":\"hci0\","
		   "\"adapter_address\":\"00:11:22:33:44:55\",\"bluetoothd\":true,"
		   "\"started\":\"2026-11-24T09:00:00.000Z\",\"uptime_s\":3600,\"pens_served\":3,"
		   "\"pens_connected\":2,\"telemetry_notify\":\"auto\",\"telemetry_batch\":\"notification\","
		   "\"store\":{\"ok\":true,\"problem\":null},\"counters\":{\"records\":123456,"
		   "\"replayed\":100,\"duplicates\":3,\"malformed\":2,\"lost\":20,\"session_events\":9,"
		   "\"publish_errors\":1}}");

	/* No adapter yet, bluetoothd away, the disk full. */
	clear_msgs(fx);
	hub.store_problem = "database commit: database or disk is full (SQLite error 13)";
	memset(c, 0, sizeof *c);
	hub.adapter = NULL;
	hub.adapter_address = NULL;
	hub.bluetoothd = FALSE;
	hub.pens_served = 0;
	hub.pens_connected = 0;
	hub.uptime_s = 0;
	hub.started_ms = T0;
	ng_publisher_info(fx->pub, &hub);
	assert_n_msgs(fx, 1);
	assert_msg(
	    fx, 0, PREFIX "/bridge/info", 1, TRUE,
	    "{\"version\":\"" PACKAGE_VERSION "\",\"hub_id\":\"room-7\",\"adapter\":null,"
	    "\"adapter_address\":null,\"bluetoothd\":false,\"started\":\"2026-11-24T10:00:00.000Z\","
	    "\"uptime_s\":0,\"pens_served\":0,\"pens_connected\":0,\"telemetry_notify\":\"auto\",\"telemetry_"
	    "batch\":\"notification\","
	    "\"store\":{\"ok\":false,\"problem\":\"database commit: database or disk is full (SQLite "
	    "error "
	    "13)\"},\"counters\":{\"records\":0,\"replayed\":0,\"duplicates\":0,\"malformed\":0,\"lost\":0,"
	    "\"session_events\":0,\"publish_errors\":0}}");
}

static void
test_bridge_event(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	ng_publisher_bridge_event(fx->pub, "connected", SERIAL, "AA:BB:CC:DD:EE:01", NULL);
	ng_publisher_bridge_event(fx->pub, "removed", SERIAL, "AA:BB:CC:DD:EE:01",
				  "not bonded any more or no session service");
	ng_publisher_bridge_event(fx->pub, "refused", NULL, "AA:BB:CC:DD:EE:09", "protocol version 2");
	assert_n_msgs(fx, 3);
	assert_msg_now(
	    fx, 0, PREFIX "/bridge/event", 1, FALSE,
	    "{\"event\":\"connected\",\"pen\":\"NP5EED0001\",\"address\":\"AA:BB:CC:DD:EE:01\",\"t\":" NOW
	    "}");
	assert_msg_now(
	    fx, 1, PREFIX "/bridge/event", 1, FALSE,
	    "{\"event\":\"removed\",\"pen\":\"NP5EED0001\",\"address\":\"AA:BB:CC:DD:EE:01\",\"t\":" NOW
	    ",\"detail\":\"not bonded any more or no session service\"}");
	assert_msg_now(fx, 2, PREFIX "/bridge/event", 1, FALSE,
		       "{\"event\":\"refused\",\"pen\":null,\"address\":\"AA:BB:CC:DD:EE:09\",\"t\":" NOW
		       ",\"detail\":\"protocol version 2\"}");
	/* a weak link carries its reading as a number */
	ng_publisher_weak_link(fx->pub, SERIAL, "AA:BB:CC:DD:EE:01", -91, "below -85 dBm for 60 s");
	assert_n_msgs(fx, 4);
	assert_msg_now(fx, 3, PREFIX "/bridge/event", 1, FALSE,
		       "{\"event\":\"weak_link\",\"pen\":\"NP5EED0001\",\"address\":\"AA:BB:CC:DD:EE:01\","
		       "\"t\":" NOW ",\"rssi_dbm\":-91,\"detail\":\"below -85 dBm for 60 s\"}");
}

static void
test_bridge_devices(Fixture *fx, gconstpointer user_data)
{
	NgAlert alerts[2] = {depth_alert(), cartridge_alert()};
	NgPenSnapshot pens[3] = {busy_pen(alerts, 2), idle_pen(), idle_pen()};

	(void)user_data;
	/* The second has never been read: nothing to name it by, it is left out. */
	pens[1].serial = NULL;
	pens[1].address = "AA:BB:CC:DD:EE:03";
	ng_publisher_devices(fx->pub, pens, 3);
	ng_publisher_devices(fx->pub, pens, 0);
	ng_publisher_devices(fx->pub, &pens[1], 1);
	assert_n_msgs(fx, 3);
	assert_msg_now(fx, 0, PREFIX "/bridge/devices", 1, TRUE,
		       "{\"pens\":[{" BUSY_PEN_FIELDS ",\"open_alerts\":[{" DEPTH_ALERT_BODY
		       "},{" CARTRIDGE_ALERT_BODY "}]},{" IDLE_PEN_FIELDS ",\"open_alerts\":[]}],\"t\":" NOW
		       "}");
	assert_msg_now(fx, 1, PREFIX "/bridge/devices", 1, TRUE, "{\"pens\":[],\"t\":" NOW "}");
	assert_msg_now(fx, 2, PREFIX "/bridge/devices", 1, TRUE, "{\"pens\":[],\"t\":" NOW "}");
}

/* ---- pens/<id>/state -------------------------------------------------------------------------------- */

static void
test_pen_state(Fixture *fx, gconstpointer user_data)
{
	NgAlert alerts[2] = {depth_alert(), cartridge_alert()};
	NgPenSnapshot pen = busy_pen(alerts, 2);
	g_autofree char *last = NULL;

	(void)user_data;
	g_assert_cmpstr(fx->pen.state, ==, PEN "/state");
	ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &last);
	assert_n_msgs(fx, 1);
	assert_msg_now(fx, 0, PEN "/state", 1, TRUE,
		       "{" BUSY_PEN_FIELDS ",\"open_alerts\":[{" DEPTH_ALERT_BODY "},{" CARTRIDGE_ALERT_BODY
		       "}],\"t\":" NOW "}");
	g_assert_nonnull(last);

	/* The same state again (a Pen Status notification and a session event saying one thing). */
	ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &last);
	assert_n_msgs(fx, 1);
	{
		NgPenSnapshot same = busy_pen(alerts, 2); /* equal content, other storage */
		ng_publisher_pen_state(fx->pub, &fx->pen, &same, &last);
		assert_n_msgs(fx, 1);
	}

	/* One field changes: sent. */
	pen.battery = 86;
	ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &last);
	assert_n_msgs(fx, 2);
	g_assert_nonnull(strstr(msg_at(fx, 1)->payload, "\"battery\":86,"));

	/* An alert cleared: the state changes. */
	pen.n_open_alerts = 1;
	ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &last);
	assert_n_msgs(fx, 3);
	assert_msg_now(fx, 2, PEN "/state", 1, TRUE,
		       "{\"pen\":\"NP5EED0001\",\"address\":\"AA:BB:CC:DD:EE:01\",\"name\":\"NeedlePen 5\","
		       "\"model\":\"NP-5\",\"firmware\":\"1.2.3\",\"connected\":true,\"link\":\"ready\","
		       "\"battery\":86,\"rssi\":-61,\"rssi_dbm\":-61,\"linkquality\":166,"
		       "\"pen_state\":\"session_active\","
		       "\"cartridge\":{\"id\":3389001729,\"needles\":12},\"session\":7,\"area\":\"forehead\","
		       "\"error\":null,\"plan\":\"face-1\",\"plan_assigned\":null,"
		       "\"limits\":{\"max_depth_mm\":0.50,\"min_speed_hz\":80.0,\"max_speed_hz\":150.0},"
		       "\"limits_mismatches\":1,\"clock_set\":true,\"telemetry_path\":\"acquire_notify\","
		       "\"open_alerts\":[{" DEPTH_ALERT_BODY "}],\"t\":" NOW "}");
	ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &last);
	assert_n_msgs(fx, 3);

	/* A fresh last_state (a new NgPenTopics after a restart): sent again. */
	{
		g_autofree char *fresh = NULL;
		ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &fresh);
		assert_n_msgs(fx, 4);
		g_assert_cmpstr(msg_at(fx, 3)->topic, ==, PEN "/state");
	}
}

static void
test_pen_state_other(Fixture *fx, gconstpointer user_data)
{
	NgPenSnapshot pen = idle_pen();
	NgPenTopics topics = {0};
	g_autofree char *last = NULL;

	(void)user_data;
	ng_pen_topics_init(&topics, fx->topics, "NP5EED0002");
	ng_publisher_pen_state(fx->pub, &topics, &pen, &last);
	assert_n_msgs(fx, 1);
	assert_msg_now(fx, 0, PREFIX "/pens/NP5EED0002/state", 1, TRUE,
		       "{" IDLE_PEN_FIELDS ",\"open_alerts\":[],\"t\":" NOW "}");

	/* Connected, an error, some limits unset, battery empty, no rssi reading yet, no plan. */
	pen.connected = TRUE;
	pen.link = "ready";
	pen.battery = 0;
	pen.rssi = 0;
	pen.rssi_dbm_known = FALSE;
	pen.have_status = TRUE;
	pen.status.state = NP_PEN_STATE_ERROR;
	pen.status.error_code = NP_PEN_ERROR_CARTRIDGE_NOT_SEATED;
	pen.status.flags = NP_STATUS_FLAG_LIMITS_ACTIVE;
	pen.area = 0x42;
	pen.plan_id = NULL;
	pen.plan_assigned = NULL;
	pen.limits_known = TRUE;
	pen.limits = (NpLimits){NP_LIMIT_NONE, NP_LIMIT_NONE, 1205};
	pen.limits_mismatches = 12;
	pen.telemetry_path = "start_notify";
	ng_publisher_pen_state(fx->pub, &topics, &pen, &last);
	assert_n_msgs(fx, 2);
	assert_msg_now(
	    fx, 1, PREFIX "/pens/NP5EED0002/state", 1, TRUE,
	    "{\"pen\":\"NP5EED0002\",\"address\":\"AA:BB:CC:DD:EE:02\",\"name\":null,\"model\":\"NP-5\","
	    "\"firmware\":\"1.2.0\",\"connected\":true,\"link\":\"ready\",\"battery\":0,\"rssi\":null,"
	    "\"rssi_dbm\":null,\"linkquality\":null,"
	    "\"pen_state\":\"error\",\"cartridge\":null,\"session\":null,\"area\":\"unknown\","
	    "\"error\":{\"code\":4,\"name\":\"cartridge_not_seated\"},\"plan\":null,"
	    "\"plan_assigned\":null,\"limits\":{\"max_depth_mm\":null,\"min_speed_hz\":null,"
	    "\"max_speed_hz\":120.5},\"limits_mismatches\":12,\"clock_set\":false,"
	    "\"telemetry_path\":\"start_notify\",\"open_alerts\":[],\"t\":" NOW "}");

	/* Limits known but none applied: null, as before. */
	pen.limits = (NpLimits){NP_LIMIT_NONE, NP_LIMIT_NONE, NP_LIMIT_NONE};
	ng_publisher_pen_state(fx->pub, &topics, &pen, &last);
	assert_n_msgs(fx, 3);
	g_assert_nonnull(strstr(msg_at(fx, 2)->payload, ",\"limits\":null,"));
	ng_pen_topics_clear(&topics);
}

static void
test_clear_pen(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	ng_publisher_clear_pen(fx->pub, &fx->pen);
	assert_n_msgs(fx, 2);
	/* Empty retained payloads delete the broker's retained state and session of the pen. */
	assert_meta(msg_at(fx, 0), PEN "/state", 1, TRUE);
	g_assert_cmpuint(msg_at(fx, 0)->len, ==, 0);
	assert_meta(msg_at(fx, 1), PEN "/session", 1, TRUE);
	g_assert_cmpuint(msg_at(fx, 1)->len, ==, 0);
}

/* ---- pens/<id>/telemetry ---------------------------------------------------------------------------- */

/* docs/mqtt-api.md's example record. */
static NpTelemetryRecord
record(guint32 seq)
{
	NpTelemetryRecord r = {0};

	r.flags = NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_PRESSURE | NP_TELEMETRY_FLAG_MOTOR |
		  NP_TELEMETRY_FLAG_CONTACT;
	r.seq = seq;
	r.session_id = 1;
	r.offset_ms = 40;
	r.depth_centi_mm = 147;
	r.speed_deci_hz = 1202;
	r.area = NP_AREA_FOREHEAD;
	r.pressure_gf = 190;
	return r;
}

/* 2026-11-24T10:31:36.776Z */
#define RECORD_T_MS G_GINT64_CONSTANT(1795516296776)
#define RECORD_JSON(seq)                                                                                     \
	"{\"pen\":\"NP5EED0001\",\"session\":1,\"seq\":" seq ",\"t\":\"2026-11-24T10:31:36.776Z\","          \
	"\"offset_ms\":40,\"depth_mm\":1.47,\"speed_hz\":120.2,\"area\":\"forehead\",\"pressure_gf\":190,"   \
	"\"motor\":true,\"contact\":true,\"replayed\":false}"

static void
test_telemetry(Fixture *fx, gconstpointer user_data)
{
	NpTelemetryRecord r = record(4);
	NpTelemetryRecord bare = {0};

	(void)user_data;
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	assert_n_msgs(fx, 1);
	assert_msg(fx, 0, PEN "/telemetry", 1, FALSE, RECORD_JSON("4"));

	/* No area, no pressure, motor off, replayed, the smallest values. */
	bare.flags = NP_TELEMETRY_FLAG_REPLAYED;
	bare.seq = 0;
	bare.session_id = 0;
	bare.offset_ms = 0;
	bare.depth_centi_mm = 5;
	bare.speed_deci_hz = 0;
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &bare, T0);
	/* The largest values; area code outside the profile. */
	r.flags = NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_PRESSURE | NP_TELEMETRY_FLAG_CONTACT |
		  NP_TELEMETRY_FLAG_REPLAYED | NP_TELEMETRY_FLAG_MOTOR;
	r.seq = G_MAXUINT32;
	r.session_id = G_MAXUINT16;
	r.offset_ms = G_MAXUINT32;
	r.depth_centi_mm = G_MAXUINT16;
	r.speed_deci_hz = G_MAXUINT16;
	r.area = 0xff;
	r.pressure_gf = G_MAXUINT16;
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, T0 + 999);
	/* Flushing with telemetry_batch record sends nothing more. */
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 3);
	assert_msg(fx, 1, PEN "/telemetry", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"session\":0,\"seq\":0,\"t\":\"2026-11-24T10:00:00.000Z\","
		   "\"offset_ms\":0,\"depth_mm\":0.05,\"speed_hz\":0.0,\"motor\":false,\"contact\":false,"
		   "\"replayed\":true}");
	assert_msg(fx, 2, PEN "/telemetry", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"session\":65535,\"seq\":4294967295,"
		   "\"t\":\"2026-11-24T10:00:00.999Z\",\"offset_ms\":4294967295,\"depth_mm\":655.35,"
		   "\"speed_hz\":6553.5,\"area\":\"unknown\",\"pressure_gf\":65535,\"motor\":true,"
		   "\"contact\":true,\"replayed\":true}");
}

/* One record of a batch: the fields of RECORD_JSON without pen and session. */
#define BATCH_RECORD_JSON(seq)                                                                               \
	"{\"seq\":" seq ",\"t\":\"2026-11-24T10:31:36.776Z\",\"offset_ms\":40,\"depth_mm\":1.47,"            \
	"\"speed_hz\":120.2,\"area\":\"forehead\",\"pressure_gf\":190,\"motor\":true,\"contact\":true,"      \
	"\"replayed\":false}"
#define BATCH_JSON(serial, session, records)                                                                 \
	"{\"pen\":\"" serial "\",\"session\":" session ",\"records\":[" records "]}"

/* The default: the records of one notification in one message. */
static void
test_telemetry_batch(Fixture *fx, gconstpointer user_data)
{
	NgPenTopics other = {0};
	NpTelemetryRecord r;

	(void)user_data;
	g_assert_cmpint(fx->config->telemetry_batch, ==, NG_TELEMETRY_BATCH_NOTIFICATION);

	/* Two records of one notification: held until the flush. */
	r = record(4);
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	r = record(5);
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	assert_n_msgs(fx, 0);
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 1);
	assert_msg(fx, 0, PEN "/telemetry", 1, FALSE,
		   BATCH_JSON("NP5EED0001", "1", BATCH_RECORD_JSON("4") "," BATCH_RECORD_JSON("5")));
	/* Nothing left to flush. */
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 1);

	/* Every field of a record, at its smallest and its largest, in a batch too. */
	clear_msgs(fx);
	r = (NpTelemetryRecord){.flags = NP_TELEMETRY_FLAG_REPLAYED, .depth_centi_mm = 5};
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, T0);
	r = (NpTelemetryRecord){.flags = NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_PRESSURE |
					 NP_TELEMETRY_FLAG_CONTACT | NP_TELEMETRY_FLAG_REPLAYED |
					 NP_TELEMETRY_FLAG_MOTOR,
				.seq = G_MAXUINT32,
				.offset_ms = G_MAXUINT32,
				.depth_centi_mm = G_MAXUINT16,
				.speed_deci_hz = G_MAXUINT16,
				.area = 0xff,
				.pressure_gf = G_MAXUINT16};
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, -1);
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 1);
	assert_msg(
	    fx, 0, PEN "/telemetry", 1, FALSE,
	    BATCH_JSON("NP5EED0001", "0",
		       "{\"seq\":0,\"t\":\"2026-11-24T10:00:00.000Z\",\"offset_ms\":0,\"depth_mm\":0.05,"
		       "\"speed_hz\":0.0,\"motor\":false,\"contact\":false,\"replayed\":true},"
		       "{\"seq\":4294967295,\"offset_ms\":4294967295,\"depth_mm\":655.35,"
		       "\"speed_hz\":6553.5,\"area\":\"unknown\",\"pressure_gf\":65535,\"motor\":true,"
		       "\"contact\":true,\"replayed\":true}"));

	/* A record of the next session (a replay may span two) starts a batch of its own. */
	clear_msgs(fx);
	r = record(6);
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	r = record(7);
	r.session_id = 2;
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	assert_n_msgs(fx, 1);
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 2);
	assert_msg(fx, 0, PEN "/telemetry", 1, FALSE, BATCH_JSON("NP5EED0001", "1", BATCH_RECORD_JSON("6")));
	assert_msg(fx, 1, PEN "/telemetry", 1, FALSE, BATCH_JSON("NP5EED0001", "2", BATCH_RECORD_JSON("7")));

	/* Another pen's record ends the batch of the first: one message per pen. */
	clear_msgs(fx);
	ng_pen_topics_init(&other, fx->topics, "NP5EED0002");
	r = record(10);
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	r = record(1);
	ng_publisher_telemetry(fx->pub, &other, "NP5EED0002", &r, RECORD_T_MS);
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 2);
	assert_msg(fx, 0, PEN "/telemetry", 1, FALSE, BATCH_JSON("NP5EED0001", "1", BATCH_RECORD_JSON("10")));
	assert_msg(fx, 1, PREFIX "/pens/NP5EED0002/telemetry", 1, FALSE,
		   BATCH_JSON("NP5EED0002", "1", BATCH_RECORD_JSON("1")));
	ng_pen_topics_clear(&other);

	/* A batch is bounded: 64 records, then the next message. */
	clear_msgs(fx);
	for (guint32 seq = 100; seq < 165; seq++) {
		r = record(seq);
		ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	}
	assert_n_msgs(fx, 1);
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 2);
	g_assert_true(g_str_has_suffix(msg_at(fx, 0)->payload, BATCH_RECORD_JSON("163") "]}"));
	g_assert_cmpstr(msg_at(fx, 1)->payload, ==, BATCH_JSON("NP5EED0001", "1", BATCH_RECORD_JSON("164")));
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->records, ==, 2 + 2 + 2 + 2 + 65);
}

/* ---- pens/<id>/session and pens/<id>/event ----------------------------------------------------------- */

static void
test_session_started(Fixture *fx, gconstpointer user_data)
{
	NpSessionEvent ev = started_event();

	(void)user_data;
	/* docs/plans.md's example. */
	ng_publisher_session_started(fx->pub, &fx->pen, SERIAL, &ev, STARTED_T_MS, NULL);
	assert_n_msgs(fx, 1);
	assert_msg(fx, 0, PEN "/session", 1, TRUE,
		   "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"started\",\"seq\":2,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":\"2026-11-24T10:31:36.735Z\","
		   "\"cartridge\":{\"id\":3389001729,\"needles\":12,\"use_count\":1},\"area\":\"forehead\","
		   "\"plan_id\":null}");

	/* The pen's clock never set; a plan. */
	clear_msgs(fx);
	ev.pen_clock_ms = 0;
	ev.u.started.cartridge = (NpCartridge){12648430u, 36, 2};
	ev.u.started.area = NP_AREA_SCAR;
	ng_publisher_session_started(fx->pub, &fx->pen, SERIAL, &ev, STARTED_T_MS, "face-e2e-2");
	assert_n_msgs(fx, 1);
	assert_msg(fx, 0, PEN "/session", 1, TRUE,
		   "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"started\",\"seq\":2,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":null,"
		   "\"cartridge\":{\"id\":12648430,\"needles\":36,\"use_count\":2},\"area\":\"scar\","
		   "\"plan_id\":\"face-e2e-2\"}");
}

static NgSessionEnd
session_end(void)
{
	NgSessionEnd end = {0};

	end.session_id = 1;
	end.seq = 154;
	end.t_ms = 1795517225385;	  /* 2026-11-24T10:47:05.385Z */
	end.pen_clock_ms = 1795517225383; /* 2026-11-24T10:47:05.383Z */
	end.duration_ms = 3003;
	end.reason = "stopped";
	end.end_event_lost = FALSE;
	end.area = NP_AREA_FOREHEAD;
	end.plan_id = "face-e2e-2";
	end.ended_fields = NULL;
	return end;
}

static void
test_session_ended(Fixture *fx, gconstpointer user_data)
{
	NgSessionEnd end = session_end();

	(void)user_data;
	/* ended_fields NULL: the bare duration and reason. */
	ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
	assert_n_msgs(fx, 1);
	assert_msg(
	    fx, 0, PEN "/session", 1, TRUE,
	    "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"ended\",\"seq\":154,"
	    "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":\"2026-11-24T10:47:05.383Z\","
	    "\"area\":\"forehead\",\"plan_id\":\"face-e2e-2\",\"duration_s\":3.003,\"reason\":\"stopped\"}");

	/* The summary's fields, as ng_summary_json_append_ended_fields () writes them, go in as they are. */
	clear_msgs(fx);
	end.ended_fields =
	    "\"duration_s\":3.003,\"reason\":\"stopped\",\"summary\":{\"records\":151},"
	    "\"alerts\":{\"critical\":2,\"warning\":0,\"info\":0},\"aftercare\":[],\"course\":null,"
	    "\"next_session_earliest\":null";
	ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
	assert_n_msgs(fx, 1);
	assert_msg(
	    fx, 0, PEN "/session", 1, TRUE,
	    "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"ended\",\"seq\":154,"
	    "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":\"2026-11-24T10:47:05.383Z\","
	    "\"area\":\"forehead\",\"plan_id\":\"face-e2e-2\",\"duration_s\":3.003,\"reason\":\"stopped\","
	    "\"summary\":{\"records\":151},\"alerts\":{\"critical\":2,\"warning\":0,\"info\":0},"
	    "\"aftercare\":[],\"course\":null,\"next_session_earliest\":null}");

	/* Its end event was lost: no seq, no pen clock, at most this long, reason unknown. */
	clear_msgs(fx);
	end = session_end();
	end.session_id = 2;
	end.seq = -1;
	end.pen_clock_ms = 0;
	end.duration_ms = 1800000;
	end.reason = "unknown";
	end.end_event_lost = TRUE;
	end.area = NP_AREA_CHEEKS;
	end.plan_id = NULL;
	ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
	/* ... and its start was not seen on the gateway's clock: duration unknown. */
	end.duration_ms = -1;
	ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
	assert_n_msgs(fx, 2);
	assert_msg(
	    fx, 0, PEN "/session", 1, TRUE,
	    "{\"pen\":\"NP5EED0001\",\"session\":2,\"event\":\"ended\",\"seq\":null,"
	    "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":null,\"area\":\"cheeks\","
	    "\"end_event_lost\":true,\"plan_id\":null,\"duration_s\":1800.000,\"reason\":\"unknown\"}");
	assert_msg(fx, 1, PEN "/session", 1, TRUE,
		   "{\"pen\":\"NP5EED0001\",\"session\":2,\"event\":\"ended\",\"seq\":null,"
		   "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":null,\"area\":\"cheeks\","
		   "\"end_event_lost\":true,\"plan_id\":null,\"duration_s\":null,\"reason\":\"unknown\"}");

	/* The pen was removed from the hub in the middle of a session. */
	clear_msgs(fx);
	end = session_end();
	end.session_id = 3;
	end.seq = -1;
	end.pen_clock_ms = 0;
	end.duration_ms = 60000;
	end.reason = "removed";
	end.end_event_lost = FALSE;
	ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
	assert_n_msgs(fx, 1);
	assert_msg(fx, 0, PEN "/session", 1, TRUE,
		   "{\"pen\":\"NP5EED0001\",\"session\":3,\"event\":\"ended\",\"seq\":null,"
		   "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":null,\"area\":\"forehead\","
		   "\"plan_id\":\"face-e2e-2\",\"duration_s\":60.000,\"reason\":\"removed\"}");
}

static void
test_pen_event(Fixture *fx, gconstpointer user_data)
{
	NpSessionEvent ev = started_event();
	const char *head = "{\"pen\":\"NP5EED0001\",\"event\":";

	(void)user_data;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, STARTED_T_MS);

	ev = (NpSessionEvent){0};
	ev.type = NP_EVENT_SESSION_ENDED;
	ev.seq = 154;
	ev.session_id = 1;
	ev.pen_clock_ms = 1795517225383u;
	ev.u.ended.duration_ms = 3003;
	ev.u.ended.reason = NP_END_REASON_STOPPED;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, 1795517225385);

	ev = (NpSessionEvent){0};
	ev.type = NP_EVENT_AREA_CHANGED;
	ev.seq = 20;
	ev.session_id = 1;
	ev.u.area_changed.area = NP_AREA_PERIORBITAL;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);

	ev.type = NP_EVENT_CARTRIDGE_INSERTED;
	ev.seq = 21;
	ev.u.cartridge_inserted = (NpCartridge){12648430u, 36, 2};
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);

	ev = (NpSessionEvent){0};
	ev.type = NP_EVENT_CARTRIDGE_REMOVED;
	ev.seq = 22;
	ev.session_id = 1;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);

	ev.type = NP_EVENT_ERROR_RAISED;
	ev.seq = 23;
	ev.u.error.code = NP_PEN_ERROR_MOTOR_STALL;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);
	ev.type = NP_EVENT_ERROR_CLEARED;
	ev.seq = 24;
	ev.u.error.code = 0x1234;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);

	ev = (NpSessionEvent){0};
	ev.type = NP_EVENT_LIMITS_APPLIED;
	ev.seq = 25;
	ev.session_id = 1;
	ev.u.limits_applied = (NpLimits){50, NP_LIMIT_NONE, 1500};
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);

	ev = (NpSessionEvent){0};
	ev.type = 0x42; /* outside the profile: only the header is known */
	ev.seq = 26;
	ev.session_id = 1;
	ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, T0);

	assert_n_msgs(fx, 9);
	for (guint i = 0; i < 9; i++)
		g_assert_true(g_str_has_prefix(msg_at(fx, i)->payload, head));
	assert_msg(fx, 0, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"session_started\",\"seq\":2,\"session\":1,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":\"2026-11-24T10:31:36.735Z\","
		   "\"pen_clock_ms\":1795516296735,\"cartridge\":{\"id\":3389001729,\"needles\":12,"
		   "\"use_count\":1},\"area\":\"forehead\"}");
	assert_msg(fx, 1, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"session_ended\",\"seq\":154,\"session\":1,"
		   "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":\"2026-11-24T10:47:05.383Z\","
		   "\"pen_clock_ms\":1795517225383,\"duration_ms\":3003,\"duration_s\":3.003,"
		   "\"reason\":\"stopped\"}");
	assert_msg(fx, 2, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"area_changed\",\"seq\":20,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0,"
		   "\"area\":\"periorbital\"}");
	assert_msg(fx, 3, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"cartridge_inserted\",\"seq\":21,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0,"
		   "\"cartridge\":{\"id\":12648430,\"needles\":36,\"use_count\":2}}");
	assert_msg(fx, 4, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"cartridge_removed\",\"seq\":22,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0}");
	assert_msg(fx, 5, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"error_raised\",\"seq\":23,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0,"
		   "\"error\":{\"code\":1,\"name\":\"motor_stall\"}}");
	assert_msg(fx, 6, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"error_cleared\",\"seq\":24,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0,"
		   "\"error\":{\"code\":4660,\"name\":\"unknown\"}}");
	assert_msg(fx, 7, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"limits_applied\",\"seq\":25,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0,"
		   "\"limits\":{\"max_depth_mm\":0.50,\"min_speed_hz\":null,\"max_speed_hz\":150.0}}");
	assert_msg(fx, 8, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"unknown\",\"seq\":26,\"session\":1,"
		   "\"t\":\"2026-11-24T10:00:00.000Z\",\"pen_clock\":null,\"pen_clock_ms\":0}");
}

/* ---- pens/<id>/alert --------------------------------------------------------------------------------- */

static void
test_alert(Fixture *fx, gconstpointer user_data)
{
	NgAlert a = depth_alert();

	(void)user_data;
	/* docs/plans.md's examples: raised, then cleared with how long it lasted. */
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	a.state = NG_ALERT_CLEARED;
	a.id = 2;
	a.session_id = 1;
	a.seq = 112;
	a.t_ms = 1795517224561; /* 2026-11-24T10:47:04.561Z */
	a.measured = (NgAlertValue){NG_VALUE_FIXED, 98, 2, NULL};
	a.limit = (NgAlertValue){NG_VALUE_FIXED, 6, 1, NULL};
	a.duration_ms = 1000;
	set_message(&a, "Cleared after 1.0 s: needle depth 0.98 mm on the forehead is above the plan's "
			"maximum of 0.60 mm.");
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	assert_n_msgs(fx, 2);
	assert_msg(fx, 0, PEN "/alert", 1, FALSE, "{\"pen\":\"NP5EED0001\"," DEPTH_ALERT_BODY "}");
	assert_msg(
	    fx, 1, PEN "/alert", 1, FALSE,
	    "{\"pen\":\"NP5EED0001\",\"session\":1,\"seq\":112,\"t\":\"2026-11-24T10:47:04.561Z\","
	    "\"severity\":\"critical\",\"rule\":\"depth_above_max\",\"area\":\"forehead\","
	    "\"measured\":0.98,\"limit\":0.6,\"unit\":\"mm\",\"message\":\"Cleared after 1.0 s: needle "
	    "depth 0.98 mm on the forehead is above the plan's maximum of 0.60 mm.\","
	    "\"state\":\"cleared\",\"id\":2,\"replayed\":false,\"duration_ms\":1000}");

	/* Strings and nulls as measured and limit; no unit. */
	clear_msgs(fx);
	a = (NgAlert){0};
	a.id = 3;
	a.rule = NG_RULE_AREA_NOT_IN_PLAN;
	a.severity = NG_SEVERITY_CRITICAL;
	a.state = NG_ALERT_RAISED;
	a.area = NP_AREA_NECK;
	a.measured = (NgAlertValue){NG_VALUE_STRING, 0, 0, "neck"};
	a.limit = (NgAlertValue){NG_VALUE_STRING, 0, 0, "forehead,cheeks"};
	a.unit = NULL;
	a.session_id = 7;
	a.seq = 300;
	a.t_ms = T0 + 60000;
	a.duration_ms = -1;
	set_message(&a, "Needling on the neck, which the plan does not list.");
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	a.id = 4;
	a.rule = NG_RULE_NO_PLAN;
	a.severity = NG_SEVERITY_WARNING;
	a.area = NP_AREA_UNSPECIFIED;
	a.measured = (NgAlertValue){NG_VALUE_NONE, 0, 0, NULL};
	a.limit = (NgAlertValue){NG_VALUE_NONE, 0, 0, NULL};
	a.seq = 2;
	a.t_ms = T0;
	set_message(&a, "The session started with no plan: nothing is checked against limits.");
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	assert_n_msgs(fx, 2);
	assert_msg(fx, 0, PEN "/alert", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"session\":7,\"seq\":300,\"t\":\"2026-11-24T10:01:00.000Z\","
		   "\"severity\":\"critical\",\"rule\":\"area_not_in_plan\",\"area\":\"neck\","
		   "\"measured\":\"neck\",\"limit\":\"forehead,cheeks\",\"unit\":null,"
		   "\"message\":\"Needling on the neck, which the plan does not list.\",\"state\":\"raised\","
		   "\"id\":3,\"replayed\":false}");
	assert_msg(fx, 1, PEN "/alert", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"session\":7,\"seq\":2,\"t\":\"2026-11-24T10:00:00.000Z\","
		   "\"severity\":\"warning\",\"rule\":\"no_plan\",\"area\":\"unspecified\",\"measured\":null,"
		   "\"limit\":null,\"unit\":null,\"message\":\"The session started with no plan: nothing is "
		   "checked against limits.\",\"state\":\"raised\",\"id\":4,\"replayed\":false}");
}

/* As ng_rules_telemetry_gap () makes it: seq is the first lost record, measured their count. */
static NgAlert
gap_alert(guint32 first, guint64 lost)
{
	NgAlert a = {0};

	a.id = 5;
	a.rule = NG_RULE_TELEMETRY_GAP;
	a.severity = NG_SEVERITY_WARNING;
	a.state = NG_ALERT_EVENT;
	a.area = NP_AREA_CHEEKS;
	a.measured = (NgAlertValue){NG_VALUE_FIXED, lost, 0, NULL};
	a.limit = (NgAlertValue){NG_VALUE_FIXED, 0, 0, NULL};
	a.unit = "records";
	a.session_id = 7;
	a.seq = first;
	a.t_ms = T0 + 5000;
	a.duration_ms = -1;
	g_snprintf(a.message, sizeof a.message,
		   "%" G_GUINT64_FORMAT " record%s (%" G_GUINT32_FORMAT " to %" G_GUINT64_FORMAT
		   ") could not be recovered from the pen.",
		   lost, lost == 1 ? "" : "s", first, first + lost - 1);
	return a;
}

static void
test_gap_alert(Fixture *fx, gconstpointer user_data)
{
	NgAlert a = gap_alert(41, 20);

	(void)user_data;
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	a = gap_alert(100, 1);
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	/* The last sequence numbers: last_seq must not wrap. */
	a = gap_alert(G_MAXUINT32 - 5, 6);
	ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
	assert_n_msgs(fx, 3);
	assert_msg(
	    fx, 0, PEN "/alert", 1, FALSE,
	    "{\"pen\":\"NP5EED0001\",\"session\":7,\"seq\":41,\"t\":\"2026-11-24T10:00:05.000Z\","
	    "\"severity\":\"warning\",\"rule\":\"telemetry_gap\",\"area\":\"cheeks\",\"measured\":20,"
	    "\"limit\":0,\"unit\":\"records\",\"message\":\"20 records (41 to 60) could not be recovered "
	    "from the "
	    "pen.\",\"state\":\"event\",\"id\":5,\"replayed\":false,\"first_seq\":41,\"last_seq\":60}");
	assert_msg(
	    fx, 1, PEN "/alert", 1, FALSE,
	    "{\"pen\":\"NP5EED0001\",\"session\":7,\"seq\":100,\"t\":\"2026-11-24T10:00:05.000Z\","
	    "\"severity\":\"warning\",\"rule\":\"telemetry_gap\",\"area\":\"cheeks\",\"measured\":1,"
	    "\"limit\":0,\"unit\":\"records\",\"message\":\"1 record (100 to 100) could not be recovered "
	    "from the "
	    "pen.\",\"state\":\"event\",\"id\":5,\"replayed\":false,\"first_seq\":100,\"last_seq\":100}");
	assert_msg(
	    fx, 2, PEN "/alert", 1, FALSE,
	    "{\"pen\":\"NP5EED0001\",\"session\":7,\"seq\":4294967290,"
	    "\"t\":\"2026-11-24T10:00:05.000Z\",\"severity\":\"warning\",\"rule\":\"telemetry_gap\","
	    "\"area\":\"cheeks\",\"measured\":6,\"limit\":0,\"unit\":\"records\",\"message\":\"6 records "
	    "(4294967290 to 4294967295) could not be recovered from the pen.\",\"state\":\"event\","
	    "\"id\":5,\"replayed\":false,\"first_seq\":4294967290,\"last_seq\":4294967295}");
}

/* The same objects outside MQTT: the open alerts of a pen's state, the journal's list. */
static void
test_alert_json(Fixture *fx, gconstpointer user_data)
{
	NgAlert alerts[3] = {depth_alert(), cartridge_alert(), gap_alert(41, 20)};
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *none = NULL;
	g_autofree char *list = NULL;

	(void)user_data;
	ng_publisher_append_alert(out, &alerts[0], NULL);
	g_assert_cmpstr(out->str, ==, "{" DEPTH_ALERT_BODY "}");
	g_string_truncate(out, 0);
	ng_publisher_append_alert(out, &alerts[0], SERIAL);
	g_assert_cmpstr(out->str, ==, "{\"pen\":\"NP5EED0001\"," DEPTH_ALERT_BODY "}");

	none = ng_publisher_alerts_to_json(NULL, 0);
	g_assert_cmpstr(none, ==, "[]");
	list = ng_publisher_alerts_to_json(alerts, 3);
	assert_payload(
	    list,
	    "[{" DEPTH_ALERT_BODY "},{" CARTRIDGE_ALERT_BODY "},"
	    "{\"session\":7,\"seq\":41,\"t\":\"2026-11-24T10:00:05.000Z\",\"severity\":\"warning\","
	    "\"rule\":\"telemetry_gap\",\"area\":\"cheeks\",\"measured\":20,\"limit\":0,"
	    "\"unit\":\"records\",\"message\":\"20 records (41 to 60) could not be recovered from "
	    "the pen.\",\"state\":\"event\",\"id\":5,\"replayed\":false,\"first_seq\":41,\"last_seq\":60}]");
	/* Nothing was published. */
	assert_n_msgs(fx, 0);
}

/* ---- bad and edge input ------------------------------------------------------------------------------ */

/* A quote, a backslash, control characters, an invalid UTF-8 byte, a valid é, DEL. */
#define BAD_SERIAL                                                                                           \
	"NP\"\\\x01\n\t\xff"                                                                                 \
	"\xc3\xa9\x7f"
#define BAD_SERIAL_JSON                                                                                      \
	"\"NP\\\"\\\\\\u0001\\n\\t\xef\xbf\xbd"                                                              \
	"\xc3\xa9\x7f\""
#define BAD_SERIAL_BACK                                                                                      \
	"NP\"\\\x01\n\t\xef\xbf\xbd"                                                                         \
	"\xc3\xa9\x7f"

/* The payload is valid JSON and member @key of its object (or of its first element) reads back as @want. */
static void
assert_reads_back(const char *payload, const char *key, const char *want)
{
	g_autoptr(JsonNode) root = parse_json("the payload", payload);
	JsonObject *obj;

	if (JSON_NODE_HOLDS_ARRAY(root))
		obj = json_array_get_object_element(json_node_get_array(root), 0);
	else
		obj = json_node_get_object(root);
	g_assert_nonnull(obj);
	g_assert_true(json_object_has_member(obj, key));
	g_assert_cmpstr(json_object_get_string_member(obj, key), ==, want);
}

static void
test_escaping(Fixture *fx, gconstpointer user_data)
{
	NgPenSnapshot pen = busy_pen(NULL, 0);
	NpTelemetryRecord r = record(4);
	NpSessionEvent ev = started_event();
	NgSessionEnd end = session_end();
	NgAlert a = depth_alert();
	g_autofree char *last = NULL;

	(void)user_data;
	ng_publisher_bridge_event(fx->pub, "paired", BAD_SERIAL, "\x1f\"", "why: \"\xc0\xaf\" \\ \r");
	assert_n_msgs(fx, 1);
	assert_msg_now(fx, 0, PREFIX "/bridge/event", 1, FALSE,
		       "{\"event\":\"paired\",\"pen\":" BAD_SERIAL_JSON
		       ",\"address\":\"\\u001f\\\"\",\"t\":" NOW
		       ",\"detail\":\"why: \\\"\xef\xbf\xbd\xef\xbf\xbd\\\" \\\\ \\r\"}");
	assert_reads_back(msg_at(fx, 0)->payload, "pen", BAD_SERIAL_BACK);
	assert_reads_back(msg_at(fx, 0)->payload, "address", "\x1f\"");

	/* Every string of a pen's state: serial, names, plan ids; truncated UTF-8 at the end. */
	clear_msgs(fx);
	pen.serial = BAD_SERIAL;
	pen.address = "AA:BB:CC:DD:EE:01";
	pen.name = "Pen \"5\"\x7f\x1b[31m";
	pen.model = "NP\xe2\x82";
	pen.firmware = "1.2.3\xed\xa0\x80"; /* a UTF-16 surrogate: not UTF-8 */
	pen.link = "ready";
	pen.plan_id = "face\\1\x08";
	pen.plan_assigned = "\xe2\x82\xac"; /* € */
	ng_publisher_pen_state(fx->pub, &fx->pen, &pen, &last);
	ng_publisher_devices(fx->pub, &pen, 1);
	assert_n_msgs(fx, 2);
	assert_msg_now(fx, 0, PEN "/state", 1, TRUE,
		       "{\"pen\":" BAD_SERIAL_JSON ",\"address\":\"AA:BB:CC:DD:EE:01\","
		       "\"name\":\"Pen \\\"5\\\"\x7f\\u001b[31m\",\"model\":\"NP\xef\xbf\xbd\xef\xbf\xbd\","
		       "\"firmware\":\"1.2.3\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"connected\":true,"
		       "\"link\":\"ready\",\"battery\":87,\"rssi\":-61,\"rssi_dbm\":-61,\"linkquality\":166,"
		       "\"pen_state\":\"session_active\","
		       "\"cartridge\":{\"id\":3389001729,\"needles\":12},\"session\":7,\"area\":\"forehead\","
		       "\"error\":null,\"plan\":\"face\\\\1\\u0008\",\"plan_assigned\":\"\xe2\x82\xac\","
		       "\"limits\":{\"max_depth_mm\":0.50,\"min_speed_hz\":80.0,\"max_speed_hz\":150.0},"
		       "\"limits_mismatches\":1,\"clock_set\":true,\"telemetry_path\":\"acquire_notify\","
		       "\"open_alerts\":[],\"t\":" NOW "}");
	assert_reads_back(msg_at(fx, 0)->payload, "pen", BAD_SERIAL_BACK);
	assert_reads_back(msg_at(fx, 0)->payload, "name", "Pen \"5\"\x7f\x1b[31m");
	assert_reads_back(msg_at(fx, 0)->payload, "plan", "face\\1\x08");
	{
		g_autoptr(JsonNode) root = parse_json("bridge/devices", msg_at(fx, 1)->payload);
		JsonArray *pens = json_object_get_array_member(json_node_get_object(root), "pens");

		g_assert_cmpuint(json_array_get_length(pens), ==, 1);
		g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(pens, 0), "pen"),
				==, BAD_SERIAL_BACK);
	}

	/* Telemetry, session, event and alert payloads carry the serial escaped too. */
	clear_msgs(fx);
	ng_publisher_telemetry(fx->pub, &fx->pen, BAD_SERIAL, &r, RECORD_T_MS);
	ng_publisher_session_started(fx->pub, &fx->pen, BAD_SERIAL, &ev, STARTED_T_MS, "plan \"x\"");
	end.plan_id = "\t";
	ng_publisher_session_ended(fx->pub, &fx->pen, BAD_SERIAL, &end);
	ng_publisher_pen_event(fx->pub, &fx->pen, BAD_SERIAL, &ev, STARTED_T_MS);
	set_message(&a, "Depth \"0.51\"\n\xff");
	ng_publisher_alert(fx->pub, &fx->pen, BAD_SERIAL, &a);
	assert_n_msgs(fx, 5);
	assert_msg(fx, 0, PEN "/telemetry", 1, FALSE,
		   "{\"pen\":" BAD_SERIAL_JSON ",\"session\":1,\"seq\":4,\"t\":\"2026-11-24T10:31:36.776Z\","
		   "\"offset_ms\":40,\"depth_mm\":1.47,\"speed_hz\":120.2,\"area\":\"forehead\","
		   "\"pressure_gf\":190,\"motor\":true,\"contact\":true,\"replayed\":false}");
	assert_msg(fx, 1, PEN "/session", 1, TRUE,
		   "{\"pen\":" BAD_SERIAL_JSON ",\"session\":1,\"event\":\"started\",\"seq\":2,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":\"2026-11-24T10:31:36.735Z\","
		   "\"cartridge\":{\"id\":3389001729,\"needles\":12,\"use_count\":1},\"area\":\"forehead\","
		   "\"plan_id\":\"plan \\\"x\\\"\"}");
	assert_msg(fx, 2, PEN "/session", 1, TRUE,
		   "{\"pen\":" BAD_SERIAL_JSON ",\"session\":1,\"event\":\"ended\",\"seq\":154,"
		   "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":\"2026-11-24T10:47:05.383Z\","
		   "\"area\":\"forehead\",\"plan_id\":\"\\t\",\"duration_s\":3.003,\"reason\":\"stopped\"}");
	assert_msg(fx, 3, PEN "/event", 1, FALSE,
		   "{\"pen\":" BAD_SERIAL_JSON ",\"event\":\"session_started\",\"seq\":2,\"session\":1,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":\"2026-11-24T10:31:36.735Z\","
		   "\"pen_clock_ms\":1795516296735,\"cartridge\":{\"id\":3389001729,\"needles\":12,"
		   "\"use_count\":1},\"area\":\"forehead\"}");
	assert_msg(fx, 4, PEN "/alert", 1, FALSE,
		   "{\"pen\":" BAD_SERIAL_JSON
		   ",\"session\":7,\"seq\":106,\"t\":\"2026-11-24T10:00:00.200Z\","
		   "\"severity\":\"critical\",\"rule\":\"depth_above_max\",\"area\":\"forehead\","
		   "\"measured\":0.51,\"limit\":0.50,\"unit\":\"mm\","
		   "\"message\":\"Depth "
		   "\\\"0.51\\\"\\n\xef\xbf\xbd\",\"state\":\"raised\",\"id\":1,\"replayed\":false}");
	for (guint i = 0; i < 5; i++)
		assert_reads_back(msg_at(fx, i)->payload, "pen", BAD_SERIAL_BACK);
}

/* Times ISO 8601 cannot write with four digits are null; the edges of 0000-9999 are written. */
static void
test_time_range(Fixture *fx, gconstpointer user_data)
{
	static const struct {
		gint64 t_ms;
		const char *json;
	} cases[] = {
	    {TIME_MAX_MS, "\"9999-12-31T23:59:59.999Z\""},
	    {TIME_MAX_MS + 1, "null"},
	    {G_MAXINT64, "null"},
	    {TIME_MIN_MS, "\"0000-01-01T00:00:00.000Z\""},
	    {TIME_MIN_MS - 1, "null"},
	    {G_MININT64, "null"},
	    {-1, "\"1969-12-31T23:59:59.999Z\""},
	    {0, "\"1970-01-01T00:00:00.000Z\""},
	    {951782400000, "\"2000-02-29T00:00:00.000Z\""},
	};

	(void)user_data;
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		NgAlert a = depth_alert();
		NgSessionEnd end = session_end();
		g_autofree char *alert = NULL;
		g_autofree char *ended = NULL;

		g_test_message("t_ms %" G_GINT64_FORMAT, cases[i].t_ms);
		clear_msgs(fx);
		a.t_ms = cases[i].t_ms;
		ng_publisher_alert(fx->pub, &fx->pen, SERIAL, &a);
		end.t_ms = cases[i].t_ms;
		ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
		assert_n_msgs(fx, 2);
		alert = g_strdup_printf(
		    "{\"pen\":\"NP5EED0001\",\"session\":7,\"seq\":106,\"t\":%s,"
		    "\"severity\":\"critical\",\"rule\":\"depth_above_max\",\"area\":\"forehead\","
		    "\"measured\":0.51,\"limit\":0.50,\"unit\":\"mm\",\"message\":\"Needle depth "
		    "0.51 mm on the forehead is above the plan's maximum of 0.50 mm.\","
		    "\"state\":\"raised\",\"id\":1,\"replayed\":false}",
		    cases[i].json);
		assert_msg(fx, 0, PEN "/alert", 1, FALSE, alert);
		ended = g_strdup_printf(
		    "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"ended\",\"seq\":154,"
		    "\"t\":%s,\"pen_clock\":\"2026-11-24T10:47:05.383Z\",\"area\":\"forehead\","
		    "\"plan_id\":\"face-e2e-2\",\"duration_s\":3.003,\"reason\":\"stopped\"}",
		    cases[i].json);
		assert_msg(fx, 1, PEN "/session", 1, TRUE, ended);
	}

	/* Telemetry: a time beyond 9999 is null; a record with no time (t_ms < 0) has no "t". */
	clear_msgs(fx);
	{
		NpTelemetryRecord r = record(4);

		ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, TIME_MAX_MS + 1);
		ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, -1);
	}
	assert_n_msgs(fx, 2);
	assert_msg(
	    fx, 0, PEN "/telemetry", 1, FALSE,
	    "{\"pen\":\"NP5EED0001\",\"session\":1,\"seq\":4,\"t\":null,\"offset_ms\":40,\"depth_mm\":1.47,"
	    "\"speed_hz\":120.2,\"area\":\"forehead\",\"pressure_gf\":190,\"motor\":true,\"contact\":true,"
	    "\"replayed\":false}");
	assert_msg(
	    fx, 1, PEN "/telemetry", 1, FALSE,
	    "{\"pen\":\"NP5EED0001\",\"session\":1,\"seq\":4,\"offset_ms\":40,\"depth_mm\":1.47,"
	    "\"speed_hz\":120.2,\"area\":\"forehead\",\"pressure_gf\":190,\"motor\":true,\"contact\":true,"
	    "\"replayed\":false}");

	/* A pen clock beyond 9999 (any u64 a pen may send) is null; its raw value stays in the event. */
	clear_msgs(fx);
	{
		NpSessionEvent ev = started_event();
		NgSessionEnd end = session_end();

		ev.pen_clock_ms = G_MAXUINT64;
		ng_publisher_session_started(fx->pub, &fx->pen, SERIAL, &ev, STARTED_T_MS, NULL);
		ev.pen_clock_ms = (guint64)TIME_MAX_MS + 1;
		ng_publisher_pen_event(fx->pub, &fx->pen, SERIAL, &ev, STARTED_T_MS);
		end.pen_clock_ms = (guint64)TIME_MAX_MS + 1;
		ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
		end.pen_clock_ms = (guint64)TIME_MAX_MS;
		ng_publisher_session_ended(fx->pub, &fx->pen, SERIAL, &end);
	}
	assert_n_msgs(fx, 4);
	assert_msg(fx, 0, PEN "/session", 1, TRUE,
		   "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"started\",\"seq\":2,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":null,"
		   "\"cartridge\":{\"id\":3389001729,\"needles\":12,\"use_count\":1},\"area\":\"forehead\","
		   "\"plan_id\":null}");
	assert_msg(fx, 1, PEN "/event", 1, FALSE,
		   "{\"pen\":\"NP5EED0001\",\"event\":\"session_started\",\"seq\":2,\"session\":1,"
		   "\"t\":\"2026-11-24T10:31:36.736Z\",\"pen_clock\":null,\"pen_clock_ms\":253402300800000,"
		   "\"cartridge\":{\"id\":3389001729,\"needles\":12,\"use_count\":1},\"area\":\"forehead\"}");
	assert_msg(fx, 2, PEN "/session", 1, TRUE,
		   "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"ended\",\"seq\":154,"
		   "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":null,\"area\":\"forehead\","
		   "\"plan_id\":\"face-e2e-2\",\"duration_s\":3.003,\"reason\":\"stopped\"}");
	assert_msg(
	    fx, 3, PEN "/session", 1, TRUE,
	    "{\"pen\":\"NP5EED0001\",\"session\":1,\"event\":\"ended\",\"seq\":154,"
	    "\"t\":\"2026-11-24T10:47:05.385Z\",\"pen_clock\":\"9999-12-31T23:59:59.999Z\","
	    "\"area\":\"forehead\",\"plan_id\":\"face-e2e-2\",\"duration_s\":3.003,\"reason\":\"stopped\"}");

	/* bridge/info: a start time out of range is null too. */
	clear_msgs(fx);
	{
		NgHubSnapshot hub = {0};

		hub.hub_id = "room-7";
		hub.started_ms = TIME_MAX_MS + 1;
		ng_publisher_info(fx->pub, &hub);
	}
	assert_n_msgs(fx, 1);
	g_assert_nonnull(strstr(msg_at(fx, 0)->payload, ",\"started\":null,"));
}

/* Without a tap nothing is reported, and nothing breaks with no outbox. */
static void
test_no_tap(Fixture *fx, gconstpointer user_data)
{
	NpTelemetryRecord r = record(4);

	(void)user_data;
	ng_publisher_set_tap(fx->pub, NULL, NULL);
	ng_publisher_online(fx->pub, TRUE);
	ng_publisher_telemetry(fx->pub, &fx->pen, SERIAL, &r, RECORD_T_MS);
	ng_publisher_flush_telemetry(fx->pub);
	assert_n_msgs(fx, 0);
	ng_publisher_set_tap(fx->pub, tap_cb, fx);
	ng_publisher_online(fx->pub, TRUE);
	assert_n_msgs(fx, 1);
}

#define PER_RECORD	      "[mqtt]\ntelemetry_batch=record\n"
#define ADD(path, data, func) g_test_add(path, Fixture, data, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/publisher/bridge/state", NULL, test_bridge_state);
	ADD("/publisher/bridge/info", NULL, test_bridge_info);
	ADD("/publisher/bridge/event", NULL, test_bridge_event);
	ADD("/publisher/bridge/devices", NULL, test_bridge_devices);
	ADD("/publisher/pen/state", NULL, test_pen_state);
	ADD("/publisher/pen/state-other", NULL, test_pen_state_other);
	ADD("/publisher/pen/clear", NULL, test_clear_pen);
	ADD("/publisher/pen/telemetry", PER_RECORD, test_telemetry);
	ADD("/publisher/pen/telemetry-batch", NULL, test_telemetry_batch);
	ADD("/publisher/pen/session-started", NULL, test_session_started);
	ADD("/publisher/pen/session-ended", NULL, test_session_ended);
	ADD("/publisher/pen/event", NULL, test_pen_event);
	ADD("/publisher/pen/alert", NULL, test_alert);
	ADD("/publisher/pen/alert-gap", NULL, test_gap_alert);
	ADD("/publisher/pen/alert-json", NULL, test_alert_json);
	ADD("/publisher/input/escaping", PER_RECORD, test_escaping);
	ADD("/publisher/input/time-range", PER_RECORD, test_time_range);
	ADD("/publisher/no-tap", NULL, test_no_tap);
	return g_test_run();
}
