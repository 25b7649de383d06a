/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live rule engine: integer compares per record against a per-area table, alerts only on change. */

#include "ng-rules.h"

#include <string.h>

#include "ng-json.h"
#include "ng-summary.h"

#define AREA_SLOTS	(NP_AREA_COUNT + 1)
#define AREA_UNKNOWN	NP_AREA_COUNT
#define ALERTS_KEPT_MAX 500u /* alerts kept for the journal per session; the MQTT stream has them all */
#define DAY_MS		G_GINT64_CONSTANT(86400000)

/* "the forehead": the area in a sentence. */
static const char *
area_phrase(guint8 area)
{
	static const char *const phrases[NP_AREA_COUNT] = {
	    "an unspecified area",
	    "the forehead",
	    "the area around the eyes",
	    "the nose",
	    "the cheeks",
	    "the area around the mouth",
	    "the chin and jawline",
	    "the neck",
	    "the décolleté",
	    "the arms",
	    "the hands",
	    "the abdomen",
	    "the thighs",
	    "the back",
	    "the scalp",
	    "a scar",
	};
	return area < NP_AREA_COUNT ? phrases[area] : "an unknown area";
}

/* ---- state ---------------------------------------------------------------------- */

/* The plan's limits for one area, in the codec's units: one array read per record. */
typedef struct {
	gboolean present;
	guint16 depth_min;
	guint16 depth_max;
	guint16 speed_min;
	guint16 speed_max;
	guint64 max_time_ms;
} AreaLimits;

/* A debounced per-record limit: the condition must hold for debounce_ms of
 * record time before it is raised, and be gone as long before it is cleared. */
typedef struct {
	gboolean raised;
	gboolean pending;      /* the condition differs from "raised" since pending_since */
	guint32 pending_since; /* offset_ms */
	guint32 raised_since;  /* offset_ms of the excursion's first record */
	guint id;
	guint16 peak; /* worst value of the excursion */
	guint16 peak_limit;
	guint16 peak_excess;
} Excursion;

/* The per-record rules, indexed by NgRule (only these four use Excursion). */
#define N_EXCURSIONS (NG_RULE_AREA_NOT_IN_PLAN + 1)

/* A raised condition without debounce (session-wide, device errors, area time), kept until cleared. */
typedef struct {
	NgAlert alert;
	guint key; /* the error code for device_error */
} OpenCondition;

struct _NgRules {
	NgRulesConfig config;
	NgAlertFunc func;
	gpointer user_data;

	gboolean in_session;
	guint16 session_id;
	gint64 start_ms;
	guint8 area;
	guint area_slot;
	guint32 last_offset;
	guint32 high_water;
	guint next_id;
	NgPlan *plan;
	guint64 max_session_ms;
	AreaLimits limits[AREA_SLOTS];
	Excursion excursions[N_EXCURSIONS];
	gboolean session_too_long;
	GArray *open; /* OpenCondition */
	char *plan_areas;
	char *plan_needles;
	NgSummary *summary;
	GArray *alerts; /* NgAlert: the session's, for the journal */
};

NgRules *
ng_rules_new(const NgRulesConfig *config, NgAlertFunc func, gpointer user_data)
{
	NgRules *self;

	g_return_val_if_fail(func != NULL, NULL);
	self = g_new0(NgRules, 1);
	self->config.debounce_ms = config != NULL ? config->debounce_ms : NG_RULES_DEFAULT_DEBOUNCE_MS;
	self->func = func;
	self->user_data = user_data;
	self->open = g_array_new(FALSE, TRUE, sizeof(OpenCondition));
	self->summary = ng_summary_new();
	self->alerts = g_array_new(FALSE, FALSE, sizeof(NgAlert));
	return self;
}

void
ng_rules_free(NgRules *self)
{
	if (self == NULL)
		return;
	ng_plan_unref(self->plan);
	g_array_unref(self->open);
	g_free(self->plan_areas);
	g_free(self->plan_needles);
	ng_summary_free(self->summary);
	g_array_unref(self->alerts);
	g_free(self);
}

gboolean
ng_rules_in_session(NgRules *self)
{
	return self->in_session;
}

NgSummary *
ng_rules_get_summary(NgRules *self)
{
	return self->summary;
}

const NgAlert *
ng_rules_get_alerts(NgRules *self, guint *n_alerts)
{
	*n_alerts = self->alerts->len;
	return (const NgAlert *)(gpointer)self->alerts->data;
}

/* ---- emitting --------------------------------------------------------------------- */

static void
value_fixed(NgAlertValue *v, guint64 num, guint decimals)
{
	v->kind = NG_VALUE_FIXED;
	v->num = num;
	v->decimals = decimals;
	v->str = NULL;
}

static void
value_string(NgAlertValue *v, const char *str)
{
	v->kind = NG_VALUE_STRING;
	v->num = 0;
	v->decimals = 0;
	v->str = str;
}

/* A value as text for a message: "0.80", "motor_stall". */
static const char *
value_text(const NgAlertValue *v, char *buf, gsize size)
{
	g_autoptr(GString) s = NULL;

	switch (v->kind) {
	case NG_VALUE_NONE:
		return "none";
	case NG_VALUE_STRING:
		return v->str;
	case NG_VALUE_FIXED:
		break;
	}
	s = g_string_sized_new(24);
	ng_json_append_fixed(s, v->num, v->decimals);
	g_strlcpy(buf, s->str, size);
	return buf;
}

static void
alert_init(NgRules *self, NgAlert *a, NgRule rule, NgAlertState state, guint32 seq, gint64 t_ms)
{
	memset(a, 0, sizeof *a);
	a->rule = rule;
	a->severity = ng_rule_severity(rule);
	a->state = state;
	a->area = self->area;
	a->session_id = self->session_id;
	a->seq = seq;
	a->t_ms = t_ms;
	a->duration_ms = -1;
}

static void
emit(NgRules *self, NgAlert *a)
{
	if (a->state != NG_ALERT_CLEARED)
		ng_summary_add_alert(self->summary, a);
	if (self->alerts->len < ALERTS_KEPT_MAX)
		g_array_append_val(self->alerts, *a);
	self->func(a, self->user_data);
}

/* The cleared twin of a raised alert: same id, rule, area and values, a new time. */
static void
emit_cleared(NgRules *self, const NgAlert *raised, guint32 seq, gint64 t_ms, gint64 duration_ms)
{
	NgAlert a = *raised;
	char secs[32];
	char first[8] = "";
	gint n;

	a.state = NG_ALERT_CLEARED;
	a.seq = seq;
	a.t_ms = t_ms;
	a.duration_ms = MAX(duration_ms, 0);
	g_snprintf(secs, sizeof secs, "%.1f", (double)a.duration_ms / 1000.0);
	/* "Cleared after 1.2 s: needle depth ...": lower-case the raised sentence's first letter. */
	n = g_utf8_next_char(raised->message) - raised->message;
	if (n > 0 && n < (gint)sizeof first) {
		memcpy(first, raised->message, (gsize)n);
		first[n] = '\0';
		if (n == 1)
			first[0] = g_ascii_tolower(first[0]);
	}
	g_snprintf(a.message, sizeof a.message, "Cleared after %s s: %s%s", secs, first,
		   raised->message + (n > 0 ? n : 0));
	emit(self, &a);
}

/* ---- conditions (no debounce) ------------------------------------------------------- */

static void
raise_condition(NgRules *self, NgAlert *a, guint key)
{
	OpenCondition c = {.key = key};

	a->id = ++self->next_id;
	c.alert = *a;
	g_array_append_val(self->open, c);
	emit(self, a);
}

/* Clears the open conditions of @rule (and @key for device_error; G_MAXUINT: any key). */
static void
clear_conditions(NgRules *self, NgRule rule, guint key, guint32 seq, gint64 t_ms)
{
	for (guint i = 0; i < self->open->len;) {
		OpenCondition *c = &g_array_index(self->open, OpenCondition, i);

		if (c->alert.rule != rule || (key != G_MAXUINT && c->key != key)) {
			i++;
			continue;
		}
		emit_cleared(self, &c->alert, seq, t_ms, t_ms - c->alert.t_ms);
		g_array_remove_index(self->open, i);
	}
}

static gboolean
condition_open(NgRules *self, NgRule rule, guint key)
{
	for (guint i = 0; i < self->open->len; i++) {
		const OpenCondition *c = &g_array_index(self->open, OpenCondition, i);

		if (c->alert.rule == rule && c->key == key)
			return TRUE;
	}
	return FALSE;
}

/* ---- excursions (debounced) --------------------------------------------------------- */

static void
excursion_alert(NgRules *self, NgAlert *a, NgRule rule, const Excursion *x, guint32 seq, gint64 t_ms)
{
	char m[32];
	char l[32];

	alert_init(self, a, rule, NG_ALERT_RAISED, seq, t_ms);
	a->id = x->id;
	/* only the four per-record rules have excursions */
	if (rule == NG_RULE_DEPTH_ABOVE_MAX || rule == NG_RULE_DEPTH_BELOW_MIN) {
		gboolean above = rule == NG_RULE_DEPTH_ABOVE_MAX;

		value_fixed(&a->measured, x->peak, 2);
		value_fixed(&a->limit, x->peak_limit, 2);
		a->unit = "mm";
		g_snprintf(
		    a->message, sizeof a->message, "Needle depth %s mm on %s is %s the plan's %s of %s mm.",
		    value_text(&a->measured, m, sizeof m), area_phrase(self->area), above ? "above" : "below",
		    above ? "maximum" : "minimum", value_text(&a->limit, l, sizeof l));
	} else if (rule == NG_RULE_SPEED_OUT_OF_RANGE) {
		gboolean above = x->peak > x->peak_limit;

		value_fixed(&a->measured, x->peak, 1);
		value_fixed(&a->limit, x->peak_limit, 1);
		a->unit = "Hz";
		g_snprintf(
		    a->message, sizeof a->message, "Needle speed %s Hz on %s is %s the plan's %s of %s Hz.",
		    value_text(&a->measured, m, sizeof m), area_phrase(self->area), above ? "above" : "below",
		    above ? "maximum" : "minimum", value_text(&a->limit, l, sizeof l));
	} else {
		value_string(&a->measured, np_area_to_string(self->area));
		value_string(&a->limit, self->plan_areas);
		g_snprintf(a->message, sizeof a->message,
			   "Needling on %s, which the plan does not include (%s).", area_phrase(self->area),
			   self->plan_areas);
	}
}

static void
excursion_raise(NgRules *self, NgRule rule, Excursion *x, guint32 seq, gint64 t_ms)
{
	NgAlert a;

	x->raised = TRUE;
	x->raised_since = x->pending_since;
	x->id = ++self->next_id;
	excursion_alert(self, &a, rule, x, seq, t_ms);
	emit(self, &a);
}

static void
excursion_clear(NgRules *self, NgRule rule, Excursion *x, guint32 back_at, guint32 seq, gint64 t_ms)
{
	NgAlert a;

	excursion_alert(self, &a, rule, x, seq, t_ms);
	x->raised = FALSE;
	x->pending = FALSE;
	emit_cleared(self, &a, seq, t_ms, (gint64)back_at - (gint64)x->raised_since);
}

static inline void
excursion_track_peak(Excursion *x, guint16 value, guint16 limit, guint16 excess)
{
	if (excess > x->peak_excess) {
		x->peak = value;
		x->peak_limit = limit;
		x->peak_excess = excess;
	}
}

/* The slow path: the condition differs from the state, or a change was pending. */
static void
excursion_change(NgRules *self, NgRule rule, Excursion *x, gboolean over, guint16 value, guint16 limit,
		 guint16 excess, const NpTelemetryRecord *rec, gint64 t_ms)
{
	if (over == x->raised) {
		/* the change did not last: back to the state we are in */
		x->pending = FALSE;
		if (over)
			excursion_track_peak(x, value, limit, excess);
		return;
	}
	if (!x->pending) {
		x->pending = TRUE;
		x->pending_since = rec->offset_ms;
		if (over) {
			x->peak = value;
			x->peak_limit = limit;
			x->peak_excess = excess;
		}
	} else if (over) {
		excursion_track_peak(x, value, limit, excess);
	}
	if (rec->offset_ms - x->pending_since < self->config.debounce_ms)
		return;
	x->pending = FALSE;
	if (over)
		excursion_raise(self, rule, x, rec->seq, t_ms);
	else
		excursion_clear(self, rule, x, x->pending_since, rec->seq, t_ms);
}

static inline void
excursion_update(NgRules *self, NgRule rule, gboolean over, guint16 value, guint16 limit, guint16 excess,
		 const NpTelemetryRecord *rec, gint64 t_ms)
{
	Excursion *x = &self->excursions[rule];

	if (G_LIKELY(over == x->raised && !x->pending)) {
		if (over)
			excursion_track_peak(x, value, limit, excess);
		return;
	}
	excursion_change(self, rule, x, over, value, limit, excess, rec, t_ms);
}

/* Closes the per-area alerts, now: the pen left the area, or the session ended. */
static void
close_area_alerts(NgRules *self, guint32 seq, gint64 t_ms)
{
	for (guint r = 0; r < N_EXCURSIONS; r++) {
		Excursion *x = &self->excursions[r];

		if (x->raised)
			excursion_clear(self, (NgRule)r, x, self->last_offset, seq, t_ms);
		x->pending = FALSE;
	}
	clear_conditions(self, NG_RULE_AREA_TIME_EXCEEDED, G_MAXUINT, seq, t_ms);
}

/* ---- per record ------------------------------------------------------------------ */

static void
set_area(NgRules *self, guint8 area)
{
	self->area = area;
	self->area_slot = area < NP_AREA_COUNT ? area : AREA_UNKNOWN;
}

static void
raise_area_time(NgRules *self, const AreaLimits *lim, guint64 time_ms, guint32 seq, gint64 t_ms)
{
	NgAlert a;
	char m[32];

	alert_init(self, &a, NG_RULE_AREA_TIME_EXCEEDED, NG_ALERT_RAISED, seq, t_ms);
	value_fixed(&a.measured, time_ms, 3);
	value_fixed(&a.limit, lim->max_time_ms, 3);
	a.unit = "s";
	g_snprintf(
	    a.message, sizeof a.message, "Needling time on %s has reached %s s, more than the plan's %u s.",
	    area_phrase(self->area), value_text(&a.measured, m, sizeof m), (guint)(lim->max_time_ms / 1000));
	raise_condition(self, &a, 0);
}

static void
raise_too_long(NgRules *self, guint64 elapsed_ms, guint32 seq, gint64 t_ms)
{
	NgAlert a;
	char m[32];

	self->session_too_long = TRUE;
	alert_init(self, &a, NG_RULE_SESSION_TOO_LONG, NG_ALERT_RAISED, seq, t_ms);
	value_fixed(&a.measured, elapsed_ms, 3);
	value_fixed(&a.limit, self->max_session_ms, 3);
	a.unit = "s";
	g_snprintf(a.message, sizeof a.message, "The session has lasted %s s, longer than the plan's %u s.",
		   value_text(&a.measured, m, sizeof m), (guint)(self->max_session_ms / 1000));
	raise_condition(self, &a, 0);
}

/* Depth and speed against the area's limits; TRUE when the record is within the plan. */
static inline gboolean
check_limits(NgRules *self, const AreaLimits *lim, const NpTelemetryRecord *rec, gboolean active, gint64 t_ms)
{
	guint16 d = rec->depth_centi_mm;
	guint16 s = rec->speed_deci_hz;
	gboolean deep;
	gboolean shallow;
	gboolean slow;
	gboolean fast;

	if (G_UNLIKELY(!lim->present)) {
		excursion_update(self, NG_RULE_AREA_NOT_IN_PLAN, active, 0, 0, 1, rec, t_ms);
		return FALSE;
	}
	deep = active && d > lim->depth_max;
	shallow = active && d < lim->depth_min;
	slow = active && s < lim->speed_min;
	fast = active && s > lim->speed_max;
	excursion_update(self, NG_RULE_DEPTH_ABOVE_MAX, deep, d, lim->depth_max,
			 (guint16)(d - lim->depth_max), rec, t_ms);
	excursion_update(self, NG_RULE_DEPTH_BELOW_MIN, shallow, d, lim->depth_min,
			 (guint16)(lim->depth_min - d), rec, t_ms);
	excursion_update(self, NG_RULE_SPEED_OUT_OF_RANGE, slow || fast, s,
			 slow ? lim->speed_min : lim->speed_max,
			 (guint16)(slow ? lim->speed_min - s : s - lim->speed_max), rec, t_ms);
	return active && !deep && !shallow && !slow && !fast;
}

/* Replayed records jump back in time: debounce on their own run, not across the jump. */
static void
restart_debounce(NgRules *self)
{
	for (guint r = 0; r < N_EXCURSIONS; r++)
		self->excursions[r].pending = FALSE;
}

/*
 * A replayed record from another area than the pen's current one (sent
 * again after a gap): it counts in its own area's figures, but it neither
 * moves the pen back to that area nor raises alerts there, which would close
 * and reopen the live excursions for a past moment.
 */
static void
record_replayed_elsewhere(NgRules *self, const NpTelemetryRecord *rec)
{
	guint slot = rec->area < NP_AREA_COUNT ? rec->area : AREA_UNKNOWN;
	const AreaLimits *lim = &self->limits[slot];
	gboolean active = (rec->flags & NP_TELEMETRY_FLAG_MOTOR) != 0;
	gboolean within = self->plan != NULL && active && lim->present &&
			  rec->depth_centi_mm >= lim->depth_min && rec->depth_centi_mm <= lim->depth_max &&
			  rec->speed_deci_hz >= lim->speed_min && rec->speed_deci_hz <= lim->speed_max;

	ng_summary_add_record(self->summary, slot, rec, active, within, 0);
}

void
ng_rules_record(NgRules *self, const NpTelemetryRecord *rec, gint64 t_ms)
{
	const AreaLimits *lim;
	gboolean active = (rec->flags & NP_TELEMETRY_FLAG_MOTOR) != 0;
	gboolean within = FALSE;
	guint32 step = 0;

	if (G_UNLIKELY(!self->in_session || rec->session_id != self->session_id))
		return;
	if ((rec->flags & NP_TELEMETRY_FLAG_AREA) && G_UNLIKELY(rec->area != self->area)) {
		if (rec->flags & NP_TELEMETRY_FLAG_REPLAYED) {
			record_replayed_elsewhere(self, rec);
			return;
		}
		ng_rules_area_changed(self, rec->area, rec->seq, t_ms);
	}
	if (G_UNLIKELY(rec->offset_ms < self->last_offset))
		restart_debounce(self);
	self->last_offset = rec->offset_ms;
	if (rec->offset_ms > self->high_water) {
		step = MIN(rec->offset_ms - self->high_water, NG_RULES_MAX_STEP_MS);
		self->high_water = rec->offset_ms;
	}
	lim = &self->limits[self->area_slot];
	if (self->plan != NULL) {
		if (G_UNLIKELY(self->high_water > self->max_session_ms && !self->session_too_long))
			raise_too_long(self, self->high_water, rec->seq, t_ms);
		within = check_limits(self, lim, rec, active, t_ms);
	}
	ng_summary_add_record(self->summary, self->area_slot, rec, active, within, step);
	if (G_UNLIKELY(active && lim->present &&
		       self->summary->areas[self->area_slot].time_ms > lim->max_time_ms) &&
	    !condition_open(self, NG_RULE_AREA_TIME_EXCEEDED, 0))
		raise_area_time(self, lim, self->summary->areas[self->area_slot].time_ms, rec->seq, t_ms);
}

/* ---- events ---------------------------------------------------------------------- */

void
ng_rules_area_changed(NgRules *self, guint8 area, guint32 seq, gint64 t_ms)
{
	if (!self->in_session || area == self->area)
		return;
	close_area_alerts(self, seq, t_ms);
	set_area(self, area);
}

static void
check_cartridge(NgRules *self, const NpCartridge *c, gboolean seen_before, guint32 seq, gint64 t_ms)
{
	NgAlert a;

	if (c->cartridge_id == 0 && c->needle_count == 0)
		return; /* no cartridge in the pen */
	if (c->use_count > 1 || seen_before) {
		alert_init(self, &a, NG_RULE_CARTRIDGE_REUSED, NG_ALERT_RAISED, seq, t_ms);
		value_fixed(&a.measured, c->use_count, 0);
		value_fixed(&a.limit, 1, 0);
		a.unit = "uses";
		if (c->use_count > 1)
			g_snprintf(a.message, sizeof a.message,
				   "Cartridge %" G_GUINT32_FORMAT
				   " is in its use number %u: cartridges are single use.",
				   c->cartridge_id, c->use_count);
		else
			g_snprintf(a.message, sizeof a.message,
				   "Cartridge %" G_GUINT32_FORMAT " was already used in an earlier session: "
				   "cartridges are single use.",
				   c->cartridge_id);
		raise_condition(self, &a, 0);
	}
	if (self->plan != NULL && !ng_plan_needles_allowed(self->plan, c->needle_count)) {
		alert_init(self, &a, NG_RULE_CARTRIDGE_NOT_ALLOWED, NG_ALERT_RAISED, seq, t_ms);
		value_fixed(&a.measured, c->needle_count, 0);
		value_string(&a.limit, self->plan_needles);
		a.unit = "needles";
		g_snprintf(a.message, sizeof a.message, "The cartridge has %u needles; the plan allows %s.",
			   c->needle_count, self->plan_needles);
		raise_condition(self, &a, 0);
	}
}

void
ng_rules_cartridge_inserted(NgRules *self, const NpCartridge *cartridge, gboolean seen_before, guint32 seq,
			    gint64 t_ms)
{
	if (!self->in_session)
		return;
	ng_rules_cartridge_removed(self, seq, t_ms);
	check_cartridge(self, cartridge, seen_before, seq, t_ms);
}

void
ng_rules_cartridge_removed(NgRules *self, guint32 seq, gint64 t_ms)
{
	if (!self->in_session)
		return;
	clear_conditions(self, NG_RULE_CARTRIDGE_REUSED, G_MAXUINT, seq, t_ms);
	clear_conditions(self, NG_RULE_CARTRIDGE_NOT_ALLOWED, G_MAXUINT, seq, t_ms);
}

void
ng_rules_error_raised(NgRules *self, guint16 code, guint32 seq, gint64 t_ms)
{
	NgAlert a;
	g_autofree char *words = NULL;

	if (!self->in_session || condition_open(self, NG_RULE_DEVICE_ERROR, code))
		return;
	alert_init(self, &a, NG_RULE_DEVICE_ERROR, NG_ALERT_RAISED, seq, t_ms);
	value_string(&a.measured, np_pen_error_to_string(code));
	words = g_strdelimit(g_strdup(np_pen_error_to_string(code)), "_", ' ');
	g_snprintf(a.message, sizeof a.message, "The pen reports an error: %s (code 0x%04x).", words, code);
	raise_condition(self, &a, code);
}

void
ng_rules_error_cleared(NgRules *self, guint16 code, guint32 seq, gint64 t_ms)
{
	if (!self->in_session)
		return;
	clear_conditions(self, NG_RULE_DEVICE_ERROR, code, seq, t_ms);
}

void
ng_rules_telemetry_gap(NgRules *self, guint32 first, guint32 last, gint64 t_ms)
{
	NgAlert a;
	guint64 lost = (guint64)last - first + 1;

	if (!self->in_session || last < first)
		return;
	alert_init(self, &a, NG_RULE_TELEMETRY_GAP, NG_ALERT_EVENT, first, t_ms);
	a.id = ++self->next_id;
	value_fixed(&a.measured, lost, 0);
	value_fixed(&a.limit, 0, 0);
	a.unit = "records";
	g_snprintf(a.message, sizeof a.message,
		   "%" G_GUINT64_FORMAT " record%s (%" G_GUINT32_FORMAT " to %" G_GUINT32_FORMAT
		   ") could not be recovered from the pen.",
		   lost, lost == 1 ? "" : "s", first, last);
	emit(self, &a);
}

/* ---- session ----------------------------------------------------------------------- */

static void
load_plan(NgRules *self, NgPlan *plan)
{
	g_clear_pointer(&self->plan, ng_plan_unref);
	g_clear_pointer(&self->plan_areas, g_free);
	g_clear_pointer(&self->plan_needles, g_free);
	memset(self->limits, 0, sizeof self->limits);
	if (plan == NULL)
		return;
	self->plan = ng_plan_ref(plan);
	self->plan_areas = ng_plan_areas_to_string(plan);
	self->plan_needles = ng_plan_needles_to_string(plan);
	self->max_session_ms = (guint64)plan->max_session_s * 1000;
	for (guint i = 0; i < NP_AREA_COUNT; i++) {
		const NgPlanArea *a = &plan->areas[i];

		self->limits[i] =
		    (AreaLimits){a->present,	       a->depth_min_centi_mm, a->depth_max_centi_mm,
				 a->speed_min_deci_hz, a->speed_max_deci_hz,  (guint64)a->max_time_s * 1000};
	}
}

static void
raise_simple(NgRules *self, NgRule rule, const char *message, guint32 seq, gint64 t_ms)
{
	NgAlert a;

	alert_init(self, &a, rule, NG_ALERT_RAISED, seq, t_ms);
	g_strlcpy(a.message, message, sizeof a.message);
	raise_condition(self, &a, 0);
}

static void
check_interval(NgRules *self, const NgSessionStart *start)
{
	gint64 previous = start->previous_session_ms;
	gint64 elapsed;
	NgAlert a;
	char m[32];

	if (self->plan->has_previous_session)
		previous = MAX(previous, self->plan->previous_session_ms);
	if (previous <= 0 || self->plan->min_interval_days == 0)
		return;
	elapsed = start->start_ms - previous;
	if (elapsed >= (gint64)self->plan->min_interval_days * DAY_MS)
		return;
	alert_init(self, &a, NG_RULE_SESSION_TOO_SOON, NG_ALERT_RAISED, start->seq, start->start_ms);
	/* tenths of a day, rounded down: 27.99 days must not read as 28 */
	value_fixed(&a.measured, (guint64)(MAX(elapsed, 0) / (DAY_MS / 10)), 1);
	value_fixed(&a.limit, self->plan->min_interval_days, 0);
	a.unit = "days";
	g_snprintf(a.message, sizeof a.message,
		   "Only %s days since the previous session of this course; the plan asks for at least %u.",
		   value_text(&a.measured, m, sizeof m), self->plan->min_interval_days);
	raise_condition(self, &a, 0);
}

static void
reset_session(NgRules *self, const NgSessionStart *start, NgPlan *plan)
{
	load_plan(self, plan);
	self->in_session = TRUE;
	self->session_id = start->session_id;
	self->start_ms = start->start_ms;
	set_area(self, start->area);
	self->last_offset = 0;
	self->high_water = 0;
	self->next_id = 0;
	self->session_too_long = FALSE;
	memset(self->excursions, 0, sizeof self->excursions);
	g_array_set_size(self->open, 0);
	g_array_set_size(self->alerts, 0);
	ng_summary_reset(self->summary, plan, start->session_id, start->start_ms);
}

void
ng_rules_session_start(NgRules *self, const NgSessionStart *start, NgPlan *plan)
{
	g_return_if_fail(self != NULL && start != NULL);
	if (self->in_session)
		ng_rules_session_end(self, start->seq, start->start_ms,
				     (guint32)CLAMP(start->start_ms - self->start_ms, 0, G_MAXUINT32));
	reset_session(self, start, plan);
	if (!start->clock_set)
		raise_simple(self, NG_RULE_CLOCK_NOT_SET,
			     "The pen's clock was not set: its times come from the gateway's clock.",
			     start->seq, start->start_ms);
	if (plan == NULL)
		raise_simple(
		    self, NG_RULE_NO_PLAN,
		    "The session started with no treatment plan: depth, speed and areas are not checked.",
		    start->seq, start->start_ms);
	check_cartridge(self, &start->cartridge, start->cartridge_seen_before, start->seq, start->start_ms);
	if (plan != NULL)
		check_interval(self, start);
}

void
ng_rules_session_end(NgRules *self, guint32 seq, gint64 t_ms, guint32 duration_ms)
{
	g_return_if_fail(self != NULL);
	if (!self->in_session)
		return;
	if (self->plan != NULL && !self->session_too_long && duration_ms > self->max_session_ms)
		raise_too_long(self, duration_ms, seq, t_ms);
	close_area_alerts(self, seq, t_ms);
	while (self->open->len > 0) {
		OpenCondition *c = &g_array_index(self->open, OpenCondition, 0);

		emit_cleared(self, &c->alert, seq, t_ms, t_ms - c->alert.t_ms);
		g_array_remove_index(self->open, 0);
	}
	self->in_session = FALSE;
}
