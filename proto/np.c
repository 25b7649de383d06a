/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NeedlePen GATT Profile v1 codec: bounds-checked readers and writers, no allocation. */

#include "np.h"

#include <string.h>

#define NP_N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- little-endian readers and writers ---------------------------------- */

/* Callers check the length first: these never see a short buffer. */
static uint16_t
np_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
np_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t
np_get_u64(const uint8_t *p)
{
	return (uint64_t)np_get_u32(p) | ((uint64_t)np_get_u32(p + 4) << 32);
}

static void
np_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
np_put_u32(uint8_t *p, uint32_t v)
{
	np_put_u16(p, (uint16_t)v);
	np_put_u16(p + 2, (uint16_t)(v >> 16));
}

static void
np_put_u64(uint8_t *p, uint64_t v)
{
	np_put_u32(p, (uint32_t)v);
	np_put_u32(p + 4, (uint32_t)(v >> 32));
}

static NpStatus
np_fault(NpStatus status, size_t offset, size_t *fault_offset)
{
	if (fault_offset != NULL)
		*fault_offset = offset;
	return status;
}

/* A value of exactly @want bytes: the common check of the fixed-size characteristics. */
static NpStatus
np_check_exact(size_t len, size_t want, size_t *fault_offset)
{
	if (len == 0)
		return np_fault(NP_ERR_EMPTY, 0, fault_offset);
	if (len < want)
		return np_fault(NP_ERR_TRUNCATED, len, fault_offset);
	if (len > want)
		return np_fault(NP_ERR_TRAILING_BYTES, want, fault_offset);
	return NP_OK;
}

static NpStatus
np_check_capacity(const void *in, const uint8_t *buf, size_t cap, size_t want)
{
	if (in == NULL || buf == NULL)
		return NP_ERR_INVALID_ARGUMENT;
	if (cap < want)
		return NP_ERR_BUFFER_TOO_SMALL;
	return NP_OK;
}

/* ---- names -------------------------------------------------------------- */

static const struct {
	const char *id;
	const char *text;
} np_status_names[] = {
    [NP_OK] = {"ok", "no fault"},
    [NP_ERR_EMPTY] = {"empty", "the value has no bytes"},
    [NP_ERR_TRUNCATED] = {"truncated", "the value ends before its fixed fields"},
    [NP_ERR_TRAILING_BYTES] = {"trailing_bytes", "bytes follow the end of a complete value"},
    [NP_ERR_RECORD_SIZE_MISMATCH] = {"record_size_mismatch", "the size byte disagrees with the flags"},
    [NP_ERR_RECORD_OVERRUN] = {"record_overrun", "the record runs past the end of the notification"},
    [NP_ERR_BAD_CRC] = {"bad_crc", "the E2E-CRC does not match the record"},
    [NP_ERR_DEPTH_OUT_OF_RANGE] = {"depth_out_of_range", "the depth is beyond what the pen can reach"},
    [NP_ERR_UNKNOWN_EVENT] = {"unknown_event", "the session event type is not in the profile"},
    [NP_ERR_UNKNOWN_OPCODE] = {"unknown_opcode", "the control point op code is not in the profile"},
    [NP_ERR_NOT_A_RESPONSE] = {"not_a_response", "a control point indication must start with 0x80"},
    [NP_ERR_VALUE_OUT_OF_RANGE] = {"value_out_of_range", "a field is outside its documented range"},
    [NP_ERR_UNSUPPORTED_VERSION] = {"unsupported_version", "the pen speaks a protocol version other than 1"},
    [NP_ERR_BUFFER_TOO_SMALL] = {"buffer_too_small", "the output buffer is too small"},
    [NP_ERR_INVALID_ARGUMENT] = {"invalid_argument", "the value cannot be encoded"},
};

const char *
np_status_to_string(NpStatus status)
{
	if (status == NP_ERR_END)
		return "end";
	if ((unsigned)status >= NP_N_ELEMENTS(np_status_names))
		return "unknown";
	return np_status_names[status].id;
}

const char *
np_status_describe(NpStatus status)
{
	if (status == NP_ERR_END)
		return "no more records";
	if ((unsigned)status >= NP_N_ELEMENTS(np_status_names))
		return "unknown status";
	return np_status_names[status].text;
}

static const char *
np_name_or_unknown(const char *const *names, size_t n, unsigned code)
{
	if (code >= n || names[code] == NULL)
		return "unknown";
	return names[code];
}

static const char *const np_area_names[NP_AREA_COUNT] = {
    "unspecified", "forehead", "periorbital", "nose",	 "cheeks", "perioral", "chin_jawline", "neck",
    "decollete",   "arms",     "hands",	      "abdomen", "thighs", "back",     "scalp",	       "scar",
};

const char *
np_area_to_string(uint8_t area)
{
	return np_name_or_unknown(np_area_names, NP_N_ELEMENTS(np_area_names), area);
}

int
np_area_from_string(const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < NP_N_ELEMENTS(np_area_names); i++) {
		if (strcmp(name, np_area_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

const char *
np_pen_error_to_string(uint16_t code)
{
	static const char *const names[] = {
	    "none",
	    "motor_stall",
	    "over_temperature",
	    "depth_calibration_fault",
	    "cartridge_not_seated",
	    "battery_critical",
	};
	return np_name_or_unknown(names, NP_N_ELEMENTS(names), code);
}

const char *
np_pen_state_to_string(uint8_t state)
{
	static const char *const names[] = {"idle", "session_active", "charging", "error"};
	return np_name_or_unknown(names, NP_N_ELEMENTS(names), state);
}

const char *
np_end_reason_to_string(uint8_t reason)
{
	static const char *const names[] = {"stopped", "battery", "device_error", "remote_stop", "limit"};
	return np_name_or_unknown(names, NP_N_ELEMENTS(names), reason);
}

const char *
np_event_type_to_string(uint8_t type)
{
	static const char *const names[] = {
	    NULL,	    "session_started",	  "session_ended",
	    "area_changed", "cartridge_inserted", "cartridge_removed",
	    "error_raised", "error_cleared",	  "limits_applied",
	};
	return np_name_or_unknown(names, NP_N_ELEMENTS(names), type);
}

const char *
np_op_code_to_string(uint8_t op)
{
	static const char *const names[] = {
	    NULL,	    "set_time", "set_limits", "clear_limits", "report_stored_records",
	    "stop_session", "set_area", "identify",
	};
	return np_name_or_unknown(names, NP_N_ELEMENTS(names), op);
}

const char *
np_result_code_to_string(uint8_t result)
{
	static const char *const names[] = {
	    NULL, "success", "not_supported", "invalid_parameter", "failed", "not_permitted", "busy",
	};
	return np_name_or_unknown(names, NP_N_ELEMENTS(names), result);
}

/* ---- CRC ------------------------------------------------------------------ */

/* Byte-wise table of the reflected polynomial 0x8408: eight times faster than bit by bit. */
static const uint16_t np_crc16_table[256] = {
    0x0000, 0x1189, 0x2312, 0x329b, 0x4624, 0x57ad, 0x6536, 0x74bf, 0x8c48, 0x9dc1, 0xaf5a, 0xbed3, 0xca6c,
    0xdbe5, 0xe97e, 0xf8f7, 0x1081, 0x0108, 0x3393, 0x221a, 0x56a5, 0x472c, 0x75b7, 0x643e, 0x9cc9, 0x8d40,
    0xbfdb, 0xae52, 0xdaed, 0xcb64, 0xf9ff, 0xe876, 0x2102, 0x308b, 0x0210, 0x1399, 0x6726, 0x76af, 0x4434,
    0x55bd, 0xad4a, 0xbcc3, 0x8e58, 0x9fd1, 0xeb6e, 0xfae7, 0xc87c, 0xd9f5, 0x3183, 0x200a, 0x1291, 0x0318,
    0x77a7, 0x662e, 0x54b5, 0x453c, 0xbdcb, 0xac42, 0x9ed9, 0x8f50, 0xfbef, 0xea66, 0xd8fd, 0xc974, 0x4204,
    0x538d, 0x6116, 0x709f, 0x0420, 0x15a9, 0x2732, 0x36bb, 0xce4c, 0xdfc5, 0xed5e, 0xfcd7, 0x8868, 0x99e1,
    0xab7a, 0xbaf3, 0x5285, 0x430c, 0x7197, 0x601e, 0x14a1, 0x0528, 0x37b3, 0x263a, 0xdecd, 0xcf44, 0xfddf,
    0xec56, 0x98e9, 0x8960, 0xbbfb, 0xaa72, 0x6306, 0x728f, 0x4014, 0x519d, 0x2522, 0x34ab, 0x0630, 0x17b9,
    0xef4e, 0xfec7, 0xcc5c, 0xddd5, 0xa96a, 0xb8e3, 0x8a78, 0x9bf1, 0x7387, 0x620e, 0x5095, 0x411c, 0x35a3,
    0x242a, 0x16b1, 0x0738, 0xffcf, 0xee46, 0xdcdd, 0xcd54, 0xb9eb, 0xa862, 0x9af9, 0x8b70, 0x8408, 0x9581,
    0xa71a, 0xb693, 0xc22c, 0xd3a5, 0xe13e, 0xf0b7, 0x0840, 0x19c9, 0x2b52, 0x3adb, 0x4e64, 0x5fed, 0x6d76,
    0x7cff, 0x9489, 0x8500, 0xb79b, 0xa612, 0xd2ad, 0xc324, 0xf1bf, 0xe036, 0x18c1, 0x0948, 0x3bd3, 0x2a5a,
    0x5ee5, 0x4f6c, 0x7df7, 0x6c7e, 0xa50a, 0xb483, 0x8618, 0x9791, 0xe32e, 0xf2a7, 0xc03c, 0xd1b5, 0x2942,
    0x38cb, 0x0a50, 0x1bd9, 0x6f66, 0x7eef, 0x4c74, 0x5dfd, 0xb58b, 0xa402, 0x9699, 0x8710, 0xf3af, 0xe226,
    0xd0bd, 0xc134, 0x39c3, 0x284a, 0x1ad1, 0x0b58, 0x7fe7, 0x6e6e, 0x5cf5, 0x4d7c, 0xc60c, 0xd785, 0xe51e,
    0xf497, 0x8028, 0x91a1, 0xa33a, 0xb2b3, 0x4a44, 0x5bcd, 0x6956, 0x78df, 0x0c60, 0x1de9, 0x2f72, 0x3efb,
    0xd68d, 0xc704, 0xf59f, 0xe416, 0x90a9, 0x8120, 0xb3bb, 0xa232, 0x5ac5, 0x4b4c, 0x79d7, 0x685e, 0x1ce1,
    0x0d68, 0x3ff3, 0x2e7a, 0xe70e, 0xf687, 0xc41c, 0xd595, 0xa12a, 0xb0a3, 0x8238, 0x93b1, 0x6b46, 0x7acf,
    0x4854, 0x59dd, 0x2d62, 0x3ceb, 0x0e70, 0x1ff9, 0xf78f, 0xe606, 0xd49d, 0xc514, 0xb1ab, 0xa022, 0x92b9,
    0x8330, 0x7bc7, 0x6a4e, 0x58d5, 0x495c, 0x3de3, 0x2c6a, 0x1ef1, 0x0f78,
};

uint16_t
np_crc16_mcrf4xx(const uint8_t *data, size_t len)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)((crc >> 8) ^ np_crc16_table[(crc ^ data[i]) & 0xFF]);
	return crc;
}

/* ---- Pen Features --------------------------------------------------------- */

NpStatus
np_pen_features_decode(const uint8_t *buf, size_t len, NpPenFeatures *out, size_t *fault_offset)
{
	NpStatus st = np_check_exact(len, NP_PEN_FEATURES_SIZE, fault_offset);

	if (st != NP_OK)
		return st;
	out->protocol_version = buf[0];
	out->feature_bits = np_get_u16(buf + 1);
	out->telemetry_rate_hz = buf[3];
	out->stored_records_capacity = np_get_u16(buf + 4);
	out->max_depth_centi_mm = np_get_u16(buf + 6);
	if (out->protocol_version != NP_PROTOCOL_VERSION)
		return np_fault(NP_ERR_UNSUPPORTED_VERSION, 0, fault_offset);
	return NP_OK;
}

NpStatus
np_pen_features_encode(const NpPenFeatures *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	NpStatus st = np_check_capacity(in, buf, cap, NP_PEN_FEATURES_SIZE);

	if (st != NP_OK)
		return st;
	buf[0] = in->protocol_version;
	np_put_u16(buf + 1, in->feature_bits);
	buf[3] = in->telemetry_rate_hz;
	np_put_u16(buf + 4, in->stored_records_capacity);
	np_put_u16(buf + 6, in->max_depth_centi_mm);
	*out_len = NP_PEN_FEATURES_SIZE;
	return NP_OK;
}

/* ---- Telemetry ------------------------------------------------------------- */

#define NP_TELEMETRY_FLAG_RESERVED 0xC0u

size_t
np_telemetry_record_size_for_flags(uint8_t flags)
{
	size_t size = NP_TELEMETRY_RECORD_MIN_SIZE;

	if (flags & NP_TELEMETRY_FLAG_AREA)
		size += 1;
	if (flags & NP_TELEMETRY_FLAG_PRESSURE)
		size += 2;
	if (flags & NP_TELEMETRY_FLAG_CRC)
		size += 2;
	return size;
}

NpStatus
np_telemetry_record_decode(const uint8_t *buf, size_t len, uint16_t max_depth_centi_mm,
			   NpTelemetryRecord *out, size_t *consumed, size_t *fault_offset)
{
	size_t pos = NP_TELEMETRY_RECORD_MIN_SIZE;
	size_t size;
	uint8_t flags;

	if (len == 0)
		return np_fault(NP_ERR_EMPTY, 0, fault_offset);
	if (len < 2)
		return np_fault(NP_ERR_RECORD_OVERRUN, 0, fault_offset);
	flags = buf[1] & (uint8_t)~NP_TELEMETRY_FLAG_RESERVED;
	size = np_telemetry_record_size_for_flags(flags);
	if (buf[0] != size)
		return np_fault(NP_ERR_RECORD_SIZE_MISMATCH, 0, fault_offset);
	if (len < size)
		return np_fault(NP_ERR_RECORD_OVERRUN, 0, fault_offset);

	out->size = buf[0];
	out->flags = flags;
	out->seq = np_get_u32(buf + 2);
	out->session_id = np_get_u16(buf + 6);
	out->offset_ms = np_get_u32(buf + 8);
	out->depth_centi_mm = np_get_u16(buf + 12);
	out->speed_deci_hz = np_get_u16(buf + 14);
	out->area = 0;
	out->pressure_gf = 0;
	out->crc = 0;
	if (flags & NP_TELEMETRY_FLAG_AREA)
		out->area = buf[pos++];
	if (flags & NP_TELEMETRY_FLAG_PRESSURE) {
		out->pressure_gf = np_get_u16(buf + pos);
		pos += 2;
	}
	if (flags & NP_TELEMETRY_FLAG_CRC) {
		out->crc = np_get_u16(buf + pos);
		if (np_crc16_mcrf4xx(buf, pos) != out->crc)
			return np_fault(NP_ERR_BAD_CRC, pos, fault_offset);
	}
	if (out->depth_centi_mm > NP_DEPTH_MAX_CENTI_MM ||
	    (max_depth_centi_mm != 0 && out->depth_centi_mm > max_depth_centi_mm))
		return np_fault(NP_ERR_DEPTH_OUT_OF_RANGE, 12, fault_offset);
	*consumed = size;
	return NP_OK;
}

void
np_telemetry_reader_init(NpTelemetryReader *reader, const uint8_t *buf, size_t len,
			 uint16_t max_depth_centi_mm)
{
	reader->buf = buf;
	reader->len = len;
	reader->pos = 0;
	reader->max_depth_centi_mm = max_depth_centi_mm;
	reader->fault_offset = 0;
	reader->records = 0;
	reader->done = false;
}

NpStatus
np_telemetry_reader_next(NpTelemetryReader *reader, NpTelemetryRecord *out)
{
	size_t consumed = 0;
	size_t offset = 0;
	NpStatus st;

	if (reader->done)
		return NP_ERR_END;
	if (reader->len == 0) {
		reader->done = true;
		reader->fault_offset = 0;
		return NP_ERR_EMPTY;
	}
	if (reader->pos >= reader->len) {
		reader->done = true;
		return NP_ERR_END;
	}
	st = np_telemetry_record_decode(reader->buf + reader->pos, reader->len - reader->pos,
					reader->max_depth_centi_mm, out, &consumed, &offset);
	if (st != NP_OK) {
		reader->fault_offset = reader->pos + offset;
		/* The next record's boundary is unknown now: stop this notification. */
		reader->done = true;
		return st;
	}
	reader->pos += consumed;
	reader->records++;
	return NP_OK;
}

NpStatus
np_telemetry_record_encode(const NpTelemetryRecord *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	uint8_t flags;
	size_t size;
	size_t pos = NP_TELEMETRY_RECORD_MIN_SIZE;
	NpStatus st;

	if (in == NULL)
		return NP_ERR_INVALID_ARGUMENT;
	flags = in->flags & (uint8_t)~NP_TELEMETRY_FLAG_RESERVED;
	size = np_telemetry_record_size_for_flags(flags);
	st = np_check_capacity(in, buf, cap, size);
	if (st != NP_OK)
		return st;
	buf[0] = (uint8_t)size;
	buf[1] = flags;
	np_put_u32(buf + 2, in->seq);
	np_put_u16(buf + 6, in->session_id);
	np_put_u32(buf + 8, in->offset_ms);
	np_put_u16(buf + 12, in->depth_centi_mm);
	np_put_u16(buf + 14, in->speed_deci_hz);
	if (flags & NP_TELEMETRY_FLAG_AREA)
		buf[pos++] = in->area;
	if (flags & NP_TELEMETRY_FLAG_PRESSURE) {
		np_put_u16(buf + pos, in->pressure_gf);
		pos += 2;
	}
	if (flags & NP_TELEMETRY_FLAG_CRC)
		np_put_u16(buf + pos, np_crc16_mcrf4xx(buf, pos));
	*out_len = size;
	return NP_OK;
}

/* ---- Session Event ----------------------------------------------------------- */

/* Parameter length by event type; 0xFF: the type is not in the profile. */
static size_t
np_session_event_params_size(uint8_t type)
{
	switch ((NpEventType)type) {
	case NP_EVENT_SESSION_STARTED:
		return 8;
	case NP_EVENT_SESSION_ENDED:
		return 5;
	case NP_EVENT_AREA_CHANGED:
		return 1;
	case NP_EVENT_CARTRIDGE_INSERTED:
		return 7;
	case NP_EVENT_CARTRIDGE_REMOVED:
		return 0;
	case NP_EVENT_ERROR_RAISED:
	case NP_EVENT_ERROR_CLEARED:
		return 2;
	case NP_EVENT_LIMITS_APPLIED:
		return 6;
	}
	return 0xFF;
}

static void
np_cartridge_read(const uint8_t *p, NpCartridge *c)
{
	c->cartridge_id = np_get_u32(p);
	c->needle_count = p[4];
	c->use_count = np_get_u16(p + 5);
}

static void
np_cartridge_write(uint8_t *p, const NpCartridge *c)
{
	np_put_u32(p, c->cartridge_id);
	p[4] = c->needle_count;
	np_put_u16(p + 5, c->use_count);
}

static void
np_limits_read(const uint8_t *p, NpLimits *l)
{
	l->max_depth_centi_mm = np_get_u16(p);
	l->min_speed_deci_hz = np_get_u16(p + 2);
	l->max_speed_deci_hz = np_get_u16(p + 4);
}

static void
np_limits_write(uint8_t *p, const NpLimits *l)
{
	np_put_u16(p, l->max_depth_centi_mm);
	np_put_u16(p + 2, l->min_speed_deci_hz);
	np_put_u16(p + 4, l->max_speed_deci_hz);
}

static void
np_session_event_read_params(const uint8_t *p, NpSessionEvent *ev)
{
	switch ((NpEventType)ev->type) {
	case NP_EVENT_SESSION_STARTED:
		np_cartridge_read(p, &ev->u.started.cartridge);
		ev->u.started.area = p[7];
		break;
	case NP_EVENT_SESSION_ENDED:
		ev->u.ended.duration_ms = np_get_u32(p);
		ev->u.ended.reason = p[4];
		break;
	case NP_EVENT_AREA_CHANGED:
		ev->u.area_changed.area = p[0];
		break;
	case NP_EVENT_CARTRIDGE_INSERTED:
		np_cartridge_read(p, &ev->u.cartridge_inserted);
		break;
	case NP_EVENT_CARTRIDGE_REMOVED:
		break;
	case NP_EVENT_ERROR_RAISED:
	case NP_EVENT_ERROR_CLEARED:
		ev->u.error.code = np_get_u16(p);
		break;
	case NP_EVENT_LIMITS_APPLIED:
		np_limits_read(p, &ev->u.limits_applied);
		break;
	}
}

static void
np_session_event_write_params(uint8_t *p, const NpSessionEvent *ev)
{
	switch ((NpEventType)ev->type) {
	case NP_EVENT_SESSION_STARTED:
		np_cartridge_write(p, &ev->u.started.cartridge);
		p[7] = ev->u.started.area;
		break;
	case NP_EVENT_SESSION_ENDED:
		np_put_u32(p, ev->u.ended.duration_ms);
		p[4] = ev->u.ended.reason;
		break;
	case NP_EVENT_AREA_CHANGED:
		p[0] = ev->u.area_changed.area;
		break;
	case NP_EVENT_CARTRIDGE_INSERTED:
		np_cartridge_write(p, &ev->u.cartridge_inserted);
		break;
	case NP_EVENT_CARTRIDGE_REMOVED:
		break;
	case NP_EVENT_ERROR_RAISED:
	case NP_EVENT_ERROR_CLEARED:
		np_put_u16(p, ev->u.error.code);
		break;
	case NP_EVENT_LIMITS_APPLIED:
		np_limits_write(p, &ev->u.limits_applied);
		break;
	}
}

NpStatus
np_session_event_decode(const uint8_t *buf, size_t len, NpSessionEvent *out, size_t *fault_offset)
{
	size_t params;

	if (len == 0)
		return np_fault(NP_ERR_EMPTY, 0, fault_offset);
	params = np_session_event_params_size(buf[0]);
	if (params == 0xFF)
		return np_fault(NP_ERR_UNKNOWN_EVENT, 0, fault_offset);
	if (len < NP_SESSION_EVENT_HEADER_SIZE + params)
		return np_fault(NP_ERR_TRUNCATED, len, fault_offset);
	if (len > NP_SESSION_EVENT_HEADER_SIZE + params)
		return np_fault(NP_ERR_TRAILING_BYTES, NP_SESSION_EVENT_HEADER_SIZE + params, fault_offset);
	memset(out, 0, sizeof(*out));
	out->type = buf[0];
	out->seq = np_get_u32(buf + 1);
	out->session_id = np_get_u16(buf + 5);
	out->pen_clock_ms = np_get_u64(buf + 7);
	np_session_event_read_params(buf + NP_SESSION_EVENT_HEADER_SIZE, out);
	return NP_OK;
}

NpStatus
np_session_event_encode(const NpSessionEvent *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	size_t params;
	NpStatus st;

	if (in == NULL)
		return NP_ERR_INVALID_ARGUMENT;
	params = np_session_event_params_size(in->type);
	if (params == 0xFF)
		return NP_ERR_INVALID_ARGUMENT;
	st = np_check_capacity(in, buf, cap, NP_SESSION_EVENT_HEADER_SIZE + params);
	if (st != NP_OK)
		return st;
	buf[0] = in->type;
	np_put_u32(buf + 1, in->seq);
	np_put_u16(buf + 5, in->session_id);
	np_put_u64(buf + 7, in->pen_clock_ms);
	np_session_event_write_params(buf + NP_SESSION_EVENT_HEADER_SIZE, in);
	*out_len = NP_SESSION_EVENT_HEADER_SIZE + params;
	return NP_OK;
}

/* ---- Control Point ---------------------------------------------------------- */

/* Parameter length by op code; 0xFF: the op is not in the profile. */
static size_t
np_control_request_params_size(uint8_t op)
{
	switch ((NpOpCode)op) {
	case NP_OP_SET_TIME:
		return 8;
	case NP_OP_SET_LIMITS:
		return 6;
	case NP_OP_CLEAR_LIMITS:
	case NP_OP_STOP_SESSION:
	case NP_OP_IDENTIFY:
		return 0;
	case NP_OP_REPORT_STORED_RECORDS:
		return 4;
	case NP_OP_SET_AREA:
		return 1;
	}
	return 0xFF;
}

NpStatus
np_control_request_decode(const uint8_t *buf, size_t len, NpControlRequest *out, size_t *fault_offset)
{
	size_t params;

	if (len == 0)
		return np_fault(NP_ERR_EMPTY, 0, fault_offset);
	memset(out, 0, sizeof(*out));
	out->op = buf[0];
	params = np_control_request_params_size(buf[0]);
	if (params == 0xFF)
		return np_fault(NP_ERR_UNKNOWN_OPCODE, 0, fault_offset);
	if (len < 1 + params)
		return np_fault(NP_ERR_TRUNCATED, len, fault_offset);
	if (len > 1 + params)
		return np_fault(NP_ERR_TRAILING_BYTES, 1 + params, fault_offset);
	switch ((NpOpCode)out->op) {
	case NP_OP_SET_TIME:
		out->u.time_ms = np_get_u64(buf + 1);
		break;
	case NP_OP_SET_LIMITS:
		np_limits_read(buf + 1, &out->u.limits);
		break;
	case NP_OP_REPORT_STORED_RECORDS:
		out->u.first_seq = np_get_u32(buf + 1);
		break;
	case NP_OP_SET_AREA:
		out->u.area = buf[1];
		break;
	case NP_OP_CLEAR_LIMITS:
	case NP_OP_STOP_SESSION:
	case NP_OP_IDENTIFY:
		break;
	}
	return NP_OK;
}

NpStatus
np_control_request_encode(const NpControlRequest *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	size_t params;
	NpStatus st;

	if (in == NULL)
		return NP_ERR_INVALID_ARGUMENT;
	params = np_control_request_params_size(in->op);
	if (params == 0xFF)
		return NP_ERR_INVALID_ARGUMENT;
	st = np_check_capacity(in, buf, cap, 1 + params);
	if (st != NP_OK)
		return st;
	buf[0] = in->op;
	switch ((NpOpCode)in->op) {
	case NP_OP_SET_TIME:
		np_put_u64(buf + 1, in->u.time_ms);
		break;
	case NP_OP_SET_LIMITS:
		np_limits_write(buf + 1, &in->u.limits);
		break;
	case NP_OP_REPORT_STORED_RECORDS:
		np_put_u32(buf + 1, in->u.first_seq);
		break;
	case NP_OP_SET_AREA:
		buf[1] = in->u.area;
		break;
	case NP_OP_CLEAR_LIMITS:
	case NP_OP_STOP_SESSION:
	case NP_OP_IDENTIFY:
		break;
	}
	*out_len = 1 + params;
	return NP_OK;
}

static size_t
np_control_response_params_size(uint8_t request_op, uint8_t result)
{
	if (request_op == NP_OP_REPORT_STORED_RECORDS && result == NP_RESULT_SUCCESS)
		return 4;
	return 0;
}

NpStatus
np_control_response_decode(const uint8_t *buf, size_t len, NpControlResponse *out, size_t *fault_offset)
{
	size_t want;

	if (len == 0)
		return np_fault(NP_ERR_EMPTY, 0, fault_offset);
	if (buf[0] != NP_CONTROL_RESPONSE_CODE)
		return np_fault(NP_ERR_NOT_A_RESPONSE, 0, fault_offset);
	if (len < 3)
		return np_fault(NP_ERR_TRUNCATED, len, fault_offset);
	want = 3 + np_control_response_params_size(buf[1], buf[2]);
	if (len < want)
		return np_fault(NP_ERR_TRUNCATED, len, fault_offset);
	if (len > want)
		return np_fault(NP_ERR_TRAILING_BYTES, want, fault_offset);
	out->request_op = buf[1];
	out->result = buf[2];
	out->records_sent = want > 3 ? np_get_u32(buf + 3) : 0;
	return NP_OK;
}

NpStatus
np_control_response_encode(const NpControlResponse *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	size_t want;
	NpStatus st;

	if (in == NULL)
		return NP_ERR_INVALID_ARGUMENT;
	want = 3 + np_control_response_params_size(in->request_op, in->result);
	st = np_check_capacity(in, buf, cap, want);
	if (st != NP_OK)
		return st;
	buf[0] = NP_CONTROL_RESPONSE_CODE;
	buf[1] = in->request_op;
	buf[2] = in->result;
	if (want > 3)
		np_put_u32(buf + 3, in->records_sent);
	*out_len = want;
	return NP_OK;
}

/* ---- Pen Status ----------------------------------------------------------------- */

#define NP_STATUS_FLAG_KNOWN (NP_STATUS_FLAG_LIMITS_ACTIVE | NP_STATUS_FLAG_CLOCK_SET)

NpStatus
np_pen_status_decode(const uint8_t *buf, size_t len, NpPenStatus *out, size_t *fault_offset)
{
	NpStatus st = np_check_exact(len, NP_PEN_STATUS_SIZE, fault_offset);

	if (st != NP_OK)
		return st;
	out->state = buf[0];
	out->error_code = np_get_u16(buf + 1);
	out->cartridge_id = np_get_u32(buf + 3);
	out->needle_count = buf[7];
	out->session_id = np_get_u16(buf + 8);
	out->flags = buf[10] & NP_STATUS_FLAG_KNOWN;
	return NP_OK;
}

NpStatus
np_pen_status_encode(const NpPenStatus *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	NpStatus st = np_check_capacity(in, buf, cap, NP_PEN_STATUS_SIZE);

	if (st != NP_OK)
		return st;
	buf[0] = in->state;
	np_put_u16(buf + 1, in->error_code);
	np_put_u32(buf + 3, in->cartridge_id);
	buf[7] = in->needle_count;
	np_put_u16(buf + 8, in->session_id);
	buf[10] = in->flags & NP_STATUS_FLAG_KNOWN;
	buf[11] = 0;
	*out_len = NP_PEN_STATUS_SIZE;
	return NP_OK;
}

/* ---- Battery Level ------------------------------------------------------------------ */

NpStatus
np_battery_level_decode(const uint8_t *buf, size_t len, uint8_t *percent, size_t *fault_offset)
{
	NpStatus st = np_check_exact(len, 1, fault_offset);

	if (st != NP_OK)
		return st;
	if (buf[0] > 100)
		return np_fault(NP_ERR_VALUE_OUT_OF_RANGE, 0, fault_offset);
	*percent = buf[0];
	return NP_OK;
}

NpStatus
np_battery_level_encode(uint8_t percent, uint8_t *buf, size_t cap, size_t *out_len)
{
	if (percent > 100)
		return NP_ERR_INVALID_ARGUMENT;
	if (buf == NULL)
		return NP_ERR_INVALID_ARGUMENT;
	if (cap < 1)
		return NP_ERR_BUFFER_TOO_SMALL;
	buf[0] = percent;
	*out_len = 1;
	return NP_OK;
}

/* ---- Advertisement manufacturer data --------------------------------------------------- */

NpStatus
np_adv_mfr_data_decode(const uint8_t *buf, size_t len, NpAdvMfrData *out, size_t *fault_offset)
{
	NpStatus st = np_check_exact(len, NP_ADV_MFR_DATA_SIZE, fault_offset);

	if (st != NP_OK)
		return st;
	if (buf[2] > 100)
		return np_fault(NP_ERR_VALUE_OUT_OF_RANGE, 2, fault_offset);
	out->model_code = buf[0];
	out->state = buf[1];
	out->battery_percent = buf[2];
	return NP_OK;
}

NpStatus
np_adv_mfr_data_encode(const NpAdvMfrData *in, uint8_t *buf, size_t cap, size_t *out_len)
{
	NpStatus st = np_check_capacity(in, buf, cap, NP_ADV_MFR_DATA_SIZE);

	if (st != NP_OK)
		return st;
	if (in->battery_percent > 100)
		return NP_ERR_INVALID_ARGUMENT;
	buf[0] = in->model_code;
	buf[1] = in->state;
	buf[2] = in->battery_percent;
	*out_len = NP_ADV_MFR_DATA_SIZE;
	return NP_OK;
}
