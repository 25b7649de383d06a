/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The errors the daemon's API gives (D-Bus org.needlegate.Error.*, MQTT bridge responses), one domain. */

#include "config.h"

#include "ng-errors.h"

#include <gio/gio.h>

static const GDBusErrorEntry dbus_names[] = {
    {NG_ERROR_INVALID_ARGS, "org.needlegate.Error.InvalidArgs"},
    {NG_ERROR_NOT_FOUND, "org.needlegate.Error.NotFound"},
    {NG_ERROR_PAIRING_WINDOW_CLOSED, "org.needlegate.Error.PairingWindowClosed"},
    {NG_ERROR_NOT_IN_RANGE, "org.needlegate.Error.NotInRange"},
    {NG_ERROR_NOT_A_PEN, "org.needlegate.Error.NotAPen"},
    {NG_ERROR_ALREADY_PAIRED, "org.needlegate.Error.AlreadyPaired"},
    {NG_ERROR_IN_PROGRESS, "org.needlegate.Error.InProgress"},
    {NG_ERROR_WRONG_PASSKEY, "org.needlegate.Error.WrongPasskey"},
    {NG_ERROR_TIMEOUT, "org.needlegate.Error.Timeout"},
    {NG_ERROR_CANCELED, "org.needlegate.Error.Canceled"},
    {NG_ERROR_NOT_CONNECTED, "org.needlegate.Error.NotConnected"},
    {NG_ERROR_INVALID_PLAN, "org.needlegate.Error.InvalidPlan"},
    {NG_ERROR_NO_PLAN, "org.needlegate.Error.NoPlan"},
    {NG_ERROR_NOT_SUPPORTED, "org.needlegate.Error.NotSupported"},
    {NG_ERROR_BLUETOOTH_UNAVAILABLE, "org.needlegate.Error.BluetoothUnavailable"},
    {NG_ERROR_FAILED, "org.needlegate.Error.Failed"},
    {NG_ERROR_NOT_PERMITTED, "org.needlegate.Error.NotPermitted"},
};
G_STATIC_ASSERT(G_N_ELEMENTS(dbus_names) == NG_ERROR_COUNT);

static const char *const codes[NG_ERROR_COUNT] = {
    [NG_ERROR_INVALID_ARGS] = "invalid_args",
    [NG_ERROR_NOT_FOUND] = "not_found",
    [NG_ERROR_PAIRING_WINDOW_CLOSED] = "pairing_window_closed",
    [NG_ERROR_NOT_IN_RANGE] = "not_in_range",
    [NG_ERROR_NOT_A_PEN] = "not_a_pen",
    [NG_ERROR_ALREADY_PAIRED] = "already_paired",
    [NG_ERROR_IN_PROGRESS] = "in_progress",
    [NG_ERROR_WRONG_PASSKEY] = "wrong_passkey",
    [NG_ERROR_TIMEOUT] = "timeout",
    [NG_ERROR_CANCELED] = "canceled",
    [NG_ERROR_NOT_CONNECTED] = "not_connected",
    [NG_ERROR_INVALID_PLAN] = "invalid_plan",
    [NG_ERROR_NO_PLAN] = "no_plan",
    [NG_ERROR_NOT_SUPPORTED] = "not_supported",
    [NG_ERROR_BLUETOOTH_UNAVAILABLE] = "bluetooth_unavailable",
    [NG_ERROR_FAILED] = "failed",
    [NG_ERROR_NOT_PERMITTED] = "not_permitted",
};

GQuark
ng_error_quark(void)
{
	static gsize quark = 0;

	g_dbus_error_register_error_domain("ng-error-quark", &quark, dbus_names, G_N_ELEMENTS(dbus_names));
	return (GQuark)quark;
}

const char *
ng_error_code_to_string(int code)
{
	if (code < 0 || code >= NG_ERROR_COUNT)
		return "failed";
	return codes[code];
}
