/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names and severities of the rules, as the MQTT contract has them. */

#include "ng-alert.h"

typedef struct {
	const char *name;
	NgSeverity severity;
} RuleInfo;

static const RuleInfo rule_info[NG_RULE_COUNT] = {
    [NG_RULE_DEPTH_ABOVE_MAX] = {"depth_above_max", NG_SEVERITY_CRITICAL},
    [NG_RULE_DEPTH_BELOW_MIN] = {"depth_below_min", NG_SEVERITY_INFO},
    [NG_RULE_SPEED_OUT_OF_RANGE] = {"speed_out_of_range", NG_SEVERITY_WARNING},
    [NG_RULE_AREA_NOT_IN_PLAN] = {"area_not_in_plan", NG_SEVERITY_CRITICAL},
    [NG_RULE_AREA_TIME_EXCEEDED] = {"area_time_exceeded", NG_SEVERITY_WARNING},
    [NG_RULE_SESSION_TOO_LONG] = {"session_too_long", NG_SEVERITY_WARNING},
    [NG_RULE_CARTRIDGE_REUSED] = {"cartridge_reused", NG_SEVERITY_CRITICAL},
    [NG_RULE_CARTRIDGE_NOT_ALLOWED] = {"cartridge_not_allowed", NG_SEVERITY_WARNING},
    [NG_RULE_SESSION_TOO_SOON] = {"session_too_soon", NG_SEVERITY_WARNING},
    [NG_RULE_DEVICE_ERROR] = {"device_error", NG_SEVERITY_CRITICAL},
    [NG_RULE_TELEMETRY_GAP] = {"telemetry_gap", NG_SEVERITY_WARNING},
    [NG_RULE_NO_PLAN] = {"no_plan", NG_SEVERITY_WARNING},
    [NG_RULE_CLOCK_NOT_SET] = {"clock_not_set", NG_SEVERITY_INFO},
};

const char *
ng_rule_to_string(NgRule rule)
{
	g_return_val_if_fail((guint)rule < NG_RULE_COUNT, NULL);
	return rule_info[rule].name;
}

NgSeverity
ng_rule_severity(NgRule rule)
{
	g_return_val_if_fail((guint)rule < NG_RULE_COUNT, NG_SEVERITY_CRITICAL);
	return rule_info[rule].severity;
}

const char *
ng_severity_to_string(NgSeverity severity)
{
	switch (severity) {
	case NG_SEVERITY_INFO:
		return "info";
	case NG_SEVERITY_WARNING:
		return "warning";
	case NG_SEVERITY_CRITICAL:
		return "critical";
	}
	return "unknown";
}

const char *
ng_alert_state_to_string(NgAlertState state)
{
	switch (state) {
	case NG_ALERT_RAISED:
		return "raised";
	case NG_ALERT_CLEARED:
		return "cleared";
	case NG_ALERT_EVENT:
		return "event";
	}
	return "unknown";
}
