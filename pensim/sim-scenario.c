/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scenario files: a GLib key file that sets up each pen and scripts its timeline. */

#include "sim-scenario.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim-control.h"

typedef enum {
	SIM_STEP_START_SESSION,
	SIM_STEP_STOP_SESSION,
	SIM_STEP_SET_AREA,
	SIM_STEP_SET_DEPTH,
	SIM_STEP_SET_SPEED,
	SIM_STEP_SET_RATE,
	SIM_STEP_INSERT_CARTRIDGE,
	SIM_STEP_REMOVE_CARTRIDGE,
	SIM_STEP_RAISE_ERROR,
	SIM_STEP_CLEAR_ERROR,
	SIM_STEP_SET_BATTERY,
	SIM_STEP_DROP_LINK,
	SIM_STEP_DISAPPEAR,
	SIM_STEP_APPEAR,
	SIM_STEP_HANG,
	SIM_STEP_ANSWER,
	SIM_STEP_BOND,
	SIM_STEP_UNBOND,
	SIM_STEP_MALFORMED,
	SIM_STEP_AUTORUN,
	SIM_STEP_CHARGING,
} SimStepKind;

/* name, number of arguments */
static const struct {
	const char *name;
	guint n_args;
} sim_step_defs[] = {
    [SIM_STEP_START_SESSION] = {"start-session", 0},
    [SIM_STEP_STOP_SESSION] = {"stop-session", 1},
    [SIM_STEP_SET_AREA] = {"set-area", 1},
    [SIM_STEP_SET_DEPTH] = {"set-depth", 1},
    [SIM_STEP_SET_SPEED] = {"set-speed", 1},
    [SIM_STEP_SET_RATE] = {"set-rate", 1},
    [SIM_STEP_INSERT_CARTRIDGE] = {"insert-cartridge", 3},
    [SIM_STEP_REMOVE_CARTRIDGE] = {"remove-cartridge", 0},
    [SIM_STEP_RAISE_ERROR] = {"raise-error", 1},
    [SIM_STEP_CLEAR_ERROR] = {"clear-error", 0},
    [SIM_STEP_SET_BATTERY] = {"set-battery", 1},
    [SIM_STEP_DROP_LINK] = {"drop-link", 0},
    [SIM_STEP_DISAPPEAR] = {"disappear", 0},
    [SIM_STEP_APPEAR] = {"appear", 0},
    [SIM_STEP_HANG] = {"hang", 0},
    [SIM_STEP_ANSWER] = {"answer", 0},
    [SIM_STEP_BOND] = {"bond", 0},
    [SIM_STEP_UNBOND] = {"unbond", 0},
    [SIM_STEP_MALFORMED] = {"malformed", 1},
    [SIM_STEP_AUTORUN] = {"autorun", 1},
    [SIM_STEP_CHARGING] = {"charging", 1},
};

typedef struct {
	double at; /* seconds after org.bluez is owned */
	SimStepKind kind;
	double num[3]; /* numeric arguments */
	char *text;    /* the string argument (malformed kind) */
} SimStep;

typedef struct {
	SimScenario *scenario;
	SimDaemon *daemon;
	guint pen; /* 1-based */
	const SimStep *step;
	guint timer; /* index in scenario->timers */
} SimStepRun;

struct _SimScenario {
	char *file;
	GKeyFile *kf;
	guint n_pens;
	GPtrArray *timelines; /* index pen-1 -> GArray of SimStep, or NULL */
	GArray *timers;	      /* guint source ids */
};

static void
sim_step_array_free(GArray *steps)
{
	for (guint i = 0; steps != NULL && i < steps->len; i++)
		g_free(g_array_index(steps, SimStep, i).text);
	if (steps != NULL)
		g_array_unref(steps);
}

/* ---- number parsing with named errors ------------------------------------------ */

static gboolean
sim_parse_number(const char *text, double lo, double hi, double *out, const char *what, GError **error)
{
	char *end = NULL;
	double v;

	if (text == NULL || text[0] == '\0') {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: a number is missing", what);
		return FALSE;
	}
	v = g_str_has_prefix(text, "0x") ? (double)g_ascii_strtoull(text, &end, 16)
					 : g_ascii_strtod(text, &end);
	if (*end != '\0' || isnan(v) || v < lo || v > hi) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: '%s' is not a number from %g to %g", what, text, lo, hi);
		return FALSE;
	}
	*out = v;
	return TRUE;
}

/* ---- timeline ---------------------------------------------------------------------- */

static gboolean
sim_step_parse_args(SimStep *step, char **argv, const char *what, GError **error)
{
	static const double max_of[] = {
	    [SIM_STEP_SET_DEPTH] = 3.0,	    [SIM_STEP_SET_SPEED] = 160.0,
	    [SIM_STEP_SET_RATE] = 255.0,    [SIM_STEP_RAISE_ERROR] = 65535.0,
	    [SIM_STEP_SET_BATTERY] = 100.0, [SIM_STEP_INSERT_CARTRIDGE] = 4294967295.0};
	int v;

	switch (step->kind) {
	case SIM_STEP_STOP_SESSION:
		v = sim_parse_end_reason(argv[0]);
		step->num[0] = v;
		break;
	case SIM_STEP_SET_AREA:
		v = sim_parse_area(argv[0]);
		step->num[0] = v;
		break;
	case SIM_STEP_AUTORUN:
	case SIM_STEP_CHARGING:
		v = g_str_equal(argv[0], "on") ? 1 : g_str_equal(argv[0], "off") ? 0 : -1;
		step->num[0] = v;
		break;
	case SIM_STEP_MALFORMED:
		step->text = g_strdup(argv[0]);
		v = sim_malformed_kind_known(argv[0]) ? 0 : -1;
		break;
	case SIM_STEP_INSERT_CARTRIDGE:
		return sim_parse_number(argv[0], 1, max_of[step->kind], &step->num[0], what, error) &&
		       sim_parse_number(argv[1], 0, 255, &step->num[1], what, error) &&
		       sim_parse_number(argv[2], 0, 65535, &step->num[2], what, error);
	case SIM_STEP_SET_DEPTH:
	case SIM_STEP_SET_SPEED:
	case SIM_STEP_SET_RATE:
	case SIM_STEP_RAISE_ERROR:
	case SIM_STEP_SET_BATTERY:
		return sim_parse_number(argv[0], step->kind == SIM_STEP_SET_SPEED ? 5 : 0, max_of[step->kind],
					&step->num[0], what, error);
	default:
		return TRUE;
	}
	if (v < 0) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: '%s' is not valid here", what, argv[0]);
		return FALSE;
	}
	return TRUE;
}

static gboolean
sim_step_parse(const char *entry, SimStep *step, const char *what, GError **error)
{
	g_auto(GStrv) argv = g_strsplit_set(entry, " \t", -1);
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	guint k;

	for (guint i = 0; argv[i] != NULL; i++) {
		if (argv[i][0] != '\0')
			g_ptr_array_add(words, argv[i]);
	}
	g_ptr_array_add(words, NULL);
	if (words->len < 3) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: '%s' is not \"SECONDS ACTION [ARGUMENTS]\"", what, entry);
		return FALSE;
	}
	if (!sim_parse_number(g_ptr_array_index(words, 0), 0, 86400, &step->at, what, error))
		return FALSE;
	for (k = 0; k < G_N_ELEMENTS(sim_step_defs); k++) {
		if (g_str_equal(sim_step_defs[k].name, g_ptr_array_index(words, 1)))
			break;
	}
	if (k == G_N_ELEMENTS(sim_step_defs)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: unknown action '%s'", what, (const char *)g_ptr_array_index(words, 1));
		return FALSE;
	}
	step->kind = (SimStepKind)k;
	if (words->len - 3 != sim_step_defs[k].n_args) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: %s takes %u argument(s), '%s' has %u", what, sim_step_defs[k].name,
			    sim_step_defs[k].n_args, entry, words->len - 3);
		return FALSE;
	}
	return sim_step_parse_args(step, (char **)words->pdata + 2, what, error);
}

static GArray *
sim_timeline_parse(GKeyFile *kf, const char *group, GError **error)
{
	g_auto(GStrv) entries = g_key_file_get_string_list(kf, group, "timeline", NULL, NULL);
	GArray *steps = g_array_new(FALSE, TRUE, sizeof(SimStep));

	for (guint i = 0; entries != NULL && entries[i] != NULL; i++) {
		g_autofree char *what = g_strdup_printf("[%s] timeline entry %u", group, i + 1);
		g_autofree char *entry = g_strstrip(g_strdup(entries[i]));
		SimStep step = {0};

		if (entry[0] == '\0')
			continue;
		if (!sim_step_parse(entry, &step, what, error)) {
			g_free(step.text);
			sim_step_array_free(steps);
			return NULL;
		}
		g_array_append_val(steps, step);
	}
	return steps;
}

/* ---- pen settings -------------------------------------------------------------------- */

static gboolean
sim_cfg_number(GKeyFile *kf, const char *group, const char *key, double lo, double hi, double *out,
	       GError **error)
{
	g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);
	g_autofree char *what = g_strdup_printf("[%s] %s", group, key);

	if (text == NULL)
		return TRUE; /* not set: the default stays */
	g_strstrip(text);
	return sim_parse_number(text, lo, hi, out, what, error);
}

static void
sim_cfg_string(GKeyFile *kf, const char *group, const char *key, char **field)
{
	g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);

	if (text != NULL) {
		g_free(*field);
		*field = g_strdup(g_strstrip(text));
	}
}

static gboolean
sim_cfg_bool(GKeyFile *kf, const char *group, const char *key, gboolean *field, GError **error)
{
	g_autoptr(GError) local = NULL;
	gboolean v;

	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	v = g_key_file_get_boolean(kf, group, key, &local);
	if (local != NULL) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[%s] %s: not true or false", group, key);
		return FALSE;
	}
	*field = v;
	return TRUE;
}

static gboolean
sim_cfg_areas(GKeyFile *kf, const char *group, SimPenConfig *cfg, GError **error)
{
	g_auto(GStrv) names = g_key_file_get_string_list(kf, group, "areas", NULL, NULL);

	if (names == NULL)
		return TRUE;
	g_array_set_size(cfg->areas, 0);
	for (guint i = 0; names[i] != NULL; i++) {
		int area = sim_parse_area(g_strstrip(names[i]));

		if (area < 0 || area >= (int)NP_AREA_COUNT) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s] areas: '%s' is not an area", group, names[i]);
			return FALSE;
		}
		g_array_append_vals(cfg->areas, &(guint8){(guint8)area}, 1);
	}
	return TRUE;
}

static gboolean
sim_cfg_features(GKeyFile *kf, const char *group, SimPenConfig *cfg, GError **error)
{
	static const char *const names[] = {"e2e_crc", "pressure", "area_selector", "stored_records",
					    "limit_enforcement"};
	g_auto(GStrv) list = g_key_file_get_string_list(kf, group, "features", NULL, NULL);
	double v;

	if (list == NULL)
		return TRUE;
	if (list[0] != NULL && list[1] == NULL && g_ascii_isdigit(g_strstrip(list[0])[0])) {
		if (!sim_parse_number(list[0], 0, 65535, &v, "features", error))
			return FALSE;
		cfg->features = (guint16)v;
		return TRUE;
	}
	cfg->features = 0;
	for (guint i = 0; list[i] != NULL; i++) {
		guint b;

		for (b = 0; b < G_N_ELEMENTS(names) && !g_str_equal(g_strstrip(list[i]), names[b]); b++)
			;
		if (b == G_N_ELEMENTS(names)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s] features: unknown feature '%s'", group, list[i]);
			return FALSE;
		}
		cfg->features |= (guint16)(1u << b);
	}
	return TRUE;
}

typedef struct {
	const char *key;
	double lo, hi, scale;
	gsize offset;
	guint size;
} SimNumField;

#define SIM_FIELD(key, lo, hi, scale, member)                                                                \
	{                                                                                                    \
		key, lo, hi, scale, G_STRUCT_OFFSET(SimPenConfig, member),                                   \
		    sizeof(((SimPenConfig *)0)->member)                                                      \
	}

static const SimNumField sim_num_fields[] = {
    SIM_FIELD("model-code", 0, 255, 1, model_code),
    SIM_FIELD("rate", 1, 255, 1, rate_hz),
    SIM_FIELD("capacity", 0, 65535, 1, capacity),
    SIM_FIELD("max-depth", 0.01, 3.0, 100, max_depth),
    SIM_FIELD("battery", 0, 100, 1, battery),
    SIM_FIELD("first-seq", 0, 4294967295.0, 1, first_seq),
    SIM_FIELD("session", 1, 86400, 1, session_s),
    SIM_FIELD("idle", 1, 86400, 1, idle_s),
    SIM_FIELD("depth", 0, 3.0, 100, depth),
    SIM_FIELD("speed", 5, 160, 10, speed),
    SIM_FIELD("depth-noise", 0, 1.0, 100, depth_noise),
    SIM_FIELD("speed-noise", 0, 50, 10, speed_noise),
    SIM_FIELD("rssi", -127, 20, 1, rssi),
    SIM_FIELD("seed", 0, 4294967295.0, 1, seed),
    SIM_FIELD("mtu", 23, 517, 1, mtu),
};

static void
sim_store_field(SimPenConfig *cfg, const SimNumField *f, double v)
{
	guint8 *p = (guint8 *)cfg + f->offset;
	long long n = llround(v * f->scale);

	if (g_str_equal(f->key, "rssi")) {
		*(gint16 *)(void *)p = (gint16)n;
		return;
	}
	switch (f->size) {
	case 1:
		*p = (guint8)n;
		break;
	case 2:
		*(guint16 *)(void *)p = (guint16)n;
		break;
	default:
		*(guint32 *)(void *)p = (guint32)n;
		break;
	}
}

gboolean
sim_scenario_apply_config(SimScenario *scenario, guint index, SimPenConfig *cfg, GError **error)
{
	g_autofree char *group = g_strdup_printf("pen %u", index);
	GKeyFile *kf = scenario->kf;

	if (!g_key_file_has_group(kf, group))
		return TRUE;
	sim_cfg_string(kf, group, "serial", &cfg->serial);
	sim_cfg_string(kf, group, "address", &cfg->address);
	sim_cfg_string(kf, group, "manufacturer", &cfg->manufacturer);
	sim_cfg_string(kf, group, "model", &cfg->model);
	sim_cfg_string(kf, group, "firmware", &cfg->firmware);
	for (guint i = 0; i < G_N_ELEMENTS(sim_num_fields); i++) {
		double v;

		if (!g_key_file_has_key(kf, group, sim_num_fields[i].key, NULL))
			continue;
		if (!sim_cfg_number(kf, group, sim_num_fields[i].key, sim_num_fields[i].lo,
				    sim_num_fields[i].hi, &v, error))
			return FALSE;
		sim_store_field(cfg, &sim_num_fields[i], v);
	}
	if (!sim_cfg_bool(kf, group, "paired", &cfg->paired, error) ||
	    !sim_cfg_bool(kf, group, "autorun", &cfg->autorun, error) ||
	    !sim_cfg_areas(kf, group, cfg, error) || !sim_cfg_features(kf, group, cfg, error))
		return FALSE;
	if (!g_regex_match_simple("^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$", cfg->address, 0, 0)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[%s] address: '%s' is not XX:XX:XX:XX:XX:XX", group, cfg->address);
		return FALSE;
	}
	if (cfg->serial[0] == '\0') {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "[%s] serial: empty",
			    group);
		return FALSE;
	}
	return TRUE;
}

/* ---- loading --------------------------------------------------------------------------- */

static gboolean
sim_scenario_check_groups(SimScenario *scenario, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(scenario->kf, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		double n;
		g_autofree char *what = g_strdup_printf("group [%s]", groups[i]);

		if (g_str_equal(groups[i], "simulator"))
			continue;
		if (!g_str_has_prefix(groups[i], "pen ")) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
				    "unknown group [%s]: expected [simulator] or [pen N]", groups[i]);
			return FALSE;
		}
		if (!sim_parse_number(groups[i] + 4, 1, 1000, &n, what, error) || n != floor(n))
			return FALSE;
		scenario->n_pens = MAX(scenario->n_pens, (guint)n);
	}
	return TRUE;
}

static gboolean
sim_scenario_parse(SimScenario *scenario, GError **error)
{
	double n = 0;

	if (!sim_scenario_check_groups(scenario, error))
		return FALSE;
	if (!sim_cfg_number(scenario->kf, "simulator", "pens", 0, 1000, &n, error))
		return FALSE;
	scenario->n_pens = MAX(scenario->n_pens, (guint)n);
	for (guint i = 1; i <= scenario->n_pens; i++) {
		g_autofree char *group = g_strdup_printf("pen %u", i);
		GArray *steps = sim_timeline_parse(scenario->kf, group, error);
		SimPenConfig probe;
		gboolean ok;

		if (steps == NULL)
			return FALSE;
		g_ptr_array_add(scenario->timelines, steps);
		/* settings are checked now, before anything reaches the bus */
		sim_pen_config_init(&probe, i);
		ok = sim_scenario_apply_config(scenario, i, &probe, error);
		sim_pen_config_clear(&probe);
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

SimScenario *
sim_scenario_load(const char *file, GError **error)
{
	g_autoptr(SimScenario) scenario = g_new0(SimScenario, 1);

	scenario->file = g_strdup(file);
	scenario->kf = g_key_file_new();
	scenario->timelines = g_ptr_array_new_with_free_func((GDestroyNotify)sim_step_array_free);
	scenario->timers = g_array_new(FALSE, FALSE, sizeof(guint));
	if (!g_key_file_load_from_file(scenario->kf, file, G_KEY_FILE_NONE, error) ||
	    !sim_scenario_parse(scenario, error)) {
		g_prefix_error(error, "scenario %s: ", file);
		return NULL;
	}
	return g_steal_pointer(&scenario);
}

void
sim_scenario_free(SimScenario *scenario)
{
	if (scenario == NULL)
		return;
	for (guint i = 0; scenario->timers != NULL && i < scenario->timers->len; i++) {
		if (g_array_index(scenario->timers, guint, i) != 0)
			g_source_remove(g_array_index(scenario->timers, guint, i));
	}
	g_clear_pointer(&scenario->timers, g_array_unref);
	g_clear_pointer(&scenario->timelines, g_ptr_array_unref);
	g_clear_pointer(&scenario->kf, g_key_file_unref);
	g_free(scenario->file);
	g_free(scenario);
}

guint
sim_scenario_get_n_pens(SimScenario *scenario)
{
	return scenario->n_pens;
}

/* ---- running ------------------------------------------------------------------------------ */

static void
sim_step_run_link(SimDevice *device, const SimStep *step)
{
	g_autoptr(GError) error = NULL;

	switch (step->kind) {
	case SIM_STEP_DROP_LINK:
		sim_device_drop_link(device, "link lost");
		break;
	case SIM_STEP_DISAPPEAR:
	case SIM_STEP_APPEAR:
		sim_device_set_present(device, step->kind == SIM_STEP_APPEAR);
		break;
	case SIM_STEP_HANG:
	case SIM_STEP_ANSWER:
		sim_device_set_responsive(device, step->kind == SIM_STEP_ANSWER);
		break;
	case SIM_STEP_BOND:
		if (!device->exported && !sim_device_export(device, &error))
			g_warning("cannot export a device: %s", error->message);
		sim_device_set_paired(device, TRUE);
		break;
	case SIM_STEP_UNBOND:
		sim_device_set_paired(device, FALSE);
		break;
	default:
		break;
	}
}

static void
sim_step_run_pen(SimDevice *device, const SimStep *step)
{
	SimPen *pen = device->pen;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;
	SimChr chr;

	switch (step->kind) {
	case SIM_STEP_SET_AREA:
		sim_pen_set_area(pen, (guint8)step->num[0]);
		break;
	case SIM_STEP_SET_DEPTH:
		sim_pen_set_depth(pen, (guint16)lround(step->num[0] * 100));
		break;
	case SIM_STEP_SET_SPEED:
		sim_pen_set_speed(pen, (guint16)lround(step->num[0] * 10));
		break;
	case SIM_STEP_SET_RATE:
		sim_pen_set_rate(pen, (guint)step->num[0]);
		break;
	case SIM_STEP_INSERT_CARTRIDGE:
		sim_pen_insert_cartridge(pen, (guint32)step->num[0], (guint8)step->num[1],
					 (guint16)step->num[2]);
		break;
	case SIM_STEP_REMOVE_CARTRIDGE:
		sim_pen_remove_cartridge(pen);
		break;
	case SIM_STEP_RAISE_ERROR:
		sim_pen_raise_error(pen, (guint16)step->num[0]);
		break;
	case SIM_STEP_CLEAR_ERROR:
		sim_pen_clear_error(pen);
		break;
	case SIM_STEP_SET_BATTERY:
		sim_pen_set_battery(pen, (guint8)step->num[0]);
		break;
	case SIM_STEP_MALFORMED:
		bytes = sim_malformed_bytes(pen, step->text, &chr);
		if (bytes != NULL)
			sim_pen_send_raw(pen, chr, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
		break;
	case SIM_STEP_AUTORUN:
		sim_pen_set_autorun(pen, step->num[0] > 0);
		break;
	case SIM_STEP_CHARGING:
		if (!sim_pen_set_charging(pen, step->num[0] > 0, &error))
			g_warning("scenario: charging: %s", error->message);
		break;
	default:
		sim_step_run_link(device, step);
		break;
	}
}

static gboolean
sim_step_fire(gpointer user_data)
{
	SimStepRun *run = user_data;
	SimDevice *device = g_ptr_array_index(run->daemon->devices, run->pen - 1);
	g_autoptr(GError) error = NULL;

	g_array_index(run->scenario->timers, guint, run->timer) = 0; /* fired: nothing to remove */
	g_info("scenario: pen %u at %.3f s: %s", run->pen, run->step->at,
	       sim_step_defs[run->step->kind].name);
	if (run->step->kind == SIM_STEP_START_SESSION) {
		if (!sim_pen_start_session(device->pen, &error))
			g_warning("scenario: pen %u: start-session: %s", run->pen, error->message);
	} else if (run->step->kind == SIM_STEP_STOP_SESSION) {
		if (!sim_pen_stop_session(device->pen, (guint8)run->step->num[0], &error))
			g_warning("scenario: pen %u: stop-session: %s", run->pen, error->message);
	} else {
		sim_step_run_pen(device, run->step);
	}
	return G_SOURCE_REMOVE;
}

void
sim_scenario_start(SimScenario *scenario, SimDaemon *daemon)
{
	for (guint p = 0; p < scenario->timelines->len && p < daemon->devices->len; p++) {
		GArray *steps = g_ptr_array_index(scenario->timelines, p);

		for (guint i = 0; i < steps->len; i++) {
			SimStepRun *run = g_new0(SimStepRun, 1);
			guint id;

			run->scenario = scenario;
			run->daemon = daemon;
			run->pen = p + 1;
			run->step = &g_array_index(steps, SimStep, i);
			run->timer = scenario->timers->len;
			id = g_timeout_add_full(G_PRIORITY_DEFAULT, (guint)lround(run->step->at * 1000),
						sim_step_fire, run, g_free);
			g_array_append_val(scenario->timers, id);
		}
	}
}
