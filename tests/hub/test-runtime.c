/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of ng-runtime: a pen's sequence, sessions, replay and catch-up, as MQTT shows them. */

#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-runtime.h"
#include "ng-test-loop.h"

#define SERIAL "NP5EED0001"
#define PEN    "clinic/room-7/pens/" SERIAL "/"

/* core/ng-session.c asks this far below the first hole (its REPLAY_MARGIN): what the pen replays
 * there shows how far back its store reaches. */
#define REPLAY_MARGIN 4u
/* hub/ng-runtime.c: how long a hole waits before Report Stored Records, and a failed one before
 * it is asked again. */
#define REPLAY_DELAY_MS 300
#define REPLAY_RETRY_MS 2000
/* No wait of these tests may take longer: past it the test fails instead of hanging. */
#define WAIT_CAP_MS 4000
/* A timer may fire this much before its time is up (the main loop's clock is taken per iteration). */
#define TIMER_SLACK_MS 20

#define CARTRIDGE_ID 3389001729u

/* One Control Point request the runtime made, and its pending answer. */
typedef struct {
	NpControlRequest req;
	GTask *task; /* NULL once answered */
} FakeRequest;

/* One message the publisher handed to the outbox. */
typedef struct {
	char *topic; /* below the pen's topics: "telemetry", "session", "alert", ... */
	char *payload;
	int qos;
	gboolean retain;
	JsonObject *json; /* NULL: an empty payload (a retained message cleared) */
} Msg;

typedef struct {
	NgConfig *config;
	NgTopics *topics;
	NgPublisher *pub;
	NgAssign *assign;
	NgChecks *checks;
	NgRuntime *rt;
	GPtrArray *msgs;     /* Msg, in the order published */
	GPtrArray *requests; /* FakeRequest, in the order made */
	guint n_changed;
} Fixture;

static const NpPenFeatures features_stored = {
    .protocol_version = 1,
    .feature_bits = NP_FEATURE_STORED_RECORDS | NP_FEATURE_AREA_SELECTOR,
    .telemetry_rate_hz = 25,
    .stored_records_capacity = 1000,
    .max_depth_centi_mm = 300,
};

static const NpPenFeatures features_small_store = {
    .protocol_version = 1,
    .feature_bits = NP_FEATURE_STORED_RECORDS | NP_FEATURE_AREA_SELECTOR,
    .telemetry_rate_hz = 25,
    .stored_records_capacity = 10,
    .max_depth_centi_mm = 300,
};

static const NpPenFeatures features_no_store = {
    .protocol_version = 1,
    .feature_bits = NP_FEATURE_AREA_SELECTOR,
    .telemetry_rate_hz = 25,
    .max_depth_centi_mm = 300,
};

/* ---- the main loop, bounded --------------------------------------------------------------------- */

typedef struct {
	Fixture *fx;
	guint n;
} RequestsWanted;

static gboolean
requests_made(gpointer data)
{
	RequestsWanted *w = data;

	return w->fx->requests->len >= w->n;
}

/* Runs the main loop until @n requests were made, at most @cap_ms; returns how long it ran, in ms. */
static gint64
wait_for_requests(Fixture *fx, guint n, guint cap_ms)
{
	RequestsWanted w = {fx, n};

	return ng_test_run_while(requests_made, &w, cap_ms);
}

/* ---- the fake link: Control Point requests, answered as each test says ------------------------- */

static void
fake_request_async(gpointer link, const NpControlRequest *request, GAsyncReadyCallback callback,
		   gpointer user_data)
{
	Fixture *fx = link;
	FakeRequest *r = g_new0(FakeRequest, 1);

	r->req = *request;
	r->task = g_task_new(NULL, NULL, callback, user_data);
	g_ptr_array_add(fx->requests, r);
}

static gboolean
fake_request_finish(GAsyncResult *result, NpControlResponse *response, GError **error)
{
	g_autofree NpControlResponse *resp = g_task_propagate_pointer(G_TASK(result), error);

	if (resp == NULL)
		return FALSE;
	*response = *resp;
	return TRUE;
}

static const NgRuntimeLinkOps fake_ops = {
    .request_async = fake_request_async,
    .request_finish = fake_request_finish,
};

static void
fake_request_free(FakeRequest *r)
{
	/* A GTask must return before it goes: an unanswered one fails as a dropped link would. */
	if (r->task != NULL) {
		g_task_return_new_error(r->task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "test over");
		g_object_unref(r->task);
	}
	g_free(r);
}

static FakeRequest *
request_at(Fixture *fx, guint i)
{
	g_assert_cmpuint(i, <, fx->requests->len);
	return g_ptr_array_index(fx->requests, i);
}

/* Request @i is Report Stored Records from @first_seq, not answered yet. */
static void
assert_replay_request(Fixture *fx, guint i, guint32 first_seq)
{
	FakeRequest *r = request_at(fx, i);

	g_assert_cmpuint(r->req.op, ==, NP_OP_REPORT_STORED_RECORDS);
	g_assert_cmpuint(r->req.u.first_seq, ==, first_seq);
	g_assert_nonnull(r->task);
}

/* The pen's indication for request @i; its callback runs before this returns. */
static void
answer(Fixture *fx, guint i, guint8 result, guint32 records_sent)
{
	FakeRequest *r = request_at(fx, i);
	NpControlResponse resp = {.request_op = r->req.op, .result = result, .records_sent = records_sent};
	g_autoptr(GTask) task = g_steal_pointer(&r->task);

	g_assert_nonnull(task);
	g_task_return_pointer(task, g_memdup2(&resp, sizeof resp), g_free);
	ng_test_pump();
}

/* Request @i got no answer: @code as the Control Point queue says it. */
static void
answer_error(Fixture *fx, guint i, gint code)
{
	g_autoptr(GTask) task = g_steal_pointer(&request_at(fx, i)->task);

	g_assert_nonnull(task);
	g_task_return_new_error(task, G_IO_ERROR, code, "no answer (test)");
	ng_test_pump();
}

typedef struct {
	Fixture *fx;
	guint i;
	gboolean done;
} LinkDrop;

static gboolean
link_drop_cb(gpointer user_data)
{
	LinkDrop *drop = user_data;
	g_autoptr(GTask) task = g_steal_pointer(&request_at(drop->fx, drop->i)->task);

	g_assert_nonnull(task);
	g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "the pen disconnected (test)");
	ng_runtime_link_down(drop->fx->rt);
	drop->done = TRUE;
	return G_SOURCE_REMOVE;
}

/*
 * The link drops with request @i in flight, as ng-pen.c reports it: in a main loop dispatch (the
 * D-Bus signal), the Control Point queue fails the request first (NOT_CONNECTED, delivered at once
 * from there), then the pen's state change brings ng_runtime_link_down ().
 */
static void
drop_link_with_request(Fixture *fx, guint i)
{
	LinkDrop drop = {fx, i, FALSE};

	/* A later iteration: its time must be past the request's creation time. */
	g_usleep(2000);
	g_idle_add(link_drop_cb, &drop);
	while (!drop.done)
		g_main_context_iteration(NULL, TRUE);
	ng_test_pump();
}

/* ---- what is published -------------------------------------------------------------------------- */

static void
msg_free(Msg *m)
{
	g_free(m->topic);
	g_free(m->payload);
	g_clear_pointer(&m->json, json_object_unref);
	g_free(m);
}

static void
tap_cb(const char *topic, const char *payload, gsize len, int qos, gboolean retain, gpointer user_data)
{
	Fixture *fx = user_data;
	Msg *m = g_new0(Msg, 1);

	/* Nothing of this pen goes elsewhere. */
	g_assert_true(g_str_has_prefix(topic, PEN));
	m->topic = g_strdup(topic + strlen(PEN));
	m->payload = g_strndup(payload != NULL ? payload : "", len);
	m->qos = qos;
	m->retain = retain;
	if (len > 0) {
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) error = NULL;

		if (!json_parser_load_from_data(parser, m->payload, -1, &error))
			g_error("%s: not JSON (%s): %s", topic, error->message, m->payload);
		g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
		m->json = json_object_ref(json_node_get_object(json_parser_get_root(parser)));
		g_assert_cmpstr(json_object_get_string_member(m->json, "pen"), ==, SERIAL);
	}
	g_ptr_array_add(fx->msgs, m);
}

static Msg *
msg_at(Fixture *fx, guint i)
{
	g_assert_cmpuint(i, <, fx->msgs->len);
	return g_ptr_array_index(fx->msgs, i);
}

/*
 * A message in short: "telemetry:5" ("telemetry:5r" replayed), "session:started", "event:area_changed",
 * "alert:telemetry_gap:event"; a cleared retained topic is "state:-".
 */
static char *
msg_token(const Msg *m)
{
	if (m->json == NULL)
		return g_strdup_printf("%s:-", m->topic);
	if (g_str_equal(m->topic, "telemetry"))
		return g_strdup_printf("telemetry:%" G_GINT64_FORMAT "%s",
				       json_object_get_int_member(m->json, "seq"),
				       json_object_get_boolean_member(m->json, "replayed") ? "r" : "");
	if (g_str_equal(m->topic, "session") || g_str_equal(m->topic, "event"))
		return g_strdup_printf("%s:%s", m->topic, json_object_get_string_member(m->json, "event"));
	if (g_str_equal(m->topic, "alert"))
		return g_strdup_printf("alert:%s:%s", json_object_get_string_member(m->json, "rule"),
				       json_object_get_string_member(m->json, "state"));
	return g_strdup(m->topic);
}

/*
 * The messages from @from on, in short, space separated. Every session here runs without a plan:
 * its no_plan alert (raised at the start, cleared at the end: the rules' business) is left out
 * unless @all.
 */
static char *
trace_full(Fixture *fx, guint from, gboolean all)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = from; i < fx->msgs->len; i++) {
		g_autofree char *token = msg_token(msg_at(fx, i));

		if (!all && g_str_has_prefix(token, "alert:no_plan:"))
			continue;
		g_string_append_printf(out, "%s%s", out->len > 0 ? " " : "", token);
	}
	return g_strdup(out->str);
}

#define assert_trace(fx, from, want)                                                                         \
	G_STMT_START                                                                                         \
	{                                                                                                    \
		g_autofree char *got_ = trace_full((fx), (from), FALSE);                                     \
		g_assert_cmpstr(got_, ==, (want));                                                           \
	}                                                                                                    \
	G_STMT_END
#define assert_trace_all(fx, from, want)                                                                     \
	G_STMT_START                                                                                         \
	{                                                                                                    \
		g_autofree char *got_ = trace_full((fx), (from), TRUE);                                      \
		g_assert_cmpstr(got_, ==, (want));                                                           \
	}                                                                                                    \
	G_STMT_END

/* The index of the first message from @from on whose short form is @token. */
static guint
find_msg(Fixture *fx, guint from, const char *token)
{
	for (guint i = from; i < fx->msgs->len; i++) {
		g_autofree char *t = msg_token(msg_at(fx, i));

		if (g_str_equal(t, token))
			return i;
	}
	g_error("no message %s from %u on in: %s", token, from, trace_full(fx, 0, TRUE));
	return G_MAXUINT;
}

static guint
count_msgs(Fixture *fx, const char *token)
{
	guint n = 0;

	for (guint i = 0; i < fx->msgs->len; i++) {
		g_autofree char *t = msg_token(msg_at(fx, i));

		n += g_str_equal(t, token);
	}
	return n;
}

/* An ISO 8601 time member, in unix ms. */
static gint64
time_member(const Msg *m, const char *name)
{
	g_autoptr(GDateTime) dt = NULL;

	g_assert_nonnull(m->json);
	dt = g_date_time_new_from_iso8601(json_object_get_string_member(m->json, name), NULL);
	g_assert_nonnull(dt);
	return g_date_time_to_unix(dt) * 1000 + g_date_time_get_microsecond(dt) / 1000;
}

static gint64
int_member(const Msg *m, const char *name)
{
	g_assert_nonnull(m->json);
	g_assert_true(json_object_has_member(m->json, name));
	return json_object_get_int_member(m->json, name);
}

static const char *
str_member(const Msg *m, const char *name)
{
	g_assert_nonnull(m->json);
	g_assert_true(json_object_has_member(m->json, name));
	return json_object_get_string_member(m->json, name);
}

static gboolean
is_null_member(const Msg *m, const char *name)
{
	g_assert_true(json_object_has_member(m->json, name));
	return json_object_get_null_member(m->json, name);
}

/* Every telemetry record of the session started by message @started: its seq, time and fields. */
static void
assert_telemetry_times(Fixture *fx, guint started, guint16 session_id)
{
	gint64 start_ms = time_member(msg_at(fx, started), "t");

	for (guint i = started; i < fx->msgs->len; i++) {
		Msg *m = msg_at(fx, i);

		if (!g_str_equal(m->topic, "telemetry"))
			continue;
		g_assert_cmpint(m->qos, ==, 1);
		g_assert_false(m->retain);
		g_assert_cmpint(int_member(m, "session"), ==, session_id);
		/* The records here are sent with offset seq × 40 ms: t is the session's start plus it. */
		g_assert_cmpint(int_member(m, "offset_ms"), ==, int_member(m, "seq") * 40);
		g_assert_cmpint(time_member(m, "t"), ==, start_ms + int_member(m, "seq") * 40);
		g_assert_cmpstr(str_member(m, "area"), ==, "cheeks");
		g_assert_cmpfloat_with_epsilon(json_object_get_double_member(m->json, "depth_mm"),
					       (100 + int_member(m, "seq")) / 100.0, 1e-9);
	}
}

/* Each of @first..@last is published once, on pens/<id>/telemetry. */
static void
assert_each_once(Fixture *fx, guint32 first, guint32 last)
{
	for (guint32 seq = first; seq <= last; seq++) {
		guint n = 0;

		for (guint i = 0; i < fx->msgs->len; i++) {
			Msg *m = msg_at(fx, i);

			n += g_str_equal(m->topic, "telemetry") && int_member(m, "seq") == seq;
		}
		if (n != 1)
			g_error("record %u published %u times: %s", seq, n, trace_full(fx, 0, TRUE));
	}
}

/* The ended message @i: a session whose end event never came. */
static void
assert_ended_unseen(Fixture *fx, guint i, guint16 session_id, const char *reason)
{
	Msg *m = msg_at(fx, i);

	g_assert_cmpstr(m->topic, ==, "session");
	g_assert_true(m->retain);
	g_assert_cmpint(m->qos, ==, 1);
	g_assert_cmpint(int_member(m, "session"), ==, session_id);
	g_assert_cmpstr(str_member(m, "event"), ==, "ended");
	g_assert_true(is_null_member(m, "seq"));
	g_assert_true(is_null_member(m, "pen_clock"));
	g_assert_true(json_object_get_boolean_member_with_default(m->json, "end_event_lost", FALSE));
	g_assert_cmpstr(str_member(m, "reason"), ==, reason);
}

/* The summary's record count of the ended message @i. */
static gint64
summary_records(Fixture *fx, guint i)
{
	Msg *m = msg_at(fx, i);
	JsonObject *summary;

	g_assert_true(json_object_has_member(m->json, "summary"));
	summary = json_object_get_object_member(m->json, "summary");
	g_assert_nonnull(summary);
	return json_object_get_int_member(summary, "records");
}

/* ---- what the pen sends ------------------------------------------------------------------------- */

static gint64
now_ms(void)
{
	return g_get_real_time() / 1000;
}

/* Record @seq: offset seq × 40 ms, depth (100 + seq) / 100 mm, on the cheeks. */
static NpTelemetryRecord
record(guint32 seq, guint16 session_id, gboolean replayed)
{
	NpTelemetryRecord r = {
	    .size = 17,
	    .flags = NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT |
		     (replayed ? NP_TELEMETRY_FLAG_REPLAYED : 0),
	    .seq = seq,
	    .session_id = session_id,
	    .offset_ms = seq * 40,
	    .depth_centi_mm = (guint16)(100 + seq),
	    .speed_deci_hz = 1200,
	    .area = NP_AREA_CHEEKS,
	};
	return r;
}

/* One notification: records @first..@last. */
static void
send_records(Fixture *fx, guint16 session_id, guint32 first, guint32 last, gboolean replayed)
{
	g_autoptr(GArray) recs = g_array_new(FALSE, FALSE, sizeof(NpTelemetryRecord));

	for (guint32 seq = first; seq <= last; seq++) {
		NpTelemetryRecord r = record(seq, session_id, replayed);
		g_array_append_val(recs, r);
	}
	ng_runtime_records(fx->rt, (const NpTelemetryRecord *)(gpointer)recs->data, recs->len);
}

static void
send_started(Fixture *fx, guint32 seq, guint16 session_id)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_STARTED,
	    .seq = seq,
	    .session_id = session_id,
	    .pen_clock_ms = (guint64)now_ms(),
	    .u.started = {.cartridge = {CARTRIDGE_ID, 12, 1}, .area = NP_AREA_CHEEKS},
	};
	ng_runtime_event(fx->rt, &ev);
}

static void
send_ended(Fixture *fx, guint32 seq, guint16 session_id, guint32 duration_ms)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_ENDED,
	    .seq = seq,
	    .session_id = session_id,
	    .pen_clock_ms = (guint64)now_ms(),
	    .u.ended = {.duration_ms = duration_ms, .reason = NP_END_REASON_STOPPED},
	};
	ng_runtime_event(fx->rt, &ev);
}

static void
send_area_changed(Fixture *fx, guint32 seq, guint16 session_id, guint8 area)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_AREA_CHANGED,
	    .seq = seq,
	    .session_id = session_id,
	    .pen_clock_ms = (guint64)now_ms(),
	    .u.area_changed.area = area,
	};
	ng_runtime_event(fx->rt, &ev);
}

static NpPenStatus
status_active(guint16 session_id)
{
	NpPenStatus s = {
	    .state = NP_PEN_STATE_SESSION_ACTIVE,
	    .cartridge_id = CARTRIDGE_ID,
	    .needle_count = 12,
	    .session_id = session_id,
	    .flags = NP_STATUS_FLAG_CLOCK_SET,
	};
	return s;
}

static NpPenStatus
status_idle(void)
{
	NpPenStatus s = {.state = NP_PEN_STATE_IDLE, .flags = NP_STATUS_FLAG_CLOCK_SET};
	return s;
}

/* A connection, as the hub reports it: identified, then streaming with the Pen Status read (or none). */
static void
connect_pen(Fixture *fx, const NpPenFeatures *features, const NpPenStatus *status)
{
	ng_runtime_identified(fx->rt, features);
	ng_runtime_link_up(fx->rt, &fake_ops, fx, status != NULL, status);
}

/* ---- fixture ------------------------------------------------------------------------------------ */

static void
checks_alert_cb(const char *serial, const NgAlert *alert, gpointer user_data)
{
	Fixture *fx = user_data;

	/* As the hub does: the rules' alerts go out through the pen's runtime. */
	g_assert_cmpstr(serial, ==, SERIAL);
	g_assert_nonnull(fx->rt);
	ng_runtime_alert(fx->rt, alert);
}

static void
changed_cb(NgRuntime *rt, gpointer user_data)
{
	Fixture *fx = user_data;

	g_assert_true(rt == fx->rt);
	fx->n_changed++;
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	NgRuntimeEnv env = {0};

	(void)user_data;
	fx->config = ng_config_new();
	/* one message per record: the traces below name each record (batches are the publisher's tests) */
	fx->config->telemetry_batch = NG_TELEMETRY_BATCH_RECORD;
	g_assert_true(
	    ng_config_load_data(fx->config, "[gateway]\nhub_id=room-7\n[mqtt]\nbase_topic=clinic\n", &error));
	g_assert_no_error(error);
	g_assert_true(ng_config_finish(fx->config, &error));
	g_assert_no_error(error);
	fx->topics = ng_topics_new(fx->config);
	fx->pub = ng_publisher_new(fx->config, fx->topics, NULL);
	fx->msgs = g_ptr_array_new_with_free_func((GDestroyNotify)msg_free);
	fx->requests = g_ptr_array_new_with_free_func((GDestroyNotify)fake_request_free);
	ng_publisher_set_tap(fx->pub, tap_cb, fx);
	fx->assign = ng_assign_new(NULL, &error);
	g_assert_no_error(error);
	fx->checks = ng_checks_new(NULL, fx->assign, checks_alert_cb, fx, &error);
	g_assert_no_error(error);

	env.config = fx->config;
	env.store = NULL;
	env.publisher = fx->pub;
	env.topics = fx->topics;
	env.checks = fx->checks;
	env.changed = changed_cb;
	env.user_data = fx;
	fx->rt = ng_runtime_new(&env, SERIAL);
	g_assert_nonnull(fx->rt);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	g_clear_pointer(&fx->rt, ng_runtime_free);
	/* Requests still in flight answer now, after the runtime is gone: into the void (ASan watches). */
	g_ptr_array_set_size(fx->requests, 0);
	ng_test_pump();
	g_assert_false(ng_test_timer_pending());
	g_ptr_array_unref(fx->requests);
	ng_checks_free(fx->checks);
	ng_assign_free(fx->assign);
	ng_publisher_free(fx->pub);
	ng_topics_free(fx->topics);
	ng_config_free(fx->config);
	g_ptr_array_unref(fx->msgs);
}

/* ---- records and sessions ----------------------------------------------------------------------- */

/* Records in order: each published once, in order, its time the session's start plus its offset. */
static void
test_records_in_order(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 7);
	send_records(fx, 7, 2, 4, FALSE);
	send_records(fx, 7, 5, 5, FALSE);
	send_records(fx, 7, 6, 11, FALSE);
	assert_trace(fx, 0,
		     "session:started event:session_started telemetry:2 telemetry:3 telemetry:4 telemetry:5 "
		     "telemetry:6 telemetry:7 telemetry:8 telemetry:9 telemetry:10 telemetry:11");
	assert_telemetry_times(fx, find_msg(fx, 0, "session:started"), 7);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->records, ==, 10);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->duplicates, ==, 0);
	/* Nothing was missing: nothing is asked of the pen. */
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 0);
}

/* started, then the records, then ended with the summary; its repetition is dropped. */
static void
test_started_records_ended(Fixture *fx, gconstpointer user_data)
{
	guint started, ended;
	Msg *m;
	JsonObject *alerts;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 7);
	send_records(fx, 7, 2, 6, FALSE);
	send_ended(fx, 7, 7, 5000);
	/* The rules' alerts of the session follow its "started"; those it clears precede its "ended". */
	assert_trace_all(fx, 0,
			 "session:started event:session_started alert:no_plan:raised telemetry:2 telemetry:3 "
			 "telemetry:4 telemetry:5 telemetry:6 alert:no_plan:cleared session:ended "
			 "event:session_ended");
	started = find_msg(fx, 0, "session:started");
	m = msg_at(fx, started);
	g_assert_true(m->retain);
	g_assert_cmpint(int_member(m, "seq"), ==, 1);
	g_assert_cmpint(int_member(m, "session"), ==, 7);
	g_assert_cmpstr(str_member(m, "area"), ==, "cheeks");
	g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(m->json, "cartridge"), "id"),
			==, CARTRIDGE_ID);
	g_assert_true(is_null_member(m, "plan_id"));
	assert_telemetry_times(fx, started, 7);

	ended = find_msg(fx, 0, "session:ended");
	m = msg_at(fx, ended);
	g_assert_true(m->retain);
	g_assert_cmpint(int_member(m, "session"), ==, 7);
	g_assert_cmpint(int_member(m, "seq"), ==, 7);
	g_assert_false(json_object_has_member(m->json, "end_event_lost"));
	g_assert_cmpstr(str_member(m, "reason"), ==, "stopped");
	g_assert_cmpfloat_with_epsilon(json_object_get_double_member(m->json, "duration_s"), 5.0, 1e-9);
	g_assert_cmpint(time_member(m, "t"), >=, time_member(msg_at(fx, started), "t"));
	/* The summary: the five records, and the no_plan warning. */
	g_assert_cmpint(summary_records(fx, ended), ==, 5);
	alerts = json_object_get_object_member(m->json, "alerts");
	g_assert_nonnull(alerts);
	g_assert_cmpint(json_object_get_int_member(alerts, "critical"), ==, 0);
	g_assert_true(json_object_has_member(m->json, "aftercare"));

	/* The pen indicates its end again (after a reconnect): a duplicate, dropped and counted. */
	send_ended(fx, 7, 7, 5000);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 1);
	g_assert_cmpuint(count_msgs(fx, "event:session_ended"), ==, 1);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->duplicates, ==, 1);
}

/* Records in any order, live ones late, an event behind the records: each published once, none asked for. */
static void
test_any_order(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 2);
	send_records(fx, 2, 2, 3, FALSE);
	send_records(fx, 2, 6, 7, FALSE); /* 4 and 5 missing */
	send_records(fx, 2, 5, 5, FALSE); /* late: fills */
	send_records(fx, 2, 3, 3, FALSE); /* again: dropped */
	send_records(fx, 2, 4, 4, FALSE); /* late: fills the last hole */
	send_records(fx, 2, 7, 7, FALSE); /* again: dropped */
	send_records(fx, 2, 8, 8, FALSE);
	send_records(fx, 2, 10, 10, FALSE);
	send_area_changed(fx, 9, 2, NP_AREA_CHEEKS); /* its indication was behind the socket */
	send_records(fx, 2, 11, 11, FALSE);
	assert_trace(fx, 0,
		     "session:started event:session_started telemetry:2 telemetry:3 telemetry:6 telemetry:7 "
		     "telemetry:5 telemetry:4 telemetry:8 telemetry:10 event:area_changed telemetry:11");
	assert_each_once(fx, 2, 8);
	assert_telemetry_times(fx, find_msg(fx, 0, "session:started"), 2);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->duplicates, ==, 2);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->records, ==, 9);
	/* Every hole was filled before the replay delay ran out: nothing is asked of the pen. */
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 0);
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
}

/* A new session starts (a higher seq) while ours is open: the pen restarted and reuses the session
 * id. Ours ends, end event lost, before the new one starts; the new one has its own clock. */
static void
test_restart_reuses_session(Fixture *fx, gconstpointer user_data)
{
	guint mark, ended, started;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 1);
	send_records(fx, 1, 2, 4, FALSE);
	mark = fx->msgs->len;
	g_usleep(20 * 1000); /* the new session starts later on the gateway's clock */
	send_started(fx, 10, 1);
	assert_trace(fx, mark, "session:ended session:started event:session_started");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 1, "unknown");
	g_assert_cmpint(summary_records(fx, ended), ==, 3);
	started = find_msg(fx, mark, "session:started");
	g_assert_cmpint(int_member(msg_at(fx, started), "seq"), ==, 10);
	g_assert_cmpint(time_member(msg_at(fx, started), "t"), >, time_member(msg_at(fx, 0), "t"));
	/* The new session's records are timed from its own start. */
	send_records(fx, 1, 11, 12, FALSE);
	assert_trace(fx, mark,
		     "session:ended session:started event:session_started telemetry:11 telemetry:12");
	assert_telemetry_times(fx, started, 1);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 1);
}

/* A started event behind its session's first records (socket and D-Bus race) fills its hole: it
 * ends nothing. */
static void
test_late_start_event(Fixture *fx, gconstpointer user_data)
{
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 1);
	send_ended(fx, 2, 1, 1000);
	mark = fx->msgs->len;
	send_records(fx, 2, 4, 6, FALSE); /* session 2's; its start, seq 3, not here yet */
	send_started(fx, 3, 2);
	send_records(fx, 2, 7, 7, FALSE);
	assert_trace(fx, mark,
		     "telemetry:4 telemetry:5 telemetry:6 session:started event:session_started telemetry:7");
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 0);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 1);
}

/* ---- gaps and replay ---------------------------------------------------------------------------- */

/* A hole: after the replay delay, Report Stored Records from just below it; what the pen replays
 * fills it, each record once, the rest dropped as duplicates. */
static void
test_gap_replayed(Fixture *fx, gconstpointer user_data)
{
	guint mark;
	gint64 waited;
	guint64 dups;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 3);
	send_records(fx, 3, 2, 4, FALSE);
	mark = fx->msgs->len;
	send_records(fx, 3, 9, 10, FALSE); /* 5..8 missing */
	assert_trace(fx, mark, "telemetry:9 telemetry:10");
	/* A hole may be an event a little behind: nothing is asked at once. */
	ng_test_pump();
	g_assert_cmpuint(fx->requests->len, ==, 0);
	waited = wait_for_requests(fx, 1, WAIT_CAP_MS);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	g_assert_cmpint(waited, >=, REPLAY_DELAY_MS - TIMER_SLACK_MS);
	assert_replay_request(fx, 0, 5 - REPLAY_MARGIN);

	/* A live record comes in meanwhile, and fills a little of the hole. */
	send_records(fx, 3, 7, 7, FALSE);
	/* The pen sends what it stores from seq 1 on (1 was the started event), then answers. */
	dups = ng_publisher_get_counters(fx->pub)->duplicates;
	send_records(fx, 3, 2, 6, TRUE);
	send_records(fx, 3, 7, 10, TRUE);
	answer(fx, 0, NP_RESULT_SUCCESS, 9);
	assert_trace(fx, mark, "telemetry:9 telemetry:10 telemetry:7 telemetry:5r telemetry:6r telemetry:8r");
	assert_each_once(fx, 2, 10);
	assert_telemetry_times(fx, find_msg(fx, 0, "session:started"), 3);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->duplicates - dups, ==, 6);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->replayed, ==, 3);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 0);
	/* Nothing is missing any more: no second request, no gap alert. */
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
}

/* The pen's store no longer reaches back to the hole: what it lacks is a telemetry_gap alert (from
 * the rules, in a session), what it has fills the rest. */
static void
test_gap_lost_in_session(Fixture *fx, gconstpointer user_data)
{
	guint mark, alert;
	Msg *m;
	JsonObject *compliance, *rule;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 3);
	send_records(fx, 3, 2, 4, FALSE);
	send_records(fx, 3, 20, 21, FALSE); /* 5..19 missing */
	g_assert_cmpint(wait_for_requests(fx, 1, WAIT_CAP_MS), >=, REPLAY_DELAY_MS - TIMER_SLACK_MS);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	assert_replay_request(fx, 0, 5 - REPLAY_MARGIN);
	mark = fx->msgs->len;
	send_records(fx, 3, 12, 21, TRUE); /* its oldest stored record is 12 */
	answer(fx, 0, NP_RESULT_SUCCESS, 10);
	assert_trace(fx, mark,
		     "telemetry:12r telemetry:13r telemetry:14r telemetry:15r telemetry:16r telemetry:17r "
		     "telemetry:18r telemetry:19r alert:telemetry_gap:event");
	alert = find_msg(fx, mark, "alert:telemetry_gap:event");
	m = msg_at(fx, alert);
	g_assert_cmpint(m->qos, ==, 1);
	g_assert_false(m->retain);
	g_assert_cmpint(int_member(m, "session"), ==, 3);
	g_assert_cmpint(int_member(m, "seq"), ==, 5);
	g_assert_cmpint(int_member(m, "first_seq"), ==, 5);
	g_assert_cmpint(int_member(m, "last_seq"), ==, 11);
	g_assert_cmpint(int_member(m, "measured"), ==, 7);
	g_assert_cmpstr(str_member(m, "unit"), ==, "records");
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 7);
	/* Reported once; nothing asked again. */
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 1);
	/* The session's summary counts the gap against its compliance. */
	send_ended(fx, 22, 3, 1000);
	m = msg_at(fx, find_msg(fx, mark, "session:ended"));
	compliance =
	    json_object_get_object_member(json_object_get_object_member(m->json, "summary"), "compliance");
	g_assert_nonnull(compliance);
	rule = json_object_get_object_member(compliance, "telemetry_gap");
	g_assert_nonnull(rule);
	g_assert_false(json_object_get_boolean_member(rule, "ok"));
	g_assert_cmpint(json_object_get_int_member(rule, "alerts"), ==, 1);
}

/* Records of a session the rules do not check (its start was not seen): the runtime reports the
 * lost records itself. The pen answers, having sent nothing. */
static void
test_gap_lost_unchecked(Fixture *fx, gconstpointer user_data)
{
	guint mark;
	Msg *m;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_records(fx, 4, 100, 102, FALSE); /* connected mid-session */
	send_records(fx, 4, 110, 110, FALSE); /* 103..109 missing */
	g_assert_cmpint(wait_for_requests(fx, 1, WAIT_CAP_MS), >=, REPLAY_DELAY_MS - TIMER_SLACK_MS);
	assert_replay_request(fx, 0, 103 - REPLAY_MARGIN);
	mark = fx->msgs->len;
	answer(fx, 0, NP_RESULT_SUCCESS, 0);
	assert_trace(fx, mark, "alert:telemetry_gap:event");
	m = msg_at(fx, mark);
	g_assert_cmpint(int_member(m, "session"), ==, 4);
	g_assert_cmpint(int_member(m, "first_seq"), ==, 103);
	g_assert_cmpint(int_member(m, "last_seq"), ==, 109);
	g_assert_cmpint(int_member(m, "measured"), ==, 7);
	g_assert_cmpstr(str_member(m, "severity"), ==, "warning");
	g_assert_nonnull(strstr(str_member(m, "message"), "103 to 109"));
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 7);
}

/* Came in mid-session (restarted), and the session ended before a second of its records: its
 * summary covers the records seen, as when the rules take a session up after a second. */
static void
test_unseen_start_short(Fixture *fx, gconstpointer user_data)
{
	guint ended;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_records(fx, 4, 100, 102, FALSE); /* connected mid-session */
	send_ended(fx, 103, 4, 5000);
	ended = find_msg(fx, 0, "session:ended");
	g_assert_cmpint(summary_records(fx, ended), ==, 3);
	g_assert_cmpint(int_member(msg_at(fx, ended), "seq"), ==, 103);
}

/* A pen without stored records cannot replay: after the delay the hole is lost, nothing is asked. */
static void
test_gap_no_stored_records(Fixture *fx, gconstpointer user_data)
{
	guint alert;

	(void)user_data;
	connect_pen(fx, &features_no_store, NULL);
	send_started(fx, 1, 3);
	send_records(fx, 3, 2, 3, FALSE);
	send_records(fx, 3, 6, 6, FALSE); /* 4..5 missing */
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 0);
	assert_trace(fx, 0,
		     "session:started event:session_started telemetry:2 telemetry:3 telemetry:6 "
		     "alert:telemetry_gap:event");
	alert = find_msg(fx, 0, "alert:telemetry_gap:event");
	g_assert_cmpint(int_member(msg_at(fx, alert), "first_seq"), ==, 4);
	g_assert_cmpint(int_member(msg_at(fx, alert), "last_seq"), ==, 5);
}

/* Report Stored Records got no answer: nothing is declared lost, it is asked again after the retry
 * delay, and the second answer fills the hole. */
static void
test_replay_retry(Fixture *fx, gconstpointer user_data)
{
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 3);
	send_records(fx, 3, 2, 4, FALSE);
	send_records(fx, 3, 8, 8, FALSE); /* 5..7 missing */
	wait_for_requests(fx, 1, WAIT_CAP_MS);
	assert_replay_request(fx, 0, 5 - REPLAY_MARGIN);
	answer_error(fx, 0, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
	g_assert_cmpint(wait_for_requests(fx, 2, WAIT_CAP_MS), >=, REPLAY_RETRY_MS - TIMER_SLACK_MS);
	g_assert_cmpuint(fx->requests->len, ==, 2);
	assert_replay_request(fx, 1, 5 - REPLAY_MARGIN);
	mark = fx->msgs->len;
	send_records(fx, 3, 2, 8, TRUE);
	answer(fx, 1, NP_RESULT_SUCCESS, 7);
	assert_trace(fx, mark, "telemetry:5r telemetry:6r telemetry:7r");
	assert_each_once(fx, 2, 8);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 0);
}

/* The pen's Control Point stays silent (busy after a reconnection): it is asked again after 2 s,
 * then 4 s; nothing is lost while its store (10 records) may still hold the hole; what falls out
 * of it is a telemetry_gap; when the pen answers at last, even a record reported lost is
 * published, and the gap is taken back. */
static void
test_replay_silent_pen(Fixture *fx, gconstpointer user_data)
{
	guint mark, cleared, gap;

	(void)user_data;
	connect_pen(fx, &features_small_store, NULL);
	send_started(fx, 1, 3);
	send_records(fx, 3, 2, 4, FALSE);
	send_records(fx, 3, 8, 8, FALSE); /* 5..7 missing */
	wait_for_requests(fx, 1, WAIT_CAP_MS);
	answer_error(fx, 0, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpint(wait_for_requests(fx, 2, WAIT_CAP_MS), >=, REPLAY_RETRY_MS - TIMER_SLACK_MS);
	assert_replay_request(fx, 1, 5 - REPLAY_MARGIN);
	send_records(fx, 3, 9, 15, FALSE); /* the store of 10 now reaches back to 6 */
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
	answer_error(fx, 1, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 1);
	g_assert_cmpint(int_member(msg_at(fx, find_msg(fx, 0, "alert:telemetry_gap:event")), "first_seq"), ==,
			5);
	g_assert_cmpint(int_member(msg_at(fx, find_msg(fx, 0, "alert:telemetry_gap:event")), "last_seq"), ==,
			5);
	gap = find_msg(fx, 0, "alert:telemetry_gap:event");
	g_assert_cmpint(int_member(msg_at(fx, gap), "id"), >=, 1);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 1);
	g_assert_cmpint(wait_for_requests(fx, 3, 2 * REPLAY_RETRY_MS + 1000), >=,
			2 * REPLAY_RETRY_MS - TIMER_SLACK_MS);
	assert_replay_request(fx, 2, 6 - REPLAY_MARGIN);
	mark = fx->msgs->len;
	send_records(fx, 3, 5, 7, TRUE);
	answer(fx, 2, NP_RESULT_SUCCESS, 3);
	assert_trace(fx, mark, "telemetry:5r telemetry:6r telemetry:7r alert:telemetry_gap:cleared");
	cleared = find_msg(fx, mark, "alert:telemetry_gap:cleared");
	g_assert_cmpint(int_member(msg_at(fx, cleared), "measured"), ==, 1);
	/* it takes back that gap: the same id, and how long the record was reported lost */
	g_assert_cmpint(int_member(msg_at(fx, cleared), "id"), ==, int_member(msg_at(fx, gap), "id"));
	g_assert_cmpint(int_member(msg_at(fx, cleared), "duration_ms"), >=,
			2 * REPLAY_RETRY_MS - TIMER_SLACK_MS);
	assert_each_once(fx, 2, 15);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 0);
}

/* ---- the link ----------------------------------------------------------------------------------- */

/* The link drops mid-session; the pen comes back idle: its stored records after the last one seen
 * are fetched first, then the session ends, its end event lost, once. */
static void
test_catch_up_after_reconnect(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus active = status_active(5);
	NpPenStatus idle = status_idle();
	guint mark, ended, changed;

	(void)user_data;
	connect_pen(fx, &features_stored, &active);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 5, FALSE);
	ng_runtime_link_down(fx->rt);
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &idle);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	assert_replay_request(fx, 0, 6);
	/* Nothing is said before the pen answered: the session's last records come first. */
	ng_test_pump();
	assert_trace_all(fx, mark, "");

	changed = fx->n_changed;
	send_records(fx, 5, 6, 8, TRUE);
	answer(fx, 0, NP_RESULT_SUCCESS, 3);
	assert_trace(fx, mark, "telemetry:6r telemetry:7r telemetry:8r session:ended");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 5, "unknown");
	g_assert_cmpint(summary_records(fx, ended), ==, 7);
	g_assert_cmpint(time_member(msg_at(fx, ended), "t"), >=, time_member(msg_at(fx, 0), "t"));
	assert_telemetry_times(fx, 0, 5);
	g_assert_cmpuint(fx->n_changed, >, changed);

	/* Once: the status again, another reconnect, and a replay delay later, nothing more. */
	ng_runtime_status(fx->rt, &idle);
	ng_runtime_link_down(fx->rt);
	connect_pen(fx, &features_stored, &idle);
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 1);
	assert_trace(fx, mark, "telemetry:6r telemetry:7r telemetry:8r session:ended");
}

/* The catch-up request is lost with the link, asked again on the next one; the pen cannot say:
 * the session still ends, once. */
static void
test_catch_up_interrupted(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus idle = status_idle();
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 5, FALSE);
	ng_runtime_link_down(fx->rt);
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &idle);
	assert_replay_request(fx, 0, 6);
	ng_runtime_link_down(fx->rt);
	/* That link's answer comes after it went down: it means nothing now. */
	answer(fx, 0, NP_RESULT_SUCCESS, 0);
	assert_trace_all(fx, mark, "");

	connect_pen(fx, &features_stored, &idle);
	g_assert_cmpuint(fx->requests->len, ==, 2);
	assert_replay_request(fx, 1, 6);
	answer(fx, 1, NP_RESULT_FAILED, 0);
	assert_trace(fx, mark, "session:ended");
	assert_ended_unseen(fx, find_msg(fx, mark, "session:ended"), 5, "unknown");
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 2);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 1);
}

/* The link drops with a hole open, the pen comes back idle: the hole and the tail are fetched before
 * the session is closed, so that the "ended" and its summary come after all of its records. */
static void
test_catch_up_with_hole(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus idle = status_idle();
	guint mark, ended;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 3, FALSE);
	send_records(fx, 5, 6, 6, FALSE); /* 4..5 missing */
	ng_runtime_link_down(fx->rt);	  /* before the replay delay ran out */
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &idle);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	/* The pen sends every stored record from first_seq on: asked from the hole, it sends the tail too. */
	assert_replay_request(fx, 0, 4 - REPLAY_MARGIN);
	send_records(fx, 5, 2, 8, TRUE);
	answer(fx, 0, NP_RESULT_SUCCESS, 7);
	assert_trace(fx, mark, "telemetry:4r telemetry:5r telemetry:7r telemetry:8r session:ended");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 5, "unknown");
	g_assert_cmpint(summary_records(fx, ended), ==, 7);
	assert_each_once(fx, 2, 8);
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 1);
}

/* The hole is near the session's start: asked from just below it, the pen replays the end of the
 * session before too. Those old records end nothing; the session closes after its own. */
static void
test_catch_up_reaches_previous_session(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus idle = status_idle();
	guint mark, ended;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 4);
	send_records(fx, 4, 2, 3, FALSE);
	send_ended(fx, 4, 4, 1000);
	send_started(fx, 5, 5);
	send_records(fx, 5, 6, 6, FALSE);
	send_records(fx, 5, 8, 8, FALSE); /* 7 missing */
	ng_runtime_link_down(fx->rt);
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &idle);
	assert_replay_request(fx, 0, 7 - REPLAY_MARGIN);
	send_records(fx, 4, 3, 3, TRUE); /* session 4's last record (4 and 5 were its end and 5's start) */
	send_records(fx, 5, 6, 10, TRUE);
	answer(fx, 0, NP_RESULT_SUCCESS, 6);
	assert_trace(fx, mark, "telemetry:7r telemetry:9r telemetry:10r session:ended");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 5, "unknown");
	g_assert_cmpint(summary_records(fx, ended), ==, 5);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 2);
}

/* The same, the pen's store no longer reaching back to the hole: the telemetry_gap alert comes
 * before the "ended", whose summary counts it. */
static void
test_catch_up_hole_lost(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus idle = status_idle();
	guint mark, ended;
	JsonObject *gap;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 3, FALSE);
	send_records(fx, 5, 6, 6, FALSE); /* 4..5 missing */
	ng_runtime_link_down(fx->rt);
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &idle);
	assert_replay_request(fx, 0, 4 - REPLAY_MARGIN);
	send_records(fx, 5, 7, 8, TRUE); /* its oldest stored record is 7 */
	answer(fx, 0, NP_RESULT_SUCCESS, 2);
	assert_trace(fx, mark, "telemetry:7r telemetry:8r alert:telemetry_gap:event session:ended");
	g_assert_cmpint(int_member(msg_at(fx, find_msg(fx, mark, "alert:telemetry_gap:event")), "first_seq"),
			==, 4);
	g_assert_cmpint(int_member(msg_at(fx, find_msg(fx, mark, "alert:telemetry_gap:event")), "last_seq"),
			==, 5);
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 5, "unknown");
	gap = json_object_get_object_member(
	    json_object_get_object_member(json_object_get_object_member(msg_at(fx, ended)->json, "summary"),
					  "compliance"),
	    "telemetry_gap");
	g_assert_nonnull(gap);
	g_assert_cmpint(json_object_get_int_member(gap, "alerts"), ==, 1);
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 1);
}

/* Away, the pen ended its session and started another: the pen's status names the new one. The old
 * session ends (once, end event lost) before anything of the new one is said; the new one goes on. */
static void
test_catch_up_new_session(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus active5 = status_active(5);
	NpPenStatus active6 = status_active(6);
	guint mark, ended;

	(void)user_data;
	connect_pen(fx, &features_stored, &active5);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 5, FALSE);
	ng_runtime_link_down(fx->rt);
	/* Away: 6 ended session 5, 7 started session 6, records 8..10; none seen. */
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &active6);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	assert_replay_request(fx, 0, 6);
	/* Session 6 streams live while the stored records are asked for. */
	send_records(fx, 6, 11, 12, FALSE);
	send_records(fx, 6, 8, 10, TRUE);
	answer(fx, 0, NP_RESULT_SUCCESS, 3);
	assert_trace(fx, mark,
		     "session:ended telemetry:11 telemetry:12 telemetry:8r telemetry:9r telemetry:10r");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 5, "unknown");
	g_assert_cmpint(summary_records(fx, ended), ==, 4);
	for (guint i = ended + 1; i < fx->msgs->len; i++)
		g_assert_cmpint(int_member(msg_at(fx, i), "session"), ==, 6);
	/* Session 6 goes on; its end is the pen's. */
	mark = fx->msgs->len;
	send_records(fx, 6, 13, 13, FALSE);
	send_ended(fx, 14, 6, 2000);
	assert_trace(fx, mark, "telemetry:13 session:ended event:session_ended");
	g_assert_cmpint(int_member(msg_at(fx, find_msg(fx, mark, "session:ended")), "session"), ==, 6);
	g_assert_cmpint(int_member(msg_at(fx, find_msg(fx, mark, "session:ended")), "seq"), ==, 14);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 2);
}

/* The link drops again while the catch-up request is in flight (the queue fails it before the
 * link's end is reported): nothing is concluded; the next link fetches the tail, then the session ends. */
static void
test_catch_up_link_drops(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus idle = status_idle();
	guint mark, ended;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 5, FALSE);
	ng_runtime_link_down(fx->rt);
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &idle);
	assert_replay_request(fx, 0, 6);
	drop_link_with_request(fx, 0);
	assert_trace_all(fx, mark, "");

	connect_pen(fx, &features_stored, &idle);
	g_assert_cmpuint(fx->requests->len, ==, 2);
	assert_replay_request(fx, 1, 6);
	send_records(fx, 5, 6, 8, TRUE);
	answer(fx, 1, NP_RESULT_SUCCESS, 3);
	assert_trace(fx, mark, "telemetry:6r telemetry:7r telemetry:8r session:ended");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 5, "unknown");
	g_assert_cmpint(summary_records(fx, ended), ==, 7);
}

/* The link drops during the replay, again and again (the queue fails the request before the link's
 * end is reported): the pen still has the records, nothing is declared lost; a link that lasts
 * fetches them. */
static void
test_replay_link_drops(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus active = status_active(3);
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, &active);
	send_started(fx, 1, 3);
	send_records(fx, 3, 2, 4, FALSE);
	send_records(fx, 3, 8, 8, FALSE); /* 5..7 missing */
	for (guint i = 0; i < 4; i++) {
		wait_for_requests(fx, i + 1, WAIT_CAP_MS);
		g_assert_cmpuint(fx->requests->len, ==, i + 1);
		assert_replay_request(fx, i, 5 - REPLAY_MARGIN);
		drop_link_with_request(fx, i);
		g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
		connect_pen(fx, &features_stored, &active);
	}
	wait_for_requests(fx, 5, WAIT_CAP_MS);
	g_assert_cmpuint(fx->requests->len, ==, 5);
	assert_replay_request(fx, 4, 5 - REPLAY_MARGIN);
	mark = fx->msgs->len;
	send_records(fx, 3, 2, 8, TRUE);
	answer(fx, 4, NP_RESULT_SUCCESS, 7);
	assert_trace(fx, mark, "telemetry:5r telemetry:6r telemetry:7r");
	assert_each_once(fx, 2, 8);
	g_assert_cmpuint(count_msgs(fx, "alert:telemetry_gap:event"), ==, 0);
	g_assert_cmpuint(ng_publisher_get_counters(fx->pub)->lost, ==, 0);
}

/* A pen without stored records that comes back idle: nothing to fetch, the session ends at once. */
static void
test_reconnect_idle_no_store(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus idle = status_idle();
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_no_store, NULL);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 3, FALSE);
	ng_runtime_link_down(fx->rt);
	mark = fx->msgs->len;
	connect_pen(fx, &features_no_store, &idle);
	g_assert_cmpuint(fx->requests->len, ==, 0);
	assert_trace(fx, mark, "session:ended");
	assert_ended_unseen(fx, find_msg(fx, mark, "session:ended"), 5, "unknown");
}

/* The link drops with a hole open; the pen comes back still in its session: nothing ends, and the
 * new link asks for the hole after its own delay. */
static void
test_reconnect_same_session(Fixture *fx, gconstpointer user_data)
{
	NpPenStatus active = status_active(5);
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, &active);
	send_started(fx, 1, 5);
	send_records(fx, 5, 2, 3, FALSE);
	send_records(fx, 5, 5, 5, FALSE); /* 4 missing */
	ng_runtime_link_down(fx->rt);
	/* No link to ask with: no replay waits. */
	g_assert_false(ng_test_timer_pending());
	mark = fx->msgs->len;
	connect_pen(fx, &features_stored, &active);
	g_assert_cmpuint(fx->requests->len, ==, 0);
	send_records(fx, 5, 6, 7, FALSE);
	g_assert_cmpint(wait_for_requests(fx, 1, WAIT_CAP_MS), >=, REPLAY_DELAY_MS - TIMER_SLACK_MS);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	assert_replay_request(fx, 0, 4 - REPLAY_MARGIN);
	send_records(fx, 5, 2, 7, TRUE);
	answer(fx, 0, NP_RESULT_SUCCESS, 6);
	assert_trace(fx, mark, "telemetry:6 telemetry:7 telemetry:4r");
	assert_each_once(fx, 2, 7);
	g_assert_cmpuint(count_msgs(fx, "session:ended"), ==, 0);
}

/* ---- removal ------------------------------------------------------------------------------------ */

/* Removed mid-session, a replay in flight: the session ends ("removed"), the pen's retained topics
 * are cleared, and the pen's late answer goes nowhere. */
static void
test_removed_during_session(Fixture *fx, gconstpointer user_data)
{
	guint mark, ended;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 9);
	send_records(fx, 9, 2, 3, FALSE);
	send_records(fx, 9, 6, 6, FALSE);
	wait_for_requests(fx, 1, WAIT_CAP_MS);
	assert_replay_request(fx, 0, 4 - REPLAY_MARGIN);
	mark = fx->msgs->len;
	ng_runtime_removed(fx->rt);
	assert_trace_all(fx, mark, "alert:no_plan:cleared session:ended state:- session:-");
	ended = find_msg(fx, mark, "session:ended");
	assert_ended_unseen(fx, ended, 9, "removed");
	g_assert_cmpint(summary_records(fx, ended), ==, 3);
	/* Empty retained payloads delete the broker's copies. */
	for (guint i = ended + 1; i < fx->msgs->len; i++) {
		g_assert_true(msg_at(fx, i)->retain);
		g_assert_cmpint(msg_at(fx, i)->qos, ==, 1);
		g_assert_cmpstr(msg_at(fx, i)->payload, ==, "");
	}
	mark = fx->msgs->len;
	answer(fx, 0, NP_RESULT_SUCCESS, 0);
	g_assert_cmpuint(fx->msgs->len, ==, mark);
	/* No replay is scheduled for a pen that is gone. */
	g_assert_false(ng_test_timer_pending());
	ng_test_run_for(REPLAY_DELAY_MS + 100);
	g_assert_cmpuint(fx->requests->len, ==, 1);
	g_assert_cmpuint(fx->msgs->len, ==, mark);
}

/* Removed between sessions: nothing ends, the retained topics are cleared. */
static void
test_removed_idle(Fixture *fx, gconstpointer user_data)
{
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 9);
	send_ended(fx, 2, 9, 1000);
	mark = fx->msgs->len;
	ng_runtime_removed(fx->rt);
	assert_trace_all(fx, mark, "state:- session:-");
}

/* The runtime is freed with a request in flight: the answer that comes later touches nothing. */
static void
test_free_with_request_in_flight(Fixture *fx, gconstpointer user_data)
{
	guint mark;

	(void)user_data;
	connect_pen(fx, &features_stored, NULL);
	send_started(fx, 1, 9);
	send_records(fx, 9, 2, 3, FALSE);
	send_records(fx, 9, 6, 6, FALSE);
	wait_for_requests(fx, 1, WAIT_CAP_MS);
	mark = fx->msgs->len;
	g_clear_pointer(&fx->rt, ng_runtime_free);
	g_assert_false(ng_test_timer_pending());
	answer(fx, 0, NP_RESULT_SUCCESS, 2);
	g_assert_cmpuint(fx->msgs->len, ==, mark);
}

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/runtime/records-in-order", test_records_in_order);
	ADD("/runtime/started-records-ended", test_started_records_ended);
	ADD("/runtime/any-order", test_any_order);
	ADD("/runtime/restart-reuses-session", test_restart_reuses_session);
	ADD("/runtime/late-start-event", test_late_start_event);
	ADD("/runtime/gap/replayed", test_gap_replayed);
	ADD("/runtime/gap/lost-in-session", test_gap_lost_in_session);
	ADD("/runtime/gap/lost-unchecked", test_gap_lost_unchecked);
	ADD("/runtime/session/unseen-start-short", test_unseen_start_short);
	ADD("/runtime/gap/no-stored-records", test_gap_no_stored_records);
	ADD("/runtime/gap/retry", test_replay_retry);
	ADD("/runtime/gap/silent-pen", test_replay_silent_pen);
	ADD("/runtime/link/catch-up", test_catch_up_after_reconnect);
	ADD("/runtime/link/catch-up-interrupted", test_catch_up_interrupted);
	ADD("/runtime/link/catch-up-with-hole", test_catch_up_with_hole);
	ADD("/runtime/link/catch-up-reaches-previous-session", test_catch_up_reaches_previous_session);
	ADD("/runtime/link/catch-up-hole-lost", test_catch_up_hole_lost);
	ADD("/runtime/link/catch-up-new-session", test_catch_up_new_session);
	ADD("/runtime/link/catch-up-link-drops", test_catch_up_link_drops);
	ADD("/runtime/link/replay-link-drops", test_replay_link_drops);
	ADD("/runtime/link/reconnect-idle-no-store", test_reconnect_idle_no_store);
	ADD("/runtime/link/reconnect-same-session", test_reconnect_same_session);
	ADD("/runtime/removed/during-session", test_removed_during_session);
	ADD("/runtime/removed/idle", test_removed_idle);
	ADD("/runtime/free-with-request-in-flight", test_free_with_request_in_flight);
	return g_test_run();
}
