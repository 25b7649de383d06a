/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hci-rssi ADAPTER ADDRESS: the RSSI of one LE connection, read once as the daemon reads it (real hardware).
 */

#include "config.h"

#include <stdio.h>

#include "ng-hci.h"
#include "ng-link-quality.h"

/* For the QEMU guest and a hub with a real adapter: connect the pen (the daemon, or bluetoothctl), then
 * `hci-rssi hci0 C0:4E:50:5E:00:01` prints "-61 dBm, linkquality 166" and exits 0; 1 with the reason
 * otherwise. Runs as any user: see docs/daemon.md, "Link quality". */
int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	int rssi = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s ADAPTER(hciN or address) PEN_ADDRESS\n", argv[0]);
		return 2;
	}
	if (!ng_hci_read_rssi(argv[1], argv[2], 1000, &rssi, &error)) {
		fprintf(stderr, "%s: %s\n", argv[0], error->message);
		return 1;
	}
	printf("%d dBm, linkquality %u\n", rssi, ng_link_quality_from_dbm(rssi));
	return 0;
}
