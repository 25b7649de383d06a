/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One simulated NeedlePen: sessions, telemetry, events, stored records and the Control Point. */

#include "sim-pen.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

#define SIM_TICK_MS	     40u   /* telemetry generation period */
#define SIM_CP_DELAY_MS	     15u   /* the pen's time to answer a request */
#define SIM_REPLAY_PERIOD_MS 5u	   /* one replay notification per period */
#define SIM_IDENTIFY_MS	     5000u /* Identify beeps and blinks for 5 s */
#define SIM_SPEED_MIN	     50u   /* 5 Hz: slowest the motor runs */
#define SIM_SPEED_MAX	     1600u /* 160 Hz: fastest the motor runs */
#define SIM_PASS_MS	     4000u /* one pass over the skin, contact then lifted */
#define SIM_CONTACT_MS	     3400u
#define SIM_BATTERY_DRAIN_S  120u /* 1 % per this much treatment */

struct _SimPen {
	SimPenConfig cfg;
	char *name;
	SimPenSink sink;
	gpointer sink_data;
	GRand *rand;

	guint8 state;
	guint16 error_code;
	gboolean has_cartridge;
	NpCartridge cartridge;
	guint32 cartridge_counter;
	guint8 area;
	guint16 depth;
	guint16 speed;
	guint8 battery;
	gboolean limits_active;
	NpLimits limits;
	gboolean clock_set;
	gint64 clock_base_ms;
	gint64 clock_base_mono_us;
	guint32 next_seq;

	/* the current session */
	guint16 session_id;
	gboolean in_session;
	gint64 session_start_us;
	double next_offset_ms;
	guint tick_id;
	guint area_timer_id;
	guint autorun_timer_id;
	guint area_index;
	double battery_drain_s;
	guint64 session_records;
	guint64 session_limit; /* the session ends after this many records; 0: no limit */

	/* stored records: a ring of the last cfg.capacity records */
	NpTelemetryRecord *ring;
	guint ring_head;
	guint ring_count;

	/* the Control Point: one request at a time */
	gboolean cp_busy;
	gboolean cp_silent; /* requests are taken and never answered */
	guint cp_timer_id;
	NpControlResponse cp_response;
	GArray *replay; /* NpTelemetryRecord still to replay */
	guint replay_sent;
	guint replay_id;

	gboolean identifying;
	guint identify_id;
	guint64 records_generated;
};

void
sim_pen_config_init(SimPenConfig *cfg, guint index)
{
	static const guint8 default_areas[] = {NP_AREA_FOREHEAD, NP_AREA_CHEEKS, NP_AREA_CHIN_JAWLINE};

	memset(cfg, 0, sizeof(*cfg));
	cfg->serial = g_strdup_printf("NP5EED%04X", index & 0xFFFFu);
	cfg->address = g_strdup_printf("C0:4E:50:5E:%02X:%02X", (index >> 8) & 0xFFu, index & 0xFFu);
	cfg->manufacturer = g_strdup("NeedleWorks Medical");
	cfg->model = g_strdup("NP-200");
	cfg->firmware = g_strdup("1.4.2");
	cfg->model_code = 0x02;
	cfg->features = NP_FEATURE_E2E_CRC | NP_FEATURE_PRESSURE | NP_FEATURE_AREA_SELECTOR |
			NP_FEATURE_STORED_RECORDS | NP_FEATURE_LIMIT_ENFORCEMENT;
	cfg->rate_hz = 25;
	cfg->capacity = 4096;
	cfg->max_depth = 250;
	cfg->battery = 87;
	cfg->paired = TRUE;
	cfg->autorun = TRUE;
	cfg->first_seq = 1;
	cfg->session_s = 60;
	cfg->idle_s = 10;
	cfg->areas = g_array_new(FALSE, FALSE, sizeof(guint8));
	g_array_append_vals(cfg->areas, default_areas, G_N_ELEMENTS(default_areas));
	cfg->depth = 150;
	cfg->speed = 1200;
	cfg->depth_noise = 4;
	cfg->speed_noise = 12;
	cfg->rssi = (gint16)(-50 - (gint)(index % 30));
	cfg->seed = index;
	cfg->mtu = 517; /* what bluetoothd 5.66 negotiates with a pen that offers the most */
}

void
sim_pen_config_clear(SimPenConfig *cfg)
{
	g_clear_pointer(&cfg->serial, g_free);
	g_clear_pointer(&cfg->address, g_free);
	g_clear_pointer(&cfg->manufacturer, g_free);
	g_clear_pointer(&cfg->model, g_free);
	g_clear_pointer(&cfg->firmware, g_free);
	g_clear_pointer(&cfg->areas, g_array_unref);
}

static void
sim_config_copy(SimPenConfig *dst, const SimPenConfig *src)
{
	*dst = *src;
	dst->serial = g_strdup(src->serial);
	dst->address = g_strdup(src->address);
	dst->manufacturer = g_strdup(src->manufacturer);
	dst->model = g_strdup(src->model);
	dst->firmware = g_strdup(src->firmware);
	dst->areas = g_array_copy(src->areas);
}

/* ---- helpers ------------------------------------------------------------- */

static gboolean
sim_pen_can_notify(SimPen *pen, SimChr chr)
{
	return pen->sink.can_notify(pen->sink_data, chr);
}

static void
sim_pen_notify(SimPen *pen, SimChr chr, const guint8 *value, gsize len)
{
	if (sim_pen_can_notify(pen, chr))
		pen->sink.notify(pen->sink_data, chr, value, len);
}

static void
sim_pen_state_changed(SimPen *pen)
{
	if (pen->sink.state_changed != NULL)
		pen->sink.state_changed(pen->sink_data);
}

static guint64
sim_pen_clock_ms(SimPen *pen)
{
	if (!pen->clock_set)
		return 0;
	return (guint64)(pen->clock_base_ms + (g_get_monotonic_time() - pen->clock_base_mono_us) / 1000);
}

static double
sim_pen_gauss(SimPen *pen)
{
	double u1 = g_rand_double_range(pen->rand, 1e-9, 1.0);
	double u2 = g_rand_double(pen->rand);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * G_PI * u2);
}

static guint16
sim_pen_noisy(SimPen *pen, guint16 target, guint16 sigma, guint16 lo, guint16 hi)
{
	double v = (double)target + sim_pen_gauss(pen) * sigma;

	return (guint16)CLAMP(lround(v), (long)lo, (long)hi);
}

static GBytes *
sim_pen_encode_status(SimPen *pen)
{
	NpPenStatus st = {
	    .state = pen->state,
	    .error_code = pen->error_code,
	    .cartridge_id = pen->has_cartridge ? pen->cartridge.cartridge_id : 0,
	    .needle_count = pen->has_cartridge ? pen->cartridge.needle_count : 0,
	    .session_id = pen->in_session ? pen->session_id : 0,
	    .flags = (pen->limits_active ? NP_STATUS_FLAG_LIMITS_ACTIVE : 0) |
		     (pen->clock_set ? NP_STATUS_FLAG_CLOCK_SET : 0),
	};
	guint8 buf[NP_PEN_STATUS_SIZE];
	size_t len = 0;

	if (np_pen_status_encode(&st, buf, sizeof(buf), &len) != NP_OK)
		g_warning("pen %s: cannot encode its status", pen->cfg.serial);
	return g_bytes_new(buf, len);
}

static void
sim_pen_status_changed(SimPen *pen)
{
	g_autoptr(GBytes) value = sim_pen_encode_status(pen);

	sim_pen_notify(pen, SIM_CHR_PEN_STATUS, g_bytes_get_data(value, NULL), g_bytes_get_size(value));
	sim_pen_state_changed(pen);
}

/* Every event takes the next number of the counter telemetry also uses. */
static void
sim_pen_emit_event(SimPen *pen, NpSessionEvent *ev)
{
	guint8 buf[NP_SESSION_EVENT_MAX_SIZE];
	size_t len = 0;
	NpStatus st;

	ev->seq = pen->next_seq++;
	ev->session_id = pen->session_id;
	ev->pen_clock_ms = sim_pen_clock_ms(pen);
	st = np_session_event_encode(ev, buf, sizeof(buf), &len);
	if (st != NP_OK) {
		g_warning("pen %s: cannot encode event 0x%02x: %s", pen->cfg.serial, ev->type,
			  np_status_describe(st));
		return;
	}
	g_debug("pen %s: event %s seq %u", pen->cfg.serial, np_event_type_to_string(ev->type), ev->seq);
	sim_pen_notify(pen, SIM_CHR_SESSION_EVENT, buf, len);
}

/* ---- telemetry -------------------------------------------------------------- */

static guint8
sim_pen_record_flags(SimPen *pen, gboolean contact)
{
	guint8 flags = NP_TELEMETRY_FLAG_MOTOR;

	if (contact)
		flags |= NP_TELEMETRY_FLAG_CONTACT;
	if (pen->cfg.features & NP_FEATURE_AREA_SELECTOR)
		flags |= NP_TELEMETRY_FLAG_AREA;
	if (pen->cfg.features & NP_FEATURE_PRESSURE)
		flags |= NP_TELEMETRY_FLAG_PRESSURE;
	if (pen->cfg.features & NP_FEATURE_E2E_CRC)
		flags |= NP_TELEMETRY_FLAG_CRC;
	return flags;
}

/* Limit enforcement: the pen never goes past limits it accepted. */
static void
sim_pen_apply_limits(SimPen *pen, guint16 *depth, guint16 *speed)
{
	if (!pen->limits_active)
		return;
	if (pen->limits.max_depth_centi_mm != NP_LIMIT_NONE && *depth > pen->limits.max_depth_centi_mm)
		*depth = pen->limits.max_depth_centi_mm;
	if (pen->limits.min_speed_deci_hz != NP_LIMIT_NONE && *speed < pen->limits.min_speed_deci_hz)
		*speed = pen->limits.min_speed_deci_hz;
	if (pen->limits.max_speed_deci_hz != NP_LIMIT_NONE && *speed > pen->limits.max_speed_deci_hz)
		*speed = pen->limits.max_speed_deci_hz;
}

static void
sim_pen_make_record(SimPen *pen, guint32 offset_ms, NpTelemetryRecord *rec)
{
	gboolean contact = offset_ms % SIM_PASS_MS < SIM_CONTACT_MS;

	memset(rec, 0, sizeof(*rec));
	rec->flags = sim_pen_record_flags(pen, contact);
	rec->seq = pen->next_seq++;
	rec->session_id = pen->session_id;
	rec->offset_ms = offset_ms;
	rec->depth_centi_mm = sim_pen_noisy(pen, pen->depth, pen->cfg.depth_noise, 0, pen->cfg.max_depth);
	rec->speed_deci_hz =
	    sim_pen_noisy(pen, pen->speed, pen->cfg.speed_noise, SIM_SPEED_MIN, SIM_SPEED_MAX);
	sim_pen_apply_limits(pen, &rec->depth_centi_mm, &rec->speed_deci_hz);
	rec->area = pen->area;
	rec->pressure_gf = contact ? sim_pen_noisy(pen, 250, 40, 20, 900) : 0;
}

static void
sim_pen_store(SimPen *pen, const NpTelemetryRecord *rec)
{
	guint cap = pen->cfg.capacity;

	if (cap == 0)
		return;
	pen->ring[(pen->ring_head + pen->ring_count) % cap] = *rec;
	if (pen->ring_count < cap)
		pen->ring_count++;
	else
		pen->ring_head = (pen->ring_head + 1) % cap;
}

/* Packs records into notifications of at most MTU - 3 bytes each; a record
 * never spans two notifications. Returns how many were sent. */
static guint
sim_pen_send_records(SimPen *pen, const NpTelemetryRecord *recs, guint n, guint8 extra_flags)
{
	gsize cap = MAX(pen->cfg.mtu, 23u) - 3u;
	g_autofree guint8 *buf = g_malloc(cap);
	gsize used = 0;

	for (guint i = 0; i < n; i++) {
		NpTelemetryRecord rec = recs[i];
		size_t len = 0;

		rec.flags |= extra_flags;
		if (used + np_telemetry_record_size_for_flags(rec.flags) > cap) {
			sim_pen_notify(pen, SIM_CHR_TELEMETRY, buf, used);
			used = 0;
		}
		if (np_telemetry_record_encode(&rec, buf + used, cap - used, &len) != NP_OK) {
			g_warning("pen %s: cannot encode record %u", pen->cfg.serial, rec.seq);
			continue;
		}
		used += len;
	}
	if (used > 0)
		sim_pen_notify(pen, SIM_CHR_TELEMETRY, buf, used);
	return n;
}

static void
sim_pen_drain_battery(SimPen *pen, double seconds)
{
	pen->battery_drain_s += seconds;
	if (pen->battery_drain_s < SIM_BATTERY_DRAIN_S || pen->battery <= 1)
		return;
	pen->battery_drain_s = 0;
	sim_pen_set_battery(pen, pen->battery - 1);
}

static void
sim_pen_generate(SimPen *pen)
{
	double elapsed_ms = (double)(g_get_monotonic_time() - pen->session_start_us) / 1000.0;
	g_autoptr(GArray) batch = g_array_new(FALSE, FALSE, sizeof(NpTelemetryRecord));
	double step = 1000.0 / MAX(pen->cfg.rate_hz, 1u);

	while (pen->next_offset_ms <= elapsed_ms &&
	       (pen->session_limit == 0 || pen->session_records < pen->session_limit)) {
		NpTelemetryRecord rec;

		sim_pen_make_record(pen, (guint32)pen->next_offset_ms, &rec);
		sim_pen_store(pen, &rec);
		g_array_append_val(batch, rec);
		pen->next_offset_ms += step;
		pen->records_generated++;
		pen->session_records++;
	}
	if (batch->len > 0)
		sim_pen_send_records(pen, (NpTelemetryRecord *)(void *)batch->data, batch->len, 0);
	sim_pen_drain_battery(pen, SIM_TICK_MS / 1000.0);
}

static gboolean
sim_pen_tick(gpointer user_data)
{
	SimPen *pen = user_data;

	sim_pen_generate(pen);
	if (pen->session_limit == 0 || pen->session_records < pen->session_limit)
		return G_SOURCE_CONTINUE;
	pen->tick_id = 0; /* this source ends here, not in sim_pen_stop_session() */
	sim_pen_stop_session(pen, NP_END_REASON_STOPPED, NULL);
	return G_SOURCE_REMOVE;
}

void
sim_pen_set_session_limit(SimPen *pen, guint64 records)
{
	pen->session_limit = records;
}

/* ---- sessions ------------------------------------------------------------- */

static void
sim_pen_new_cartridge(SimPen *pen)
{
	guint32 id = 0xCA000000u | ((pen->cfg.seed & 0xFFFu) << 12) | (++pen->cartridge_counter & 0xFFFu);

	sim_pen_insert_cartridge(pen, id, 12, 0);
}

static gboolean
sim_pen_next_area(gpointer user_data)
{
	SimPen *pen = user_data;

	if (pen->cfg.areas->len == 0)
		return G_SOURCE_CONTINUE;
	pen->area_index = (pen->area_index + 1) % pen->cfg.areas->len;
	sim_pen_set_area(pen, g_array_index(pen->cfg.areas, guint8, pen->area_index));
	return G_SOURCE_CONTINUE;
}

static void sim_pen_schedule_autorun(SimPen *pen, guint seconds);

static gboolean
sim_pen_autorun_step(gpointer user_data)
{
	SimPen *pen = user_data;

	pen->autorun_timer_id = 0;
	if (pen->in_session) {
		sim_pen_stop_session(pen, NP_END_REASON_STOPPED, NULL);
		return G_SOURCE_REMOVE;
	}
	if (pen->state == NP_PEN_STATE_ERROR || pen->state == NP_PEN_STATE_CHARGING) {
		sim_pen_schedule_autorun(pen, pen->cfg.idle_s);
		return G_SOURCE_REMOVE;
	}
	sim_pen_new_cartridge(pen);
	if (!sim_pen_start_session(pen, NULL))
		sim_pen_schedule_autorun(pen, pen->cfg.idle_s);
	return G_SOURCE_REMOVE;
}

static void
sim_pen_schedule_autorun(SimPen *pen, guint seconds)
{
	g_clear_handle_id(&pen->autorun_timer_id, g_source_remove);
	if (pen->cfg.autorun)
		pen->autorun_timer_id = g_timeout_add_seconds(MAX(seconds, 1u), sim_pen_autorun_step, pen);
}

gboolean
sim_pen_start_session(SimPen *pen, GError **error)
{
	NpSessionEvent ev = {.type = NP_EVENT_SESSION_STARTED};

	if (pen->in_session) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "a session is already running");
		return FALSE;
	}
	if (pen->state == NP_PEN_STATE_ERROR) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the pen has error 0x%04x",
			    pen->error_code);
		return FALSE;
	}
	if (pen->state == NP_PEN_STATE_CHARGING) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the pen is on its charger");
		return FALSE;
	}
	if (!pen->has_cartridge)
		sim_pen_new_cartridge(pen);
	pen->cartridge.use_count++;
	pen->session_id++;
	pen->in_session = TRUE;
	pen->state = NP_PEN_STATE_SESSION_ACTIVE;
	pen->session_start_us = g_get_monotonic_time();
	pen->next_offset_ms = 0;
	pen->session_records = 0;
	pen->area_index = 0;
	if (pen->cfg.autorun && pen->cfg.areas->len > 0)
		pen->area = g_array_index(pen->cfg.areas, guint8, 0);
	ev.u.started.cartridge = pen->cartridge;
	ev.u.started.area = pen->area;
	sim_pen_emit_event(pen, &ev);
	pen->tick_id = g_timeout_add(SIM_TICK_MS, sim_pen_tick, pen);
	if (pen->cfg.autorun && pen->cfg.areas->len > 1)
		pen->area_timer_id =
		    g_timeout_add(pen->cfg.session_s * 1000u / pen->cfg.areas->len, sim_pen_next_area, pen);
	g_message("pen %s: session %u started (area %s, cartridge %08x, use %u)", pen->cfg.serial,
		  pen->session_id, np_area_to_string(pen->area), pen->cartridge.cartridge_id,
		  pen->cartridge.use_count);
	sim_pen_status_changed(pen);
	sim_pen_schedule_autorun(pen, pen->cfg.session_s);
	return TRUE;
}

gboolean
sim_pen_stop_session(SimPen *pen, guint8 reason, GError **error)
{
	NpSessionEvent ev = {.type = NP_EVENT_SESSION_ENDED};

	if (!pen->in_session) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, "no session is running");
		return FALSE;
	}
	sim_pen_generate(pen); /* the records up to now belong to the session */
	g_clear_handle_id(&pen->tick_id, g_source_remove);
	g_clear_handle_id(&pen->area_timer_id, g_source_remove);
	ev.u.ended.duration_ms = (guint32)((g_get_monotonic_time() - pen->session_start_us) / 1000);
	ev.u.ended.reason = reason;
	sim_pen_emit_event(pen, &ev);
	pen->in_session = FALSE;
	if (pen->state == NP_PEN_STATE_SESSION_ACTIVE)
		pen->state = NP_PEN_STATE_IDLE;
	g_message("pen %s: session %u ended (%s)", pen->cfg.serial, pen->session_id,
		  np_end_reason_to_string(reason));
	if (pen->cfg.autorun && pen->has_cartridge)
		sim_pen_remove_cartridge(pen);
	sim_pen_status_changed(pen);
	sim_pen_schedule_autorun(pen, pen->cfg.idle_s);
	return TRUE;
}

void
sim_pen_set_area(SimPen *pen, guint8 area)
{
	NpSessionEvent ev = {.type = NP_EVENT_AREA_CHANGED};

	if (area == pen->area)
		return;
	pen->area = area;
	if (pen->in_session) {
		ev.u.area_changed.area = area;
		sim_pen_emit_event(pen, &ev);
	}
	sim_pen_state_changed(pen);
}

void
sim_pen_set_depth(SimPen *pen, guint16 depth)
{
	pen->depth = MIN(depth, pen->cfg.max_depth);
	sim_pen_state_changed(pen);
}

void
sim_pen_set_speed(SimPen *pen, guint16 speed)
{
	pen->speed = CLAMP(speed, SIM_SPEED_MIN, SIM_SPEED_MAX);
	sim_pen_state_changed(pen);
}

void
sim_pen_insert_cartridge(SimPen *pen, guint32 id, guint8 needles, guint16 use_count)
{
	NpSessionEvent ev = {.type = NP_EVENT_CARTRIDGE_INSERTED};

	if (pen->has_cartridge)
		sim_pen_remove_cartridge(pen);
	pen->has_cartridge = TRUE;
	pen->cartridge.cartridge_id = id;
	pen->cartridge.needle_count = needles;
	pen->cartridge.use_count = use_count;
	ev.u.cartridge_inserted = pen->cartridge;
	sim_pen_emit_event(pen, &ev);
	sim_pen_status_changed(pen);
}

void
sim_pen_remove_cartridge(SimPen *pen)
{
	NpSessionEvent ev = {.type = NP_EVENT_CARTRIDGE_REMOVED};

	if (!pen->has_cartridge)
		return;
	pen->has_cartridge = FALSE;
	sim_pen_emit_event(pen, &ev);
	sim_pen_status_changed(pen);
}

void
sim_pen_raise_error(SimPen *pen, guint16 code)
{
	NpSessionEvent ev = {.type = NP_EVENT_ERROR_RAISED};

	pen->error_code = code;
	ev.u.error.code = code;
	sim_pen_emit_event(pen, &ev);
	pen->state = NP_PEN_STATE_ERROR;
	/* A pen in error stops its motor: the session cannot go on. */
	if (pen->in_session)
		sim_pen_stop_session(pen, NP_END_REASON_DEVICE_ERROR, NULL);
	sim_pen_status_changed(pen);
}

void
sim_pen_clear_error(SimPen *pen)
{
	NpSessionEvent ev = {.type = NP_EVENT_ERROR_CLEARED};

	if (pen->state != NP_PEN_STATE_ERROR)
		return;
	ev.u.error.code = pen->error_code;
	sim_pen_emit_event(pen, &ev);
	pen->error_code = 0;
	pen->state = NP_PEN_STATE_IDLE;
	sim_pen_status_changed(pen);
}

void
sim_pen_set_battery(SimPen *pen, guint8 percent)
{
	guint8 v = MIN(percent, 100u);

	if (v == pen->battery)
		return;
	pen->battery = v;
	sim_pen_notify(pen, SIM_CHR_BATTERY_LEVEL, &v, 1);
	sim_pen_state_changed(pen);
}

gboolean
sim_pen_set_charging(SimPen *pen, gboolean charging, GError **error)
{
	if (pen->in_session) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "a session is running");
		return FALSE;
	}
	if (charging && pen->state == NP_PEN_STATE_IDLE)
		pen->state = NP_PEN_STATE_CHARGING;
	else if (!charging && pen->state == NP_PEN_STATE_CHARGING)
		pen->state = NP_PEN_STATE_IDLE;
	sim_pen_status_changed(pen);
	return TRUE;
}

void
sim_pen_set_autorun(SimPen *pen, gboolean autorun)
{
	pen->cfg.autorun = autorun;
	if (!autorun)
		g_clear_handle_id(&pen->autorun_timer_id, g_source_remove);
	else if (pen->autorun_timer_id == 0)
		sim_pen_schedule_autorun(pen, pen->in_session ? pen->cfg.session_s : 1);
}

void
sim_pen_set_rate(SimPen *pen, guint rate_hz)
{
	pen->cfg.rate_hz = (guint8)CLAMP(rate_hz, 1u, 255u);
}

void
sim_pen_send_raw(SimPen *pen, SimChr chr, const guint8 *value, gsize len)
{
	sim_pen_notify(pen, chr, value, len);
}

/* ---- Control Point ------------------------------------------------------------ */

static void
sim_pen_cp_send(SimPen *pen, const NpControlResponse *resp)
{
	guint8 buf[NP_CONTROL_RESPONSE_MAX_SIZE];
	size_t len = 0;

	if (np_control_response_encode(resp, buf, sizeof(buf), &len) != NP_OK) {
		g_warning("pen %s: cannot encode a response to 0x%02x", pen->cfg.serial, resp->request_op);
		return;
	}
	sim_pen_notify(pen, SIM_CHR_CONTROL_POINT, buf, len);
}

static gboolean
sim_pen_cp_answer(gpointer user_data)
{
	SimPen *pen = user_data;

	pen->cp_timer_id = 0;
	pen->cp_busy = FALSE;
	sim_pen_cp_send(pen, &pen->cp_response);
	return G_SOURCE_REMOVE;
}

static void
sim_pen_cp_finish(SimPen *pen, guint8 op, guint8 result, guint32 count)
{
	pen->cp_response.request_op = op;
	pen->cp_response.result = result;
	pen->cp_response.records_sent = count;
	pen->cp_timer_id = g_timeout_add(SIM_CP_DELAY_MS, sim_pen_cp_answer, pen);
}

typedef struct {
	SimPen *pen;
	NpControlResponse resp;
} SimBusyReply;

/* A second request while one is pending gets "busy" on its own, and the
 * first one is still answered. */
static gboolean
sim_pen_cp_busy_answer(gpointer user_data)
{
	SimBusyReply *r = user_data;

	sim_pen_cp_send(r->pen, &r->resp);
	return G_SOURCE_REMOVE;
}

static gboolean
sim_pen_replay_step(gpointer user_data)
{
	SimPen *pen = user_data;
	guint per_packet = (MAX(pen->cfg.mtu, 23u) - 3u) / NP_TELEMETRY_RECORD_MAX_SIZE;
	guint n = MIN(MAX(per_packet, 1u), pen->replay->len - pen->replay_sent);

	sim_pen_send_records(pen, &g_array_index(pen->replay, NpTelemetryRecord, pen->replay_sent), n,
			     NP_TELEMETRY_FLAG_REPLAYED);
	pen->replay_sent += n;
	if (pen->replay_sent < pen->replay->len)
		return G_SOURCE_CONTINUE;
	pen->replay_id = 0;
	g_info("pen %s: replayed %u stored records", pen->cfg.serial, pen->replay_sent);
	sim_pen_cp_finish(pen, NP_OP_REPORT_STORED_RECORDS, NP_RESULT_SUCCESS, pen->replay_sent);
	return G_SOURCE_REMOVE;
}

static guint8
sim_pen_cp_report(SimPen *pen, guint32 first_seq)
{
	if (!(pen->cfg.features & NP_FEATURE_STORED_RECORDS))
		return NP_RESULT_NOT_SUPPORTED;
	if (!sim_pen_can_notify(pen, SIM_CHR_TELEMETRY))
		return NP_RESULT_NOT_PERMITTED;
	g_array_set_size(pen->replay, 0);
	for (guint i = 0; i < pen->ring_count; i++) {
		const NpTelemetryRecord *rec = &pen->ring[(pen->ring_head + i) % pen->cfg.capacity];

		if (rec->seq >= first_seq)
			g_array_append_vals(pen->replay, rec, 1);
	}
	pen->replay_sent = 0;
	if (pen->replay->len == 0)
		return NP_RESULT_SUCCESS;
	pen->replay_id = g_timeout_add(SIM_REPLAY_PERIOD_MS, sim_pen_replay_step, pen);
	return 0; /* answered when the replay is done */
}

static guint8
sim_pen_cp_set_limits(SimPen *pen, const NpLimits *l)
{
	NpSessionEvent ev = {.type = NP_EVENT_LIMITS_APPLIED};

	if (!(pen->cfg.features & NP_FEATURE_LIMIT_ENFORCEMENT))
		return NP_RESULT_NOT_SUPPORTED;
	if (l->max_depth_centi_mm == 0 || l->max_speed_deci_hz == 0 ||
	    (l->min_speed_deci_hz != NP_LIMIT_NONE && l->max_speed_deci_hz != NP_LIMIT_NONE &&
	     l->min_speed_deci_hz > l->max_speed_deci_hz))
		return NP_RESULT_INVALID_PARAMETER;
	/* Limits the pen cannot reach are refused, not silently narrowed. */
	if ((l->max_depth_centi_mm != NP_LIMIT_NONE && l->max_depth_centi_mm > pen->cfg.max_depth) ||
	    (l->max_speed_deci_hz != NP_LIMIT_NONE && l->max_speed_deci_hz > SIM_SPEED_MAX) ||
	    (l->min_speed_deci_hz != NP_LIMIT_NONE && l->min_speed_deci_hz < SIM_SPEED_MIN))
		return NP_RESULT_NOT_PERMITTED;
	pen->limits = *l;
	pen->limits_active = l->max_depth_centi_mm != NP_LIMIT_NONE ||
			     l->min_speed_deci_hz != NP_LIMIT_NONE || l->max_speed_deci_hz != NP_LIMIT_NONE;
	ev.u.limits_applied = *l;
	sim_pen_emit_event(pen, &ev);
	sim_pen_status_changed(pen);
	return NP_RESULT_SUCCESS;
}

static guint8
sim_pen_cp_clear_limits(SimPen *pen)
{
	NpLimits none = {NP_LIMIT_NONE, NP_LIMIT_NONE, NP_LIMIT_NONE};

	if (!(pen->cfg.features & NP_FEATURE_LIMIT_ENFORCEMENT))
		return NP_RESULT_NOT_SUPPORTED;
	return sim_pen_cp_set_limits(pen, &none);
}

static gboolean
sim_pen_identify_done(gpointer user_data)
{
	SimPen *pen = user_data;

	pen->identify_id = 0;
	pen->identifying = FALSE;
	sim_pen_state_changed(pen);
	return G_SOURCE_REMOVE;
}

static guint8
sim_pen_cp_identify(SimPen *pen)
{
	g_message("pen %s: *beep* (identify)", pen->cfg.serial);
	pen->identifying = TRUE;
	g_clear_handle_id(&pen->identify_id, g_source_remove);
	pen->identify_id = g_timeout_add(SIM_IDENTIFY_MS, sim_pen_identify_done, pen);
	sim_pen_state_changed(pen);
	return NP_RESULT_SUCCESS;
}

static guint8
sim_pen_cp_set_time(SimPen *pen, guint64 time_ms)
{
	if (time_ms == 0)
		return NP_RESULT_INVALID_PARAMETER;
	pen->clock_set = TRUE;
	pen->clock_base_ms = (gint64)time_ms;
	pen->clock_base_mono_us = g_get_monotonic_time();
	sim_pen_status_changed(pen);
	return NP_RESULT_SUCCESS;
}

static guint8
sim_pen_cp_dispatch(SimPen *pen, const NpControlRequest *req)
{
	switch ((NpOpCode)req->op) {
	case NP_OP_SET_TIME:
		return sim_pen_cp_set_time(pen, req->u.time_ms);
	case NP_OP_SET_LIMITS:
		return sim_pen_cp_set_limits(pen, &req->u.limits);
	case NP_OP_CLEAR_LIMITS:
		return sim_pen_cp_clear_limits(pen);
	case NP_OP_REPORT_STORED_RECORDS:
		return sim_pen_cp_report(pen, req->u.first_seq);
	case NP_OP_STOP_SESSION:
		return sim_pen_stop_session(pen, NP_END_REASON_REMOTE_STOP, NULL) ? NP_RESULT_SUCCESS
										  : NP_RESULT_NOT_PERMITTED;
	case NP_OP_SET_AREA:
		if (req->u.area >= NP_AREA_COUNT)
			return NP_RESULT_INVALID_PARAMETER;
		sim_pen_set_area(pen, req->u.area);
		return NP_RESULT_SUCCESS;
	case NP_OP_IDENTIFY:
		return sim_pen_cp_identify(pen);
	}
	return NP_RESULT_NOT_SUPPORTED;
}

guint8
sim_pen_control_write(SimPen *pen, const guint8 *value, gsize len)
{
	NpControlRequest req = {0};
	NpStatus st;
	guint8 result;

	if (len == 0)
		return 0x0D; /* ATT: Invalid Attribute Value Length */
	if (pen->cp_silent) {
		g_info("pen %s: control point %s -> (silent)", pen->cfg.serial,
		       np_op_code_to_string(value[0]));
		return 0;
	}
	if (pen->cp_busy) {
		SimBusyReply *r = g_new0(SimBusyReply, 1);

		r->pen = pen;
		r->resp.request_op = value[0];
		r->resp.result = NP_RESULT_BUSY;
		g_timeout_add_full(G_PRIORITY_DEFAULT, SIM_CP_DELAY_MS, sim_pen_cp_busy_answer, r, g_free);
		return 0;
	}
	st = np_control_request_decode(value, len, &req, NULL);
	pen->cp_busy = TRUE;
	if (st == NP_ERR_UNKNOWN_OPCODE)
		result = NP_RESULT_NOT_SUPPORTED;
	else if (st != NP_OK)
		result = NP_RESULT_INVALID_PARAMETER;
	else
		result = sim_pen_cp_dispatch(pen, &req);
	g_info("pen %s: control point %s -> %s", pen->cfg.serial, np_op_code_to_string(value[0]),
	       result != 0 ? np_result_code_to_string(result) : "replaying");
	if (result != 0)
		sim_pen_cp_finish(pen, value[0], result, 0);
	return 0;
}

void
sim_pen_set_cp_silent(SimPen *pen, gboolean silent)
{
	pen->cp_silent = silent;
}

void
sim_pen_set_mtu(SimPen *pen, guint16 mtu)
{
	pen->cfg.mtu = MAX(mtu, 23u);
}

void
sim_pen_link_changed(SimPen *pen, gboolean up)
{
	if (up)
		return;
	g_clear_handle_id(&pen->replay_id, g_source_remove);
	g_clear_handle_id(&pen->cp_timer_id, g_source_remove);
	pen->cp_busy = FALSE;
}

/* ---- reads ------------------------------------------------------------------- */

static GBytes *
sim_pen_encode_features(SimPen *pen)
{
	NpPenFeatures f = {
	    .protocol_version = NP_PROTOCOL_VERSION,
	    .feature_bits = pen->cfg.features,
	    .telemetry_rate_hz = pen->cfg.rate_hz,
	    .stored_records_capacity = pen->cfg.capacity,
	    .max_depth_centi_mm = pen->cfg.max_depth,
	};
	guint8 buf[NP_PEN_FEATURES_SIZE];
	size_t len = 0;

	if (np_pen_features_encode(&f, buf, sizeof(buf), &len) != NP_OK)
		g_warning("pen %s: cannot encode its features", pen->cfg.serial);
	return g_bytes_new(buf, len);
}

GBytes *
sim_pen_read(SimPen *pen, SimChr chr)
{
	switch (chr) {
	case SIM_CHR_MANUFACTURER:
		return g_bytes_new(pen->cfg.manufacturer, strlen(pen->cfg.manufacturer));
	case SIM_CHR_MODEL:
		return g_bytes_new(pen->cfg.model, strlen(pen->cfg.model));
	case SIM_CHR_SERIAL:
		return g_bytes_new(pen->cfg.serial, strlen(pen->cfg.serial));
	case SIM_CHR_FIRMWARE:
		return g_bytes_new(pen->cfg.firmware, strlen(pen->cfg.firmware));
	case SIM_CHR_BATTERY_LEVEL:
		return g_bytes_new(&pen->battery, 1);
	case SIM_CHR_FEATURES:
		return sim_pen_encode_features(pen);
	case SIM_CHR_PEN_STATUS:
		return sim_pen_encode_status(pen);
	case SIM_CHR_TELEMETRY:
	case SIM_CHR_SESSION_EVENT:
	case SIM_CHR_CONTROL_POINT:
	case SIM_CHR_SERVICE_CHANGED:
	case SIM_CHR_COUNT:
		break;
	}
	return NULL;
}

/* ---- lifetime and getters ------------------------------------------------------ */

SimPen *
sim_pen_new(const SimPenConfig *cfg, const SimPenSink *sink, gpointer sink_data)
{
	SimPen *pen = g_new0(SimPen, 1);
	g_autofree char *upper = NULL;
	gsize n;

	sim_config_copy(&pen->cfg, cfg);
	upper = g_ascii_strup(pen->cfg.serial, -1);
	n = strlen(upper);
	pen->name = g_strdup_printf("NeedlePen-%s", n >= 4 ? upper + n - 4 : upper);
	pen->sink = *sink;
	pen->sink_data = sink_data;
	pen->rand = g_rand_new_with_seed(cfg->seed);
	pen->state = NP_PEN_STATE_IDLE;
	pen->battery = MIN(cfg->battery, 100u);
	pen->next_seq = cfg->first_seq;
	pen->depth = MIN(cfg->depth, cfg->max_depth);
	pen->speed = CLAMP(cfg->speed, SIM_SPEED_MIN, SIM_SPEED_MAX);
	pen->limits.max_depth_centi_mm = pen->limits.min_speed_deci_hz = pen->limits.max_speed_deci_hz =
	    NP_LIMIT_NONE;
	pen->ring = g_new0(NpTelemetryRecord, MAX(cfg->capacity, 1u));
	pen->replay = g_array_new(FALSE, FALSE, sizeof(NpTelemetryRecord));
	sim_pen_schedule_autorun(pen, 2);
	return pen;
}

void
sim_pen_free(SimPen *pen)
{
	if (pen == NULL)
		return;
	g_clear_handle_id(&pen->tick_id, g_source_remove);
	g_clear_handle_id(&pen->area_timer_id, g_source_remove);
	g_clear_handle_id(&pen->autorun_timer_id, g_source_remove);
	g_clear_handle_id(&pen->cp_timer_id, g_source_remove);
	g_clear_handle_id(&pen->replay_id, g_source_remove);
	g_clear_handle_id(&pen->identify_id, g_source_remove);
	g_array_unref(pen->replay);
	g_free(pen->ring);
	g_rand_free(pen->rand);
	g_free(pen->name);
	sim_pen_config_clear(&pen->cfg);
	g_free(pen);
}

const SimPenConfig *
sim_pen_get_config(SimPen *pen)
{
	return &pen->cfg;
}

const char *
sim_pen_get_name(SimPen *pen)
{
	return pen->name;
}

guint8
sim_pen_get_state(SimPen *pen)
{
	return pen->state;
}

guint16
sim_pen_get_session_id(SimPen *pen)
{
	return pen->in_session ? pen->session_id : 0;
}

guint32
sim_pen_get_next_seq(SimPen *pen)
{
	return pen->next_seq;
}

guint
sim_pen_get_stored_count(SimPen *pen)
{
	return pen->ring_count;
}

guint8
sim_pen_get_area(SimPen *pen)
{
	return pen->area;
}

guint8
sim_pen_get_battery(SimPen *pen)
{
	return pen->battery;
}

guint32
sim_pen_get_cartridge_id(SimPen *pen)
{
	return pen->has_cartridge ? pen->cartridge.cartridge_id : 0;
}

guint16
sim_pen_get_error(SimPen *pen)
{
	return pen->error_code;
}

guint64
sim_pen_get_records_generated(SimPen *pen)
{
	return pen->records_generated;
}

gboolean
sim_pen_get_identifying(SimPen *pen)
{
	return pen->identifying;
}

gboolean
sim_pen_get_clock_set(SimPen *pen)
{
	return pen->clock_set;
}

gboolean
sim_pen_get_limits(SimPen *pen, NpLimits *limits)
{
	*limits = pen->limits;
	return pen->limits_active;
}
