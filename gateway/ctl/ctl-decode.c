/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl decode: turns hex bytes of one characteristic into the JSON the gateway would publish. */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ng-ctl.h"
#include "ng-payload.h"

/* Appends one JSON line per decoded value to out; on a fault stores its offset. */
typedef NpStatus (*DecodeFunc)(const guint8 *buf, gsize len, guint16 max_depth, GString *out,
			       size_t *fault_offset);

typedef struct {
	const char *name;
	const char *noun; /* what the fault message calls a malformed unit: "record", "event", ... */
	DecodeFunc decode;
} Characteristic;

static NpStatus
decode_telemetry(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	NpTelemetryReader reader;
	NpTelemetryRecord rec;
	NpStatus st;

	np_telemetry_reader_init(&reader, buf, len, max_depth);
	while ((st = np_telemetry_reader_next(&reader, &rec)) == NP_OK) {
		ng_payload_telemetry(out, NULL, &rec, -1);
		g_string_append_c(out, '\n');
	}
	if (st == NP_ERR_END)
		return NP_OK;
	*fault_offset = reader.fault_offset;
	return st;
}

static NpStatus
decode_event(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	NpSessionEvent ev;
	NpStatus st = np_session_event_decode(buf, len, &ev, fault_offset);

	if (st != NP_OK)
		return st;
	ng_payload_session_event(out, NULL, &ev, -1);
	g_string_append_c(out, '\n');
	return NP_OK;
}

/* The same characteristic carries the gateway's requests and the pen's responses. */
static NpStatus
decode_control_point(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	NpStatus st;

	if (len > 0 && buf[0] == NP_CONTROL_RESPONSE_CODE) {
		NpControlResponse resp;

		st = np_control_response_decode(buf, len, &resp, fault_offset);
		if (st == NP_OK)
			ng_payload_control_response(out, &resp);
	} else {
		NpControlRequest req;

		st = np_control_request_decode(buf, len, &req, fault_offset);
		if (st == NP_OK)
			ng_payload_control_request(out, &req);
	}
	if (st == NP_OK)
		g_string_append_c(out, '\n');
	return st;
}

static NpStatus
decode_status(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	NpPenStatus status;
	NpStatus st = np_pen_status_decode(buf, len, &status, fault_offset);

	if (st != NP_OK)
		return st;
	ng_payload_pen_status(out, &status);
	g_string_append_c(out, '\n');
	return NP_OK;
}

static NpStatus
decode_features(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	NpPenFeatures features;
	NpStatus st = np_pen_features_decode(buf, len, &features, fault_offset);

	if (st != NP_OK)
		return st;
	ng_payload_pen_features(out, &features);
	g_string_append_c(out, '\n');
	return NP_OK;
}

static NpStatus
decode_battery(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	guint8 percent = 0;
	NpStatus st = np_battery_level_decode(buf, len, &percent, fault_offset);

	if (st != NP_OK)
		return st;
	ng_payload_battery_level(out, percent);
	g_string_append_c(out, '\n');
	return NP_OK;
}

static NpStatus
decode_adv(const guint8 *buf, gsize len, guint16 max_depth, GString *out, size_t *fault_offset)
{
	NpAdvMfrData adv;
	NpStatus st = np_adv_mfr_data_decode(buf, len, &adv, fault_offset);

	if (st != NP_OK)
		return st;
	ng_payload_adv_mfr_data(out, &adv);
	g_string_append_c(out, '\n');
	return NP_OK;
}

static const Characteristic characteristics[] = {
    {"telemetry", "record", decode_telemetry},
    {"event", "event", decode_event},
    {"control-point", "value", decode_control_point},
    {"status", "value", decode_status},
    {"features", "value", decode_features},
    {"battery", "value", decode_battery},
    {"adv", "value", decode_adv},
};

static const Characteristic *
find_characteristic(const char *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS(characteristics); i++) {
		if (strcmp(characteristics[i].name, name) == 0)
			return &characteristics[i];
	}
	return NULL;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Joins the HEX arguments into bytes; white space and colons anywhere are separators only,
 * so that a hex dump pasted with its line breaks works. */
static GByteArray *
parse_hex(int argc, char **argv)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	gsize digits = 0;
	guint8 pending = 0;

	for (int a = 0; a < argc; a++) {
		for (gsize i = 0; argv[a][i] != '\0'; i++) {
			char c = argv[a][i];
			int v = hex_value(c);

			if (g_ascii_isspace(c) || c == ':')
				continue;
			if (v < 0) {
				if (g_ascii_isprint(c))
					ng_ctl_usage_error(
					    "decode",
					    "HEX argument %d, character %zu: '%c' is not a hex digit", a + 1,
					    i + 1, c);
				else
					ng_ctl_usage_error(
					    "decode",
					    "HEX argument %d, character %zu: byte 0x%02x is not a hex digit",
					    a + 1, i + 1, (guint8)c);
				return NULL;
			}
			if (digits++ % 2 == 0) {
				pending = (guint8)(v << 4);
			} else {
				pending |= (guint8)v;
				g_byte_array_append(bytes, &pending, 1);
			}
		}
	}
	if (digits % 2 != 0) {
		ng_ctl_usage_error(
		    "decode", "odd number of hex digits (%zu): the last byte has only one digit", digits);
		return NULL;
	}
	return g_steal_pointer(&bytes);
}

/* "2.5" -> 250; the profile's deepest is 3.00 mm. */
static gboolean
parse_max_depth(const char *text, guint16 *centi_mm)
{
	char *end = NULL;
	double mm;

	errno = 0;
	mm = g_ascii_strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(mm >= 0.01 && mm <= 3.0)) {
		ng_ctl_usage_error("decode", "--max-depth: '%s' is not a depth in mm between 0.01 and 3.00",
				   text);
		return FALSE;
	}
	*centi_mm = (guint16)lround(mm * 100.0);
	return TRUE;
}

/* Parses the options in place: returns the index of the first positional
 * argument, or -1 with *status set (help printed or a usage error). */
static int
parse_options(int argc, char **argv, guint16 *max_depth, int *status)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0)
			return i + 1;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			ng_ctl_print_command_help(&ng_ctl_command_decode);
			*status = NG_CTL_EXIT_OK;
			return -1;
		}
		if (strcmp(arg, "--max-depth") == 0 || g_str_has_prefix(arg, "--max-depth=")) {
			const char *value = strchr(arg, '=');

			if (value != NULL) {
				value++;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				ng_ctl_usage_error("decode", "--max-depth needs a value in mm");
				*status = NG_CTL_EXIT_USAGE;
				return -1;
			}
			if (!parse_max_depth(value, max_depth)) {
				*status = NG_CTL_EXIT_USAGE;
				return -1;
			}
			continue;
		}
		if (arg[0] == '-' && arg[1] != '\0') {
			ng_ctl_usage_error("decode", "unknown option '%s'", arg);
			*status = NG_CTL_EXIT_USAGE;
			return -1;
		}
		break;
	}
	return i;
}

static int
run_decode(int argc, char **argv)
{
	const Characteristic *chr;
	g_autoptr(GByteArray) bytes = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	guint16 max_depth = 0;
	size_t fault_offset = 0;
	int status = NG_CTL_EXIT_OK;
	int first;
	NpStatus st;

	first = parse_options(argc, argv, &max_depth, &status);
	if (first < 0)
		return status;
	if (first >= argc) {
		ng_ctl_usage_error("decode", "no CHARACTERISTIC given");
		return NG_CTL_EXIT_USAGE;
	}
	chr = find_characteristic(argv[first]);
	if (chr == NULL) {
		ng_ctl_usage_error("decode",
				   "unknown characteristic '%s' (one of telemetry, event, control-point, "
				   "status, features, battery, adv)",
				   argv[first]);
		return NG_CTL_EXIT_USAGE;
	}
	if (first + 1 >= argc) {
		ng_ctl_usage_error("decode", "no HEX bytes given");
		return NG_CTL_EXIT_USAGE;
	}
	bytes = parse_hex(argc - first - 1, argv + first + 1);
	if (bytes == NULL)
		return NG_CTL_EXIT_USAGE;

	st = chr->decode(bytes->data, bytes->len, max_depth, out, &fault_offset);
	/* The good records first, so that a user sees how far the bytes made sense. */
	fwrite(out->str, 1, out->len, stdout);
	fflush(stdout);
	if (st == NP_OK)
		return NG_CTL_EXIT_OK;
	fprintf(stderr, "needlectl: %s: malformed %s at byte %zu: %s (%s)\n", chr->name, chr->noun,
		fault_offset, np_status_to_string(st), np_status_describe(st));
	return NG_CTL_EXIT_FAILURE;
}

const NgCtlCommand ng_ctl_command_decode = {
    .name = "decode",
    .synopsis = "[--max-depth MM] CHARACTERISTIC HEX...",
    .summary = "Decode the bytes of a NeedlePen characteristic and print them as JSON",
    .help = "Decodes bytes as a pen sends them (or as the gateway writes them to the\n"
	    "Control Point) and prints one JSON object per line: one per telemetry\n"
	    "record, one for any other value. The field names are those of the MQTT\n"
	    "payloads. No daemon or pen is needed.\n"
	    "\n"
	    "Characteristics:\n"
	    "  telemetry      Telemetry notification: one or more records back to back\n"
	    "  event          Session Event indication\n"
	    "  control-point  Control Point: a pen's response if the first byte is 0x80,\n"
	    "                 else a request as the gateway writes it\n"
	    "  status         Pen Status (12 bytes)\n"
	    "  features       Pen Features (8 bytes)\n"
	    "  battery        Battery Level (1 byte, percent)\n"
	    "  adv            advertisement manufacturer data after company id 0xFFFF\n"
	    "                 (model code, state, battery: 3 bytes)\n"
	    "\n"
	    "HEX is the value in hexadecimal, as the bytes arrive. Several arguments are\n"
	    "joined; white space and colons between digits are ignored.\n"
	    "\n"
	    "Options:\n"
	    "  --max-depth MM  The pen's maximum depth in mm (from its Pen Features):\n"
	    "                  deeper telemetry records are malformed. Without it only\n"
	    "                  the profile's 3.00 mm applies.\n"
	    "  -h, --help      Show this help\n"
	    "\n"
	    "Exit status:\n"
	    "  0  every byte decoded\n"
	    "  1  the bytes are malformed: what decoded before the fault is printed,\n"
	    "     then one line on stderr names the fault and its byte offset\n"
	    "  2  usage error: unknown characteristic, bad hex digit, odd digit count,\n"
	    "     bad option\n"
	    "\n"
	    "Examples (the test vectors of the NeedlePen profile):\n"
	    "  needlectl decode telemetry 10 18 2a000000 0700 e8030000 9600 b004\n"
	    "  needlectl decode telemetry 15 3b 2b000000 0700 04040000 9600 b004 04 fa00 352b\n"
	    "  needlectl decode telemetry 10182a0000000700e80300009600b004 \\\n"
	    "                             10182b0000000700100400009600b004\n"
	    "  needlectl decode telemetry 11 18 2a000000 0700 e8030000 9600 b004   (malformed: exit 1)\n"
	    "  needlectl decode --max-depth 1.2 telemetry 10182a0000000700e80300009600b004\n"
	    "                                                      (1.50 mm is too deep: exit 1)\n"
	    "  needlectl decode event 02 2c000000 0700 0000000000000000 40771b00 00\n"
	    "  needlectl decode control-point 04 2a000000\n"
	    "  needlectl decode control-point 80 04 01 0c000000\n"
	    "  needlectl decode features 01 1f00 19 0010 2c01\n",
    .run = run_decode,
};
