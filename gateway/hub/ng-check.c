/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Live validation of a pen's sessions: its rule engine, the session's plan, the limits sent, the journal. */

#include "config.h"

#include "ng-check.h"

#include "ng-publisher.h"
#include "ng-summary-json.h"

/* Records that came before their session's start event (the socket outruns D-Bus): at most this many
 * wait for it, a second or so at the fastest rate. */
#define PENDING_MAX 512u
/* Records of a session that span this long with no start event: the event is lost (the gateway came
 * up, or the pen came back, in the middle of the session), check the session from here on. */
#define UNSEEN_START_AFTER_MS 1000u

typedef struct {
	NpTelemetryRecord rec;
	gint64 t_ms;
} Pending;

struct _NgCheck {
	NgChecks *hub;
	char *serial;
	NgRules *rules;

	gboolean in_session;
	gboolean unseen_start; /* started by ng_check_start_unseen (): its start event was not seen */
	guint16 session_id;
	gint64 start_ms;
	NgPlan *plan; /* the session's (or the last session's): taken at its start */
	gboolean plan_taken;

	GString *ended; /* the last "ended" message's added fields */
	char *ended_plan_id;

	gboolean limits_asked; /* Set/Clear Limits sent, "limits applied" not yet seen */
	NpLimits asked;
	gboolean limits_known; /* the pen said which limits it applies */
	NpLimits applied;
	guint64 limits_mismatches;

	GArray *pending; /* Pending: records of a session the rules have not seen start (yet) */
};

static const NpLimits no_limits = {NP_LIMIT_NONE, NP_LIMIT_NONE, NP_LIMIT_NONE};

/* ---- alerts --------------------------------------------------------------------------------------- */

/* The engine's callback: the alert goes out at once, QoS 1, never dropped. Must not call the engine. */
static void
alert_cb(const NgAlert *alert, gpointer user_data)
{
	NgCheck *check = user_data;

	if (alert->state != NG_ALERT_CLEARED)
		g_message("pen %s: %s alert %s: %s", check->serial, ng_severity_to_string(alert->severity),
			  ng_rule_to_string(alert->rule), alert->message);
	if (check->hub->alert_func != NULL)
		check->hub->alert_func(check->serial, alert, check->hub->alert_data);
}

/* ---- the hub --------------------------------------------------------------------------------------- */

static void
check_free(NgCheck *check)
{
	ng_rules_free(check->rules);
	g_clear_pointer(&check->plan, ng_plan_unref);
	g_string_free(check->ended, TRUE);
	g_free(check->ended_plan_id);
	g_free(check->serial);
	g_array_unref(check->pending);
	g_free(check);
}

NgChecks *
ng_checks_new(NgStore *store, NgAssign *assign, NgCheckAlertFunc alert_func, gpointer alert_data,
	      GError **error)
{
	g_autoptr(NgChecks) checks = g_new0(NgChecks, 1);

	checks->store = store;
	checks->alert_func = alert_func;
	checks->alert_data = alert_data;
	checks->assign = assign;
	checks->checks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)check_free);
	if (store != NULL) {
		checks->journal = ng_journal_new(ng_store_get_db(store), error);
		if (checks->journal == NULL)
			return NULL;
		checks->cartridges = ng_cartridges_new(ng_store_get_db(store), error);
		if (checks->cartridges == NULL)
			return NULL;
		ng_store_touch(store);
	}
	return g_steal_pointer(&checks);
}

void
ng_checks_free(NgChecks *checks)
{
	if (checks == NULL)
		return;
	g_hash_table_destroy(checks->checks);
	g_clear_pointer(&checks->journal, ng_journal_free);
	g_clear_pointer(&checks->cartridges, ng_cartridges_free);
	g_free(checks);
}

NgCheck *
ng_checks_get(NgChecks *checks, const char *serial)
{
	NgCheck *check = g_hash_table_lookup(checks->checks, serial);

	if (check != NULL)
		return check;
	check = g_new0(NgCheck, 1);
	check->hub = checks;
	check->serial = g_strdup(serial);
	check->rules = ng_rules_new(NULL, alert_cb, check);
	check->ended = g_string_new(NULL);
	check->pending = g_array_new(FALSE, FALSE, sizeof(Pending));
	g_hash_table_insert(checks->checks, g_strdup(serial), check);
	return check;
}

/* ---- records and events -------------------------------------------------------------------------- */

/* Keeps a record whose session the rules have not seen start: its start event may be a moment behind. */
static void
keep_pending(NgCheck *check, const NpTelemetryRecord *rec, gint64 t_ms)
{
	Pending p = {*rec, t_ms};

	if (check->pending->len > 0 &&
	    g_array_index(check->pending, Pending, 0).rec.session_id != rec->session_id)
		g_array_set_size(check->pending, 0);
	if (check->pending->len < PENDING_MAX)
		g_array_append_val(check->pending, p);
}

gboolean
ng_check_record(NgCheck *check, const NpTelemetryRecord *rec, gint64 t_ms)
{
	const Pending *first;

	if (G_LIKELY(check->in_session && rec->session_id == check->session_id)) {
		ng_rules_record(check->rules, rec, t_ms);
		return FALSE;
	}
	keep_pending(check, rec, t_ms);
	first = &g_array_index(check->pending, Pending, 0);
	return check->pending->len >= PENDING_MAX ||
	       (rec->offset_ms >= first->rec.offset_ms &&
		rec->offset_ms - first->rec.offset_ms >= UNSEEN_START_AFTER_MS);
}

/* The session started: the records that came before its start event are checked now. */
static void
run_pending(NgCheck *check)
{
	for (guint i = 0; i < check->pending->len; i++) {
		Pending *p = &g_array_index(check->pending, Pending, i);
		if (p->rec.session_id == check->session_id)
			ng_rules_record(check->rules, &p->rec, p->t_ms);
	}
	g_array_set_size(check->pending, 0);
}

const char *
ng_check_begin_session(NgCheck *check)
{
	NgPlan *plan = ng_assign_get(check->hub->assign, check->serial);

	g_clear_pointer(&check->plan, ng_plan_unref);
	check->plan = plan != NULL ? ng_plan_ref(plan) : NULL;
	check->plan_taken = TRUE;
	return plan != NULL ? plan->plan_id : NULL;
}

/* Notes the cartridge in the durable registry: was it used in an earlier session (any pen)? */
static gboolean
cartridge_seen_before(NgCheck *check, guint32 cartridge_id)
{
	g_autoptr(GError) error = NULL;
	gboolean seen = FALSE;

	if (check->hub->cartridges == NULL || cartridge_id == 0)
		return FALSE;
	if (!ng_cartridges_note(check->hub->cartridges, cartridge_id, check->serial, check->session_id,
				check->start_ms, &seen, &error)) {
		g_warning("pen %s: cartridge registry: %s", check->serial, error->message);
		return FALSE;
	}
	ng_store_touch(check->hub->store);
	return seen;
}

/* The journal's latest session of the plan's patient (session_too_soon), 0 when none. */
static gint64
previous_session_of_patient(NgCheck *check)
{
	g_autoptr(GError) error = NULL;
	gint64 start = 0;

	if (check->plan == NULL || check->hub->journal == NULL)
		return 0;
	if (!ng_journal_last_session_of_patient(check->hub->journal, check->plan->patient_ref, &start,
						&error)) {
		if (error != NULL)
			g_warning("pen %s: journal: %s", check->serial, error->message);
		return 0;
	}
	return start;
}

static void
session_started(NgCheck *check, const NpSessionEvent *ev, gint64 t_ms, gint64 session_start_ms)
{
	NgSessionStart start = {
	    .session_id = ev->session_id,
	    .seq = ev->seq,
	    .start_ms = session_start_ms >= 0 ? session_start_ms : t_ms,
	    .cartridge = ev->u.started.cartridge,
	    .area = ev->u.started.area,
	    .clock_set = ev->pen_clock_ms != 0,
	};

	if (check->in_session && check->unseen_start && check->session_id == ev->session_id) {
		/* Late, not lost: the session is being checked already. */
		check->unseen_start = FALSE;
		check->plan_taken = FALSE;
		return;
	}
	if (!check->plan_taken)
		ng_check_begin_session(check);
	check->plan_taken = FALSE;
	check->unseen_start = FALSE;
	check->in_session = TRUE;
	check->session_id = ev->session_id;
	check->start_ms = start.start_ms;
	/* Before the journal knows this session: the previous one is the patient's last. */
	start.previous_session_ms = previous_session_of_patient(check);
	start.cartridge_seen_before = cartridge_seen_before(check, start.cartridge.cartridge_id);
	g_message("pen %s: session %u checked against %s", check->serial, ev->session_id,
		  check->plan != NULL ? check->plan->plan_id : "no plan");
	ng_rules_session_start(check->rules, &start, check->plan);
	run_pending(check);
}

void
ng_check_start_unseen(NgCheck *check, guint16 session_id, gint64 session_start_ms,
		      const NpCartridge *cartridge, guint8 area, gboolean clock_set)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_STARTED,
	    .session_id = session_id,
	    .pen_clock_ms = clock_set ? 1 : 0,
	    .u.started = {.cartridge = *cartridge, .area = area},
	};

	g_message("pen %s: session %u runs but its start event was not seen; checking it from now on",
		  check->serial, session_id);
	if (session_start_ms < 0)
		session_start_ms = g_get_real_time() / 1000;
	check->plan_taken = FALSE;
	session_started(check, &ev, session_start_ms, session_start_ms);
	check->unseen_start = TRUE;
}

/* An end the rules did not see start (the gateway came in mid-session): no summary to give. */
static void
forget_ended(NgCheck *check)
{
	g_string_truncate(check->ended, 0);
	g_clear_pointer(&check->ended_plan_id, g_free);
}

/* The end, seen or inferred: summary, journal, the assignment consumed. */
static void
session_finished(NgCheck *check, guint32 seq, gint64 t_ms, guint32 duration_ms, const char *reason)
{
	NgSummary *summary;
	g_autofree char *summary_json = NULL;
	g_autofree char *alerts_json = NULL;
	guint n_alerts = 0;
	const NgAlert *alerts;
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(reason, "device_error") == 0)
		ng_rules_session_failed(check->rules, seq, t_ms);
	ng_rules_session_end(check->rules, seq, t_ms, duration_ms);
	alerts = ng_rules_get_alerts(check->rules, &n_alerts);
	summary = ng_rules_get_summary(check->rules);
	g_string_truncate(check->ended, 0);
	ng_summary_json_append_ended_fields(summary, check->ended, t_ms, duration_ms, reason);
	g_free(check->ended_plan_id);
	check->ended_plan_id = check->plan != NULL ? g_strdup(check->plan->plan_id) : NULL;
	check->in_session = FALSE;
	if (check->hub->journal != NULL) {
		NgJournalEntry entry = {
		    .pen = check->serial,
		    .session_id = check->session_id,
		    .start_ms = check->start_ms,
		    .end_ms = t_ms,
		    .plan_id = check->plan != NULL ? check->plan->plan_id : NULL,
		    .patient_ref = check->plan != NULL ? check->plan->patient_ref : NULL,
		    .reason = (char *)reason,
		    .summary_json = summary_json =
			ng_summary_json_to_string(summary, t_ms, duration_ms, reason),
		    .alerts_json = alerts_json = ng_publisher_alerts_to_json(alerts, n_alerts),
		};
		if (!ng_journal_add(check->hub->journal, &entry, NULL, &error))
			g_warning("pen %s: journal: %s", check->serial, error->message);
		ng_store_touch(check->hub->store);
	}
	/* A plan is for one session: the next patient must not inherit it. */
	if (ng_assign_consume(check->hub->assign, check->serial, check->plan))
		g_message("pen %s: plan %s used by session %u; assignment cleared", check->serial,
			  check->plan->plan_id, check->session_id);
}

void
ng_check_event(NgCheck *check, const NpSessionEvent *ev, gint64 t_ms, gint64 session_start_ms)
{
	switch (ev->type) {
	case NP_EVENT_SESSION_STARTED:
		session_started(check, ev, t_ms, session_start_ms);
		break;
	case NP_EVENT_SESSION_ENDED:
		if (check->in_session && ev->session_id == check->session_id)
			session_finished(check, ev->seq, t_ms, ev->u.ended.duration_ms,
					 np_end_reason_to_string(ev->u.ended.reason));
		else
			forget_ended(check);
		break;
	case NP_EVENT_AREA_CHANGED:
		ng_rules_area_changed(check->rules, ev->u.area_changed.area, ev->seq, t_ms);
		break;
	case NP_EVENT_CARTRIDGE_INSERTED:
		ng_rules_cartridge_inserted(
		    check->rules, &ev->u.cartridge_inserted,
		    check->in_session && cartridge_seen_before(check, ev->u.cartridge_inserted.cartridge_id),
		    ev->seq, t_ms);
		break;
	case NP_EVENT_CARTRIDGE_REMOVED:
		ng_rules_cartridge_removed(check->rules, ev->seq, t_ms);
		break;
	case NP_EVENT_ERROR_RAISED:
		ng_rules_error_raised(check->rules, ev->u.error.code, ev->seq, t_ms);
		break;
	case NP_EVENT_ERROR_CLEARED:
		ng_rules_error_cleared(check->rules, ev->u.error.code, ev->seq, t_ms);
		break;
	case NP_EVENT_LIMITS_APPLIED:
		ng_check_limits_applied(check, &ev->u.limits_applied);
		break;
	default:
		break;
	}
}

void
ng_check_session_lost(NgCheck *check, gint64 t_ms, gint64 session_start_ms, const char *reason)
{
	gint64 start = session_start_ms >= 0 ? session_start_ms : check->start_ms;
	guint32 duration = t_ms > start ? (guint32)MIN(t_ms - start, (gint64)G_MAXUINT32) : 0;

	if (!check->in_session) {
		forget_ended(check);
		return;
	}
	session_finished(check, 0, t_ms, duration, reason);
}

void
ng_check_replay_done(NgCheck *check)
{
	ng_rules_replay_done(check->rules);
}

/* The telemetry_gap alert's id, 0 outside a session (the caller reports the gap itself). */
guint
ng_check_gap(NgCheck *check, guint32 first, guint32 last, gint64 t_ms)
{
	if (!check->in_session)
		return 0;
	return ng_rules_telemetry_gap(check->rules, first, last, t_ms);
}

const char *
ng_check_get_ended_fields(NgCheck *check)
{
	return check->ended->len > 0 ? check->ended->str : NULL;
}

const char *
ng_check_get_session_plan_id(NgCheck *check)
{
	return check->ended_plan_id;
}

/* ---- limits ---------------------------------------------------------------------------------------- */

gboolean
ng_check_wanted_limits(NgCheck *check, guint8 area, guint16 pen_max_depth, NpLimits *limits)
{
	gboolean set =
	    check->in_session && check->plan != NULL && ng_plan_get_limits(check->plan, area, limits);

	if (!set)
		*limits = no_limits;
	else if (pen_max_depth != 0 && limits->max_depth_centi_mm != NP_LIMIT_NONE &&
		 limits->max_depth_centi_mm > pen_max_depth)
		limits->max_depth_centi_mm = pen_max_depth;
	return set;
}

void
ng_check_limits_sent(NgCheck *check, const NpLimits *limits)
{
	check->asked = *limits;
	check->limits_asked = TRUE;
}

void
ng_check_limits_failed(NgCheck *check)
{
	check->limits_asked = FALSE;
}

static gboolean
limits_equal(const NpLimits *a, const NpLimits *b)
{
	return a->max_depth_centi_mm == b->max_depth_centi_mm &&
	       a->min_speed_deci_hz == b->min_speed_deci_hz && a->max_speed_deci_hz == b->max_speed_deci_hz;
}

void
ng_check_limits_applied(NgCheck *check, const NpLimits *applied)
{
	check->applied = *applied;
	check->limits_known = TRUE;
	if (!check->limits_asked)
		return;
	check->limits_asked = FALSE;
	if (limits_equal(applied, &check->asked))
		return;
	check->limits_mismatches++;
	check->hub->limits_mismatches++;
	g_warning("pen %s: the pen applies limits (depth %u, speed %u..%u) other than those sent (depth %u, "
		  "speed %u..%u; 0.01 mm, 0.1 Hz; %u = none); %" G_GUINT64_FORMAT " mismatch(es) so far",
		  check->serial, applied->max_depth_centi_mm, applied->min_speed_deci_hz,
		  applied->max_speed_deci_hz, check->asked.max_depth_centi_mm, check->asked.min_speed_deci_hz,
		  check->asked.max_speed_deci_hz, NP_LIMIT_NONE, check->limits_mismatches);
}

guint64
ng_check_get_limits_mismatches(NgCheck *check)
{
	return check->limits_mismatches;
}

/* ---- state ---------------------------------------------------------------------------------------- */

void
ng_check_fill_snapshot(NgCheck *check, NgPenSnapshot *snap)
{
	NgPlan *assigned = ng_assign_get(check->hub->assign, check->serial);
	const NgPlan *now = check->in_session ? check->plan : assigned;

	snap->plan_id = now != NULL ? now->plan_id : NULL;
	snap->plan_assigned = assigned != NULL ? assigned->plan_id : NULL;
	snap->limits_known = check->limits_known;
	snap->limits = check->applied;
	snap->limits_mismatches = check->limits_mismatches;
}

gboolean
ng_check_in_session(NgCheck *check)
{
	return check->in_session;
}

gboolean
ng_check_has_pending(NgCheck *check, guint16 session_id)
{
	return check->pending->len > 0 &&
	       g_array_index(check->pending, Pending, 0).rec.session_id == session_id;
}
