/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NeedlePen GATT Profile v1 codec: decode and encode every characteristic, byte for byte. */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Conventions
 *
 * - Plain C11, no allocation, no global state: every function works on the
 *   buffers it is given and never reads or writes past their length.
 * - Decoders return an NpStatus; on failure they store the byte offset of
 *   the fault (relative to the buffer given) in *fault_offset when that
 *   pointer is not NULL. NP_OK is 0, every fault is non-zero.
 * - Encoders write into a caller buffer of a given capacity and return the
 *   number of bytes written in *out_len; NP_ERR_BUFFER_TOO_SMALL if it does
 *   not fit. They produce exactly what the profile says, with reserved bits 0.
 * - Field names carry their unit: depth_centi_mm (0.01 mm), speed_deci_hz
 *   (0.1 Hz), offset_ms, pen_clock_ms (UTC ms since the epoch).
 */

/* UUIDs, lower case, as BlueZ spells them on D-Bus. */
#define NP_UUID_SESSION_SERVICE	   "a3c10001-8b6f-4e2d-9c55-2f1d7e9b0c41"
#define NP_UUID_PEN_FEATURES	   "a3c10002-8b6f-4e2d-9c55-2f1d7e9b0c41"
#define NP_UUID_TELEMETRY	   "a3c10003-8b6f-4e2d-9c55-2f1d7e9b0c41"
#define NP_UUID_SESSION_EVENT	   "a3c10004-8b6f-4e2d-9c55-2f1d7e9b0c41"
#define NP_UUID_CONTROL_POINT	   "a3c10005-8b6f-4e2d-9c55-2f1d7e9b0c41"
#define NP_UUID_PEN_STATUS	   "a3c10006-8b6f-4e2d-9c55-2f1d7e9b0c41"
#define NP_UUID_DEVICE_INFORMATION "0000180a-0000-1000-8000-00805f9b34fb"
#define NP_UUID_BATTERY_SERVICE	   "0000180f-0000-1000-8000-00805f9b34fb"
#define NP_UUID_MANUFACTURER_NAME  "00002a29-0000-1000-8000-00805f9b34fb"
#define NP_UUID_MODEL_NUMBER	   "00002a24-0000-1000-8000-00805f9b34fb"
#define NP_UUID_SERIAL_NUMBER	   "00002a25-0000-1000-8000-00805f9b34fb"
#define NP_UUID_FIRMWARE_REVISION  "00002a26-0000-1000-8000-00805f9b34fb"
#define NP_UUID_BATTERY_LEVEL	   "00002a19-0000-1000-8000-00805f9b34fb"

#define NP_PROTOCOL_VERSION	     1
#define NP_COMPANY_ID		     0xFFFFu /* manufacturer data key */
#define NP_DEPTH_MAX_CENTI_MM	     300u    /* no pen reaches deeper than 3.00 mm */
#define NP_LIMIT_NONE		     0xFFFFu /* "no limit" in Set Limits / limits applied */
#define NP_TELEMETRY_RECORD_MIN_SIZE 16u     /* size of a record with no optional field */
#define NP_TELEMETRY_RECORD_MAX_SIZE 21u     /* area + pressure + CRC */
#define NP_PEN_FEATURES_SIZE	     8u
#define NP_PEN_STATUS_SIZE	     12u
#define NP_ADV_MFR_DATA_SIZE	     3u /* after the company id */
#define NP_SESSION_EVENT_HEADER_SIZE 15u
#define NP_SESSION_EVENT_MAX_SIZE    23u
#define NP_CONTROL_REQUEST_MAX_SIZE  9u
#define NP_CONTROL_RESPONSE_MAX_SIZE 7u
#define NP_CONTROL_RESPONSE_CODE     0x80u

typedef enum {
	NP_OK = 0,
	NP_ERR_EMPTY,		     /* zero-length input */
	NP_ERR_TRUNCATED,	     /* fewer bytes than the fixed part needs */
	NP_ERR_TRAILING_BYTES,	     /* bytes left over after a complete value */
	NP_ERR_RECORD_SIZE_MISMATCH, /* telemetry size byte disagrees with its flags */
	NP_ERR_RECORD_OVERRUN,	     /* telemetry record runs past the notification */
	NP_ERR_BAD_CRC,		     /* E2E-CRC does not match */
	NP_ERR_DEPTH_OUT_OF_RANGE,   /* depth above 3.00 mm or the pen's maximum */
	NP_ERR_UNKNOWN_EVENT,	     /* session event type not in the profile */
	NP_ERR_UNKNOWN_OPCODE,	     /* control point op code not in the profile */
	NP_ERR_NOT_A_RESPONSE,	     /* control point indication not starting with 0x80 */
	NP_ERR_VALUE_OUT_OF_RANGE,   /* a field outside its documented range (battery > 100 %) */
	NP_ERR_UNSUPPORTED_VERSION,  /* Pen Features protocol version is not 1 */
	NP_ERR_BUFFER_TOO_SMALL,     /* encoder: the output does not fit */
	NP_ERR_INVALID_ARGUMENT,     /* encoder: the value cannot be encoded */
} NpStatus;

/* A stable identifier ("record_size_mismatch") and a sentence for a person. */
const char *np_status_to_string(NpStatus status);
const char *np_status_describe(NpStatus status);

/* ---- codes ------------------------------------------------------------ */

typedef enum {
	NP_AREA_UNSPECIFIED = 0x00,
	NP_AREA_FOREHEAD = 0x01,
	NP_AREA_PERIORBITAL = 0x02,
	NP_AREA_NOSE = 0x03,
	NP_AREA_CHEEKS = 0x04,
	NP_AREA_PERIORAL = 0x05,
	NP_AREA_CHIN_JAWLINE = 0x06,
	NP_AREA_NECK = 0x07,
	NP_AREA_DECOLLETE = 0x08,
	NP_AREA_ARMS = 0x09,
	NP_AREA_HANDS = 0x0A,
	NP_AREA_ABDOMEN = 0x0B,
	NP_AREA_THIGHS = 0x0C,
	NP_AREA_BACK = 0x0D,
	NP_AREA_SCALP = 0x0E,
	NP_AREA_SCAR = 0x0F,
} NpArea;
#define NP_AREA_COUNT 16u

/* "forehead", ... as in the MQTT payloads; "unknown" for any other code. */
const char *np_area_to_string(uint8_t area);
/* Returns the code, or -1 for a name that is not an area ("unknown" included). */
int np_area_from_string(const char *name);

typedef enum {
	NP_PEN_ERROR_NONE = 0x0000,
	NP_PEN_ERROR_MOTOR_STALL = 0x0001,
	NP_PEN_ERROR_OVER_TEMPERATURE = 0x0002,
	NP_PEN_ERROR_DEPTH_CALIBRATION = 0x0003,
	NP_PEN_ERROR_CARTRIDGE_NOT_SEATED = 0x0004,
	NP_PEN_ERROR_BATTERY_CRITICAL = 0x0005,
} NpPenError;
/* "motor_stall", ...; "none" for 0, "unknown" for any other code. */
const char *np_pen_error_to_string(uint16_t code);

typedef enum {
	NP_PEN_STATE_IDLE = 0,
	NP_PEN_STATE_SESSION_ACTIVE = 1,
	NP_PEN_STATE_CHARGING = 2,
	NP_PEN_STATE_ERROR = 3,
} NpPenState;
/* "idle", "session_active", "charging", "error"; "unknown" otherwise. */
const char *np_pen_state_to_string(uint8_t state);

typedef enum {
	NP_END_REASON_STOPPED = 0,
	NP_END_REASON_BATTERY = 1,
	NP_END_REASON_DEVICE_ERROR = 2,
	NP_END_REASON_REMOTE_STOP = 3,
	NP_END_REASON_LIMIT = 4,
} NpEndReason;
/* "stopped", "battery", "device_error", "remote_stop", "limit"; "unknown" otherwise. */
const char *np_end_reason_to_string(uint8_t reason);

/* ---- CRC-16/MCRF4XX (poly 0x1021 reflected, init 0xFFFF, no final XOR) --- */

uint16_t np_crc16_mcrf4xx(const uint8_t *data, size_t len);

/* ---- Pen Features (read, 8 bytes) --------------------------------------- */

#define NP_FEATURE_E2E_CRC	     (1u << 0)
#define NP_FEATURE_PRESSURE	     (1u << 1)
#define NP_FEATURE_AREA_SELECTOR     (1u << 2)
#define NP_FEATURE_STORED_RECORDS    (1u << 3)
#define NP_FEATURE_LIMIT_ENFORCEMENT (1u << 4)

typedef struct {
	uint8_t protocol_version;
	uint16_t feature_bits;	   /* NP_FEATURE_*; unknown bits kept as sent */
	uint8_t telemetry_rate_hz; /* records per second */
	uint16_t stored_records_capacity;
	uint16_t max_depth_centi_mm;
} NpPenFeatures;

/* NP_ERR_UNSUPPORTED_VERSION still fills *out, so the caller can name the version. */
NpStatus np_pen_features_decode(const uint8_t *buf, size_t len, NpPenFeatures *out, size_t *fault_offset);
NpStatus np_pen_features_encode(const NpPenFeatures *in, uint8_t *buf, size_t cap, size_t *out_len);

/* ---- Telemetry (notify): one or more records per notification ----------- */

#define NP_TELEMETRY_FLAG_AREA	   (1u << 0)
#define NP_TELEMETRY_FLAG_PRESSURE (1u << 1)
#define NP_TELEMETRY_FLAG_REPLAYED (1u << 2)
#define NP_TELEMETRY_FLAG_MOTOR	   (1u << 3)
#define NP_TELEMETRY_FLAG_CONTACT  (1u << 4)
#define NP_TELEMETRY_FLAG_CRC	   (1u << 5)

typedef struct {
	uint8_t size;  /* whole record, size byte included */
	uint8_t flags; /* NP_TELEMETRY_FLAG_*; reserved bits 6-7 cleared */
	uint32_t seq;
	uint16_t session_id;
	uint32_t offset_ms; /* since the session started */
	uint16_t depth_centi_mm;
	uint16_t speed_deci_hz;
	uint8_t area;	      /* valid if flags & NP_TELEMETRY_FLAG_AREA */
	uint16_t pressure_gf; /* valid if flags & NP_TELEMETRY_FLAG_PRESSURE */
	uint16_t crc;	      /* valid if flags & NP_TELEMETRY_FLAG_CRC */
} NpTelemetryRecord;

/* Size a record with these flags must have. */
size_t np_telemetry_record_size_for_flags(uint8_t flags);

/*
 * Walks one notification. Usage:
 *
 *   NpTelemetryReader r;
 *   NpTelemetryRecord rec;
 *   NpStatus st;
 *   np_telemetry_reader_init (&r, buf, len, features.max_depth_centi_mm);
 *   while ((st = np_telemetry_reader_next (&r, &rec)) == NP_OK)
 *           use (&rec);
 *   if (st != NP_ERR_END)  ... malformed at r.fault_offset; records so far stand
 *
 * max_depth_centi_mm 0 means "not known": only the profile's 3.00 mm applies.
 */
#define NP_ERR_END ((NpStatus)-1) /* no more records: not a fault */
typedef struct {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	uint16_t max_depth_centi_mm;
	size_t fault_offset; /* set when next() returns a fault */
	unsigned records;    /* records decoded so far */
	bool done;	     /* a fault or the end was returned: only NP_ERR_END from now on */
} NpTelemetryReader;

void np_telemetry_reader_init(NpTelemetryReader *reader, const uint8_t *buf, size_t len,
			      uint16_t max_depth_centi_mm);
NpStatus np_telemetry_reader_next(NpTelemetryReader *reader, NpTelemetryRecord *out);

/* Decodes the one record at the start of buf; *consumed is its size. */
NpStatus np_telemetry_record_decode(const uint8_t *buf, size_t len, uint16_t max_depth_centi_mm,
				    NpTelemetryRecord *out, size_t *consumed, size_t *fault_offset);
/* Encodes a record: size is computed from flags (in->size ignored); the CRC is
 * computed when NP_TELEMETRY_FLAG_CRC is set (in->crc ignored). */
NpStatus np_telemetry_record_encode(const NpTelemetryRecord *in, uint8_t *buf, size_t cap, size_t *out_len);

/* ---- Session Event (indicate) -------------------------------------------- */

typedef enum {
	NP_EVENT_SESSION_STARTED = 0x01,
	NP_EVENT_SESSION_ENDED = 0x02,
	NP_EVENT_AREA_CHANGED = 0x03,
	NP_EVENT_CARTRIDGE_INSERTED = 0x04,
	NP_EVENT_CARTRIDGE_REMOVED = 0x05,
	NP_EVENT_ERROR_RAISED = 0x06,
	NP_EVENT_ERROR_CLEARED = 0x07,
	NP_EVENT_LIMITS_APPLIED = 0x08,
} NpEventType;
/* "session_started", ...; "unknown" otherwise. */
const char *np_event_type_to_string(uint8_t type);

typedef struct {
	uint32_t cartridge_id;
	uint8_t needle_count;
	uint16_t use_count; /* this session included */
} NpCartridge;

typedef struct {
	uint16_t max_depth_centi_mm; /* NP_LIMIT_NONE: none */
	uint16_t min_speed_deci_hz;
	uint16_t max_speed_deci_hz;
} NpLimits;

typedef struct {
	uint8_t type; /* NpEventType */
	uint32_t seq;
	uint16_t session_id;
	uint64_t pen_clock_ms; /* 0: the pen's clock was never set */
	union {
		struct {
			NpCartridge cartridge;
			uint8_t area;
		} started;
		struct {
			uint32_t duration_ms;
			uint8_t reason; /* NpEndReason */
		} ended;
		struct {
			uint8_t area;
		} area_changed;
		NpCartridge cartridge_inserted;
		struct {
			uint16_t code; /* NpPenError */
		} error;	       /* raised and cleared */
		NpLimits limits_applied;
	} u;
} NpSessionEvent;

NpStatus np_session_event_decode(const uint8_t *buf, size_t len, NpSessionEvent *out, size_t *fault_offset);
NpStatus np_session_event_encode(const NpSessionEvent *in, uint8_t *buf, size_t cap, size_t *out_len);

/* ---- Control Point (write with response, indicate) ------------------------ */

typedef enum {
	NP_OP_SET_TIME = 0x01,
	NP_OP_SET_LIMITS = 0x02,
	NP_OP_CLEAR_LIMITS = 0x03,
	NP_OP_REPORT_STORED_RECORDS = 0x04,
	NP_OP_STOP_SESSION = 0x05,
	NP_OP_SET_AREA = 0x06,
	NP_OP_IDENTIFY = 0x07,
} NpOpCode;
/* "set_time", ...; "unknown" otherwise. */
const char *np_op_code_to_string(uint8_t op);

typedef enum {
	NP_RESULT_SUCCESS = 0x01,
	NP_RESULT_NOT_SUPPORTED = 0x02,
	NP_RESULT_INVALID_PARAMETER = 0x03,
	NP_RESULT_FAILED = 0x04,
	NP_RESULT_NOT_PERMITTED = 0x05,
	NP_RESULT_BUSY = 0x06,
} NpResultCode;
/* "success", ...; "unknown" otherwise. */
const char *np_result_code_to_string(uint8_t result);

typedef struct {
	uint8_t op; /* NpOpCode */
	union {
		uint64_t time_ms;   /* Set Time */
		NpLimits limits;    /* Set Limits */
		uint32_t first_seq; /* Report Stored Records */
		uint8_t area;	    /* Set Area */
	} u;
} NpControlRequest;

/* The pen's side decodes requests (the simulator); the gateway's encodes them.
 * An unknown op code decodes as NP_ERR_UNKNOWN_OPCODE with out->op set, so the
 * pen can answer "not supported". */
NpStatus np_control_request_decode(const uint8_t *buf, size_t len, NpControlRequest *out,
				   size_t *fault_offset);
NpStatus np_control_request_encode(const NpControlRequest *in, uint8_t *buf, size_t cap, size_t *out_len);

typedef struct {
	uint8_t request_op;    /* any value: the pen echoes what it got */
	uint8_t result;	       /* NpResultCode */
	uint32_t records_sent; /* Report Stored Records with success only */
} NpControlResponse;

/* 0x80, op, result; then u32 records_sent only for a successful Report Stored Records. */
NpStatus np_control_response_decode(const uint8_t *buf, size_t len, NpControlResponse *out,
				    size_t *fault_offset);
NpStatus np_control_response_encode(const NpControlResponse *in, uint8_t *buf, size_t cap, size_t *out_len);

/* ---- Pen Status (read, notify, 12 bytes) --------------------------------- */

#define NP_STATUS_FLAG_LIMITS_ACTIVE (1u << 0)
#define NP_STATUS_FLAG_CLOCK_SET     (1u << 1)

typedef struct {
	uint8_t state;	       /* NpPenState */
	uint16_t error_code;   /* 0: none */
	uint32_t cartridge_id; /* 0: none */
	uint8_t needle_count;  /* 0: none */
	uint16_t session_id;   /* 0: none */
	uint8_t flags;	       /* NP_STATUS_FLAG_*; reserved bits cleared */
} NpPenStatus;

NpStatus np_pen_status_decode(const uint8_t *buf, size_t len, NpPenStatus *out, size_t *fault_offset);
NpStatus np_pen_status_encode(const NpPenStatus *in, uint8_t *buf, size_t cap, size_t *out_len);

/* ---- Battery Level (0x2A19, u8 percent) ---------------------------------- */

NpStatus np_battery_level_decode(const uint8_t *buf, size_t len, uint8_t *percent, size_t *fault_offset);
NpStatus np_battery_level_encode(uint8_t percent, uint8_t *buf, size_t cap, size_t *out_len);

/* ---- Advertisement: manufacturer data after company id 0xFFFF ------------- */

typedef struct {
	uint8_t model_code;
	uint8_t state; /* NpPenState */
	uint8_t battery_percent;
} NpAdvMfrData;

NpStatus np_adv_mfr_data_decode(const uint8_t *buf, size_t len, NpAdvMfrData *out, size_t *fault_offset);
NpStatus np_adv_mfr_data_encode(const NpAdvMfrData *in, uint8_t *buf, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
