/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of ng-control-point: one request in flight, FIFO, drain before answers, timeout, reset. */

#include "config.h"

#include <string.h>

#include "ng-control-point.h"
#include "ng-test-loop.h"

#define ADDRESS "AA:BB:CC:DD:EE:01"
#define LABEL	"NP5EED0001"
/* ble/ is built with this log domain. */
#define CP_LOG_DOMAIN "needlegated"
/* No wait of these tests may take longer: past it the test fails instead of hanging. */
#define WAIT_CAP_MS 12000

/* One request written to the pen. */
typedef struct {
	guint id;
	NpControlRequest req;
} Written;

typedef struct _Fixture Fixture;

/* One submitted request and how it completed. */
typedef struct {
	Fixture *fx;
	const char *name;
	guint n_calls;
	gboolean ok;
	NpControlResponse resp;
	GError *error;
	guint delivered_at_answer; /* records the hook had delivered when the answer came */
} Call;

struct _Fixture {
	NgControlPoint *cp;
	GArray *written; /* Written */
	GString *log;	 /* what happened, in order: "write:identify", "drain", "answer:identify" */
	guint socket;	 /* records sent by the pen, not read yet */
	guint delivered; /* records read by the hook */
	guint8 fail_op;	 /* the write of this op fails at once (0: none) */
	gboolean gone;	 /* the queue was freed: nothing may call us with it any more */
	/* Submitted from inside the hook, as the hub does when drained records change the area. */
	const NpControlRequest *hook_submit;
	Call *hook_call;
};

/* ---- the main loop, bounded --------------------------------------------------------------------- */

static gboolean
call_done(gpointer data)
{
	return ((Call *)data)->n_calls > 0;
}

/* Runs the main loop until @call completed, at most @cap_ms; returns how long it ran, in ms. */
static gint64
wait_for_call(Call *call, guint cap_ms)
{
	return ng_test_run_while(call_done, call, cap_ms);
}

/* Runs the main loop until @until_us (monotonic). */
static void
run_until(gint64 until_us)
{
	gint64 left_ms = (until_us - g_get_monotonic_time()) / 1000;

	if (left_ms > 0)
		ng_test_run_for((guint)left_ms);
}

/* ---- the pen's side ----------------------------------------------------------------------------- */

static void
log_event(Fixture *fx, const char *what, guint8 op)
{
	g_string_append_printf(fx->log, "%s%s%s%s", fx->log->len > 0 ? " " : "", what, op != 0 ? ":" : "",
			       op != 0 ? np_op_code_to_string(op) : "");
}

/* The GATT write: decoded as the pen would. */
static void
write_cb(NgControlPoint *cp, guint id, const guint8 *data, gsize len, gpointer user_data)
{
	Fixture *fx = user_data;
	Written w = {.id = id};
	size_t offset = 0;

	g_assert_false(fx->gone);
	g_assert_true(cp == fx->cp);
	g_assert_cmpint(np_control_request_decode(data, len, &w.req, &offset), ==, NP_OK);
	g_array_append_val(fx->written, w);
	log_event(fx, "write", w.req.op);
	if (w.req.op == fx->fail_op)
		ng_control_point_write_failed(cp, id, "org.bluez.Error.Failed: Not connected");
}

static void submit(Fixture *fx, Call *call, const char *name, const NpControlRequest *req);

/* The pen driver reads its telemetry socket here. */
static void
before_answer_cb(gpointer user_data)
{
	Fixture *fx = user_data;

	g_assert_false(fx->gone);
	fx->delivered += fx->socket;
	fx->socket = 0;
	log_event(fx, "drain", 0);
	if (fx->hook_submit != NULL) {
		const NpControlRequest *req = g_steal_pointer(&fx->hook_submit);
		submit(fx, fx->hook_call, "hook", req);
	}
}

static void
call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Call *call = user_data;

	g_assert_null(source);
	call->n_calls++;
	g_assert_cmpuint(call->n_calls, ==, 1);
	call->ok = ng_control_point_submit_finish(res, &call->resp, &call->error);
	g_assert_true(call->ok == (call->error == NULL));
	call->delivered_at_answer = call->fx->delivered;
	g_string_append_printf(call->fx->log, "%sanswer:%s", call->fx->log->len > 0 ? " " : "", call->name);
}

static void
submit(Fixture *fx, Call *call, const char *name, const NpControlRequest *req)
{
	call->fx = fx;
	call->name = name;
	ng_control_point_submit_async(fx->cp, req, call_cb, call);
}

static void
call_clear(Call *call)
{
	g_clear_error(&call->error);
}

/* The pen's indication answering @op. */
static gboolean
indicate(Fixture *fx, guint8 op, guint8 result, guint32 records_sent)
{
	NpControlResponse resp = {.request_op = op, .result = result, .records_sent = records_sent};
	guint8 buf[16];
	size_t len = 0;
	size_t offset = 99;
	NpStatus st = NP_ERR_INVALID_ARGUMENT;
	gboolean ok;

	g_assert_cmpint(np_control_response_encode(&resp, buf, sizeof buf, &len), ==, NP_OK);
	ok = ng_control_point_indication(fx->cp, buf, len, &st, &offset);
	g_assert_cmpint(st, ==, NP_OK);
	g_assert_cmpuint(offset, ==, 0);
	return ok;
}

typedef struct {
	Fixture *fx;
	guint8 op;
	guint8 result;
	gboolean done;
} Indication;

static gboolean
indication_cb(gpointer user_data)
{
	Indication *ind = user_data;

	g_assert_true(indicate(ind->fx, ind->op, ind->result, 0));
	ind->done = TRUE;
	return G_SOURCE_REMOVE;
}

/*
 * The indication as BlueZ delivers it: from a main loop dispatch (a D-Bus signal), in a later
 * iteration than the request was made in. There a GTask delivers its answer at once, inside the
 * queue's call: what the hook must have done by then is seen by the callback.
 */
static void
indicate_from_loop(Fixture *fx, guint8 op, guint8 result)
{
	Indication ind = {fx, op, result, FALSE};

	/* A later iteration: its time must be past the requests' creation time. */
	g_usleep(2000);
	g_idle_add(indication_cb, &ind);
	while (!ind.done)
		g_main_context_iteration(NULL, TRUE);
}

static const Written *
written_at(Fixture *fx, guint i)
{
	g_assert_cmpuint(i, <, fx->written->len);
	return &g_array_index(fx->written, Written, i);
}

static void
assert_call_ok(Call *call, guint8 op, guint8 result)
{
	g_assert_cmpuint(call->n_calls, ==, 1);
	g_assert_no_error(call->error);
	g_assert_true(call->ok);
	g_assert_cmpuint(call->resp.request_op, ==, op);
	g_assert_cmpuint(call->resp.result, ==, result);
}

static void
assert_call_error(Call *call, gint code)
{
	g_assert_cmpuint(call->n_calls, ==, 1);
	g_assert_false(call->ok);
	g_assert_error(call->error, G_IO_ERROR, code);
}

static const NpControlRequest set_time = {.op = NP_OP_SET_TIME,
					  .u.time_ms = G_GUINT64_CONSTANT(1795514400000)};
static const NpControlRequest identify = {.op = NP_OP_IDENTIFY};
static const NpControlRequest stored = {.op = NP_OP_REPORT_STORED_RECORDS, .u.first_seq = 42};
static const NpControlRequest set_area = {.op = NP_OP_SET_AREA, .u.area = NP_AREA_NECK};

/* ---- fixture ------------------------------------------------------------------------------------ */

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	fx->written = g_array_new(FALSE, FALSE, sizeof(Written));
	fx->log = g_string_new(NULL);
	fx->cp = ng_control_point_new(ADDRESS, write_cb, before_answer_cb, fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	(void)user_data;
	g_clear_pointer(&fx->cp, ng_control_point_free);
	fx->gone = TRUE;
	ng_test_pump();
	g_assert_false(ng_test_timer_pending());
	g_array_unref(fx->written);
	g_string_free(fx->log, TRUE);
}

/* ---- tests -------------------------------------------------------------------------------------- */

/* Nothing is written before the Control Point is ready; then one request at a time, in order, each
 * written when the one before is answered. */
static void
test_fifo(Fixture *fx, gconstpointer user_data)
{
	Call a = {0}, b = {0}, c = {0};

	(void)user_data;
	submit(fx, &a, "set_time", &set_time);
	submit(fx, &b, "identify", &identify);
	submit(fx, &c, "stored", &stored);
	ng_test_pump();
	g_assert_cmpuint(fx->written->len, ==, 0);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, 0);

	ng_control_point_set_ready(fx->cp, TRUE);
	g_assert_cmpuint(fx->written->len, ==, 1);
	g_assert_cmpuint(written_at(fx, 0)->req.op, ==, NP_OP_SET_TIME);
	g_assert_cmpuint(written_at(fx, 0)->req.u.time_ms, ==, set_time.u.time_ms);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, NP_OP_SET_TIME);
	/* Ready again changes nothing: still one in flight. */
	ng_control_point_set_ready(fx->cp, TRUE);
	ng_test_pump();
	g_assert_cmpuint(fx->written->len, ==, 1);
	g_assert_cmpuint(a.n_calls, ==, 0);

	g_assert_true(indicate(fx, NP_OP_SET_TIME, NP_RESULT_SUCCESS, 0));
	ng_test_pump();
	assert_call_ok(&a, NP_OP_SET_TIME, NP_RESULT_SUCCESS);
	g_assert_cmpuint(fx->written->len, ==, 2);
	g_assert_cmpuint(written_at(fx, 1)->req.op, ==, NP_OP_IDENTIFY);
	g_assert_cmpuint(b.n_calls, ==, 0);

	/* The pen may say no: that is an answer too. */
	g_assert_true(indicate(fx, NP_OP_IDENTIFY, NP_RESULT_BUSY, 0));
	ng_test_pump();
	assert_call_ok(&b, NP_OP_IDENTIFY, NP_RESULT_BUSY);
	g_assert_cmpuint(fx->written->len, ==, 3);
	g_assert_cmpuint(written_at(fx, 2)->req.op, ==, NP_OP_REPORT_STORED_RECORDS);
	g_assert_cmpuint(written_at(fx, 2)->req.u.first_seq, ==, 42);

	g_assert_true(indicate(fx, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS, 17));
	ng_test_pump();
	assert_call_ok(&c, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS);
	g_assert_cmpuint(c.resp.records_sent, ==, 17);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, 0);

	/* Each request its own id; each answer after the drain, the next write right after it. */
	g_assert_cmpuint(written_at(fx, 0)->id, !=, written_at(fx, 1)->id);
	g_assert_cmpuint(written_at(fx, 1)->id, !=, written_at(fx, 2)->id);
	g_assert_cmpstr(
	    fx->log->str, ==,
	    "write:set_time drain write:identify answer:set_time drain write:report_stored_records "
	    "answer:identify drain answer:stored");
	call_clear(&a);
	call_clear(&b);
	call_clear(&c);
}

/* Records the pen sent before its answer (on the socket, faster than D-Bus) reach the caller first; a
 * request made from inside the drain (the records changed the area: Set Limits) queues behind those
 * waiting already, and one request stays in flight. */
static void
test_answer_after_drain(Fixture *fx, gconstpointer user_data)
{
	Call a = {0}, b = {0}, c = {0};

	(void)user_data;
	ng_control_point_set_ready(fx->cp, TRUE);
	submit(fx, &a, "stored", &stored);
	submit(fx, &b, "identify", &identify);
	fx->socket = 5; /* the replayed records */
	fx->hook_submit = &set_area;
	fx->hook_call = &c;
	indicate_from_loop(fx, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS);
	assert_call_ok(&a, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS);
	g_assert_cmpuint(a.delivered_at_answer, ==, 5);
	g_assert_cmpuint(fx->written->len, ==, 2);
	g_assert_cmpuint(written_at(fx, 1)->req.op, ==, NP_OP_IDENTIFY);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, NP_OP_IDENTIFY);

	fx->socket = 2;
	indicate_from_loop(fx, NP_OP_IDENTIFY, NP_RESULT_SUCCESS);
	assert_call_ok(&b, NP_OP_IDENTIFY, NP_RESULT_SUCCESS);
	g_assert_cmpuint(b.delivered_at_answer, ==, 7);
	g_assert_cmpuint(fx->written->len, ==, 3);
	g_assert_cmpuint(written_at(fx, 2)->req.op, ==, NP_OP_SET_AREA);
	g_assert_cmpuint(written_at(fx, 2)->req.u.area, ==, NP_AREA_NECK);
	indicate_from_loop(fx, NP_OP_SET_AREA, NP_RESULT_SUCCESS);
	assert_call_ok(&c, NP_OP_SET_AREA, NP_RESULT_SUCCESS);
	/* Answered at once (as from D-Bus): each answer right after its drain, the next write after it. */
	g_assert_cmpstr(
	    fx->log->str, ==,
	    "write:report_stored_records drain write:identify answer:stored drain answer:identify "
	    "write:set_area drain answer:hook");
	call_clear(&a);
	call_clear(&b);
	call_clear(&c);
}

/* Answers that match nothing are ignored; a malformed one is said so and ignored. */
static void
test_unmatched_and_malformed(Fixture *fx, gconstpointer user_data)
{
	static const guint8 truncated[] = {0x80, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS, 0x05};
	static const guint8 not_a_response[] = {0x81, NP_OP_SET_TIME, NP_RESULT_SUCCESS};
	Call a = {0};
	NpStatus st = NP_OK;
	size_t offset = 0;

	(void)user_data;
	ng_control_point_set_ready(fx->cp, TRUE);
	/* Nothing in flight: an answer is ignored. */
	g_assert_true(indicate(fx, NP_OP_SET_TIME, NP_RESULT_SUCCESS, 0));
	submit(fx, &a, "stored", &stored);
	g_assert_cmpuint(fx->written->len, ==, 1);
	/* Another op's answer (a late one to a request that timed out): not ours. */
	g_assert_true(indicate(fx, NP_OP_IDENTIFY, NP_RESULT_SUCCESS, 0));
	/* Malformed: FALSE, with where and why. */
	g_assert_false(ng_control_point_indication(fx->cp, truncated, sizeof truncated, &st, &offset));
	g_assert_cmpint(st, !=, NP_OK);
	g_assert_false(
	    ng_control_point_indication(fx->cp, not_a_response, sizeof not_a_response, &st, &offset));
	g_assert_cmpint(st, !=, NP_OK);
	g_assert_false(ng_control_point_indication(fx->cp, truncated, 0, &st, &offset));
	g_assert_cmpint(st, !=, NP_OK);
	ng_test_pump();
	g_assert_cmpuint(a.n_calls, ==, 0);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, NP_OP_REPORT_STORED_RECORDS);
	g_assert_cmpstr(fx->log->str, ==, "write:report_stored_records");

	g_assert_true(indicate(fx, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_NOT_SUPPORTED, 0));
	ng_test_pump();
	assert_call_ok(&a, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_NOT_SUPPORTED);
	call_clear(&a);
}

/* The write fails (the D-Bus error comes later, or at once): that request fails, the next goes. */
static void
test_write_failed(Fixture *fx, gconstpointer user_data)
{
	Call a = {0}, b = {0}, c = {0}, d = {0};
	guint id;

	(void)user_data;
	ng_control_point_set_ready(fx->cp, TRUE);
	submit(fx, &a, "set_time", &set_time);
	submit(fx, &b, "identify", &identify);
	id = written_at(fx, 0)->id;
	/* Another request's failure (stale id): ignored. */
	ng_control_point_write_failed(fx->cp, id + 100, "stale");
	ng_test_pump();
	g_assert_cmpuint(a.n_calls, ==, 0);
	g_assert_cmpuint(fx->written->len, ==, 1);

	/* The log names the pen by its label: its address until its serial is known. */
	g_test_expect_message(CP_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
			      "pen " ADDRESS
			      ": writing set_time to the Control Point failed: *ATT error: 0x0e*");
	ng_control_point_write_failed(fx->cp, id, "org.bluez.Error.Failed: ATT error: 0x0e");
	g_test_assert_expected_messages();
	ng_test_pump();
	assert_call_error(&a, G_IO_ERROR_FAILED);
	g_assert_nonnull(strstr(a.error->message, "ATT error: 0x0e"));
	g_assert_cmpuint(fx->written->len, ==, 2);
	g_assert_cmpuint(written_at(fx, 1)->req.op, ==, NP_OP_IDENTIFY);
	/* The failed request's id again, now that another is in flight: ignored. */
	ng_control_point_write_failed(fx->cp, id, "late");
	ng_test_pump();
	g_assert_cmpuint(b.n_calls, ==, 0);

	/* A write that fails inside the write function itself: the request after it still goes. */
	ng_control_point_set_label(fx->cp, LABEL);
	fx->fail_op = NP_OP_SET_AREA;
	submit(fx, &c, "set_area", &set_area);
	submit(fx, &d, "stored", &stored);
	g_test_expect_message(CP_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
			      "pen " LABEL ": writing set_area to the Control Point failed: *");
	g_assert_true(indicate(fx, NP_OP_IDENTIFY, NP_RESULT_SUCCESS, 0));
	g_test_assert_expected_messages();
	ng_test_pump();
	assert_call_ok(&b, NP_OP_IDENTIFY, NP_RESULT_SUCCESS);
	assert_call_error(&c, G_IO_ERROR_FAILED);
	g_assert_cmpuint(d.n_calls, ==, 0);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, NP_OP_REPORT_STORED_RECORDS);
	g_assert_true(indicate(fx, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS, 0));
	ng_test_pump();
	assert_call_ok(&d, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS);
	g_assert_cmpstr(fx->log->str, ==,
			"write:set_time drain write:identify answer:set_time drain write:set_area drain "
			"write:report_stored_records answer:identify answer:set_area drain answer:stored");
	call_clear(&a);
	call_clear(&b);
	call_clear(&c);
	call_clear(&d);
}

/* A request that cannot be encoded fails at once and blocks nothing. */
static void
test_invalid_request(Fixture *fx, gconstpointer user_data)
{
	NpControlRequest bad = {.op = 0x42};
	Call a = {0}, b = {0};

	(void)user_data;
	ng_control_point_set_ready(fx->cp, TRUE);
	submit(fx, &a, "bad", &bad);
	submit(fx, &b, "identify", &identify);
	ng_test_pump();
	assert_call_error(&a, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_cmpuint(fx->written->len, ==, 1);
	g_assert_cmpuint(written_at(fx, 0)->req.op, ==, NP_OP_IDENTIFY);
	g_assert_true(indicate(fx, NP_OP_IDENTIFY, NP_RESULT_SUCCESS, 0));
	ng_test_pump();
	assert_call_ok(&b, NP_OP_IDENTIFY, NP_RESULT_SUCCESS);
	call_clear(&a);
	call_clear(&b);
}

/* The link drops: what is in flight and what waits fail NOT_CONNECTED, in order; writes wait for ready
 * again, and the old link's late answer is not taken for the new request. */
static void
test_reset(Fixture *fx, gconstpointer user_data)
{
	Call a = {0}, b = {0}, c = {0}, d = {0};

	(void)user_data;
	ng_control_point_set_ready(fx->cp, TRUE);
	submit(fx, &a, "set_time", &set_time);
	submit(fx, &b, "identify", &identify);
	submit(fx, &c, "stored", &stored);
	ng_control_point_reset(fx->cp);
	g_assert_cmpuint(ng_control_point_get_current_op(fx->cp), ==, 0);
	ng_test_pump();
	assert_call_error(&a, G_IO_ERROR_NOT_CONNECTED);
	assert_call_error(&b, G_IO_ERROR_NOT_CONNECTED);
	assert_call_error(&c, G_IO_ERROR_NOT_CONNECTED);
	g_assert_cmpstr(fx->log->str, ==, "write:set_time answer:set_time answer:identify answer:stored");
	g_assert_false(ng_test_timer_pending());

	/* Not ready: a new request waits. */
	submit(fx, &d, "identify", &identify);
	ng_test_pump();
	g_assert_cmpuint(fx->written->len, ==, 1);
	ng_control_point_set_ready(fx->cp, TRUE);
	g_assert_cmpuint(fx->written->len, ==, 2);
	g_assert_cmpuint(written_at(fx, 1)->req.op, ==, NP_OP_IDENTIFY);
	/* The old link's answer to Set Time: ignored. */
	g_assert_true(indicate(fx, NP_OP_SET_TIME, NP_RESULT_SUCCESS, 0));
	ng_test_pump();
	g_assert_cmpuint(d.n_calls, ==, 0);
	g_assert_true(indicate(fx, NP_OP_IDENTIFY, NP_RESULT_SUCCESS, 0));
	ng_test_pump();
	assert_call_ok(&d, NP_OP_IDENTIFY, NP_RESULT_SUCCESS);
	call_clear(&a);
	call_clear(&b);
	call_clear(&c);
	call_clear(&d);
}

/* Freed with a request in flight and one waiting: both fail NOT_CONNECTED, once; nothing calls the
 * owner afterwards, no timer is left. */
static void
test_free_pending(Fixture *fx, gconstpointer user_data)
{
	Call a = {0}, b = {0};

	(void)user_data;
	ng_control_point_set_ready(fx->cp, TRUE);
	submit(fx, &a, "stored", &stored);
	submit(fx, &b, "identify", &identify);
	g_assert_cmpuint(fx->written->len, ==, 1);
	g_clear_pointer(&fx->cp, ng_control_point_free);
	fx->gone = TRUE;
	ng_test_pump();
	assert_call_error(&a, G_IO_ERROR_NOT_CONNECTED);
	assert_call_error(&b, G_IO_ERROR_NOT_CONNECTED);
	g_assert_false(ng_test_timer_pending());
	g_assert_cmpstr(fx->log->str, ==, "write:report_stored_records answer:stored answer:identify");
	call_clear(&a);
	call_clear(&b);
}

/* The pen does not answer: the request fails TIMED_OUT after NG_CONTROL_POINT_TIMEOUT_S (started
 * again by ng_control_point_extend ()), the next request goes, and the late answer is ignored.
 * The one test that waits for the real timeout: about 7 s. */
static void
test_timeout(Fixture *fx, gconstpointer user_data)
{
	const gint64 timeout_ms = NG_CONTROL_POINT_TIMEOUT_S * 1000;
	const gint64 extend_at_ms = 1500;
	Call a = {0}, b = {0};
	gint64 t0;
	gint64 waited;

	(void)user_data;
	ng_control_point_set_label(fx->cp, LABEL);
	ng_control_point_set_ready(fx->cp, TRUE);
	t0 = g_get_monotonic_time();
	submit(fx, &a, "identify", &identify);
	submit(fx, &b, "set_time", &set_time);
	g_assert_cmpuint(fx->written->len, ==, 1);

	/* Progress (a long replay): the timeout starts again from here. */
	run_until(t0 + extend_at_ms * 1000);
	g_assert_cmpuint(a.n_calls, ==, 0);
	ng_control_point_extend(fx->cp);
	/* Past the first deadline (g_timeout_add_seconds () may fire up to 0.75 s late): still waiting. */
	run_until(t0 + (timeout_ms + 900) * 1000);
	g_assert_cmpuint(a.n_calls, ==, 0);
	g_assert_cmpuint(fx->written->len, ==, 1);

	g_test_expect_message(CP_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
			      "pen " LABEL ": no answer to identify on the Control Point within 5 s");
	wait_for_call(&a, WAIT_CAP_MS);
	g_test_assert_expected_messages();
	waited = (g_get_monotonic_time() - t0) / 1000;
	assert_call_error(&a, G_IO_ERROR_TIMED_OUT);
	/* ... and it may fire up to 0.25 s early. */
	g_assert_cmpint(waited, >=, extend_at_ms + timeout_ms - 300);
	g_assert_cmpint(waited, <=, extend_at_ms + timeout_ms + 1500);
	/* The hook ran before the error was delivered, the next request went right after it. Run from
	 * the timeout's own dispatch, the GTask may deliver before the next write or after it. */
	g_assert_cmpuint(fx->written->len, ==, 2);
	g_assert_cmpuint(written_at(fx, 1)->req.op, ==, NP_OP_SET_TIME);
	if (!g_str_equal(fx->log->str, "write:identify drain answer:identify write:set_time"))
		g_assert_cmpstr(fx->log->str, ==, "write:identify drain write:set_time answer:identify");

	/* The pen's late answer to Identify is not Set Time's. */
	g_assert_true(indicate(fx, NP_OP_IDENTIFY, NP_RESULT_SUCCESS, 0));
	ng_test_pump();
	g_assert_cmpuint(b.n_calls, ==, 0);
	g_assert_true(indicate(fx, NP_OP_SET_TIME, NP_RESULT_SUCCESS, 0));
	wait_for_call(&b, 1000);
	assert_call_ok(&b, NP_OP_SET_TIME, NP_RESULT_SUCCESS);
	g_assert_false(ng_test_timer_pending());
	call_clear(&a);
	call_clear(&b);
}

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/control-point/fifo", test_fifo);
	ADD("/control-point/answer-after-drain", test_answer_after_drain);
	ADD("/control-point/unmatched-and-malformed", test_unmatched_and_malformed);
	ADD("/control-point/write-failed", test_write_failed);
	ADD("/control-point/invalid-request", test_invalid_request);
	ADD("/control-point/reset", test_reset);
	ADD("/control-point/free-pending", test_free_pending);
	ADD("/control-point/timeout", test_timeout);
	return g_test_run();
}
