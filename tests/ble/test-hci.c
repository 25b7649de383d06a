/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the HCI side of link quality: Read RSSI's answer parsed from bytes, and no HCI handled. */

#include "config.h"

#include "ng-hci.h"

/* Command Complete of Read RSSI as the raw socket gives it: type, event, length, ncmd, opcode,
 * status, handle, rssi. */
static void
test_parse(void)
{
	static const guint8 ok[] = {0x04, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0xc3};
	static const guint8 pb_flags[] = {0x04, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x00, 0x01, 0x20, 0x14};
	static const guint8 refused[] = {0x04, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x02, 0x40, 0x00, 0x00};
	static const guint8 none[] = {0x04, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0x7f};
	guint8 status = 0xff;
	guint16 handle = 0;
	int rssi = 0;

	g_assert_true(ng_hci_parse_read_rssi(ok, sizeof(ok), &status, &handle, &rssi));
	g_assert_cmpuint(status, ==, 0);
	g_assert_cmpuint(handle, ==, 0x0040);
	g_assert_cmpint(rssi, ==, -61);
	/* the handle is 12 bits; +20 dBm is the top of the range */
	g_assert_true(ng_hci_parse_read_rssi(pb_flags, sizeof(pb_flags), &status, &handle, &rssi));
	g_assert_cmpuint(handle, ==, 0x0001);
	g_assert_cmpint(rssi, ==, 20);
	/* a controller's error status (0x02: unknown connection) comes through for the caller */
	g_assert_true(ng_hci_parse_read_rssi(refused, sizeof(refused), &status, &handle, &rssi));
	g_assert_cmpuint(status, ==, 0x02);
	/* 127: the controller has no RSSI: the caller's to refuse */
	g_assert_true(ng_hci_parse_read_rssi(none, sizeof(none), &status, &handle, &rssi));
	g_assert_cmpint(rssi, ==, 127);
}

static void
test_parse_other(void)
{
	/* Read Link Quality (0x1403), a Command Status, an ACL packet, short and lying lengths */
	static const guint8 link_quality[] = {0x04, 0x0e, 0x07, 0x01, 0x03, 0x14, 0x00, 0x40, 0x00, 0xff};
	static const guint8 cmd_status[] = {0x04, 0x0f, 0x04, 0x01, 0x01, 0x05, 0x14, 0x00, 0x00, 0x00};
	static const guint8 acl[] = {0x02, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0xc3};
	static const guint8 short_len[] = {0x04, 0x0e, 0x04, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0xc3};
	static const guint8 long_len[] = {0x04, 0x0e, 0x09, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0xc3};
	static const guint8 ok[] = {0x04, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0xc3};
	guint8 status = 0;
	guint16 handle = 0;
	int rssi = 0;

	g_assert_false(ng_hci_parse_read_rssi(link_quality, sizeof(link_quality), &status, &handle, &rssi));
	g_assert_false(ng_hci_parse_read_rssi(cmd_status, sizeof(cmd_status), &status, &handle, &rssi));
	g_assert_false(ng_hci_parse_read_rssi(acl, sizeof(acl), &status, &handle, &rssi));
	g_assert_false(ng_hci_parse_read_rssi(short_len, sizeof(short_len), &status, &handle, &rssi));
	g_assert_false(ng_hci_parse_read_rssi(long_len, sizeof(long_len), &status, &handle, &rssi));
	for (gsize len = 0; len < sizeof(ok); len++)
		g_assert_false(ng_hci_parse_read_rssi(ok, len, &status, &handle, &rssi));
	g_assert_false(ng_hci_parse_read_rssi(NULL, 0, &status, &handle, &rssi));
}

/* The controller refuses the command: a Command Status with an error, and no handle. */
static void
test_parse_refused(void)
{
	static const guint8 unknown[] = {0x04, 0x0f, 0x04, 0x01, 0x01, 0x05, 0x14};
	static const guint8 pending_ok[] = {0x04, 0x0f, 0x04, 0x00, 0x01, 0x05, 0x14};
	static const guint8 other[] = {0x04, 0x0f, 0x04, 0x01, 0x01, 0x03, 0x14};
	static const guint8 complete[] = {0x04, 0x0e, 0x07, 0x01, 0x05, 0x14, 0x00, 0x40, 0x00, 0xc3};
	guint8 status = 0;

	g_assert_true(ng_hci_parse_read_rssi_refused(unknown, sizeof(unknown), &status));
	g_assert_cmpuint(status, ==, 0x01);
	g_assert_false(ng_hci_parse_read_rssi_refused(pending_ok, sizeof(pending_ok), &status));
	g_assert_false(ng_hci_parse_read_rssi_refused(other, sizeof(other), &status));
	g_assert_false(ng_hci_parse_read_rssi_refused(complete, sizeof(complete), &status));
	for (gsize len = 0; len < sizeof(unknown); len++)
		g_assert_false(ng_hci_parse_read_rssi_refused(unknown, len, &status));
}

/* Without HCI here (no Bluetooth in the kernel, or no such adapter): an error of a kind, never a
 * crash; the request sends nothing and no answer comes. With a real adapter the pen is not
 * connected to it: the same, NoConnection. */
static void
test_no_hci(void)
{
	g_autoptr(NgHciRssi) hci = ng_hci_rssi_new(NULL, NULL);
	g_autoptr(GError) error = NULL;
	int rssi = 0;

	g_assert_false(ng_hci_rssi_request(hci, "hci0", "C0:4E:50:5E:FF:FE", "C0:4E:50:5E:00:01", &error));
	g_assert_error(error, NG_HCI_ERROR, error->code);
	g_assert_cmpint(error->code, !=, NG_HCI_ERROR_FAILED);
	g_test_message("request: %s", error->message);
	g_clear_error(&error);
	g_assert_false(ng_hci_rssi_request(hci, NULL, NULL, "C0:4E:50:5E:00:01", &error));
	g_assert_error(error, NG_HCI_ERROR, NG_HCI_ERROR_NO_ADAPTER);
	g_clear_error(&error);
	g_assert_false(ng_hci_read_rssi("hci99", "C0:4E:50:5E:00:01", 100, &rssi, &error));
	g_assert_true(error->code == NG_HCI_ERROR_UNAVAILABLE || error->code == NG_HCI_ERROR_NO_ADAPTER);
	g_test_message("read: %s", error->message);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hci/parse-read-rssi", test_parse);
	g_test_add_func("/hci/parse-other-packets", test_parse_other);
	g_test_add_func("/hci/parse-refused", test_parse_refused);
	g_test_add_func("/hci/no-hci", test_no_hci);
	return g_test_run();
}
