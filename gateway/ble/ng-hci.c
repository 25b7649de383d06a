/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The RSSI of a pen's LE connection, asked of the adapter over a raw HCI socket (libbluetooth). */

#include "config.h"

#include "ng-hci.h"

#include <errno.h>
#include <string.h>

G_DEFINE_QUARK(ng - hci - error - quark, ng_hci_error)

/* HCI as the raw socket shows it: a packet type byte, then the event. */
#define PKT_EVENT	     0x04
#define EV_CMD_COMPLETE	     0x0e
#define EV_CMD_STATUS	     0x0f
#define OPCODE_READ_RSSI     0x1405 /* OGF 0x05 (status parameters) << 10 | OCF 0x0005 */
#define RSSI_NOT_AVAILABLE   127
#define READ_RSSI_EVENT_SIZE 10 /* type, event, length, ncmd, opcode (2), status, handle (2), rssi */

gboolean
ng_hci_parse_read_rssi(const guint8 *buf, gsize len, guint8 *status, guint16 *handle, int *rssi_dbm)
{
	g_return_val_if_fail(buf != NULL || len == 0, FALSE);

	if (len < READ_RSSI_EVENT_SIZE || buf[0] != PKT_EVENT || buf[1] != EV_CMD_COMPLETE)
		return FALSE;
	/* the event's own length must hold what we read: ncmd, opcode, the 4 return bytes */
	if (buf[2] < 7 || (gsize)buf[2] + 3 > len)
		return FALSE;
	if ((guint16)(buf[4] | buf[5] << 8) != OPCODE_READ_RSSI)
		return FALSE;
	*status = buf[6];
	*handle = (guint16)((buf[7] | buf[8] << 8) & 0x0fff);
	*rssi_dbm = (gint8)buf[9];
	return TRUE;
}

gboolean
ng_hci_parse_read_rssi_refused(const guint8 *buf, gsize len, guint8 *status)
{
	g_return_val_if_fail(buf != NULL || len == 0, FALSE);

	/* type, event, length 4, status, ncmd, opcode */
	if (len < 7 || buf[0] != PKT_EVENT || buf[1] != EV_CMD_STATUS || buf[2] < 4 ||
	    (gsize)buf[2] + 3 > len)
		return FALSE;
	if ((guint16)(buf[5] | buf[6] << 8) != OPCODE_READ_RSSI || buf[3] == 0)
		return FALSE;
	*status = buf[3];
	return TRUE;
}

#ifdef HAVE_LIBBLUETOOTH

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The kernel's link type of LE connections (include/net/bluetooth/hci.h), which HCIGETCONNINFO
 * takes; libbluetooth's headers know only ACL, SCO and eSCO. */
#ifndef LE_LINK
#define LE_LINK 0x80
#endif

typedef struct {
	NgHciRssi *hci;
	guint16 handle;
	char *address;
	guint timeout_id;
} Pending;

struct _NgHciRssi {
	NgHciRssiFunc func;
	gpointer user_data;
	int dd; /* the raw HCI socket, bound to dev_id; -1: closed */
	int dev_id;
	char *adapter_key; /* the adapter name or address dev_id was found by */
	guint watch_id;
	GPtrArray *pending; /* Pending, in the order sent */
};

static GError *
unavailable_error(int errsv, const char *what)
{
	if (errsv == EAFNOSUPPORT)
		return g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_UNAVAILABLE,
				   "no Bluetooth HCI sockets here (%s: %s): this kernel has no Bluetooth, or "
				   "the daemon runs in another network namespace",
				   what, g_strerror(errsv));
	if (errsv == EPERM || errsv == EACCES)
		return g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_UNAVAILABLE,
				   "HCI sockets refused (%s: %s): the service's RestrictAddressFamilies must "
				   "list AF_BLUETOOTH",
				   what, g_strerror(errsv));
	return g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_UNAVAILABLE, "%s: %s", what, g_strerror(errsv));
}

/* The HCI device of the adapter: by address (BlueZ's view, never ambiguous) or by name. */
static int
resolve_dev_id(const char *adapter, GError **error)
{
	int dev_id;
	int errsv;
	int probe;

	errno = 0;
	dev_id = hci_devid(adapter);
	if (dev_id >= 0)
		return dev_id;
	errsv = errno;
	/* hci_devid () hides why: a socket of our own tells no Bluetooth from no such adapter */
	probe = socket(AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC, BTPROTO_HCI);
	if (probe < 0) {
		g_propagate_error(error, unavailable_error(errno, "socket(AF_BLUETOOTH, BTPROTO_HCI)"));
		return -1;
	}
	close(probe);
	g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_NO_ADAPTER,
		    "the adapter %s is no HCI device that is up on this machine (%s)", adapter,
		    errsv != 0 ? g_strerror(errsv) : "not found");
	return -1;
}

/* The handle of the LE connection to @address on the device bound to @dd. */
static gboolean
find_le_handle(int dd, int dev_id, const char *address, guint16 *handle, GError **error)
{
	g_autofree struct hci_conn_info_req *req =
	    g_malloc0(sizeof(struct hci_conn_info_req) + sizeof(struct hci_conn_info));

	if (str2ba(address, &req->bdaddr) < 0 || bachk(address) < 0) {
		g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_NO_CONNECTION,
			    "'%s' is not a Bluetooth address", address);
		return FALSE;
	}
	req->type = LE_LINK;
	if (ioctl(dd, HCIGETCONNINFO, req) < 0) {
		int errsv = errno;
		g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_NO_CONNECTION,
			    "hci%d has no LE connection to %s (HCIGETCONNINFO: %s)", dev_id, address,
			    g_strerror(errsv));
		return FALSE;
	}
	*handle = req->conn_info[0].handle;
	return TRUE;
}

/* A raw HCI socket bound to the adapter's device: dd >= 0, or -1 and @error. */
static int
open_adapter(const char *adapter, int *dev_id_out, GError **error)
{
	int dev_id = resolve_dev_id(adapter, error);
	int dd;

	if (dev_id < 0)
		return -1;
	dd = hci_open_dev(dev_id);
	if (dd < 0) {
		int errsv = errno;
		if (errsv == ENODEV)
			g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_NO_ADAPTER, "hci%d: %s", dev_id,
				    g_strerror(errsv));
		else
			g_propagate_prefixed_error(error, unavailable_error(errsv, "hci_open_dev"),
						   "hci%d: ", dev_id);
		return -1;
	}
	*dev_id_out = dev_id;
	return dd;
}

gboolean
ng_hci_read_rssi(const char *adapter, const char *address, int timeout_ms, int *rssi_dbm, GError **error)
{
	int dev_id = -1;
	int dd;
	guint16 handle = 0;
	int8_t rssi = 0;
	gboolean ok = FALSE;

	g_return_val_if_fail(adapter != NULL && address != NULL && rssi_dbm != NULL, FALSE);

	dd = open_adapter(adapter, &dev_id, error);
	if (dd < 0)
		return FALSE;
	if (find_le_handle(dd, dev_id, address, &handle, error)) {
		if (hci_read_rssi(dd, handle, &rssi, timeout_ms) < 0) {
			int errsv = errno;
			g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_FAILED,
				    "hci%d: Read RSSI of %s (handle 0x%04x): %s", dev_id, address, handle,
				    g_strerror(errsv));
		} else if (rssi == RSSI_NOT_AVAILABLE) {
			g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_FAILED,
				    "hci%d: the controller has no RSSI for %s (127)", dev_id, address);
		} else {
			*rssi_dbm = rssi;
			ok = TRUE;
		}
	}
	hci_close_dev(dd);
	return ok;
}

/* ---- the daemon's path: commands written at once, answers read from the main loop ----------------- */

static void
pending_free(Pending *p)
{
	g_clear_handle_id(&p->timeout_id, g_source_remove);
	g_free(p->address);
	g_free(p);
}

/* Takes @p out of the list and gives its answer; the function may send new requests. */
static void
answer(NgHciRssi *hci, Pending *p, int rssi_dbm, const GError *error)
{
	g_autofree char *address = g_steal_pointer(&p->address);

	g_ptr_array_remove(hci->pending, p);
	hci->func(address, rssi_dbm, error, hci->user_data);
}

static void
close_socket(NgHciRssi *hci, const char *why)
{
	g_clear_handle_id(&hci->watch_id, g_source_remove);
	if (hci->dd >= 0)
		close(hci->dd);
	hci->dd = -1;
	g_clear_pointer(&hci->adapter_key, g_free);
	while (hci->pending->len > 0) {
		g_autoptr(GError) error =
		    g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_FAILED, "hci%d: %s", hci->dev_id, why);
		answer(hci, g_ptr_array_index(hci->pending, 0), 0, error);
	}
}

static void
handle_packet(NgHciRssi *hci, const guint8 *buf, gsize len)
{
	guint8 status = 0;
	guint16 handle = 0;
	int rssi = 0;
	g_autoptr(GError) error = NULL;

	if (ng_hci_parse_read_rssi_refused(buf, len, &status) && hci->pending->len > 0) {
		Pending *p = g_ptr_array_index(hci->pending, 0);
		error = g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_FAILED,
				    "hci%d: the controller refused Read RSSI (status 0x%02x%s)", hci->dev_id,
				    status, status == 0x01 ? ": it does not know the command" : "");
		answer(hci, p, 0, error);
		return;
	}
	if (!ng_hci_parse_read_rssi(buf, len, &status, &handle, &rssi))
		return; /* another event the filter let through, or not ours */
	for (guint i = 0; i < hci->pending->len; i++) {
		Pending *p = g_ptr_array_index(hci->pending, i);
		if (p->handle != handle)
			continue;
		if (status != 0)
			error = g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_FAILED,
					    "hci%d: Read RSSI of %s: the controller answered status 0x%02x",
					    hci->dev_id, p->address, status);
		else if (rssi == RSSI_NOT_AVAILABLE)
			error = g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_FAILED,
					    "hci%d: the controller has no RSSI for %s (127)", hci->dev_id,
					    p->address);
		answer(hci, p, rssi, error);
		return;
	}
}

static gboolean
socket_cb(int fd, GIOCondition condition, gpointer user_data)
{
	NgHciRssi *hci = user_data;
	guint8 buf[HCI_MAX_EVENT_SIZE + 1];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			handle_packet(hci, buf, (gsize)n);
			if (hci->dd != fd)
				return G_SOURCE_REMOVE; /* closed by an answer's function */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !(condition & (G_IO_ERR | G_IO_HUP)))
			return G_SOURCE_CONTINUE;
		break;
	}
	/* the adapter went away (EPIPE, HUP): the next request opens it again */
	hci->watch_id = 0;
	close_socket(hci, "the HCI socket closed (the adapter went away)");
	return G_SOURCE_REMOVE;
}

static gboolean
timeout_cb(gpointer user_data)
{
	Pending *p = user_data;
	g_autoptr(GError) error =
	    g_error_new(NG_HCI_ERROR, NG_HCI_ERROR_FAILED, "hci%d: Read RSSI of %s: no answer within %u ms",
			p->hci->dev_id, p->address, NG_HCI_RSSI_TIMEOUT_MS);

	p->timeout_id = 0;
	answer(p->hci, p, 0, error);
	return G_SOURCE_REMOVE;
}

/* The socket for @adapter, open and watched: opened again when the adapter changed. */
static gboolean
ensure_socket(NgHciRssi *hci, const char *adapter, GError **error)
{
	struct hci_filter filter;
	int dd;

	if (hci->dd >= 0 && g_strcmp0(hci->adapter_key, adapter) == 0)
		return TRUE;
	if (hci->dd >= 0)
		close_socket(hci, "the adapter changed");
	dd = open_adapter(adapter, &hci->dev_id, error);
	if (dd < 0)
		return FALSE;
	/* Only the answers to Read RSSI: an unprivileged socket's filter is cut to hci_sec_filter,
	 * which lets Command Complete and Command Status through. */
	hci_filter_clear(&filter);
	hci_filter_set_ptype(HCI_EVENT_PKT, &filter);
	hci_filter_set_event(EVT_CMD_COMPLETE, &filter);
	hci_filter_set_event(EVT_CMD_STATUS, &filter);
	hci_filter_set_opcode(htobs(cmd_opcode_pack(OGF_STATUS_PARAM, OCF_READ_RSSI)), &filter);
	if (setsockopt(dd, SOL_HCI, HCI_FILTER, &filter, sizeof(filter)) < 0 ||
	    fcntl(dd, F_SETFL, fcntl(dd, F_GETFL) | O_NONBLOCK) < 0) {
		int errsv = errno;
		close(dd);
		g_propagate_error(error, unavailable_error(errsv, "HCI_FILTER"));
		return FALSE;
	}
	hci->dd = dd;
	hci->adapter_key = g_strdup(adapter);
	hci->watch_id = g_unix_fd_add(dd, G_IO_IN | G_IO_ERR | G_IO_HUP, socket_cb, hci);
	return TRUE;
}

static gboolean
send_read_rssi(NgHciRssi *hci, guint16 handle, const char *address, GError **error)
{
	uint16_t param = htobs(handle); /* Read RSSI's one parameter: the connection handle */
	Pending *p;

	for (guint i = 0; i < hci->pending->len; i++) {
		if (((Pending *)g_ptr_array_index(hci->pending, i))->handle == handle)
			return TRUE; /* the last one's answer is still to come */
	}
	if (hci_send_cmd(hci->dd, OGF_STATUS_PARAM, OCF_READ_RSSI, sizeof(param), &param) < 0) {
		int errsv = errno;
		if (errsv == EPERM)
			g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_UNAVAILABLE,
				    "hci%d: the kernel refused Read RSSI (%s): it is in the kernel's filter "
				    "for unprivileged sockets since Linux 2.6, so this kernel is unusual",
				    hci->dev_id, g_strerror(errsv));
		else
			g_set_error(error, NG_HCI_ERROR, NG_HCI_ERROR_FAILED, "hci%d: Read RSSI of %s: %s",
				    hci->dev_id, address, g_strerror(errsv));
		return FALSE;
	}
	p = g_new0(Pending, 1);
	p->hci = hci;
	p->handle = handle;
	p->address = g_strdup(address);
	p->timeout_id = g_timeout_add(NG_HCI_RSSI_TIMEOUT_MS, timeout_cb, p);
	g_ptr_array_add(hci->pending, p);
	return TRUE;
}

gboolean
ng_hci_rssi_request(NgHciRssi *hci, const char *adapter_name, const char *adapter_address,
		    const char *address, GError **error)
{
	const char *adapter = adapter_address != NULL ? adapter_address : adapter_name;
	guint16 handle = 0;

	g_return_val_if_fail(hci != NULL && address != NULL, FALSE);

	if (adapter == NULL) {
		g_set_error_literal(error, NG_HCI_ERROR, NG_HCI_ERROR_NO_ADAPTER, "no adapter yet");
		return FALSE;
	}
	if (!ensure_socket(hci, adapter, error))
		return FALSE;
	if (!find_le_handle(hci->dd, hci->dev_id, address, &handle, error))
		return FALSE;
	return send_read_rssi(hci, handle, address, error);
}

NgHciRssi *
ng_hci_rssi_new(NgHciRssiFunc func, gpointer user_data)
{
	NgHciRssi *hci = g_new0(NgHciRssi, 1);

	hci->func = func;
	hci->user_data = user_data;
	hci->dd = -1;
	hci->dev_id = -1;
	hci->pending = g_ptr_array_new_with_free_func((GDestroyNotify)pending_free);
	return hci;
}

void
ng_hci_rssi_free(NgHciRssi *hci)
{
	if (hci == NULL)
		return;
	g_ptr_array_set_size(hci->pending, 0); /* no answers from here */
	close_socket(hci, "stopping");
	g_ptr_array_unref(hci->pending);
	g_free(hci);
}

#else /* !HAVE_LIBBLUETOOTH */

struct _NgHciRssi {
	int unused;
};

static void
set_not_built(GError **error)
{
	g_set_error_literal(error, NG_HCI_ERROR, NG_HCI_ERROR_UNAVAILABLE,
			    "needlegated was built without libbluetooth (meson -Dhci=enabled)");
}

gboolean
ng_hci_read_rssi(const char *adapter, const char *address, int timeout_ms, int *rssi_dbm, GError **error)
{
	set_not_built(error);
	return FALSE;
}

gboolean
ng_hci_rssi_request(NgHciRssi *hci, const char *adapter_name, const char *adapter_address,
		    const char *address, GError **error)
{
	set_not_built(error);
	return FALSE;
}

NgHciRssi *
ng_hci_rssi_new(NgHciRssiFunc func, gpointer user_data)
{
	return g_new0(NgHciRssi, 1);
}

void
ng_hci_rssi_free(NgHciRssi *hci)
{
	g_free(hci);
}

#endif
