/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The errors the daemon's API gives (D-Bus org.needlegate.Error.*, MQTT bridge responses), one domain. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NG_ERROR (ng_error_quark())
/* Registered with GDBus: a GError of this domain crosses the bus as org.needlegate.Error.<Name>. */
GQuark ng_error_quark(void);

/* Documented in dbus/org.needlegate.Gateway1.xml. Messages are one sentence that says what to do. */
typedef enum {
	NG_ERROR_INVALID_ARGS,		/* InvalidArgs: the message names the argument or field */
	NG_ERROR_NOT_FOUND,		/* NotFound */
	NG_ERROR_PAIRING_WINDOW_CLOSED, /* PairingWindowClosed */
	NG_ERROR_NOT_IN_RANGE,		/* NotInRange */
	NG_ERROR_NOT_A_PEN,		/* NotAPen */
	NG_ERROR_ALREADY_PAIRED,	/* AlreadyPaired */
	NG_ERROR_IN_PROGRESS,		/* InProgress */
	NG_ERROR_WRONG_PASSKEY,		/* WrongPasskey */
	NG_ERROR_TIMEOUT,		/* Timeout */
	NG_ERROR_CANCELED,		/* Canceled */
	NG_ERROR_NOT_CONNECTED,		/* NotConnected */
	NG_ERROR_INVALID_PLAN,		/* InvalidPlan */
	NG_ERROR_NO_PLAN,		/* NoPlan */
	NG_ERROR_NOT_SUPPORTED,		/* NotSupported */
	NG_ERROR_BLUETOOTH_UNAVAILABLE, /* BluetoothUnavailable */
	NG_ERROR_FAILED,		/* Failed */
	NG_ERROR_NOT_PERMITTED,		/* NotPermitted: the configuration forbids it (MQTT pairing) */
} NgError;
#define NG_ERROR_COUNT (NG_ERROR_NOT_PERMITTED + 1)

/* "wrong_passkey", ...: the "code" of an MQTT error response; "failed" for any other value. */
const char *ng_error_code_to_string(int code);

G_END_DECLS
