/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One pen's runtime in the hub: its sessions, checks, replay and open alerts, and the order of what is said.
 */

#include "config.h"

#include "ng-runtime.h"

/* A hole may be a session event whose indication (D-Bus) is a little behind the telemetry
 * socket: give it this long before asking the pen for its stored records. */
#define REPLAY_DELAY_MS 300
/* A pen that did not answer Report Stored Records is asked again after 2 s, doubling to 30 s, for
 * as long as its store may hold the records (ng_session_replay_end ()). */
#define REPLAY_RETRY_MS	    2000
#define REPLAY_RETRY_MAX_MS 30000

struct _NgRuntime {
	NgRuntimeEnv env;
	char *serial;
	NgPenTopics topics;
	char *last_state; /* the last pens/<id>/state sent, without its time */
	NgSession *session;
	NgSessionStore *session_store; /* NULL without a store */
	NgCheck *check;		       /* NULL without env.checks */
	NpPenFeatures features;
	NpPenStatus status;
	gboolean have_status;
	guint8 area;

	const NgRuntimeLinkOps *link_ops; /* NULL while the pen is not streaming */
	gpointer link;
	guint replay_id;
	gboolean catching_up;	   /* catch_up_stored_records () waits for its answer */
	GCancellable *cancellable; /* this link's requests */
	GArray *open_alerts;	   /* NgAlert: raised, not cleared */
	guint64 recovered;	   /* the session tracker's count of records that came after being lost */
	guint gap_id;		   /* the last telemetry_gap alert: its id (0 outside a session), */
	gint64 gap_ms;		   /* and when it was published */
	gpointer user_data;
};

typedef void (*RequestDoneFunc)(NgRuntime *rt, gboolean ok, const NpControlResponse *resp);

typedef struct {
	NgRuntime *rt;
	GCancellable *cancellable;
	RequestDoneFunc done;
} Request;

static void maybe_schedule_replay(NgRuntime *rt, guint delay_ms);
static void push_limits(NgRuntime *rt);

static gint64
now_ms(void)
{
	return g_get_real_time() / 1000;
}

static NgPublisherCounters *
counters(NgRuntime *rt)
{
	return ng_publisher_get_counters(rt->env.publisher);
}

static void
changed(NgRuntime *rt)
{
	if (rt->env.changed != NULL)
		rt->env.changed(rt, rt->env.user_data);
}

/* ---- life ------------------------------------------------------------------------------------- */

NgRuntime *
ng_runtime_new(const NgRuntimeEnv *env, const char *serial)
{
	g_autoptr(NgRuntime) rt = g_new0(NgRuntime, 1);

	rt->env = *env;
	rt->serial = g_strdup(serial);
	rt->open_alerts = g_array_new(FALSE, FALSE, sizeof(NgAlert));
	rt->cancellable = g_cancellable_new();
	ng_pen_topics_init(&rt->topics, env->topics, serial);
	rt->session = ng_session_new(serial);
	if (env->store != NULL) {
		g_autoptr(GError) error_local = NULL;

		/* A store that cannot give the pen's saved state (a damaged page, found only now) must
		 * not stop the pen: it is served without it, and the store's problem is reported. */
		rt->session_store = ng_session_store_new(env->store, rt->session, &error_local);
		if (rt->session_store == NULL)
			g_warning("%s; serving the pen without its saved sequence numbers (records it still "
				  "holds may be published twice; the database is replaced at the next start)",
				  error_local->message);
	}
	rt->check = env->checks != NULL ? ng_checks_get(env->checks, serial) : NULL;
	return g_steal_pointer(&rt);
}

void
ng_runtime_free(NgRuntime *rt)
{
	if (rt == NULL)
		return;
	g_cancellable_cancel(rt->cancellable);
	g_clear_object(&rt->cancellable);
	g_clear_handle_id(&rt->replay_id, g_source_remove);
	g_clear_pointer(&rt->session_store, ng_session_store_free);
	g_clear_pointer(&rt->session, ng_session_free);
	ng_pen_topics_clear(&rt->topics);
	g_array_unref(rt->open_alerts);
	g_free(rt->last_state);
	g_free(rt->serial);
	g_free(rt);
}

const char *
ng_runtime_get_serial(NgRuntime *rt)
{
	return rt->serial;
}

const NgPenTopics *
ng_runtime_get_topics(NgRuntime *rt)
{
	return &rt->topics;
}

void
ng_runtime_set_user_data(NgRuntime *rt, gpointer user_data)
{
	rt->user_data = user_data;
}

gpointer
ng_runtime_get_user_data(NgRuntime *rt)
{
	return rt->user_data;
}

/* ---- requests to the pen ------------------------------------------------------------------------ */

static void
request_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autofree Request *req = user_data;
	g_autoptr(GCancellable) cancellable = req->cancellable;
	g_autoptr(GError) error = NULL;
	NpControlResponse resp = {0};
	gboolean ok;

	/* The runtime is gone, or this link is: its answer means nothing now. */
	if (g_cancellable_is_cancelled(cancellable))
		return;
	ok = req->rt->link_ops->request_finish(res, &resp, &error);
	/* The same when the pen fails its queue before ng_runtime_link_down () comes: concluding now
	 * would count a replay failure, or close a session whose stored records were never fetched. */
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED))
		return;
	req->done(req->rt, ok, ok ? &resp : NULL);
}

static void
request(NgRuntime *rt, const NpControlRequest *req, RequestDoneFunc done)
{
	Request *r = g_new0(Request, 1);

	r->rt = rt;
	r->cancellable = g_object_ref(rt->cancellable);
	r->done = done;
	rt->link_ops->request_async(rt->link, req, request_cb, r);
}

/* ---- replay: filling gaps with Report Stored Records -------------------------------------------- */

/* A telemetry_gap alert the runtime publishes itself: @n records from @seq on. */
static NgAlert
gap_alert(NgRuntime *rt, NgAlertState state, guint64 n, guint32 seq)
{
	NgAlert alert = {
	    .rule = NG_RULE_TELEMETRY_GAP,
	    .severity = ng_rule_severity(NG_RULE_TELEMETRY_GAP),
	    .state = state,
	    .area = rt->area,
	    .measured = {NG_VALUE_FIXED, n, 0, NULL},
	    .limit = {NG_VALUE_FIXED, 0, 0, NULL},
	    .unit = "records",
	    .session_id = ng_session_get_current_id(rt->session),
	    .seq = seq,
	    .t_ms = now_ms(),
	    .duration_ms = -1,
	};

	return alert;
}

static void
report_lost(NgRuntime *rt, GArray *lost)
{
	for (guint i = 0; i < lost->len; i++) {
		NgSeqRange *r = &g_array_index(lost, NgSeqRange, i);
		guint64 n = (guint64)r->last - r->first + 1;
		NgAlert alert = gap_alert(rt, NG_ALERT_EVENT, n, r->first);

		g_message("pen %s: records %u..%u (%" G_GUINT64_FORMAT
			  ") are lost: the pen no longer has them",
			  rt->serial, r->first, r->last, n);
		counters(rt)->lost += n;
		rt->gap_ms = now_ms();
		/* In a session the rule engine reports it (and counts it in the summary). */
		rt->gap_id = rt->check != NULL ? ng_check_gap(rt->check, r->first, r->last, rt->gap_ms) : 0;
		if (rt->gap_id != 0)
			continue;
		g_snprintf(alert.message, sizeof alert.message,
			   "%" G_GUINT64_FORMAT
			   " telemetry record%s (sequence %u to %u) could not be recovered "
			   "from the pen.",
			   n, n == 1 ? "" : "s", r->first, r->last);
		ng_publisher_alert(rt->env.publisher, &rt->topics, rt->serial, &alert);
	}
}

/* After a replay: soon again if holes are left, later and later while the pen does not answer. */
static void
schedule_next_replay(NgRuntime *rt, gboolean success)
{
	guint failures = ng_session_get_replay_failures(rt->session);
	guint delay_ms = REPLAY_DELAY_MS;

	if (!success && failures > 0) {
		delay_ms = MIN(REPLAY_RETRY_MS << MIN(failures - 1, 4u), REPLAY_RETRY_MAX_MS);
		if (ng_session_get_n_holes(rt->session) > 0 && (failures == 1 || failures % 10 == 0))
			g_message("pen %s: %" G_GUINT64_FORMAT
				  " records still missing; asking again in %u s, "
				  "as long as the pen may still hold them (%u tries so far)",
				  rt->serial, ng_session_get_missing(rt->session), delay_ms / 1000, failures);
	}
	maybe_schedule_replay(rt, delay_ms);
}

static void
replay_done(NgRuntime *rt, gboolean ok, const NpControlResponse *resp)
{
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	gboolean success = ok && resp->result == NP_RESULT_SUCCESS;

	if (ok && !success)
		g_message("pen %s: Report Stored Records answered %s", rt->serial,
			  np_result_code_to_string(resp->result));
	else if (success)
		g_info("pen %s: the pen replayed %u stored records", rt->serial, resp->records_sent);
	ng_session_replay_end(rt->session, success, lost);
	if (rt->check != NULL)
		ng_check_replay_done(rt->check);
	report_lost(rt, lost);
	schedule_next_replay(rt, success);
}

/* Records reported lost came after all (the pen answered late): the gap alert is taken back. */
static void
report_recovered(NgRuntime *rt, guint32 seq)
{
	NgSessionCounters sc;
	NgAlert alert;
	guint64 n;

	ng_session_get_counters(rt->session, &sc);
	n = sc.recovered - rt->recovered;
	rt->recovered = sc.recovered;
	if (n == 0)
		return;
	counters(rt)->lost -= MIN(n, counters(rt)->lost);
	g_message("pen %s: %" G_GUINT64_FORMAT " records reported lost came from the pen after all",
		  rt->serial, n);
	/* It clears the last gap reported: same id, lasted since then. */
	alert = gap_alert(rt, NG_ALERT_CLEARED, n, seq);
	alert.id = rt->gap_id;
	alert.duration_ms = MAX(alert.t_ms - rt->gap_ms, 0);
	g_snprintf(alert.message, sizeof alert.message,
		   "%" G_GUINT64_FORMAT " telemetry record%s reported lost came from the pen after all.", n,
		   n == 1 ? "" : "s");
	ng_publisher_alert(rt->env.publisher, &rt->topics, rt->serial, &alert);
}

static gboolean
replay_cb(gpointer user_data)
{
	NgRuntime *rt = user_data;
	NpControlRequest req = {.op = NP_OP_REPORT_STORED_RECORDS};

	rt->replay_id = 0;
	if (rt->link_ops == NULL)
		return G_SOURCE_REMOVE;
	if (!(rt->features.feature_bits & NP_FEATURE_STORED_RECORDS)) {
		g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
		ng_session_give_up_holes(rt->session, lost);
		report_lost(rt, lost);
		return G_SOURCE_REMOVE;
	}
	if (!ng_session_replay_begin(rt->session, &req.u.first_seq))
		return G_SOURCE_REMOVE;
	g_info("pen %s: %" G_GUINT64_FORMAT " records missing; asking for stored records from %u", rt->serial,
	       ng_session_get_missing(rt->session), req.u.first_seq);
	request(rt, &req, replay_done);
	return G_SOURCE_REMOVE;
}

static void
maybe_schedule_replay(NgRuntime *rt, guint delay_ms)
{
	if (rt->replay_id != 0 || rt->link_ops == NULL || ng_session_get_n_holes(rt->session) == 0 ||
	    ng_session_replay_in_progress(rt->session))
		return;
	rt->replay_id = g_timeout_add(delay_ms, replay_cb, rt);
}

/* ---- sessions ----------------------------------------------------------------------------------- */

/* Ends the running session with no end event from the pen: @reason "unknown" (it ended while the
 * link was down) or "removed". Its summary is made with what came. */
static void
end_session_unseen(NgRuntime *rt, const char *reason)
{
	guint16 id = ng_session_get_current_id(rt->session);
	gint64 start_ms = ng_session_get_current_start_ms(rt->session);
	gint64 t_ms = now_ms();
	NgSessionEnd end = {
	    .session_id = id,
	    .seq = -1,
	    .t_ms = t_ms,
	    /* At most this long: it ended at some moment while the link was down. */
	    .duration_ms = start_ms >= 0 && t_ms >= start_ms ? t_ms - start_ms : -1,
	    .reason = reason,
	    .end_event_lost = TRUE,
	    .area = rt->area,
	};

	if (!ng_session_end_unseen(rt->session))
		return;
	if (rt->check != NULL) {
		ng_check_session_lost(rt->check, t_ms, start_ms, reason);
		end.plan_id = ng_check_get_session_plan_id(rt->check);
		end.ended_fields = ng_check_get_ended_fields(rt->check);
	}
	g_array_set_size(rt->open_alerts, 0);
	ng_publisher_session_ended(rt->env.publisher, &rt->topics, rt->serial, &end);
}

/* Our session is open but the pen's status says it is over: it ended while the link was down. */
static gboolean
session_ended_while_away(NgRuntime *rt)
{
	return rt->have_status && ng_session_is_active(rt->session) &&
	       !(rt->status.state == NP_PEN_STATE_SESSION_ACTIVE &&
		 rt->status.session_id == ng_session_get_current_id(rt->session));
}

static void
reconcile_session(NgRuntime *rt)
{
	if (!session_ended_while_away(rt))
		return;
	g_message("pen %s: session %u ended while the pen was away; its end event was lost", rt->serial,
		  ng_session_get_current_id(rt->session));
	end_session_unseen(rt, "unknown");
}

static void
catch_up_done(NgRuntime *rt, gboolean ok, const NpControlResponse *resp)
{
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	gboolean success = ok && resp->result == NP_RESULT_SUCCESS;

	rt->catching_up = FALSE;
	if (!success)
		g_message("pen %s: Report Stored Records after reconnecting %s", rt->serial,
			  ok ? np_result_code_to_string(resp->result) : "got no answer");
	/* Asked from the first hole: what the pen no longer has is lost, said before the session ends. */
	ng_session_replay_end(rt->session, success, lost);
	if (rt->check != NULL)
		ng_check_replay_done(rt->check);
	report_lost(rt, lost);
	reconcile_session(rt);
	changed(rt);
	schedule_next_replay(rt, success);
}

/*
 * A session that ended while the link was down leaves no later record to reveal a gap, so the
 * records the pen stored after the last one seen are asked for before the session is closed;
 * otherwise they would never be fetched. TRUE if the request was sent.
 */
static gboolean
catch_up_stored_records(NgRuntime *rt)
{
	NpControlRequest req = {.op = NP_OP_REPORT_STORED_RECORDS};
	gint64 high = ng_session_get_high_seq(rt->session);

	if (!(rt->features.feature_bits & NP_FEATURE_STORED_RECORDS) || high < 0 || high >= G_MAXUINT32 ||
	    !session_ended_while_away(rt))
		return FALSE;
	req.u.first_seq = (guint32)high + 1;
	/* The pen sends every record it stores from first_seq on: asked from the first hole, it fills
	 * the holes too, before the session is closed. */
	ng_session_replay_begin(rt->session, &req.u.first_seq);
	g_info("pen %s: its session ended while away; asking for stored records from %u", rt->serial,
	       req.u.first_seq);
	rt->catching_up = TRUE;
	request(rt, &req, catch_up_done);
	return TRUE;
}

/* ---- the link ----------------------------------------------------------------------------------- */

void
ng_runtime_identified(NgRuntime *rt, const NpPenFeatures *features)
{
	rt->features = *features;
	ng_session_set_pen_features(rt->session, (features->feature_bits & NP_FEATURE_STORED_RECORDS) != 0,
				    features->stored_records_capacity);
	/* Every connection, also the first after bluetoothd came back: a replay the last connection
	 * left unanswered is over. */
	ng_session_connected(rt->session);
}

void
ng_runtime_status(NgRuntime *rt, const NpPenStatus *status)
{
	rt->status = *status;
	rt->have_status = TRUE;
}

void
ng_runtime_link_up(NgRuntime *rt, const NgRuntimeLinkOps *ops, gpointer link, gboolean have_status,
		   const NpPenStatus *status)
{
	rt->link_ops = ops;
	rt->link = link;
	if (have_status)
		ng_runtime_status(rt, status);
	if (!catch_up_stored_records(rt))
		reconcile_session(rt);
	maybe_schedule_replay(rt, REPLAY_DELAY_MS);
}

void
ng_runtime_link_down(NgRuntime *rt)
{
	/* Requests in flight answer into the void: the next link starts afresh. */
	g_cancellable_cancel(rt->cancellable);
	g_clear_object(&rt->cancellable);
	rt->cancellable = g_cancellable_new();
	g_clear_handle_id(&rt->replay_id, g_source_remove);
	rt->catching_up = FALSE;
	rt->link_ops = NULL;
	rt->link = NULL;
}

/* ---- telemetry: the hot path -------------------------------------------------------------------- */

/* Records of a session whose start event never came: check the session from here on. */
static void
check_unseen_session(NgRuntime *rt, guint16 session_id)
{
	NpCartridge cartridge = {rt->status.cartridge_id, rt->status.needle_count, 0};

	if (ng_session_get_current_id(rt->session) != session_id)
		return;
	ng_check_start_unseen(rt->check, session_id, ng_session_get_current_start_ms(rt->session), &cartridge,
			      rt->area,
			      !rt->have_status || (rt->status.flags & NP_STATUS_FLAG_CLOCK_SET) != 0);
	push_limits(rt);
}

/* One notification: session (sequence, time) → rules → publisher → outbox. */
void
ng_runtime_records(NgRuntime *rt, const NpTelemetryRecord *records, guint n_records)
{
	gint64 now = now_ms();
	guint8 area = rt->area;
	gint64 replayed_seq = -1;

	for (guint i = 0; i < n_records; i++) {
		const NpTelemetryRecord *rec = &records[i];
		gint64 t_ms = 0;

		if (G_UNLIKELY(rec->flags & NP_TELEMETRY_FLAG_REPLAYED))
			replayed_seq = rec->seq;
		/* Back after a session ended while away, the pen sends the next one's records (newer than
		 * anything seen: not the replayed end of the one before ours): ours ends first. */
		if (G_UNLIKELY(rt->catching_up) &&
		    rec->session_id != ng_session_get_current_id(rt->session) &&
		    (gint64)rec->seq > ng_session_get_high_seq(rt->session))
			reconcile_session(rt);
		if (ng_session_accept_record(rt->session, rec, now, &t_ms) == NG_SEQ_DUPLICATE) {
			counters(rt)->duplicates++;
			continue;
		}
		if ((rec->flags & NP_TELEMETRY_FLAG_AREA) && !(rec->flags & NP_TELEMETRY_FLAG_REPLAYED))
			rt->area = rec->area;
		if (G_LIKELY(rt->check != NULL) && G_UNLIKELY(ng_check_record(rt->check, rec, t_ms)) &&
		    ng_session_is_active(rt->session))
			check_unseen_session(rt, rec->session_id);
		ng_publisher_telemetry(rt->env.publisher, &rt->topics, rt->serial, rec, t_ms);
	}
	ng_publisher_flush_telemetry(rt->env.publisher);
	if (G_UNLIKELY(replayed_seq >= 0))
		report_recovered(rt, (guint32)replayed_seq);
	if (G_UNLIKELY(rt->area != area))
		push_limits(rt);
	if (G_UNLIKELY(ng_session_get_n_holes(rt->session) > 0))
		maybe_schedule_replay(rt, REPLAY_DELAY_MS);
}

void
ng_runtime_malformed(NgRuntime *rt)
{
	counters(rt)->malformed++;
}

/* ---- plans: limits ------------------------------------------------------------------------------- */

static void
limits_done(NgRuntime *rt, gboolean ok, const NpControlResponse *resp)
{
	if (ok && resp->result == NP_RESULT_SUCCESS)
		return;
	if (rt->check != NULL)
		ng_check_limits_failed(rt->check);
	g_message("pen %s: %s %s: the plan's limits are checked, not enforced by the pen", rt->serial,
		  np_op_code_to_string(resp != NULL ? resp->request_op : NP_OP_SET_LIMITS),
		  ok ? np_result_code_to_string(resp->result) : "got no answer");
}

/* Set Limits for the current area at session start and on every area change (Clear Limits when the
 * plan has none for it): the pen then cannot go past the plan even if the room misses an alert. */
static void
push_limits(NgRuntime *rt)
{
	NpControlRequest req = {.op = NP_OP_SET_LIMITS};

	if (rt->check == NULL || rt->link_ops == NULL ||
	    !(rt->features.feature_bits & NP_FEATURE_LIMIT_ENFORCEMENT) || !ng_session_is_active(rt->session))
		return;
	if (!ng_check_wanted_limits(rt->check, rt->area, rt->features.max_depth_centi_mm, &req.u.limits)) {
		/* Nothing to clear: the pen says no limits are active. */
		if (rt->have_status && !(rt->status.flags & NP_STATUS_FLAG_LIMITS_ACTIVE))
			return;
		req.op = NP_OP_CLEAR_LIMITS;
	}
	ng_check_limits_sent(rt->check, &req.u.limits);
	g_debug("pen %s: %s for %s", rt->serial, np_op_code_to_string(req.op), np_area_to_string(rt->area));
	request(rt, &req, limits_done);
}

/* ---- session events ------------------------------------------------------------------------------ */

static void
update_from_event(NgRuntime *rt, const NpSessionEvent *ev)
{
	switch (ev->type) {
	case NP_EVENT_SESSION_STARTED:
		rt->area = ev->u.started.area;
		rt->status.state = NP_PEN_STATE_SESSION_ACTIVE;
		rt->status.session_id = ev->session_id;
		break;
	case NP_EVENT_SESSION_ENDED:
		rt->status.state = NP_PEN_STATE_IDLE;
		rt->status.session_id = 0;
		g_array_set_size(rt->open_alerts, 0);
		break;
	case NP_EVENT_AREA_CHANGED:
		rt->area = ev->u.area_changed.area;
		break;
	case NP_EVENT_CARTRIDGE_INSERTED:
	case NP_EVENT_CARTRIDGE_REMOVED:
	case NP_EVENT_ERROR_RAISED:
	case NP_EVENT_ERROR_CLEARED:
	case NP_EVENT_LIMITS_APPLIED:
	default:
		break;
	}
}

static void
publish_ended(NgRuntime *rt, const NpSessionEvent *ev, gint64 t_ms)
{
	NgSessionEnd end = {
	    .session_id = ev->session_id,
	    .seq = ev->seq,
	    .t_ms = t_ms,
	    .pen_clock_ms = ev->pen_clock_ms,
	    .duration_ms = ev->u.ended.duration_ms,
	    .reason = np_end_reason_to_string(ev->u.ended.reason),
	    .area = rt->area,
	};

	if (rt->check != NULL) {
		end.plan_id = ng_check_get_session_plan_id(rt->check);
		end.ended_fields = ng_check_get_ended_fields(rt->check);
	}
	ng_publisher_session_ended(rt->env.publisher, &rt->topics, rt->serial, &end);
}

/* The rules see each event; an ended message carries the summary they made, so they go first for
 * it, and after the message for the others (a session's alerts follow its "started"). */
static void
check_and_publish_event(NgRuntime *rt, const NpSessionEvent *ev, gint64 t_ms)
{
	gint64 start_ms = ng_session_get_current_start_ms(rt->session);
	const char *plan_id = NULL;

	switch (ev->type) {
	case NP_EVENT_SESSION_ENDED:
		/* Came in mid-session and the end came before a second of its records: what was seen
		 * of it is checked and summed up all the same. */
		if (rt->check != NULL && !ng_check_in_session(rt->check) &&
		    ng_check_has_pending(rt->check, ev->session_id))
			check_unseen_session(rt, ev->session_id);
		if (rt->check != NULL)
			ng_check_event(rt->check, ev, t_ms, start_ms);
		publish_ended(rt, ev, t_ms);
		ng_publisher_pen_event(rt->env.publisher, &rt->topics, rt->serial, ev, t_ms);
		return;
	case NP_EVENT_SESSION_STARTED:
		if (rt->check != NULL)
			plan_id = ng_check_begin_session(rt->check);
		ng_publisher_session_started(rt->env.publisher, &rt->topics, rt->serial, ev, t_ms, plan_id);
		break;
	default:
		break;
	}
	ng_publisher_pen_event(rt->env.publisher, &rt->topics, rt->serial, ev, t_ms);
	if (rt->check == NULL)
		return;
	ng_check_event(rt->check, ev, t_ms, start_ms);
	if (ev->type == NP_EVENT_SESSION_STARTED || ev->type == NP_EVENT_AREA_CHANGED)
		push_limits(rt);
}

void
ng_runtime_event(NgRuntime *rt, const NpSessionEvent *ev)
{
	gint64 t_ms = 0;

	/* A new session while ours is open (the pen restarted, or its end event is in a gap that
	 * cannot be filled): ours ended unseen, and gets its "ended" before the new "started". */
	if (ev->type == NP_EVENT_SESSION_STARTED && ng_session_is_active(rt->session) &&
	    (gint64)ev->seq > ng_session_get_high_seq(rt->session)) {
		g_message("pen %s: session %u started while session %u was open; its end event was lost",
			  rt->serial, ev->session_id, ng_session_get_current_id(rt->session));
		end_session_unseen(rt, "unknown");
	}
	if (ng_session_accept_event(rt->session, ev, now_ms(), &t_ms) == NG_SEQ_DUPLICATE) {
		counters(rt)->duplicates++;
		return;
	}
	update_from_event(rt, ev);
	check_and_publish_event(rt, ev, t_ms);
	changed(rt);
	if (ng_session_get_n_holes(rt->session) > 0)
		maybe_schedule_replay(rt, REPLAY_DELAY_MS);
}

/* ---- alerts and state ---------------------------------------------------------------------------- */

void
ng_runtime_alert(NgRuntime *rt, const NgAlert *alert)
{
	gboolean was_open = FALSE;

	for (guint i = 0; i < rt->open_alerts->len; i++) {
		if (g_array_index(rt->open_alerts, NgAlert, i).id == alert->id) {
			g_array_remove_index(rt->open_alerts, i);
			was_open = TRUE;
			break;
		}
	}
	if (alert->state == NG_ALERT_RAISED)
		g_array_append_val(rt->open_alerts, *alert);
	ng_publisher_alert(rt->env.publisher, &rt->topics, rt->serial, alert);
	/* The pen's retained state lists its open alerts: a dashboard that connects now knows. */
	if (alert->state == NG_ALERT_RAISED || was_open)
		changed(rt);
}

void
ng_runtime_removed(NgRuntime *rt)
{
	if (ng_session_is_active(rt->session)) {
		g_message("pen %s: removed during session %u: the session ends here", rt->serial,
			  ng_session_get_current_id(rt->session));
		end_session_unseen(rt, "removed");
	}
	ng_runtime_link_down(rt);
	ng_publisher_clear_pen(rt->env.publisher, &rt->topics);
	g_clear_pointer(&rt->last_state, g_free);
}

void
ng_runtime_fill_snapshot(NgRuntime *rt, NgPenSnapshot *snap)
{
	snap->serial = rt->serial;
	snap->area = rt->area;
	snap->session_active = ng_session_is_active(rt->session);
	snap->session_id = ng_session_get_current_id(rt->session);
	if (rt->check != NULL)
		ng_check_fill_snapshot(rt->check, snap);
	snap->open_alerts = (const NgAlert *)(gpointer)rt->open_alerts->data;
	snap->n_open_alerts = rt->open_alerts->len;
}

void
ng_runtime_publish_state(NgRuntime *rt, const NgPenSnapshot *snap)
{
	ng_publisher_pen_state(rt->env.publisher, &rt->topics, snap, &rt->last_state);
}
