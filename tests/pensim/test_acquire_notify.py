#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""AcquireNotify with the 5.66 rules, and a lost link healed by the pen's stored records."""

import os
import socket
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import (OP_REPORT, SUCCESS, UUID_CONTROL_POINT, UUID_SESSION_EVENT, UUID_TELEMETRY,  # noqa: E402
                           Harness, decode_records, expect_error, pump, report_request, wait_until)

ERR = "org.bluez.Error."


def recv_all(sock, mtu, seconds):
    """Every packet that arrives within seconds; (packets, eof)."""
    packets = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(end - time.monotonic(), 0.01))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        if not data:
            return packets, True
        assert len(data) <= mtu - 3, "a notification fits the ATT MTU"
        packets.append(data)
    return packets, False


def chr_prop(h, pen, name):
    return h.get_property(pen.char_path(UUID_TELEMETRY), nh.CHAR_IFACE, name)


def check_rules(h, pen):
    expect_error(ERR + "Failed", pen.acquire_notify, UUID_TELEMETRY)  # not connected
    pen.connect()
    expect_error(ERR + "NotSupported", pen.acquire_notify, UUID_SESSION_EVENT)  # indicate only
    expect_error(ERR + "NotSupported", pen.acquire_notify, nh.UUID_PEN_FEATURES)
    sock, mtu = pen.acquire_notify(UUID_TELEMETRY)
    assert mtu == 517, "bluetoothd 5.66 negotiates 517 with a pen that offers it"
    # bluetoothd reports an acquired socket in NotifyAcquired, not in Notifying
    assert chr_prop(h, pen, "NotifyAcquired") is True and chr_prop(h, pen, "Notifying") is False
    expect_error(ERR + "NotPermitted", pen.acquire_notify, UUID_TELEMETRY)
    msg = expect_error(ERR + "NotPermitted", pen.start_notify, UUID_TELEMETRY)
    assert msg.endswith("Notify acquired")
    sock.close()
    wait_until(lambda: chr_prop(h, pen, "NotifyAcquired") is False, 5, "the release on close")
    assert chr_prop(h, pen, "Notifying") is False
    pen.start_notify(UUID_TELEMETRY)
    expect_error(ERR + "InProgress", pen.acquire_notify, UUID_TELEMETRY)
    assert chr_prop(h, pen, "Notifying") is True
    h.call(pen.char_path(UUID_TELEMETRY), nh.CHAR_IFACE, "StopNotify")
    assert chr_prop(h, pen, "Notifying") is False
    expect_error(ERR + "Failed", h.call, pen.char_path(UUID_TELEMETRY), nh.CHAR_IFACE, "StopNotify")
    # StopNotify also ends an acquired socket
    sock, _ = pen.acquire_notify(UUID_TELEMETRY)
    h.call(pen.char_path(UUID_TELEMETRY), nh.CHAR_IFACE, "StopNotify")
    assert chr_prop(h, pen, "NotifyAcquired") is False
    sock.settimeout(2)
    assert sock.recv(100) == b"", "the socket is closed"
    sock.close()


def check_records(h, pen):
    sock, mtu = pen.acquire_notify(UUID_TELEMETRY)
    sid = pen.call("StartSession")[0]
    packets, eof = recv_all(sock, mtu, 1.5)
    assert not eof and packets
    recs = [r for p in packets for r in decode_records(p)]
    assert len(recs) >= 20, f"about 25 records/s, got {len(recs)}"
    seqs = [r["seq"] for r in recs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(r["session"] == sid and not r["replayed"] for r in recs)
    offsets = [r["offset_ms"] for r in recs]
    assert offsets[:3] == [0, 40, 80], offsets[:3]
    return sock, mtu, seqs[-1]


def check_drop_and_heal(h, pen, sock, mtu, last_seen):
    cp = pen.start_notify(UUID_CONTROL_POINT)
    packets, _ = recv_all(sock, mtu, 0.3)
    last_seen = max([last_seen] + [r["seq"] for p in packets for r in decode_records(p)])
    stored_before = pen.prop("StoredRecords")
    pen.call("DropLink")
    packets, eof = recv_all(sock, mtu, 2.0)
    assert eof, "the socket closes when the link drops"
    last_seen = max([last_seen] + [r["seq"] for p in packets for r in decode_records(p)])
    sock.close()
    assert pen.device_prop("Connected") is False
    pump(1.0)
    assert pen.prop("StoredRecords") >= stored_before + 20, "records go on into storage"
    pen.connect()
    sock, mtu = pen.acquire_notify(UUID_TELEMETRY)
    mark = len(cp)
    pen.write(UUID_CONTROL_POINT, report_request(last_seen + 1))
    wait_until(lambda: len(cp) > mark, 10, "the Report Stored Records response")
    op, result, count = nh.decode_response(cp[mark])
    assert (op, result) == (OP_REPORT, SUCCESS) and count > 20
    packets, _ = recv_all(sock, mtu, 1.0)
    recs = [r for p in packets for r in decode_records(p)]
    replayed = sorted(r["seq"] for r in recs if r["replayed"])
    live = sorted(r["seq"] for r in recs if not r["replayed"])
    assert len(replayed) == count and replayed[0] == last_seen + 1
    assert replayed == list(range(last_seen + 1, last_seen + 1 + count)), "the gap is filled, in order"
    assert live and live[0] <= replayed[-1] + 1, "live records carry on where the stored ones end"
    pen.call("DropLink")
    assert recv_all(sock, mtu, 2.0)[1]
    sock.close()


def main():
    with Harness(pens=1, pensim_args=["--manual"]) as h:
        pen = h.pen(0)
        check_rules(h, pen)
        sock, mtu, last = check_records(h, pen)
        check_drop_and_heal(h, pen, sock, mtu, last)
    print("AcquireNotify: rules, records on the socket, close on drop, replay fills the gap: ok")


if __name__ == "__main__":
    main()
