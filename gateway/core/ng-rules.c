/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live rule engine: integer compares per record against a per-area table, alerts only on change.
 *
 * Records may arrive out of order: the live ones in sequence order, and the ones the pen stored
 * while the link was down later, sent again to fill the holes. The engine is built so that the
 * outcome does not depend on that order:
 * - the debounced per-record rules run in a context: the live one follows the pen now; records
 *   that fill a hole run in a replay context of their own (where the pen was then: its area,
 *   its excursions), which is closed when the replay is over. Their alerts carry replayed true
 *   and the seq, time and area of the records that raised and cleared them;
 * - needling time is the sum, over records consecutive by seq among those received, of the
 *   offset difference when both are active, capped at 1 s; inserting a record between two
 *   others takes back their pair's time and credits its own two pairs. Only the ends of the runs
 *   of consecutive sequence numbers are kept for that. */

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
	/* replay context only: */
	gboolean inherited; /* the live excursion at the hole's start, continued: the live one tells it */
	gboolean held;	    /* raised, told when it ends (it may turn out to be a live one's start) */
	NgAlert held_alert;
} Excursion;

/* The per-record rules, indexed by NgRule (only these four use Excursion). */
#define N_EXCURSIONS (NG_RULE_AREA_NOT_IN_PLAN + 1)
/* Runs of consecutive sequence numbers kept for the time accounting; past that the oldest merge. */
#define MAX_RUNS 1024u

/* A record as the time accounting needs it. */
typedef struct {
	guint32 seq;
	guint32 offset_ms;
	guint8 slot;
	gboolean active;
	guint8 over;   /* bit per excursion rule: the record broke the limit */
	guint8 raised; /* bit per excursion rule: raised there */
} Point;

/* Where the pen was for a run of records, and the excursions there. */
typedef struct {
	gboolean replay; /* the replay context: records sent again, alerts marked replayed */
	gboolean open;	 /* in use (the live context always is) */
	guint8 area;
	guint area_slot;
	guint32 last_offset;
	guint32 last_seq;
	gint64 last_t_ms;
	gboolean rec_replayed; /* the record being checked was sent again */
	gboolean joined;       /* replay: it reached the records after the hole, next is joined_head */
	Point joined_head;
	Excursion excursions[N_EXCURSIONS];
} Context;

/* Sequence numbers first..last all received; head and tail are its first and last records. */
typedef struct {
	guint32 first;
	guint32 last;
	Point head;
	Point tail;
} Run;

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
	Context live;
	Context past; /* records filling a hole */
	gboolean have_live_seq;
	guint32 live_seq;
	GArray *runs; /* Run, ascending */
	guint32 high_water;
	guint next_id;
	NgPlan *plan;
	guint64 max_session_ms;
	AreaLimits limits[AREA_SLOTS];
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
	self->runs = g_array_new(FALSE, FALSE, sizeof(Run));
	self->live.open = TRUE;
	self->past.replay = TRUE;
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
	g_array_unref(self->runs);
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

/* An alert found in @ctx (its area; replayed if the record was sent again). */
static void
alert_init_in(NgRules *self, const Context *ctx, NgAlert *a, NgRule rule, NgAlertState state, guint32 seq,
	      gint64 t_ms)
{
	memset(a, 0, sizeof *a);
	a->rule = rule;
	a->severity = ng_rule_severity(rule);
	a->state = state;
	a->area = ctx->area;
	a->replayed = ctx->replay || ctx->rec_replayed;
	a->session_id = self->session_id;
	a->seq = seq;
	a->t_ms = t_ms;
	a->duration_ms = -1;
}

/* A session-level alert: the area the pen is in now. */
static void
alert_init(NgRules *self, NgAlert *a, NgRule rule, NgAlertState state, guint32 seq, gint64 t_ms)
{
	alert_init_in(self, &self->live, a, rule, state, seq, t_ms);
	a->replayed = FALSE;
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
emit_cleared(NgRules *self, const NgAlert *raised, gboolean replayed, guint32 seq, gint64 t_ms,
	     gint64 duration_ms)
{
	NgAlert a = *raised;
	char secs[32];
	char first[8] = "";
	gint n;

	a.state = NG_ALERT_CLEARED;
	a.replayed = replayed;
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
		emit_cleared(self, &c->alert, FALSE, seq, t_ms, t_ms - c->alert.t_ms);
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
excursion_alert(NgRules *self, const Context *ctx, NgAlert *a, NgRule rule, const Excursion *x, guint32 seq,
		gint64 t_ms)
{
	char m[32];
	char l[32];

	alert_init_in(self, ctx, a, rule, NG_ALERT_RAISED, seq, t_ms);
	a->id = x->id;
	/* only the four per-record rules have excursions */
	if (rule == NG_RULE_DEPTH_ABOVE_MAX || rule == NG_RULE_DEPTH_BELOW_MIN) {
		gboolean above = rule == NG_RULE_DEPTH_ABOVE_MAX;

		value_fixed(&a->measured, x->peak, 2);
		value_fixed(&a->limit, x->peak_limit, 2);
		a->unit = "mm";
		g_snprintf(
		    a->message, sizeof a->message, "Needle depth %s mm on %s is %s the plan's %s of %s mm.",
		    value_text(&a->measured, m, sizeof m), area_phrase(ctx->area), above ? "above" : "below",
		    above ? "maximum" : "minimum", value_text(&a->limit, l, sizeof l));
	} else if (rule == NG_RULE_SPEED_OUT_OF_RANGE) {
		gboolean above = x->peak > x->peak_limit;

		value_fixed(&a->measured, x->peak, 1);
		value_fixed(&a->limit, x->peak_limit, 1);
		a->unit = "Hz";
		g_snprintf(
		    a->message, sizeof a->message, "Needle speed %s Hz on %s is %s the plan's %s of %s Hz.",
		    value_text(&a->measured, m, sizeof m), area_phrase(ctx->area), above ? "above" : "below",
		    above ? "maximum" : "minimum", value_text(&a->limit, l, sizeof l));
	} else {
		value_string(&a->measured, np_area_to_string(ctx->area));
		value_string(&a->limit, self->plan_areas);
		g_snprintf(a->message, sizeof a->message,
			   "Needling on %s, which the plan does not include (%s).", area_phrase(ctx->area),
			   self->plan_areas);
	}
}

static void
excursion_raise(NgRules *self, const Context *ctx, NgRule rule, Excursion *x, guint32 seq, gint64 t_ms)
{
	NgAlert a;

	x->raised = TRUE;
	x->raised_since = x->pending_since;
	x->id = ++self->next_id;
	excursion_alert(self, ctx, &a, rule, x, seq, t_ms);
	if (ctx->replay) {
		x->held = TRUE;
		x->held_alert = a;
		return;
	}
	emit(self, &a);
}

static void
excursion_clear(NgRules *self, const Context *ctx, NgRule rule, Excursion *x, guint32 back_at, guint32 seq,
		gint64 t_ms)
{
	NgAlert a;

	x->raised = FALSE;
	x->pending = FALSE;
	if (x->inherited) {
		x->inherited = FALSE;
		return;
	}
	excursion_alert(self, ctx, &a, rule, x, seq, t_ms);
	if (x->held) {
		x->held = FALSE;
		emit(self, &x->held_alert);
	}
	emit_cleared(self, &a, a.replayed, seq, t_ms, (gint64)back_at - (gint64)x->raised_since);
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
excursion_change(NgRules *self, const Context *ctx, NgRule rule, Excursion *x, gboolean over, guint16 value,
		 guint16 limit, guint16 excess, const NpTelemetryRecord *rec, gint64 t_ms)
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
		excursion_raise(self, ctx, rule, x, rec->seq, t_ms);
	else
		excursion_clear(self, ctx, rule, x, x->pending_since, rec->seq, t_ms);
}

static inline void
excursion_update(NgRules *self, Context *ctx, NgRule rule, gboolean over, guint16 value, guint16 limit,
		 guint16 excess, const NpTelemetryRecord *rec, gint64 t_ms)
{
	Excursion *x = &ctx->excursions[rule];

	if (G_LIKELY(over == x->raised && !x->pending)) {
		if (over)
			excursion_track_peak(x, value, limit, excess);
		return;
	}
	excursion_change(self, ctx, rule, x, over, value, limit, excess, rec, t_ms);
}

/* Closes the per-area alerts of @ctx, now: the pen left the area, the replay or the session ended. */
static void
close_area_alerts(NgRules *self, Context *ctx, guint32 seq, gint64 t_ms)
{
	for (guint r = 0; r < N_EXCURSIONS; r++) {
		Excursion *x = &ctx->excursions[r];

		if (x->raised)
			excursion_clear(self, ctx, (NgRule)r, x, ctx->last_offset, seq, t_ms);
		x->pending = FALSE;
	}
	if (!ctx->replay)
		clear_conditions(self, NG_RULE_AREA_TIME_EXCEEDED, G_MAXUINT, seq, t_ms);
}

/* ---- per record ------------------------------------------------------------------ */

static void
set_area(Context *ctx, guint8 area)
{
	ctx->area = area;
	ctx->area_slot = area < NP_AREA_COUNT ? area : AREA_UNKNOWN;
}

static void
raise_area_time(NgRules *self, const Context *ctx, const AreaLimits *lim, guint64 time_ms, guint32 seq,
		gint64 t_ms)
{
	NgAlert a;
	char m[32];

	alert_init_in(self, ctx, &a, NG_RULE_AREA_TIME_EXCEEDED, NG_ALERT_RAISED, seq, t_ms);
	value_fixed(&a.measured, time_ms, 3);
	value_fixed(&a.limit, lim->max_time_ms, 3);
	a.unit = "s";
	g_snprintf(a.message, sizeof a.message,
		   "Needling time on %s has reached %s s, more than the plan's %u s.", area_phrase(ctx->area),
		   value_text(&a.measured, m, sizeof m), (guint)(lim->max_time_ms / 1000));
	if (ctx->open && !ctx->replay) {
		raise_condition(self, &a, 0);
		return;
	}
	/* exceeded back then, in an area the pen has left: raised and cleared at once */
	a.id = ++self->next_id;
	emit(self, &a);
	emit_cleared(self, &a, TRUE, seq, t_ms, 0);
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
check_limits(NgRules *self, Context *ctx, const AreaLimits *lim, const NpTelemetryRecord *rec,
	     gboolean active, gint64 t_ms)
{
	guint16 d = rec->depth_centi_mm;
	guint16 s = rec->speed_deci_hz;
	gboolean deep;
	gboolean shallow;
	gboolean slow;
	gboolean fast;

	if (G_UNLIKELY(!lim->present)) {
		excursion_update(self, ctx, NG_RULE_AREA_NOT_IN_PLAN, active, 0, 0, 1, rec, t_ms);
		return FALSE;
	}
	deep = active && d > lim->depth_max;
	shallow = active && d < lim->depth_min;
	slow = active && s < lim->speed_min;
	fast = active && s > lim->speed_max;
	excursion_update(self, ctx, NG_RULE_DEPTH_ABOVE_MAX, deep, d, lim->depth_max,
			 (guint16)(d - lim->depth_max), rec, t_ms);
	excursion_update(self, ctx, NG_RULE_DEPTH_BELOW_MIN, shallow, d, lim->depth_min,
			 (guint16)(lim->depth_min - d), rec, t_ms);
	excursion_update(self, ctx, NG_RULE_SPEED_OUT_OF_RANGE, slow || fast, s,
			 slow ? lim->speed_min : lim->speed_max,
			 (guint16)(slow ? lim->speed_min - s : s - lim->speed_max), rec, t_ms);
	return active && !deep && !shallow && !slow && !fast;
}

/* Replayed records jump back in time: debounce on their own run, not across the jump. */
static void
restart_debounce(Context *ctx)
{
	for (guint r = 0; r < N_EXCURSIONS; r++)
		ctx->excursions[r].pending = FALSE;
}

/* ---- needling time, whatever the arrival order ------------------------------------ */

/* Bit per excursion rule: over the limit (raised and staying, or about to be), raised. */
static void
excursion_masks(const Context *ctx, guint8 *over, guint8 *raised)
{
	*over = 0;
	*raised = 0;
	for (guint r = 0; r < N_EXCURSIONS; r++) {
		const Excursion *x = &ctx->excursions[r];

		*over |= (guint8)((x->raised != x->pending) << r);
		*raised |= (guint8)(x->raised << r);
	}
}

static guint32
pair_ms(const Point *a, const Point *b)
{
	if (!a->active || !b->active || b->offset_ms <= a->offset_ms)
		return 0;
	return MIN(b->offset_ms - a->offset_ms, NG_RULES_MAX_STEP_MS);
}

/* The pair (a, b) is no longer consecutive: a record came between them. */
static void
take_pair(NgRules *self, const Point *a, const Point *b)
{
	NgSummaryArea *area = &self->summary->areas[b->slot];

	area->time_ms -= MIN(area->time_ms, pair_ms(a, b));
}

/* The pair (a, b) is consecutive: its time goes to b's area. @ctx found b. */
static void
give_pair(NgRules *self, Context *ctx, const Point *a, const Point *b, guint32 seq, gint64 t_ms)
{
	const AreaLimits *lim = &self->limits[b->slot];
	guint64 *time_ms = &self->summary->areas[b->slot].time_ms;
	guint32 ms = pair_ms(a, b);
	guint64 before = *time_ms;

	if (ms == 0)
		return;
	*time_ms += ms;
	if (self->plan == NULL || !lim->present || *time_ms <= lim->max_time_ms)
		return;
	if (b->slot == self->live.area_slot) {
		/* the pen is there now: once per visit (leaving clears it) */
		if (!condition_open(self, NG_RULE_AREA_TIME_EXCEEDED, 0))
			raise_area_time(self, &self->live, lim, *time_ms, seq, t_ms);
	} else if (before <= lim->max_time_ms) {
		Context then = {.replay = TRUE, .rec_replayed = TRUE};

		set_area(&then, b->slot < NP_AREA_COUNT ? (guint8)b->slot : ctx->area);
		raise_area_time(self, &then, lim, *time_ms, seq, t_ms);
	}
}

/* Counts the record's needling time with its neighbours by seq among the records received. */
static void
account_time(NgRules *self, Context *ctx, const NpTelemetryRecord *rec, gboolean active, gint64 t_ms)
{
	Point p = {rec->seq, rec->offset_ms, (guint8)ctx->area_slot, active, 0, 0};
	guint i = self->runs->len;
	Run *before;
	Run *after;

	while (i > 0 && g_array_index(self->runs, Run, i - 1).first > rec->seq)
		i--;
	before = i > 0 ? &g_array_index(self->runs, Run, i - 1) : NULL;
	after = i < self->runs->len ? &g_array_index(self->runs, Run, i) : NULL;
	if (before != NULL && rec->seq <= before->last)
		return; /* counted already */
	excursion_masks(ctx, &p.over, &p.raised);
	if (ctx->replay && after != NULL && after->first == rec->seq + 1) {
		ctx->joined = TRUE;
		ctx->joined_head = after->head;
	}
	if (before != NULL && after != NULL)
		take_pair(self, &before->tail, &after->head);
	if (before != NULL)
		give_pair(self, ctx, &before->tail, &p, rec->seq, t_ms);
	if (after != NULL)
		give_pair(self, ctx, &p, &after->head, rec->seq, t_ms);

	if (before != NULL && before->last + 1 == rec->seq) {
		before->last = rec->seq;
		before->tail = p;
		if (after != NULL && after->first == rec->seq + 1) {
			before->last = after->last;
			before->tail = after->tail;
			g_array_remove_index(self->runs, i);
		}
	} else if (after != NULL && after->first == rec->seq + 1) {
		after->first = rec->seq;
		after->head = p;
	} else {
		Run r = {rec->seq, rec->seq, p, p};

		g_array_insert_val(self->runs, i, r);
		if (self->runs->len > MAX_RUNS) {
			/* the two oldest become one: their pair stays counted as it is */
			Run *r0 = &g_array_index(self->runs, Run, 0);
			Run *r1 = &g_array_index(self->runs, Run, 1);

			r0->last = r1->last;
			r0->tail = r1->tail;
			g_array_remove_index(self->runs, 1);
		}
	}
}

/* The area a record below everything seen was in: its own, else the one of the record before it. */
static guint8
area_before(NgRules *self, const NpTelemetryRecord *rec)
{
	if (rec->flags & NP_TELEMETRY_FLAG_AREA)
		return rec->area;
	for (guint i = self->runs->len; i > 0; i--) {
		const Run *r = &g_array_index(self->runs, Run, i - 1);

		if (r->first < rec->seq)
			return r->tail.slot < NP_AREA_COUNT ? r->tail.slot : self->live.area;
	}
	return self->live.area;
}

/* The replay context is over: what it raised is told and cleared at its last record, unless it
 * goes on in the records after the hole (the live excursion there is the same one). */
static void
finish_past(NgRules *self)
{
	Context *ctx = &self->past;
	const Point *next = &ctx->joined_head;

	if (!ctx->open)
		return;
	for (guint r = 0; r < N_EXCURSIONS; r++) {
		Excursion *x = &ctx->excursions[r];

		if (x->raised && ctx->joined && next->seq == ctx->last_seq + 1 && (next->over & (1u << r)) &&
		    next->slot == ctx->area_slot)
			x->inherited = TRUE;
	}
	ctx->rec_replayed = TRUE;
	close_area_alerts(self, ctx, ctx->last_seq, ctx->last_t_ms);
	ctx->open = FALSE;
}

/* A replay that starts right after a record the live context checked: the excursions raised
 * there go on (the live context cleared them when it saw them end, or will). */
static void
inherit_excursions(NgRules *self, Context *ctx, guint32 seq)
{
	for (guint i = self->runs->len; i > 0; i--) {
		const Run *run = &g_array_index(self->runs, Run, i - 1);

		if (run->last + 1 < seq)
			break;
		if (run->last + 1 != seq || run->tail.seq != run->last || run->tail.slot != ctx->area_slot)
			continue;
		for (guint r = 0; r < N_EXCURSIONS; r++) {
			if (run->tail.raised & (1u << r)) {
				ctx->excursions[r].raised = TRUE;
				ctx->excursions[r].inherited = TRUE;
			}
		}
	}
}

/* The context for a record below the live ones: the replay going on if it continues it. */
static Context *
past_context(NgRules *self, const NpTelemetryRecord *rec)
{
	Context *ctx = &self->past;

	if (ctx->open && rec->seq > ctx->last_seq && !ctx->joined)
		return ctx;
	finish_past(self);
	memset(ctx->excursions, 0, sizeof ctx->excursions);
	ctx->joined = FALSE;
	set_area(ctx, area_before(self, rec));
	ctx->open = TRUE;
	ctx->last_offset = rec->offset_ms;
	inherit_excursions(self, ctx, rec->seq);
	return ctx;
}

static void
context_area_changed(NgRules *self, Context *ctx, guint8 area, guint32 seq, gint64 t_ms)
{
	if (area == ctx->area)
		return;
	close_area_alerts(self, ctx, seq, t_ms);
	set_area(ctx, area);
}

void
ng_rules_record(NgRules *self, const NpTelemetryRecord *rec, gint64 t_ms)
{
	const AreaLimits *lim;
	gboolean active = (rec->flags & (NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT)) ==
			  (NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT);
	gboolean within = FALSE;
	Context *ctx;

	if (G_UNLIKELY(!self->in_session || rec->session_id != self->session_id))
		return;
	if (G_LIKELY(!self->have_live_seq || rec->seq > self->live_seq)) {
		ctx = &self->live;
		self->live_seq = rec->seq;
		self->have_live_seq = TRUE;
	} else {
		ctx = past_context(self, rec);
	}
	ctx->rec_replayed = (rec->flags & NP_TELEMETRY_FLAG_REPLAYED) != 0;
	if ((rec->flags & NP_TELEMETRY_FLAG_AREA) && G_UNLIKELY(rec->area != ctx->area))
		context_area_changed(self, ctx, rec->area, rec->seq, t_ms);
	if (G_UNLIKELY(rec->offset_ms < ctx->last_offset))
		restart_debounce(ctx);
	ctx->last_offset = rec->offset_ms;
	ctx->last_seq = rec->seq;
	ctx->last_t_ms = t_ms;
	if (rec->offset_ms > self->high_water)
		self->high_water = rec->offset_ms;
	lim = &self->limits[ctx->area_slot];
	if (self->plan != NULL) {
		if (G_UNLIKELY(self->high_water > self->max_session_ms && !self->session_too_long))
			raise_too_long(self, self->high_water, rec->seq, t_ms);
		within = check_limits(self, ctx, lim, rec, active, t_ms);
	}
	ng_summary_add_record(self->summary, ctx->area_slot, rec, active, within, 0);
	account_time(self, ctx, rec, active, t_ms);
}

void
ng_rules_replay_done(NgRules *self)
{
	if (self->in_session)
		finish_past(self);
}

/* ---- events ---------------------------------------------------------------------- */

void
ng_rules_area_changed(NgRules *self, guint8 area, guint32 seq, gint64 t_ms)
{
	if (!self->in_session)
		return;
	self->live.rec_replayed = FALSE;
	context_area_changed(self, &self->live, area, seq, t_ms);
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

/* Returns the alert's id, 0 when no session runs. */
guint
ng_rules_telemetry_gap(NgRules *self, guint32 first, guint32 last, gint64 t_ms)
{
	NgAlert a;
	guint64 lost = (guint64)last - first + 1;

	if (!self->in_session || last < first)
		return 0;
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
	return a.id;
}

void
ng_rules_session_failed(NgRules *self, guint32 seq, gint64 t_ms)
{
	NgAlert a;

	if (!self->in_session || self->summary->alerts_by_rule[NG_RULE_DEVICE_ERROR] > 0)
		return;
	alert_init(self, &a, NG_RULE_DEVICE_ERROR, NG_ALERT_RAISED, seq, t_ms);
	value_string(&a.measured, "device_error");
	g_strlcpy(a.message, "The pen ended the session because of an error.", sizeof a.message);
	raise_condition(self, &a, 0);
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
	memset(&self->live, 0, sizeof self->live);
	self->live.open = TRUE;
	set_area(&self->live, start->area);
	memset(&self->past, 0, sizeof self->past);
	self->past.replay = TRUE;
	self->have_live_seq = FALSE;
	self->live_seq = 0;
	g_array_set_size(self->runs, 0);
	self->high_water = 0;
	self->next_id = 0;
	self->session_too_long = FALSE;
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
	finish_past(self);
	self->live.rec_replayed = FALSE;
	close_area_alerts(self, &self->live, seq, t_ms);
	while (self->open->len > 0) {
		OpenCondition *c = &g_array_index(self->open, OpenCondition, 0);

		emit_cleared(self, &c->alert, FALSE, seq, t_ms, t_ms - c->alert.t_ms);
		g_array_remove_index(self->open, 0);
	}
	self->in_session = FALSE;
}
